import CofferStorage
import Foundation
import Identity

/// A page of a listing, with where the next one starts.
public struct KeyPage<Item: Sendable>: Sendable {
    public let items: [Item]
    public let next: String?
}

/// One item of a key listing (the key id without its private parts).
public struct KeyItem: Codable, Sendable, Equatable {
    public var kid: String
    public var attributes: KeyAttributes
    public var tags: [String: String]?
    public var managed: Bool?
    public var recoveryId: String?
    public var deletedDate: Int64?
    public var scheduledPurgeDate: Int64?
}

extension VaultService {
    // MARK: lifecycle

    public func createKey(vault: VaultResource, name: String, request: CreateKeyRequest, baseURL: String) async throws -> KeyBundle {
        try Self.validateKeyName(name)
        let material = try KeyMaterial.generate(request)
        let kty = request.kty
        if let state = try await keys.keyName(vault: vault.name ?? "", name: name), state.deletedAt != nil {
            throw KeyVaultError(.conflict, "Key \(name) is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged.")
        }
        let displayName = try await keys.keyName(vault: vault.name ?? "", name: name)?.displayName ?? name
        return try await storeVersion(vault: vault, name: name, displayName: displayName, material: material, kty: kty,
                                      keyOps: request.key_ops, attributes: request.attributes, tags: request.tags, baseURL: baseURL)
    }

