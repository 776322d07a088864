import CofferStorage
import Foundation
import Synchronization

/// ACR's changeable attributes of a repository, a tag or a manifest (`az acr repository update --write-enabled false`:
/// ACR's image locks). All true unless changed.
public struct ChangeableAttributes: Codable, Sendable, Equatable {
    public var deleteEnabled = true
    public var writeEnabled = true
    public var readEnabled = true
    public var listEnabled = true

    public init() {}

    /// ACR's rule: what may not be written may not be deleted either.
    public var mayDelete: Bool { deleteEnabled && writeEnabled }

    /// Applies a PATCH body's booleans (each optional).
    public mutating func apply(_ change: Change) {
        deleteEnabled = change.deleteEnabled ?? deleteEnabled
        writeEnabled = change.writeEnabled ?? writeEnabled
        readEnabled = change.readEnabled ?? readEnabled
        listEnabled = change.listEnabled ?? listEnabled
    }

    public struct Change: Decodable, Sendable {
        public var deleteEnabled: Bool?
        public var writeEnabled: Bool?
        public var readEnabled: Bool?
        public var listEnabled: Bool?
    }

    public var presented: [String: Bool] {
        ["deleteEnabled": deleteEnabled, "writeEnabled": writeEnabled, "readEnabled": readEnabled, "listEnabled": listEnabled]
    }
}

/// The locks of one repository: its own attributes and those of its tags and manifests (by name and digest).
public struct RepositoryLocks: Codable, Sendable, Equatable {
    public var repository = ChangeableAttributes()
    public var tags: [String: ChangeableAttributes] = [:]
    public var manifests: [String: ChangeableAttributes] = [:]

    public init() {}

    public func tag(_ name: String) -> ChangeableAttributes { tags[name] ?? ChangeableAttributes() }
    public func manifest(_ digest: String) -> ChangeableAttributes { manifests[digest] ?? ChangeableAttributes() }
}

/// Where the locks are kept: one document per repository that has any, in the metadata store (every node reads the
/// same). Each data call reads them; a node keeps what it read for a second (a change made here is seen at once, one
/// made on another node within that second).
public final class RepositoryLockStore: Sendable {
    static let documentType = "coffer.registry/repositorylocks"
    private let documents: any DocumentStore
    private let cache = Mutex<[String: (locks: RepositoryLocks, expires: ContinuousClock.Instant)]>([:])
    private let lifetime: Duration

    public init(documents: any DocumentStore, lifetime: Duration = .seconds(1)) {
        self.documents = documents
        self.lifetime = lifetime
    }

    private static func id(registry: String, repository: String) -> String {
        "/coffer/registries/\(registry.lowercased())/repositorylocks/\(repository)"
    }

    public func locks(registry: String, repository: String) async throws -> RepositoryLocks {
        let id = Self.id(registry: registry, repository: repository)
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0[id] }), cached.expires > now { return cached.locks }
        let locks = try await documents.document(id: id).map { try JSONDecoder().decode(RepositoryLocks.self, from: Data($0.body.utf8)) }
            ?? RepositoryLocks()
        cache.withLock { cache in
            if cache.count > 10_000 { cache.removeAll() }  // a bound, not an eviction policy: entries live a second
            cache[id] = (locks, now + lifetime)
        }
        return locks
    }

    /// The repositories of a registry that have locks, by name.
    public func locks(registry: String) async throws -> [String: RepositoryLocks] {
        let prefix = "/coffer/registries/\(registry.lowercased())/repositorylocks/"
        var result: [String: RepositoryLocks] = [:]
        for document in try await documents.documents(under: prefix, type: Self.documentType) {
            result[String(document.id.dropFirst(prefix.count))] = try JSONDecoder().decode(RepositoryLocks.self, from: Data(document.body.utf8))
        }
        return result
    }

    /// Changes the locks with a compare-and-set, so that two changes at once both count.
    public func change(registry: String, repository: String, _ change: (inout RepositoryLocks) throws -> Void) async throws -> RepositoryLocks {
        let id = Self.id(registry: registry, repository: repository)
        for _ in 0..<8 {
            let stored = try await documents.document(id: id)
            var locks = try stored.map { try JSONDecoder().decode(RepositoryLocks.self, from: Data($0.body.utf8)) } ?? RepositoryLocks()
            try change(&locks)
            let body = String(decoding: try JSONEncoder().encode(locks), as: UTF8.self)
            let document = StoredDocument(id: id, type: Self.documentType, name: repository, body: body)
            let written: Bool
            if let stored {
                written = try await documents.replaceDocument(document, ifBodyIs: stored.body)
            } else {
                do {
                    try await documents.insertDocument(document)
                    written = true
                } catch let error as StorageError where error.code == .conflict {
                    written = false
                }
            }
            if written {
                _ = cache.withLock { $0.removeValue(forKey: id) }
                return locks
            }
        }
        throw RegistryError(.storageUnavailable, "the repository's attributes were being changed by other requests; retry")
    }

    /// Forgets the locks of every repository of a registry (it was deleted).
    public func removeAll(registry: String) async throws {
        let prefix = "/coffer/registries/\(registry.lowercased())/repositorylocks/"
        for document in try await documents.documents(under: prefix, type: Self.documentType) {
            _ = try await documents.deleteDocument(id: document.id)
        }
        cache.withLock { cache in cache = cache.filter { !$0.key.hasPrefix(prefix) } }
    }

    /// Forgets a repository's locks (it was deleted).
    public func remove(registry: String, repository: String) async throws {
        let id = Self.id(registry: registry, repository: repository)
        _ = try await documents.deleteDocument(id: id)
        _ = cache.withLock { $0.removeValue(forKey: id) }
    }
}

