import CofferStorage
import Envelope
import Foundation
import Logging
import OCIModels

/// The registry domain: repositories, blobs, uploads, manifests and tags of every registry,
/// stored encrypted. It speaks no HTTP; the API layer translates requests into these calls.
public final class RegistryService: Sendable {
    public let configuration: RegistryConfiguration
    let metadata: any MetadataStore
    let blobs: any BlobStore
    let wrappers: [String: any KeyWrapper]
    let wrapperProvider: (any KeyWrapperProvider)?
    let masterKeys: MasterKeyCache
    let uploads = UploadSessions()
    let manifests = ManifestCache()
    let registryRecords: RegistryRecordCache
    let logger: Logger
    /// Every use of a key-encryption key, logged and counted.
    public let keyAudit: KeyAccessAudit
    /// What garbage collection has removed since start.
    public let collectionTotals = CollectionTotals()

    /// - Parameter keyWrappers: the key-encryption keys available, by ``KeyWrapper/keyID``.
    public init(
        configuration: RegistryConfiguration = .init(),
        metadata: any MetadataStore,
        blobs: any BlobStore,
        keyWrappers: [any KeyWrapper],
        wrapperProvider: (any KeyWrapperProvider)? = nil,
        logger: Logger = Logger(label: "coffer.registry")
    ) {
        self.wrapperProvider = wrapperProvider
        self.configuration = configuration
        self.metadata = metadata
        self.blobs = blobs
        self.wrappers = Dictionary(keyWrappers.map { ($0.keyID, $0) }, uniquingKeysWith: { first, _ in first })
        self.masterKeys = MasterKeyCache(lifetime: configuration.masterKeyLifetime)
        self.registryRecords = RegistryRecordCache(lifetime: configuration.registryRecordLifetime)
        self.logger = logger
        self.keyAudit = KeyAccessAudit(logger: logger)
    }

    // MARK: registries

    /// Creates a registry with a fresh master key wrapped by `keyWrapperID`'s key.
    public func createRegistry(name: String, keyWrapperID: String) async throws {
        let wrapper = try wrapper(for: keyWrapperID, operation: .wrap, registry: name)
        let masterKey = RegistryMasterKey.generate(for: name)
        let wrapped: [UInt8]
        do {
            wrapped = try await masterKey.wrapped(by: wrapper)
            // Prove the way back works before anything depends on it.
            _ = try await RegistryMasterKey.unwrap(wrapped, registry: name, using: wrapper)
        } catch {
            throw audited(error, .wrap, registry: name, key: wrapper.auditIdentity)
        }
        keyAudit.record(.wrap, registry: name, key: wrapper.auditIdentity, outcome: .success)
        let record = RegistryRecord(name: name, wrappedMasterKey: wrapped, keyEncryptionKeyID: keyWrapperID, createdAt: Self.now())
        try await metadata.createRegistry(record)
        logger.info("registry created", metadata: [LogKey.registry: .string(name), LogKey.keyID: .string(keyWrapperID)])
    }

    /// Creates the registry unless it exists.
    public func ensureRegistry(name: String, keyWrapperID: String) async throws {
        if try await metadata.registry(named: name) == nil {
            try await createRegistry(name: name, keyWrapperID: keyWrapperID)
        }
    }

    /// Deletes a registry: its metadata and master key at once (which makes its objects unreadable),
    /// then its objects, best effort (leftovers are unreadable and removed by a later sweep).
    public func deleteRegistry(name: String) async throws {
        try await metadata.deleteRegistry(name: name)
        registryRecords.forget(name)
        masterKeys.forget(registry: name)
        for key in (try? await blobs.list(prefix: "registries/\(name)/")) ?? [] {
            try? await blobs.delete(key)
        }
        logger.info("registry deleted", metadata: [LogKey.registry: .string(name)])
    }

    public func registryExists(_ name: String) async throws -> Bool {
        try await registryRecord(name) != nil
    }

