import CofferStorage
import OCIModels
import SQLKit

/// Garbage collection's side of the store: references, use times, and the atomic removal of unreferenced blobs.
extension SQLMetadataStore {
    /// A blob marked within this many seconds is not marked again: a HEAD costs a read, not a write.
    static let markResolution: Int64 = 60

    public func markBlobUsed(registry: String, digest: Digest) async throws {
        let threshold = Self.now() - Self.markResolution
        let stale = try await sessions.read { db in
            try await db.raw("""
                SELECT digest FROM blobs
                WHERE registry = \(bind: registry) AND digest = \(bind: digest.description) AND last_used_at < \(bind: threshold)
                """).first() != nil
        }
        guard stale else { return }
        try await sessions.transaction { db in try await Self.markUsed(db, registry: registry, digest: digest) }
    }

    public func manifestsWithoutReferences(registry: String) async throws -> [ManifestRecord] {
        try await sessions.read { db in
            try await db.raw("""
                SELECT * FROM manifests WHERE registry = \(bind: registry) AND references_recorded = 0 ORDER BY repository, digest
                """).all().map(Self.manifestRecord)
        }
    }

    public func recordReferences(registry: String, repository: String, manifest: Digest, blobs: [Digest]) async throws {
        try await sessions.transaction { db in
            guard try await db.raw("""
                SELECT digest FROM manifests
                WHERE registry = \(bind: registry) AND repository = \(bind: repository) AND digest = \(bind: manifest.description)
                """).first() != nil else { return }
            try await Self.insertReferences(db, registry: registry, repository: repository, manifest: manifest, blobs: blobs)
            try await db.raw("""
                UPDATE manifests SET references_recorded = 1
                WHERE registry = \(bind: registry) AND repository = \(bind: repository) AND digest = \(bind: manifest.description)
                """).run()
        }
    }

    public func removeUnreferencedBlobs(registry: String, unusedBefore cutoff: Int64, limit: Int) async throws -> [BlobRecord] {
        try await sessions.transaction { db in
            // Selected and deleted in one serialised write transaction: a manifest put (which checks its references
            // in its own write transaction) lands wholly before or wholly after this.
            guard try await db.raw("""
                SELECT digest FROM manifests WHERE registry = \(bind: registry) AND references_recorded = 0
                """).first() == nil else {
                throw StorageError(.conflict, "registry \(registry) has manifests without recorded references")
            }
            let doomed = try await db.raw("""
                SELECT * FROM blobs b
                WHERE b.registry = \(bind: registry) AND b.last_used_at < \(bind: cutoff)
                  AND NOT EXISTS (SELECT 1 FROM manifest_blobs r WHERE r.registry = b.registry AND r.digest = b.digest)
                  AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.registry = b.registry AND m.digest = b.digest)
                ORDER BY b.digest
                LIMIT \(bind: limit)
                """).all().map(Self.blobRecord)
            for blob in doomed {
                let digest = blob.digest.description
                try await db.raw("DELETE FROM repository_blobs WHERE registry = \(bind: registry) AND digest = \(bind: digest)").run()
                try await db.raw("DELETE FROM blobs WHERE registry = \(bind: registry) AND digest = \(bind: digest)").run()
            }
            return doomed
        }
    }

    public func blobObjectKeys(registry: String) async throws -> Set<String> {
        try await sessions.read { db in
            Set(try await db.raw("SELECT object_key FROM blobs WHERE registry = \(bind: registry)").all()
                .map { try $0.decode(column: "object_key", as: String.self) })
        }
    }

    public func blobRecords(registry: String, after last: String?, limit: Int) async throws -> [BlobRecord] {
        try await sessions.read { db in
            try await db.raw("""
                SELECT * FROM blobs WHERE registry = \(bind: registry) AND digest > \(bind: last ?? "")
                ORDER BY digest LIMIT \(bind: Int64(limit))
                """).all().map(Self.blobRecord)
        }
    }

    public func forgetUnreferencedBlob(registry: String, digest: Digest) async throws -> Bool {
        try await sessions.transaction { db in
            let text = digest.description
            guard try await db.raw("""
                SELECT 1 AS used FROM manifests WHERE registry = \(bind: registry) AND digest = \(bind: text)
                UNION ALL SELECT 1 AS used FROM manifest_blobs WHERE registry = \(bind: registry) AND digest = \(bind: text)
                """).first() == nil else { return false }
            try await db.raw("DELETE FROM repository_blobs WHERE registry = \(bind: registry) AND digest = \(bind: text)").run()
            try await db.raw("DELETE FROM blobs WHERE registry = \(bind: registry) AND digest = \(bind: text)").run()
            return true
        }
    }

    public func storedBytes(registry: String) async throws -> Int64 {
        try await sessions.read { db in
            try await db.raw("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS total FROM blobs WHERE registry = \(bind: registry)").first()?
                .decode(column: "total", as: Int64.self) ?? 0
        }
    }
}
