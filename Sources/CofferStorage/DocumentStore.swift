/// A control-plane resource kept as a JSON document under its (lowercased) resource id:
/// tenants, subscriptions, principals, role assignments, resource groups, vaults.
public struct StoredDocument: Sendable, Equatable {
    /// The resource id, lowercased (ARM ids are case-insensitive).
    public var id: String
    /// The resource type, lowercased (`microsoft.keyvault/vaults`).
    public var type: String
    /// The resource name, lowercased, for lookups by name.
    public var name: String
    /// The resource as JSON.
    public var body: String

    public init(id: String, type: String, name: String, body: String) {
        self.id = id.lowercased()
        self.type = type.lowercased()
        self.name = name.lowercased()
        self.body = body
    }
}

/// Where control-plane documents live. Implemented by the metadata store; part of its conformance suite.
public protocol DocumentStore: Sendable {
    func document(id: String) async throws -> StoredDocument?
    /// Documents of one type, optionally only those of one name, ordered by id.
    func documents(type: String, name: String?) async throws -> [StoredDocument]
    /// Documents whose id starts with `prefix` (lowercased), optionally of one type, ordered by id.
    func documents(under prefix: String, type: String?) async throws -> [StoredDocument]
    /// Inserts or replaces.
    func putDocument(_ document: StoredDocument) async throws
    /// Inserts; throws `StorageError.conflict` when the id exists.
    func insertDocument(_ document: StoredDocument) async throws
    /// Replaces the document only while its body is still `expected` (compare and swap): false when another writer
    /// changed or removed it since it was read, so a read-change-write never undoes a concurrent change.
    func replaceDocument(_ document: StoredDocument, ifBodyIs expected: String) async throws -> Bool
    /// Removes; false when there was none.
    func deleteDocument(id: String) async throws -> Bool
}

/// One version of a key in a vault: its public bundle and its private material, sealed.
public struct KeyVersionRecord: Sendable, Equatable {
    public var vault: String
    public var name: String
    public var version: String
    /// Creation time in microseconds since 1970: orders versions (the newest is the key's current version).
    public var createdAt: Int64
    /// The key bundle without private material (JSON): JWK public part, attributes, tags.
    public var bundle: String
    /// The private key material, encrypted under the server master key (base64).
    public var sealedMaterial: String

    public init(vault: String, name: String, version: String, createdAt: Int64, bundle: String, sealedMaterial: String) {
        self.vault = vault.lowercased()
        self.name = name.lowercased()
        self.version = version
        self.createdAt = createdAt
        self.bundle = bundle
        self.sealedMaterial = sealedMaterial
    }
}

/// Whether a key name is live or soft-deleted.
public struct KeyNameRecord: Sendable, Equatable {
    public var vault: String
    public var name: String
    /// The name as first written (key names are case-insensitive, shown as created).
    public var displayName: String
    public var deletedAt: Int64?
    public var scheduledPurgeAt: Int64?

    public init(vault: String, name: String, displayName: String, deletedAt: Int64?, scheduledPurgeAt: Int64?) {
        self.vault = vault.lowercased()
        self.name = name.lowercased()
        self.displayName = displayName
        self.deletedAt = deletedAt
        self.scheduledPurgeAt = scheduledPurgeAt
    }
}

/// Where vault keys live. Implemented by the metadata store; part of its conformance suite.
public protocol VaultKeyStore: Sendable {
    /// Adds a version, creating the name if new; throws `.conflict` when the name is soft-deleted.
    func insertKeyVersion(_ record: KeyVersionRecord, displayName: String) async throws
    /// All versions of a key, oldest first.
    func keyVersions(vault: String, name: String) async throws -> [KeyVersionRecord]
    func keyVersion(vault: String, name: String, version: String) async throws -> KeyVersionRecord?
    /// Replaces a version's public bundle (attributes, tags); throws `.notFound`.
    func updateKeyBundle(vault: String, name: String, version: String, bundle: String) async throws
    func keyName(vault: String, name: String) async throws -> KeyNameRecord?
    /// Names in the vault, live or deleted, ordered by name.
    func keyNames(vault: String, deleted: Bool) async throws -> [KeyNameRecord]
    /// Marks a name deleted (with dates) or live again (nil dates); throws `.notFound`.
    func setKeyDeleted(vault: String, name: String, deletedAt: Int64?, scheduledPurgeAt: Int64?) async throws
    /// Removes a name and all its versions for good: no copy of the sealed material may stay in the
    /// store's files (freed pages, journals), since a purge is what crypto-shreds data wrapped under the key.
    func purgeKey(vault: String, name: String) async throws
}
