/// An operation an Azure principal may be allowed, as Azure RBAC names it: a control-plane action
/// (`Microsoft.KeyVault/vaults/write`) or a data action (`Microsoft.KeyVault/vaults/keys/unwrap/action`).
public struct AzureAction: Hashable, Sendable, CustomStringConvertible {
    public enum Plane: Sendable { case control, data }

    public let name: String
    public let plane: Plane

    public static func control(_ name: String) -> AzureAction { AzureAction(name: name, plane: .control) }
    public static func data(_ name: String) -> AzureAction { AzureAction(name: name, plane: .data) }

    public var description: String { name }
}

/// A role definition as Azure RBAC keeps one: what it allows (`actions`, `dataActions`) minus what it excepts
/// (`notActions`, `notDataActions`). Patterns are case-insensitive and `*` stands for any run of characters;
/// `…/*/read` also covers `…/read`, as Azure's built-in roles rely on (`userAssignedIdentities/*/assign/action`).
public struct RoleDefinition: Sendable {
    public let roleName: String
    public let actions: [String]
    public let notActions: [String]
    public let dataActions: [String]
    public let notDataActions: [String]

    public init(roleName: String, actions: [String] = [], notActions: [String] = [], dataActions: [String] = [], notDataActions: [String] = []) {
        self.roleName = roleName
        self.actions = actions
        self.notActions = notActions
        self.dataActions = dataActions
        self.notDataActions = notDataActions
    }

    /// Whether this role allows `action`. A control-plane `*` never opens data actions (Owner cannot read keys).
    public func permits(_ action: AzureAction) -> Bool {
        let (allowed, excepted) = action.plane == .control ? (actions, notActions) : (dataActions, notDataActions)
        return allowed.contains { Self.pattern($0, matches: action.name) } && !excepted.contains { Self.pattern($0, matches: action.name) }
    }

    static func pattern(_ pattern: String, matches action: String) -> Bool {
        let action = Array(action.lowercased().utf8)
        let lowered = pattern.lowercased()
        if glob(Array(lowered.utf8), matches: action) { return true }
        // `a/*/b` also names `a/b` (no segment in between).
        guard lowered.contains("/*/") else { return false }
        return glob(Array(lowered.replacingOccurrences(of: "/*/", with: "/").utf8), matches: action)
    }

    /// `*` matches any run of bytes; iterative with one backtrack point, so linear in practice and never recursive.
    private static func glob(_ pattern: [UInt8], matches text: [UInt8]) -> Bool {
        var p = 0, t = 0
        var star: Int?, resume = 0
        while t < text.count {
            if p < pattern.count, pattern[p] == UInt8(ascii: "*") {
                star = p
                resume = t
                p += 1
            } else if p < pattern.count, pattern[p] == text[t] {
                p += 1
                t += 1
            } else if let star {
                p = star + 1
                resume += 1
                t = resume
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.count
    }
}

extension BuiltInRole {
    /// Azure's built-in definitions (the parts that concern the resource types Coffer serves).
    public var definition: RoleDefinition {
        switch self {
        case .owner:
            RoleDefinition(roleName: rawValue, actions: ["*"])
        case .contributor:
            RoleDefinition(roleName: rawValue, actions: ["*"], notActions: [
                "Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write", "Microsoft.Authorization/elevateAccess/Action",
            ])
        case .reader:
            RoleDefinition(roleName: rawValue, actions: ["*/read"])
        case .userAccessAdministrator:
            RoleDefinition(roleName: rawValue, actions: ["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"])
        case .managedIdentityOperator:
            RoleDefinition(roleName: rawValue, actions: [
                "Microsoft.ManagedIdentity/userAssignedIdentities/*/read", "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
                "Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Resources/subscriptions/resourceGroups/read",
                "Microsoft.Resources/deployments/*", "Microsoft.Support/*",
            ])
        case .keyVaultAdministrator:
            RoleDefinition(roleName: rawValue, actions: Self.keyVaultManagementReads, dataActions: ["Microsoft.KeyVault/vaults/*"])
        case .keyVaultCryptoOfficer:
            RoleDefinition(roleName: rawValue, actions: Self.keyVaultManagementReads,
                           dataActions: ["Microsoft.KeyVault/vaults/keys/*", "Microsoft.KeyVault/vaults/keyrotationpolicies/*"])
        case .keyVaultCryptoUser:
            RoleDefinition(roleName: rawValue, dataActions: [
                "Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/update/action",
                "Microsoft.KeyVault/vaults/keys/encrypt/action", "Microsoft.KeyVault/vaults/keys/decrypt/action",
                "Microsoft.KeyVault/vaults/keys/wrap/action", "Microsoft.KeyVault/vaults/keys/unwrap/action",
                "Microsoft.KeyVault/vaults/keys/sign/action", "Microsoft.KeyVault/vaults/keys/verify/action",
            ])
        case .keyVaultCryptoServiceEncryptionUser:
            RoleDefinition(roleName: rawValue, dataActions: [
                "Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/wrap/action", "Microsoft.KeyVault/vaults/keys/unwrap/action",
            ])
        case .keyVaultReader:
            RoleDefinition(roleName: rawValue, actions: Self.keyVaultManagementReads,
                           dataActions: ["Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"])
        case .acrPull:
            RoleDefinition(roleName: rawValue, actions: ["Microsoft.ContainerRegistry/registries/pull/read"])
        case .acrPush:
            RoleDefinition(roleName: rawValue, actions: [
                "Microsoft.ContainerRegistry/registries/pull/read", "Microsoft.ContainerRegistry/registries/push/write",
            ])
        case .acrDelete:
            RoleDefinition(roleName: rawValue, actions: ["Microsoft.ContainerRegistry/registries/artifacts/delete"])
        }
    }

    /// The management-plane reads the Key Vault data roles carry (seeing the vault and its group, deploying).
    private static let keyVaultManagementReads = [
        "Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Resources/deployments/*",
        "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*", "Microsoft.KeyVault/checkNameAvailability/read",
        "Microsoft.KeyVault/deletedVaults/read", "Microsoft.KeyVault/locations/*/read", "Microsoft.KeyVault/vaults/*/read",
        "Microsoft.KeyVault/operations/read",
    ]
}

/// The registry data plane's operations as ACR names them (what AcrPull, AcrPush and AcrDelete allow).
public enum RegistryDataAction {
    public static let pull = AzureAction.control("Microsoft.ContainerRegistry/registries/pull/read")
    public static let push = AzureAction.control("Microsoft.ContainerRegistry/registries/push/write")
    public static let delete = AzureAction.control("Microsoft.ContainerRegistry/registries/artifacts/delete")
    /// Changing repositories' attributes (ACR's image locks): Owner and Contributor, not AcrPush — whoever may push
    /// must not be able to unlock what was locked against pushing.
    public static let metadataWrite = AzureAction.control("Microsoft.ContainerRegistry/registries/metadata/write")
}