    /// The registry's row, from a cache of at most ``RegistryConfiguration/registryRecordLifetime``.
    func registryRecord(_ name: String) async throws -> RegistryRecord? {
        try await registryRecords.record(named: name) { try await metadata.registry(named: name) }
    }

    public func registryNames() async throws -> [String] {
        try await metadata.registries().map(\.name)
    }

    /// The registry's unwrapped master key, from cache or by asking its key-encryption key.
    func masterKey(registry: String) async throws -> RegistryMasterKey {
        guard let record = try await registryRecord(registry) else {
            throw RegistryError(.nameUnknown, "registry \(registry) is not known")
        }
        return try await masterKeys.masterKey(registry: registry, wrapped: record.wrappedMasterKey) {
            let wrapper = try wrapper(for: record.keyEncryptionKeyID, operation: .unwrap, registry: registry)
            do {
                let key = try await RegistryMasterKey.unwrap(record.wrappedMasterKey, registry: registry, using: wrapper)
                keyAudit.record(.unwrap, registry: registry, key: wrapper.auditIdentity, outcome: .success)
                return key
            } catch {
                throw audited(error, .unwrap, registry: registry, key: wrapper.auditIdentity)
            }
        }
    }

    /// Why the registry's data cannot be read now (its key is inaccessible or purged), or nil when it can.
    /// Answers as data requests would: within the master-key cache's lifetime, from the cache.
    public func keyAccessError(registry: String) async -> RegistryError? {
        do {
            _ = try await masterKey(registry: registry)
            return nil
        } catch let error as RegistryError where error.code == .keyUnavailable || error.code == .keyPurged {
            return error
        } catch {
            return nil
        }
    }

    /// Rewraps the registry's master key under another key-encryption key (key rotation): one unwrap and
    /// one wrap, whatever the amount of data; no object is re-encrypted.
    public func rewrapMasterKey(registry: String, keyWrapperID: String) async throws {
        guard let record = try await metadata.registry(named: registry) else {
            throw RegistryError(.nameUnknown, "registry \(registry) is not known")
        }
        let current = try wrapper(for: record.keyEncryptionKeyID, operation: .rotate, registry: registry)
        let next = try wrapper(for: keyWrapperID, operation: .rotate, registry: registry)
        let wrapped: [UInt8]
        do {
            let masterKey = try await RegistryMasterKey.unwrap(record.wrappedMasterKey, registry: registry, using: current)
            wrapped = try await masterKey.wrapped(by: next)
            _ = try await RegistryMasterKey.unwrap(wrapped, registry: registry, using: next)
        } catch {
            throw audited(error, .rotate, registry: registry, key: next.auditIdentity)
        }
        try await metadata.updateRegistryKey(name: registry, wrappedMasterKey: wrapped, keyEncryptionKeyID: keyWrapperID)
        registryRecords.forget(registry)
        keyAudit.record(.rotate, registry: registry, key: next.auditIdentity, outcome: .success)
        masterKeys.forget(registry: registry)
        logger.info("registry master key rewrapped", metadata: [LogKey.registry: .string(registry), LogKey.keyID: .string(keyWrapperID)])
    }

    /// The key-encryption key id a registry's master key is wrapped under now.
    public func keyEncryptionKeyID(registry: String) async throws -> String? {
        try await metadata.registry(named: registry)?.keyEncryptionKeyID
    }

    func wrapper(for keyID: String) -> (any KeyWrapper)? {
        wrappers[keyID] ?? wrapperProvider?.wrapper(for: keyID)
    }

    /// The wrapper for `keyID`; an id no wrapper answers to is an audited failure.
    private func wrapper(for keyID: String, operation: KeyAccessAudit.Operation, registry: String) throws -> any KeyWrapper {
        guard let wrapper = wrapper(for: keyID) else {
            let error = RegistryError(.keyUnavailable, "the key-encryption key \(keyID) of registry \(registry) is not available")
            keyAudit.record(operation, registry: registry, key: (keyID, "unknown"), outcome: .denied, reason: error.message)
            throw error
        }
        return wrapper
    }

