import SQLKit

/// How the SQL metadata store reaches its database: consistent reads, and serialised write transactions.
/// SQLite provides it with one writer and WAL readers; PostgreSQL will provide it with a pool.
public protocol SQLSessions: Sendable {
    /// Runs queries that see only committed data.
    func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    /// Runs queries in one transaction: all of its writes become visible together, or none do.
    func transaction<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    /// After deletions that must not survive anywhere (purged keys): pushes the deletion through to the
    /// database files, leaving no journal copy of the deleted rows.
    func eraseDeletedRemnants() async throws
    func close() async throws
}
