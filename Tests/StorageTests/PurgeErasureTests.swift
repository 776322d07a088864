import CofferStorage
import Foundation
import SQLKit
import Testing
@testable import SQLMetadataStore

/// What a key purge erases, backend by backend: the statement of docs/architecture.md ("Purged means erased"), tested.
@Suite struct PurgeErasureTests {
    /// The sealed material of the purged key: random, so that finding it in a file can only mean this row.
    static func marker() -> String { "purge-marker-" + UUID().uuidString.lowercased() + UUID().uuidString.lowercased() }

    static func files(under directory: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
        return walker.compactMap { $0 as? String }.map { directory + "/" + $0 }.filter {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && !isDirectory.boolValue
        }
    }

    static func contains(_ path: String, _ marker: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        return data.range(of: Data(marker.utf8)) != nil
    }

    static func insertAndPurge(_ store: SQLMetadataStore, marker: String) async throws {
        try await store.insertKeyVersion(KeyVersionRecord(vault: "v", name: "k", version: "1", createdAt: 1, bundle: "{}", sealedMaterial: marker),
                                         displayName: "k")
        #expect(try await store.keyVersion(vault: "v", name: "k", version: "1")?.sealedMaterial == marker)
        try await store.purgeKey(vault: "v", name: "k")
    }

    /// SQLite: gone from every file of the database (`secure_delete` zeroes the row, the WAL is checkpointed and truncated).
    @Test func sqliteErasesPurgedMaterialFromEveryFile() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-purge-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try await SQLMetadataStore(sessions: try await SQLiteSessions.open(path: directory + "/metadata.sqlite"))
        defer { Task { try await store.close() } }
        let marker = Self.marker()
        try await store.insertKeyVersion(KeyVersionRecord(vault: "v", name: "k", version: "1", createdAt: 1, bundle: "{}", sealedMaterial: marker),
                                         displayName: "k")
        // The positive control: before the purge, the material is in the files.
        #expect(Self.files(under: directory).contains { Self.contains($0, marker) })
        try await store.purgeKey(vault: "v", name: "k")
        let holding = Self.files(under: directory).filter { Self.contains($0, marker) }
        #expect(holding.isEmpty, "still in \(holding)")
    }

    /// PostgreSQL: gone from the table's files (`VACUUM FULL` rewrites them), but still in the WAL segments written since
    /// (and in any WAL archive or base backup) until PostgreSQL recycles them: crypto-shredding on PostgreSQL holds
    /// against someone with the database's files only once those are gone. The material is sealed under the server
    /// master key, so a WAL copy without that key reveals nothing.
    @Test func postgresErasesPurgedMaterialFromTheTableButNotFromTheWAL() async throws {
        guard let url = ProcessInfo.processInfo.environment["COFFER_TEST_POSTGRES_URL"] else {
            if ProcessInfo.processInfo.environment["COFFER_REQUIRE_POSTGRES"] == "1" { throw PostgresSessionsMissing() }
            return
        }
        let store = try await PostgresTestDatabase.fresh(adminURL: url)
        defer { Task { try await store.close() } }
        let marker = Self.marker()
        try await Self.insertAndPurge(store, marker: marker)
        let (dataDirectory, tableFile) = try await store.sessions.read { db in
            let directory = try await db.raw("SHOW data_directory").first()?.decode(column: "data_directory", as: String.self) ?? ""
            let file = try await db.raw("SELECT pg_relation_filepath('vault_key_versions') AS path").first()?.decode(column: "path", as: String.self) ?? ""
            try await db.raw("CHECKPOINT").run()
            return (directory, file)
        }
        #expect(FileManager.default.fileExists(atPath: dataDirectory + "/" + tableFile))
        let tableFiles = Self.files(under: dataDirectory + "/base").filter { Self.contains($0, marker) }
        #expect(tableFiles.isEmpty, "the table's files still hold the purged material: \(tableFiles)")
        let walFiles = Self.files(under: dataDirectory + "/pg_wal").filter { Self.contains($0, marker) }
        #expect(!walFiles.isEmpty, "the WAL no longer holds the purged material: update the statement in docs/architecture.md")
    }
}
