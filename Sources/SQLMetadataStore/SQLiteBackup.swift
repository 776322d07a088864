import Logging
import SQLiteKit

/// The embedded metadata store's part of `coffer backup`: a consistent copy of a live database, and the copy made to
/// agree with the objects copied after it.
public enum SQLiteBackup {
    /// An object that a manifest of the copy needs is missing from the objects copied: the backup is not consistent.
    public struct MissingObjects: Error, CustomStringConvertible {
        public let keys: [String]
        public var description: String {
            "\(keys.count) object(s) that manifests reference were gone before they could be copied (first: \(keys[0])); "
                + "garbage collection ran faster than the backup (--gc-grace-seconds): run the backup again"
        }
    }

    /// Writes a transactionally consistent copy of the database at `source` to the new file `destination` while the
    /// server goes on writing (`VACUUM INTO` reads one snapshot of the WAL database).
    public static func snapshot(_ source: String, into destination: String) async throws {
        let connection = try await SQLiteConnection.open(storage: .file(path: source), logger: Logger(label: "coffer.backup"))
        do {
            _ = try await connection.query("PRAGMA busy_timeout=5000")
            try await connection.sql().raw("VACUUM INTO \(bind: destination)").run()
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    /// Makes the copy at `path` agree with the objects backed up with it: upload sessions are forgotten (staging is
    /// not copied); a blob record whose object is gone (garbage the server was about to collect) is dropped with its
    /// repository links. An object a manifest needs must be there. Returns the records kept and dropped.
    public static func reconcile(_ path: String, objectExists: @Sendable (String) -> Bool) async throws -> (kept: Int, dropped: Int) {
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: Logger(label: "coffer.backup"))
        do {
            let result = try await reconcile(connection.sql(), objectExists: objectExists)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    private static func reconcile(_ db: any SQLDatabase, objectExists: @Sendable (String) -> Bool) async throws -> (kept: Int, dropped: Int) {
        try await db.raw("DELETE FROM uploads").run()
        var (kept, dropped) = (0, 0)
        var needed: [String] = []
        for row in try await db.raw("SELECT registry, digest, object_key FROM blobs").all() {
            let registry = try row.decode(column: "registry", as: String.self)
            let digest = try row.decode(column: "digest", as: String.self)
            let key = try row.decode(column: "object_key", as: String.self)
            if objectExists(key) {
                kept += 1
                continue
            }
            let referenced = try await db.raw("""
                SELECT 1 AS used FROM manifests WHERE registry = \(bind: registry) AND digest = \(bind: digest)
                UNION ALL SELECT 1 AS used FROM manifest_blobs WHERE registry = \(bind: registry) AND digest = \(bind: digest) LIMIT 1
                """).first()
            if referenced != nil {
                needed.append(key)
                continue
            }
            try await db.raw("DELETE FROM repository_blobs WHERE registry = \(bind: registry) AND digest = \(bind: digest)").run()
            try await db.raw("DELETE FROM blobs WHERE registry = \(bind: registry) AND digest = \(bind: digest)").run()
            dropped += 1
        }
        if !needed.isEmpty { throw MissingObjects(keys: needed) }
        return (kept, dropped)
    }
}