    /// A new version of an existing key, of the same type and size, with the same operations and tags.
    public func rotateKey(vault: VaultResource, name: String, baseURL: String, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> KeyBundle {
        let (state, latest) = try await liveKey(vault: vault, name: name)
        let expires = try await policyExpiry(vault: vault.name ?? "", name: name, now: now)
        let bundle = try Self.bundle(latest)
        let modulusBytes = bundle.key.n.flatMap { Base64URL.decode($0) }?.count
        let request = CreateKeyRequest(kty: bundle.key.kty, key_size: modulusBytes.map { $0 * 8 }, public_exponent: nil, key_ops: bundle.key.key_ops,
                                       attributes: nil, tags: bundle.tags, crv: bundle.key.crv)
        let material = try KeyMaterial.generate(request)
        return try await storeVersion(vault: vault, name: name, displayName: state.displayName, material: material, kty: bundle.key.kty,
                                      keyOps: bundle.key.key_ops, attributes: KeyAttributes(enabled: true, exp: expires), tags: bundle.tags,
                                      baseURL: baseURL, now: now)
    }

    public func getKey(vault: VaultResource, name: String, version: String?, baseURL: String) async throws -> KeyBundle {
        let (state, record) = try await keyVersion(vault: vault, name: name, version: version)
        return try present(record, state: state, vault: vault, baseURL: baseURL)
    }

    public func updateKey(vault: VaultResource, name: String, version: String?, request: UpdateKeyRequest, baseURL: String) async throws -> KeyBundle {
        let (state, record) = try await keyVersion(vault: vault, name: name, version: version)
        var bundle = try Self.bundle(record)
        if let operations = request.key_ops {
            try Self.validateOperations(operations, kty: bundle.key.kty)
            bundle.key.key_ops = operations
        }
        if let attributes = request.attributes {
            if let enabled = attributes.enabled { bundle.attributes.enabled = enabled }
            if attributes.nbf != nil { bundle.attributes.nbf = attributes.nbf }
            if attributes.exp != nil { bundle.attributes.exp = attributes.exp }
        }
        if let tags = request.tags { bundle.tags = tags }
        bundle.attributes.updated = Self.now()
        try await keys.updateKeyBundle(vault: vault.name ?? "", name: name, version: record.version, bundle: try Self.encode(bundle))
        var updated = record
        updated.bundle = try Self.encode(bundle)
        return try present(updated, state: state, vault: vault, baseURL: baseURL)
    }

    public func listKeys(vault: VaultResource, after: String?, limit: Int, baseURL: String) async throws -> KeyPage<KeyItem> {
        let names = try await keys.keyNames(vault: vault.name ?? "", deleted: false).filter { after == nil || $0.name > after! }
        var items: [KeyItem] = []
        for state in names.prefix(limit) {
            guard let latest = try await keys.keyVersions(vault: vault.name ?? "", name: state.name).last else { continue }
            let bundle = try present(latest, state: state, vault: vault, baseURL: baseURL)
            items.append(KeyItem(kid: "\(baseURL)/keys/\(state.displayName)", attributes: bundle.attributes, tags: bundle.tags, managed: nil))
        }
        return KeyPage(items: items, next: names.count > limit ? names[limit - 1].name : nil)
    }

    public func listKeyVersions(vault: VaultResource, name: String, after: String?, limit: Int, baseURL: String) async throws -> KeyPage<KeyItem> {
        let (state, _) = try await liveKey(vault: vault, name: name)
        let versions = try await keys.keyVersions(vault: vault.name ?? "", name: name).sorted { $0.version < $1.version }
            .filter { after == nil || $0.version > after! }
        let items = try versions.prefix(limit).map { record in
            let bundle = try present(record, state: state, vault: vault, baseURL: baseURL)
            return KeyItem(kid: bundle.key.kid ?? "", attributes: bundle.attributes, tags: bundle.tags, managed: nil)
        }
        return KeyPage(items: items, next: versions.count > limit ? versions[limit - 1].version : nil)
    }

    // MARK: soft delete

    public func deleteKey(vault: VaultResource, name: String, baseURL: String) async throws -> KeyBundle {
        let (state, latest) = try await liveKey(vault: vault, name: name)
        let now = Self.now()
        let purgeAt = now + Int64(vault.properties.softDeleteRetentionInDays ?? 90) * 86400
        try await keys.setKeyDeleted(vault: vault.name ?? "", name: name, deletedAt: now, scheduledPurgeAt: purgeAt)
        var deleted = state
        deleted.deletedAt = now
        deleted.scheduledPurgeAt = purgeAt
        logger.info("key deleted", metadata: ["coffer.vault": .string(vault.name ?? ""), "coffer.key": .string(name)])
        return try present(latest, state: deleted, vault: vault, baseURL: baseURL)
    }

    public func deletedKey(vault: VaultResource, name: String, baseURL: String) async throws -> KeyBundle {
        let (state, latest) = try await deletedState(vault: vault, name: name)
        return try present(latest, state: state, vault: vault, baseURL: baseURL)
    }

    public func listDeletedKeys(vault: VaultResource, after: String?, limit: Int, baseURL: String) async throws -> KeyPage<KeyItem> {
        let names = try await keys.keyNames(vault: vault.name ?? "", deleted: true).filter { after == nil || $0.name > after! }
        var items: [KeyItem] = []
        for state in names.prefix(limit) {
            guard let latest = try await keys.keyVersions(vault: vault.name ?? "", name: state.name).last else { continue }
            let bundle = try present(latest, state: state, vault: vault, baseURL: baseURL)
            items.append(KeyItem(kid: "\(baseURL)/keys/\(state.displayName)", attributes: bundle.attributes, tags: bundle.tags, managed: nil,
                                 recoveryId: bundle.recoveryId, deletedDate: bundle.deletedDate, scheduledPurgeDate: bundle.scheduledPurgeDate))
        }
        return KeyPage(items: items, next: names.count > limit ? names[limit - 1].name : nil)
    }

    public func recoverKey(vault: VaultResource, name: String, baseURL: String) async throws -> KeyBundle {
        var (state, latest) = try await deletedState(vault: vault, name: name)
        try await keys.setKeyDeleted(vault: vault.name ?? "", name: name, deletedAt: nil, scheduledPurgeAt: nil)
        state.deletedAt = nil
        state.scheduledPurgeAt = nil
        return try present(latest, state: state, vault: vault, baseURL: baseURL)
    }

    /// Purges a deleted key for good. Refused under purge protection until the retention period ends.
    public func purgeKey(vault: VaultResource, name: String) async throws {
        let (state, _) = try await deletedState(vault: vault, name: name)
        if vault.properties.enablePurgeProtection == true, let purgeAt = state.scheduledPurgeAt, Self.now() < purgeAt {
            throw KeyVaultError(.forbidden, "Operation \"purge\" is not allowed because purge protection is enabled for this vault. "
                                + "Key Vault will automatically purge it after the retention period has passed.")
        }
        try await keys.purgeKey(vault: vault.name ?? "", name: name)
        materialCache.forget(prefix: "coffer key material\u{0}\(vault.name?.lowercased() ?? "")\u{0}\(name.lowercased())\u{0}")
        logger.info("key purged", metadata: ["coffer.vault": .string(vault.name ?? ""), "coffer.key": .string(name)])
    }

    // MARK: cryptography

    public enum Operation: String, Sendable {
        case encrypt, decrypt, wrapKey, unwrapKey, sign, verify

        public var permission: KeyPermission {
            switch self {
            case .encrypt: .encrypt
            case .decrypt: .decrypt
            case .wrapKey: .wrapKey
            case .unwrapKey: .unwrapKey
            case .sign: .sign
            case .verify: .verify
            }
        }
    }

    /// Performs a key operation with the private or public key, never releasing the private key.
    public func perform(_ operation: Operation, vault: VaultResource, name: String, version: String?,
                        request: KeyOperationRequest, baseURL: String) async throws -> KeyOperationResult {
        let (material, kid) = try await usableMaterial(for: operation, vault: vault, name: name, version: version, baseURL: baseURL)
        guard let value = Base64URL.decode(request.value) else { throw KeyVaultError(.badParameter, "value must be base64url") }
        func optional(_ text: String?) throws -> [UInt8]? {
            guard let text else { return nil }
            guard let bytes = Base64URL.decode(text) else { throw KeyVaultError(.badParameter, "iv, aad and tag must be base64url") }
            return bytes
        }
        switch operation {
        case .wrapKey:
            return KeyOperationResult(kid: kid, value: Base64URL.encode(try material.wrap(value, algorithm: request.alg)))
        case .unwrapKey:
            return KeyOperationResult(kid: kid, value: Base64URL.encode(try material.unwrap(value, algorithm: request.alg)))
        case .encrypt:
            let sealed = try material.encrypt(value, algorithm: request.alg, iv: try optional(request.iv), aad: try optional(request.aad))
            return KeyOperationResult(kid: kid, value: Base64URL.encode(sealed.value), iv: sealed.iv.map(Base64URL.encode),
                                      tag: sealed.tag.map(Base64URL.encode), aad: request.aad)
        case .decrypt:
            let plaintext = try material.decrypt(value, algorithm: request.alg, iv: try optional(request.iv), aad: try optional(request.aad),
                                                 tag: try optional(request.tag))
            return KeyOperationResult(kid: kid, value: Base64URL.encode(plaintext))
        case .sign:
            return KeyOperationResult(kid: kid, value: Base64URL.encode(try material.sign(digest: value, algorithm: request.alg)))
        case .verify:
            throw KeyVaultError(.badParameter, "use verify(…) for signature verification")
        }
    }

    /// Checks a signature over a digest with the key's public part.
    public func verify(vault: VaultResource, name: String, version: String?, request: VerifyRequest, baseURL: String) async throws -> VerifyResult {
        let (material, _) = try await usableMaterial(for: .verify, vault: vault, name: name, version: version, baseURL: baseURL)
        guard let digest = Base64URL.decode(request.digest), let signature = Base64URL.decode(request.value) else {
            throw KeyVaultError(.badParameter, "digest and value must be base64url")
        }
        return VerifyResult(value: try material.verify(digest: digest, signature: signature, algorithm: request.alg))
    }

    /// The key version's material, after checking that it is enabled, within its validity period,
    /// and that its `key_ops` allow the operation.
    private func usableMaterial(for operation: Operation, vault: VaultResource, name: String, version: String?,
                                baseURL: String) async throws -> (KeyMaterial, String) {
        let (state, record) = try await keyVersion(vault: vault, name: name, version: version)
        let bundle = try present(record, state: state, vault: vault, baseURL: baseURL)
        let now = Self.now()
        guard bundle.attributes.enabled != false else {
            throw KeyVaultError(.keyDisabled, "Operation \(operation.rawValue) is not allowed on a disabled key.")
        }
        if let nbf = bundle.attributes.nbf, now < nbf {
            throw KeyVaultError(.forbidden, "Operation \(operation.rawValue) is not allowed: the key is not yet valid.")
        }
        if let exp = bundle.attributes.exp, now >= exp {
            throw KeyVaultError(.forbidden, "Operation \(operation.rawValue) is not allowed: the key has expired.")
        }
        if let operations = bundle.key.key_ops, !operations.contains(operation.rawValue) {
            throw KeyVaultError(.forbidden, "Operation \(operation.rawValue) is not permitted on this key by its key_ops.")
        }
        let context = Self.materialContext(record)
        let material = try materialCache.material(for: context) {
            try KeyMaterial.unseal(record.sealedMaterial, under: materialKey, context: context)
        }
        return (material, bundle.key.kid ?? "")
    }

    // MARK: helpers

    func storeVersion(vault: VaultResource, name: String, displayName: String, material: KeyMaterial, kty: String,
                              keyOps: [String]?, attributes: KeyAttributes?, tags: [String: String]?, baseURL: String,
                              now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> KeyBundle {
        let operations = keyOps ?? KeyMaterial.operations(for: kty)
        try Self.validateOperations(operations, kty: kty)
        var key = try material.publicKey(kty: kty)
        key.key_ops = operations
        let bundle = KeyBundle(key: key, attributes: KeyAttributes(
            enabled: attributes?.enabled ?? true, nbf: attributes?.nbf, exp: attributes?.exp, created: now, updated: now
        ), tags: tags, managed: nil)
        let version = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        // Versions are ordered by creation in microseconds: two versions made in one second keep their order.
        let createdMicroseconds = Int64(Date().timeIntervalSince1970 * 1_000_000)
        var record = KeyVersionRecord(vault: vault.name ?? "", name: name, version: version, createdAt: createdMicroseconds,
                                      bundle: try Self.encode(bundle), sealedMaterial: "")
        record.sealedMaterial = try material.sealed(under: materialKey, context: Self.materialContext(record))
        do {
            try await keys.insertKeyVersion(record, displayName: displayName)
        } catch let error as StorageError where error.code == .conflict {
            throw KeyVaultError(.conflict, "Key \(name) is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged.")
        }
        logger.info("key version created", metadata: ["coffer.vault": .string(vault.name ?? ""), "coffer.key": .string(name), "coffer.version": .string(version)])
        let state = KeyNameRecord(vault: vault.name ?? "", name: name, displayName: displayName, deletedAt: nil, scheduledPurgeAt: nil)
        return try present(record, state: state, vault: vault, baseURL: baseURL)
    }

    /// What binds sealed material to its key version, so material cannot be moved between keys.
    static func materialContext(_ record: KeyVersionRecord) -> String {
        "coffer key material\u{0}\(record.vault)\u{0}\(record.name)\u{0}\(record.version)"
    }

    private func liveKey(vault: VaultResource, name: String) async throws -> (KeyNameRecord, KeyVersionRecord) {
        guard let state = try await keys.keyName(vault: vault.name ?? "", name: name), state.deletedAt == nil,
              let latest = try await keys.keyVersions(vault: vault.name ?? "", name: name).last else {
            throw KeyVaultError(.keyNotFound, "A key with (name/id) \(name) was not found in this key vault.")
        }
        return (state, latest)
    }

    private func keyVersion(vault: VaultResource, name: String, version: String?) async throws -> (KeyNameRecord, KeyVersionRecord) {
        guard let version, !version.isEmpty else { return try await liveKey(vault: vault, name: name) }
        // A named version needs only the name's state and that version, not the whole version list.
        guard let state = try await keys.keyName(vault: vault.name ?? "", name: name), state.deletedAt == nil,
              let record = try await keys.keyVersion(vault: vault.name ?? "", name: name, version: version) else {
            throw KeyVaultError(.keyNotFound, "A key with (name/id) \(name)/\(version) was not found in this key vault.")
        }
        return (state, record)
    }

    private func deletedState(vault: VaultResource, name: String) async throws -> (KeyNameRecord, KeyVersionRecord) {
        guard let state = try await keys.keyName(vault: vault.name ?? "", name: name), state.deletedAt != nil,
              let latest = try await keys.keyVersions(vault: vault.name ?? "", name: name).last else {
            throw KeyVaultError(.keyNotFound, "Deleted key \(name) was not found in this key vault.")
        }
        return (state, latest)
    }

    /// The bundle as the client sees it: key id, recovery level and deletion dates filled in.
    func present(_ record: KeyVersionRecord, state: KeyNameRecord, vault: VaultResource, baseURL: String) throws -> KeyBundle {
        var bundle = try Self.bundle(record)
        bundle.key.kid = "\(baseURL)/keys/\(state.displayName)/\(record.version)"
        let days = vault.properties.softDeleteRetentionInDays ?? 90
        let protected = vault.properties.enablePurgeProtection == true
        bundle.attributes.recoverableDays = days
        bundle.attributes.recoveryLevel = (days < 90 ? "CustomizedRecoverable" : "Recoverable") + (protected ? "" : "+Purgeable")
        bundle.attributes.exportable = false
        if let deletedAt = state.deletedAt {
            bundle.recoveryId = "\(baseURL)/deletedkeys/\(state.displayName)"
            bundle.deletedDate = deletedAt
            bundle.scheduledPurgeDate = state.scheduledPurgeAt
        }
        return bundle
    }

    static func bundle(_ record: KeyVersionRecord) throws -> KeyBundle {
        try JSONDecoder().decode(KeyBundle.self, from: Data(record.bundle.utf8))
    }

    static func encode(_ bundle: KeyBundle) throws -> String {
        String(decoding: try JSONEncoder().encode(bundle), as: UTF8.self)
    }

    static func validateKeyName(_ name: String) throws {
        guard (1...127).contains(name.utf8.count), name.utf8.allSatisfy({ byte in
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D
        }) else {
            throw KeyVaultError(.badParameter, "key names are 1-127 letters, digits and hyphens")
        }
    }

    static func validateOperations(_ operations: [String], kty: String) throws {
        for operation in operations where !KeyMaterial.operations(for: kty).contains(operation) {
            throw KeyVaultError(.badParameter, "key operation \(operation.prefix(40)) is not valid for a \(kty) key")
        }
    }
}