    /// A key failure, audited, as the registry reports it.
    private func audited(_ error: any Error, _ operation: KeyAccessAudit.Operation, registry: String, key: (key: String, identity: String)) -> RegistryError {
        let reported = Self.keyError(error, registry: registry)
        keyAudit.record(operation, registry: registry, key: key, outcome: reported.code == .keyPurged ? .purged : .denied, reason: reported.message)
        return reported
    }

    /// Key failures as the registry reports them: the customer-managed key is inaccessible.
    static func keyError(_ error: any Error, registry: String) -> RegistryError {
        if let error = error as? RegistryError { return error }
        if let error = error as? EnvelopeError, error.code == .keyPurged {
            return RegistryError(.keyPurged, "the data of registry \(registry) is permanently unreadable (crypto-shredded): \(error.message)")
        }
        let reason = (error as? EnvelopeError)?.message ?? String(describing: error)
        return RegistryError(.keyUnavailable, "the key-encryption key of registry \(registry) is inaccessible: \(reason)")
    }

    // MARK: housekeeping

    /// Removes upload sessions that are stale and staging objects no session owns (after a crash). Safe while
    /// other nodes upload: staging is listed before the sessions, and a session is recorded before its staging.
    public func cleanUpStaging() async throws {
        let cutoff = Self.now() - Int64(configuration.uploadIdleTimeout.components.seconds)
        let staged = try await blobs.listStaging()
        var live: Set<String> = []
        for upload in try await metadata.uploads() {
            if upload.activeAt < cutoff {
                try await discardUpload(id: upload.id)
            } else {
                live.insert(upload.id)
            }
        }
        for name in staged {
            let owner = name.split(separator: ".").first.map(String.init) ?? name
            if !live.contains(owner) {
                try await blobs.deleteStaging(name)
                logger.info("removed staging leftover")
            }
        }
    }

    // MARK: helpers

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    /// Where a blob's objects live.
    static func blobPrefix(registry: String) -> String { "registries/\(registry)/blobs/" }

    /// A new object's key: the digest, the time of writing, and a random part. Every write gets its own key, so
    /// garbage collection deleting an old object of a digest can never delete a newer one written concurrently,
    /// and an object no record names can be judged by its age.
    static func newObjectKey(registry: String, digest: Digest) -> String {
        let random = UInt64.random(in: 0...UInt64.max)
        return blobPrefix(registry: registry)
            + "\(digest.algorithm.rawValue)/\(digest.encoded.prefix(2))/\(digest.encoded).\(now()).\(String(random, radix: 16))"
    }

    /// When an object was written, from its key; nil for keys of the earlier form (the digest alone).
    static func objectKeyTime(_ key: String) -> Int64? {
        let parts = key.split(separator: "/").last?.split(separator: ".") ?? []
        return parts.count == 3 ? Int64(parts[1]) : nil
    }

    /// Maps storage and envelope failures to registry errors; registry errors pass through.
    static func translate(_ error: any Error) -> any Error {
        switch error {
        case let error as RegistryError: return error
        case let error as EnvelopeError:
            switch error.code {
            case .keyUnavailable: return RegistryError(.keyUnavailable, error.message)
            case .keyPurged: return RegistryError(.keyPurged, error.message)
            case .integrityFailure, .formatInvalid: return RegistryError(.dataCorrupt, error.message)
            }
        case let error as StorageError where error.code == .notFound || error.code == .corrupt:
            return RegistryError(.dataCorrupt, "stored data is missing or unreadable")
        case let error as StorageError where error.code == .ioFailure:
            return RegistryError.unavailable(error)
        default: return error
        }
    }
}

/// Metadata keys of this module's log messages.
enum LogKey {
    static let registry = "coffer.registry"
    static let repository = "coffer.repository"
    static let digest = "coffer.digest"
    static let keyID = "coffer.key_id"
    static let upload = "coffer.upload"
}
