import Foundation
import Logging
import PostgresMetadataStore
import SQLMetadataStore
import Testing

/// The SQL backends the conformance suites run against: SQLite always, and PostgreSQL when the test command
/// started one (`COFFER_TEST_POSTGRES_URL`, an administrator's URL; each store gets a database of its own).
/// `COFFER_REQUIRE_POSTGRES=1` makes a missing PostgreSQL an error rather than a smaller run.
struct SQLStoreBackend: CustomTestStringConvertible, Sendable {
    let name: String
    let make: @Sendable () async throws -> SQLMetadataStore
    var testDescription: String { name }

    static let all: [SQLStoreBackend] = {
        var backends = [SQLStoreBackend(name: "sqlite") {
            try await SQLMetadataStore(sessions: try await SQLiteSessions.open(path: temporaryDirectory() + "/metadata.sqlite"))
        }]
        let environment = ProcessInfo.processInfo.environment
        if let url = environment["COFFER_TEST_POSTGRES_URL"] {
            backends.append(SQLStoreBackend(name: "postgresql") { try await PostgresTestDatabase.fresh(adminURL: url) })
        } else if environment["COFFER_REQUIRE_POSTGRES"] == "1" {
            backends.append(SQLStoreBackend(name: "postgresql") { throw PostgresSessionsMissing() })
        }
        return backends
    }()
}

struct PostgresSessionsMissing: Error, CustomStringConvertible {
    var description: String { "COFFER_REQUIRE_POSTGRES=1 but COFFER_TEST_POSTGRES_URL is not set: start PostgreSQL with scripts/test-postgres" }
}

enum PostgresTestDatabase {
    /// A new, empty database (C collation) on the server of `adminURL`, opened as a metadata store.
    static func fresh(adminURL: String) async throws -> SQLMetadataStore {
        try await SQLMetadataStore(sessions: try await PostgresSessions.connect(url: try await freshURL(adminURL: adminURL)))
    }

    /// The URL of a new, empty database (C collation) on the server of `adminURL`.
    static func freshURL(adminURL: String) async throws -> String {
        let name = "coffer_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = try await PostgresSessions.connect(url: adminURL, maximumConnections: 1)
        do {
            try await admin.read { db in
                try await db.raw("CREATE DATABASE \(unsafeRaw: name) TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'").run()
            }
        } catch {
            try? await admin.close()
            throw error
        }
        try await admin.close()
        var components = URLComponents(string: adminURL)!
        components.path = "/" + name
        return components.string!
    }
}
