import Identity

/// A key vault as the resource manager shows it (`Microsoft.KeyVault/vaults`).
public struct VaultResource: Codable, Sendable, Equatable {
    public var id: String?
    public var name: String?
    public var type: String?
    public var location: String?
    public var tags: [String: String]?
    public var properties: VaultProperties

    public init(id: String?, name: String?, type: String?, location: String?, tags: [String: String]?, properties: VaultProperties) {
        self.id = id
        self.name = name
        self.type = type
        self.location = location
        self.tags = tags
        self.properties = properties
    }
}

public struct VaultProperties: Codable, Sendable, Equatable {
    public struct Sku: Codable, Sendable, Equatable {
        public var family: String?
        public var name: String?
    }

    public var tenantId: String?
    public var sku: Sku?
    public var accessPolicies: [AccessPolicyEntry]?
    public var vaultUri: String?
    public var enabledForDeployment: Bool?
    public var enabledForDiskEncryption: Bool?
    public var enabledForTemplateDeployment: Bool?
    public var enableSoftDelete: Bool?
    public var softDeleteRetentionInDays: Int?
    public var enableRbacAuthorization: Bool?
    public var enablePurgeProtection: Bool?
    public var provisioningState: String?
    public var publicNetworkAccess: String?
    /// `recover` brings back a soft-deleted vault of the same name (only on create).
    public var createMode: String?
}

/// Who may do what with a vault's keys, secrets and certificates.
public struct AccessPolicyEntry: Codable, Sendable, Equatable {
    public struct Permissions: Codable, Sendable, Equatable {
        public var keys: [String]?
        public var secrets: [String]?
        public var certificates: [String]?
        public var storage: [String]?

        public init(keys: [String]? = nil, secrets: [String]? = nil, certificates: [String]? = nil, storage: [String]? = nil) {
            self.keys = keys
            self.secrets = secrets
            self.certificates = certificates
            self.storage = storage
        }
    }

    public var tenantId: String
    public var objectId: String
    public var applicationId: String?
    public var permissions: Permissions

    public init(tenantId: String, objectId: String, applicationId: String? = nil, permissions: Permissions) {
        self.tenantId = tenantId
        self.objectId = objectId
        self.applicationId = applicationId
        self.permissions = permissions
    }

    /// Whether this entry grants `permission` on keys (case-insensitive; `all` grants everything).
    func grantsKey(_ permission: KeyPermission) -> Bool {
        (permissions.keys ?? []).contains { $0.lowercased() == permission.rawValue.lowercased() || $0.lowercased() == "all" }
    }
}

/// The key permissions of access policies (Azure's names).
public enum KeyPermission: String, Sendable, CaseIterable {
    case get, list, create, update, `import`, delete, recover, backup, restore, purge
    case encrypt, decrypt, wrapKey, unwrapKey, sign, verify, rotate
    case getrotationpolicy, setrotationpolicy

    /// The RBAC data action that allows this permission on a vault under `enableRbacAuthorization`.
    public var dataAction: AzureAction {
        let name = switch self {
        case .get, .list: "keys/read"
        case .create: "keys/create/action"
        case .update: "keys/update/action"
        case .import: "keys/import/action"
        case .delete: "keys/delete"
        case .recover: "keys/recover/action"
        case .backup: "keys/backup/action"
        case .restore: "keys/restore/action"
        case .purge: "keys/purge/action"
        case .encrypt: "keys/encrypt/action"
        case .decrypt: "keys/decrypt/action"
        case .wrapKey: "keys/wrap/action"
        case .unwrapKey: "keys/unwrap/action"
        case .sign: "keys/sign/action"
        case .verify: "keys/verify/action"
        case .rotate: "keys/rotate/action"
        case .getrotationpolicy: "keyrotationpolicies/read"
        case .setrotationpolicy: "keyrotationpolicies/write"
        }
        return .data("Microsoft.KeyVault/vaults/" + name)
    }
}

/// A soft-deleted vault (`Microsoft.KeyVault/deletedVaults`), kept with its keys until purged.
public struct DeletedVaultResource: Codable, Sendable, Equatable {
    public struct Properties: Codable, Sendable, Equatable {
        public var vaultId: String
        public var location: String?
        public var deletionDate: String
        public var scheduledPurgeDate: String
        public var tags: [String: String]?
        public var purgeProtectionEnabled: Bool
    }
    public var id: String
    public var name: String
    public var type: String
    public var properties: Properties
    /// The vault as it was, for recovery (not part of Azure's response shape).
    public var vault: VaultResource?
}
