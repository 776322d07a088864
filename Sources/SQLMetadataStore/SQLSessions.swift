import SQLKit

/// How the SQL metadata store reaches its database: consistent reads, and serialised write transactions.
/// SQLite provides it with one writer and WAL readers; PostgreSQL with a pool.
public protocol SQLSessions: Sendable {
    /// Runs queries that see only committed data.
    func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    /// Runs queries in one transaction: all of its writes become visible together, or none do.
    func transaction<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    /// After deletions that must not survive anywhere (purged keys, deleted or rewrapped registry master keys):
    /// pushes the deletion from `tables` through to the database files, leaving no journal copy of the old rows.
    func eraseDeletedRemnants(in tables: [String]) async throws
    func close() async throws
}

extension SQLDatabase {
    /// Runs `body` between `begin` and `COMMIT` on this connection, rolling back when it throws.
    /// `begin` is each database's own opening (`BEGIN IMMEDIATE` on SQLite takes the write lock at once).
    public func inTransaction<T: Sendable>(begin: String = "BEGIN", _ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await raw(SQLQueryString(begin)).run()
        do {
            let result = try await body(self)
            try await raw("COMMIT").run()
            return result
        } catch {
            try? await raw("ROLLBACK").run()
            throw error
        }
    }
}
