import CofferStorage
import Crypto
import Foundation
import Identity
import Logging

/// Key vaults: their resource (access policies, soft-delete settings) and their keys.
/// Speaks no HTTP; the resource manager and the vault data plane call it.
public final class VaultService: Sendable {
    static let vaultType = "microsoft.keyvault/vaults"

    let documents: any DocumentStore
    let keys: any VaultKeyStore
    let directory: Directory
    /// Encrypts key material at rest; derived from the server master key.
    let materialKey: SymmetricKey
    let materialCache = KeyMaterialCache()
    let logger: Logger

    public init(documents: any DocumentStore, keys: any VaultKeyStore, directory: Directory, serverMasterKey: SymmetricKey,
                logger: Logger = Logger(label: "coffer.keyvault")) {
        self.documents = documents
        self.keys = keys
        self.directory = directory
        self.materialKey = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: serverMasterKey, info: Array("coffer vault key material v1".utf8), outputByteCount: 32
        )
        self.logger = logger
    }

    // MARK: vaults

    /// Creates or updates the vault at `id` (an ARM resource id). Enforces the rules that cannot be undone:
    /// soft delete cannot be turned off, purge protection cannot be turned off, names are global.
    public func putVault(id: String, name: String, body: VaultResource, vaultURI: String, tenantID: String) async throws -> (VaultResource, Bool) {
        try Self.validateName(name)
        let existing = try await vault(id: id)
        if existing == nil, let other = try await documents.documents(type: Self.vaultType, name: name).first, !other.id.utf8.elementsEqual(id.lowercased().utf8) {  // bytes: Swift's == would take canonically equivalent ids as one
            throw KeyVaultError(.vaultNameTaken, "the vault name \(name) is already in use")
        }
        if existing == nil, let deleted = try await deletedVault(named: name) {
            guard body.properties.createMode?.lowercased() == "recover" else {
                throw KeyVaultError(.conflict, "A vault named \(name) is soft-deleted: recover it (createMode recover) or purge it before reusing the name.")
            }
            guard deleted.properties.vaultId.lowercased().utf8.elementsEqual(id.lowercased().utf8), var recovered = deleted.vault else {
                throw KeyVaultError(.badParameter, "a deleted vault can only be recovered into its original resource group and subscription")
            }
            recovered.properties.provisioningState = "Succeeded"
            try await save(recovered)
            _ = try await documents.deleteDocument(id: deleted.id)
            logger.info("vault recovered", metadata: ["coffer.vault": .string(name)])
            return (recovered, true)
        }
        if body.properties.createMode?.lowercased() == "recover" {
            throw KeyVaultError(.vaultNotFound, "there is no deleted vault named \(name) to recover")
        }
        var properties = body.properties
        if properties.enableSoftDelete == false {
            throw KeyVaultError(.badParameter, "soft delete is always on: enableSoftDelete cannot be false")
        }
        let retention = properties.softDeleteRetentionInDays ?? existing?.properties.softDeleteRetentionInDays ?? 90
        guard (7...90).contains(retention) else {
            throw KeyVaultError(.badParameter, "softDeleteRetentionInDays must be between 7 and 90")
        }
        if existing?.properties.enablePurgeProtection == true {
            if properties.enablePurgeProtection == false {
                throw KeyVaultError(.badParameter, "purge protection cannot be disabled once enabled")
            }
            properties.enablePurgeProtection = true
        }
        if let requestedTenant = properties.tenantId, requestedTenant.lowercased() != tenantID.lowercased() {
            throw KeyVaultError(.badParameter, "tenantId must be this directory's tenant, \(tenantID)")
        }
        properties.tenantId = tenantID
        properties.enableSoftDelete = true
        properties.softDeleteRetentionInDays = retention
        properties.sku = properties.sku ?? .init(family: "A", name: "standard")
        properties.accessPolicies = properties.accessPolicies ?? existing?.properties.accessPolicies ?? []
        properties.enableRbacAuthorization = properties.enableRbacAuthorization ?? existing?.properties.enableRbacAuthorization ?? false
        properties.vaultUri = vaultURI
        properties.provisioningState = "Succeeded"
        properties.createMode = nil
        let resource = VaultResource(id: id, name: name, type: "Microsoft.KeyVault/vaults", location: body.location ?? existing?.location,
                                     tags: body.tags ?? existing?.tags, properties: properties)
        try await save(resource)
        return (resource, existing == nil)
    }

    public func vault(id: String) async throws -> VaultResource? {
        try await documents.document(id: id).map(Self.decode)
    }

    public func vault(named name: String) async throws -> VaultResource? {
        try await documents.documents(type: Self.vaultType, name: name).first.map(Self.decode)
    }

    /// Vaults whose id starts with `prefix` (a subscription or resource group id).
    public func vaults(under prefix: String) async throws -> [VaultResource] {
        try await documents.documents(under: prefix.lowercased() + "/", type: Self.vaultType).map(Self.decode)
    }

    /// Soft-deletes a vault: it and its keys are kept, invisible, for its retention period, then may be purged.
    public func deleteVault(id: String, subscriptionID: String, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> Bool {
        guard let vault = try await vault(id: id), let name = vault.name else { return false }
        let retention = Int64(vault.properties.softDeleteRetentionInDays ?? 90) * 86400
        let location = (vault.location ?? "global").lowercased().replacingOccurrences(of: " ", with: "")
        var stored = vault
        stored.properties.createMode = nil
        let deleted = DeletedVaultResource(
            id: "/subscriptions/\(subscriptionID)/providers/Microsoft.KeyVault/locations/\(location)/deletedVaults/\(name)", name: name,
            type: "Microsoft.KeyVault/deletedVaults",
            properties: .init(vaultId: id, location: vault.location, deletionDate: Self.timestamp(now), scheduledPurgeDate: Self.timestamp(now + retention),
                              tags: vault.tags, purgeProtectionEnabled: vault.properties.enablePurgeProtection == true),
            vault: stored
        )
        try await documents.putDocument(StoredDocument(id: deleted.id, type: Self.deletedVaultType, name: name,
                                                       body: String(decoding: try JSONEncoder().encode(deleted), as: UTF8.self)))
        _ = try await documents.deleteDocument(id: id)
        logger.info("vault soft-deleted", metadata: ["coffer.vault": .string(name)])
        return true
    }

    public func deletedVaults() async throws -> [DeletedVaultResource] {
        try await documents.documents(type: Self.deletedVaultType, name: nil).map { try Self.decodeDeleted($0) }
    }

    public func deletedVault(named name: String) async throws -> DeletedVaultResource? {
        try await documents.documents(type: Self.deletedVaultType, name: name).first.map { try Self.decodeDeleted($0) }
    }

    /// Purges a deleted vault and every key it held. Refused under purge protection until the retention period ends.
    public func purgeDeletedVault(named name: String, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws {
        guard let deleted = try await deletedVault(named: name) else {
            throw KeyVaultError(.vaultNotFound, "The deleted vault \(name) was not found.")
        }
        if deleted.properties.purgeProtectionEnabled, let purgeAt = Self.parseTimestamp(deleted.properties.scheduledPurgeDate), now < purgeAt {
            throw KeyVaultError(.forbidden, "Operation \"purge\" is not allowed because purge protection is enabled for vault \(name).")
        }
        for state in try await keys.keyNames(vault: name, deleted: false) + keys.keyNames(vault: name, deleted: true) {
            try await keys.purgeKey(vault: name, name: state.name)
        }
        _ = try await documents.deleteDocument(id: deleted.id)
        materialCache.forget(prefix: "coffer key material\u{0}\(name.lowercased())\u{0}")
        logger.info("vault purged", metadata: ["coffer.vault": .string(name)])
    }

    static let deletedVaultType = "microsoft.keyvault/deletedvaults"

    static func decodeDeleted(_ document: StoredDocument) throws -> DeletedVaultResource {
        try JSONDecoder().decode(DeletedVaultResource.self, from: Data(document.body.utf8))
    }

    static func timestamp(_ seconds: Int64) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    static func parseTimestamp(_ text: String) -> Int64? {
        ISO8601DateFormatter().date(from: text).map { Int64($0.timeIntervalSince1970) }
    }

    public enum AccessPolicyOperation: String, Sendable {
        case add, replace, remove
    }

    /// `vaults/accessPolicies/{add|replace|remove}`: merges, replaces or subtracts permissions per principal.
    public func updateAccessPolicies(vaultID: String, operation: AccessPolicyOperation, entries: [AccessPolicyEntry]) async throws -> VaultResource {
        guard var vault = try await vault(id: vaultID) else {
            throw KeyVaultError(.vaultNotFound, "the vault \(vaultID.split(separator: "/").last ?? "") was not found")
        }
        var policies = vault.properties.accessPolicies ?? []
        func matches(_ a: AccessPolicyEntry, _ b: AccessPolicyEntry) -> Bool {
            a.tenantId.lowercased() == b.tenantId.lowercased() && a.objectId.lowercased() == b.objectId.lowercased()
                && a.applicationId?.lowercased() == b.applicationId?.lowercased()
        }
        func merge(_ a: [String]?, _ b: [String]?) -> [String]? {
            guard a != nil || b != nil else { return nil }
            var result = a ?? []
            for permission in b ?? [] where !result.contains(where: { $0.lowercased() == permission.lowercased() }) { result.append(permission) }
            return result
        }
        func subtract(_ a: [String]?, _ b: [String]?) -> [String]? {
            a.map { existing in existing.filter { permission in !(b ?? []).contains { $0.lowercased() == permission.lowercased() } } }
        }
        switch operation {
        case .replace:
            policies = entries
        case .add:
            for entry in entries {
                if let index = policies.firstIndex(where: { matches($0, entry) }) {
                    var permissions = policies[index].permissions
                    permissions.keys = merge(permissions.keys, entry.permissions.keys)
                    permissions.secrets = merge(permissions.secrets, entry.permissions.secrets)
                    permissions.certificates = merge(permissions.certificates, entry.permissions.certificates)
                    permissions.storage = merge(permissions.storage, entry.permissions.storage)
                    policies[index].permissions = permissions
                } else {
                    policies.append(entry)
                }
            }
        case .remove:
            for entry in entries {
                guard let index = policies.firstIndex(where: { matches($0, entry) }) else { continue }
                var permissions = policies[index].permissions
                permissions.keys = subtract(permissions.keys, entry.permissions.keys)
                permissions.secrets = subtract(permissions.secrets, entry.permissions.secrets)
                permissions.certificates = subtract(permissions.certificates, entry.permissions.certificates)
                permissions.storage = subtract(permissions.storage, entry.permissions.storage)
                let empty = [permissions.keys, permissions.secrets, permissions.certificates, permissions.storage].allSatisfy { ($0 ?? []).isEmpty }
                if empty { policies.remove(at: index) } else { policies[index].permissions = permissions }
            }
        }
        guard policies.count <= AccessPolicyRules.maximumPolicies else {
            throw KeyVaultError(.badParameter, "A vault holds at most \(AccessPolicyRules.maximumPolicies) access policies.")
        }
        vault.properties.accessPolicies = policies
        try await save(vault)
        return vault
    }

    // MARK: authorization

    /// Checks that the caller may perform `permission` on the vault's keys, by access policy or,
    /// under `enableRbacAuthorization`, by role assignment. Throws `Forbidden` naming the permission.
    public func authorize(_ caller: AccessTokenClaims, vault: VaultResource, permission: KeyPermission) async throws {
        let allowed: Bool
        if vault.properties.enableRbacAuthorization == true {
            allowed = try await directory.permits(caller.oid, permission.dataAction, at: vault.id ?? "")
        } else {
            allowed = (vault.properties.accessPolicies ?? []).contains { entry in
                entry.tenantId.lowercased() == caller.tid && entry.objectId.lowercased() == caller.oid
                    && (entry.applicationId == nil || entry.applicationId?.lowercased() == caller.appid) && entry.grantsKey(permission)
            }
        }
        guard allowed else {
            logger.notice("key vault access denied", metadata: [
                "coffer.vault": .string(vault.name ?? ""), "coffer.principal": .string(caller.oid), "coffer.permission": .string(permission.rawValue),
            ])
            let how = vault.properties.enableRbacAuthorization == true ? "no role assignment grants" : "the access policies do not grant"
            throw KeyVaultError(.forbidden, "The user, group or application 'appid=\(caller.appid);oid=\(caller.oid)' does not have keys "
                                + "\(permission.rawValue) permission on key vault '\(vault.name ?? "")': \(how) it.")
        }
    }

    // MARK: helpers

    private func save(_ vault: VaultResource) async throws {
        guard let id = vault.id, let name = vault.name else { throw KeyVaultError(.badParameter, "vault id and name are required") }
        try await documents.putDocument(StoredDocument(id: id, type: Self.vaultType, name: name,
                                                       body: String(decoding: try JSONEncoder().encode(vault), as: UTF8.self)))
    }

    static func decode(_ document: StoredDocument) throws -> VaultResource {
        try JSONDecoder().decode(VaultResource.self, from: Data(document.body.utf8))
    }

    /// 3–24 characters, letters, digits and single hyphens, starting with a letter, ending with a letter or digit.
    static func validateName(_ name: String) throws {
        let bytes = Array(name.utf8)
        func isAlphanumeric(_ byte: UInt8) -> Bool {
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
        }
        guard (3...24).contains(bytes.count), let first = bytes.first, let last = bytes.last,
              (first >= 0x61 && first <= 0x7A) || (first >= 0x41 && first <= 0x5A), isAlphanumeric(last),
              bytes.allSatisfy({ isAlphanumeric($0) || $0 == 0x2D }), !name.contains("--") else {
            throw KeyVaultError(.badParameter, "vault names are 3-24 letters, digits and single hyphens, starting with a letter and ending with a letter or digit")
        }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }
}
