import CofferStorage
import Foundation
import Logging
import NIOCore
import PostgresKit
import SQLKit
import _ConnectionPoolModule
import SQLMetadataStore

/// PostgreSQL for the SQL metadata store, so that several Coffer nodes share one metadata store: a pool of
/// connections (PostgresNIO's client); reads on any connection; write transactions serialised across every
/// node by a transaction-scoped advisory lock, which gives the store the single-writer guarantee its queries
/// were written for (as SQLite's one writer does).
///
/// The database must compare text bytewise (`C` collation): ids are range-scanned and tags listed in byte
/// order, as on SQLite. `connect` refuses a database that does not.
public final class PostgresSessions: SQLSessions {
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let logger: Logger
    private let limits: TimeLimits
    /// The advisory lock key of the metadata store's write transactions.
    private static let writeLock: Int64 = 0x436F_6666_6572_5752  // "CofferWR"

    /// Connects to `postgres://user[:password]@host[:port]/database`; TLS is used when the server offers it
    /// (`?sslmode=disable` turns it off, `?sslmode=require` insists).
    public static func connect(url: String, maximumConnections: Int = 20, limits: TimeLimits = TimeLimits(),
                               logger: Logger = Logger(label: "coffer.postgres")) async throws -> PostgresSessions {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let host = components.host, let user = components.user, components.path.count > 1 else {
            throw PostgresSessionsError("the metadata URL must look like postgres://user[:password]@host[:port]/database")
        }
        let mode = components.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
        let tls: PostgresClient.Configuration.TLS = switch mode {
        case "disable": .disable
        case "require", "verify-full", "verify-ca": .require(.makeClientConfiguration())
        default: .prefer(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(host: host, port: components.port ?? 5432, username: user,
                                                         password: components.password, database: String(components.path.dropFirst()), tls: tls)
        configuration.options.maximumConnections = maximumConnections
        // The server ends a statement itself a little after the longest limit: closing the connection at a limit
        // fails the query here, but PostgreSQL would run it on until it next wrote to the socket.
        let statementTimeout = Int((limits.transaction + .seconds(5)).components.seconds) * 1000
        configuration.options.additionalStartupParameters = [("statement_timeout", String(statementTimeout))]
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let sessions = PostgresSessions(client: client, runner: Task { await client.run() }, limits: limits, logger: logger)
        do {
            let collation = try await sessions.read { db in
                try await db.raw("SELECT datcollate FROM pg_database WHERE datname = current_database()").first()?
                    .decode(column: "datcollate", as: String.self)
            }
            guard collation == "C" || collation == "POSIX" else {
                throw PostgresSessionsError("the database must use the C collation (it uses \(collation ?? "an unknown one")): "
                                            + "CREATE DATABASE … TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'")
            }
        } catch {
            try? await sessions.close()
            throw error
        }
        return sessions
    }

    private init(client: PostgresClient, runner: Task<Void, Never>, limits: TimeLimits, logger: Logger) {
        self.client = client
        self.runner = runner
        self.limits = limits
        self.logger = logger
    }

    public func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        // The task group ends before this returns, so `body` does not in fact outlive the call.
        try await withoutActuallyEscaping(body) { body in
            try await Self.unavailableOnFailure {
                try await Self.within(limits.read) { [client] inUse in
                    try await client.withConnection { connection in
                        try await inUse.run(on: connection) { try await body(connection.openConnectionSQL()) }
                    }
                }
            }
        }
    }

    /// How long a read or a write transaction may take, waiting for a connection included. The pool waits for a
    /// connection as long as it takes, and a query PostgreSQL never answers (the server hung, the network gone without
    /// a reset) waits as long as the TCP connection lives; either would hold the request, so the store gives up at
    /// the limit, closes the connection the work was using (which fails its query), and answers "unavailable".
    public struct TimeLimits: Sendable {
        public var read: Duration
        public var transaction: Duration
        public init(read: Duration = .seconds(10), transaction: Duration = .seconds(30)) {
            self.read = read
            self.transaction = transaction
        }
    }

    private static func within<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable (ConnectionInUse) async throws -> T) async throws -> T {
        let inUse = ConnectionInUse()
        return try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await operation(inUse) }
            group.addTask {
                try await Task.sleep(for: limit)
                inUse.expire()
                throw StorageError(.ioFailure, "the metadata store did not answer within \(limit)")
            }
            // The group waits for both: the sleep ends when cancelled; the operation when cancelled (waiting for a
            // lease) or when its connection closes (a query sent).
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    /// PostgreSQL's own failures (connection lost, server restarting, pool closed, the pool's circuit breaker tripped
    /// after connections kept failing) become the storage contract's `ioFailure`, so callers answer "unavailable,
    /// retry" rather than an internal error; the store's own errors pass.
    private static func unavailableOnFailure<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as StorageError {
            throw error
        } catch let error as PSQLError {
            throw StorageError(.ioFailure, "the metadata store is unavailable (\(error.code))")
        } catch is ChannelError, is IOError {
            throw StorageError(.ioFailure, "the metadata store is unavailable (connection failed)")
        } catch is _ConnectionPoolModule.ConnectionPoolError {
            throw StorageError(.ioFailure, "the metadata store is unavailable (no connection could be made)")
        }
    }

    public func transaction<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await withoutActuallyEscaping(body) { body in
            try await Self.unavailableOnFailure {
                try await Self.within(limits.transaction) { [self] inUse in try await writeTransaction(inUse, body) }
            }
        }
    }

    private func writeTransaction<T: Sendable>(_ inUse: ConnectionInUse, _ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await client.withConnection { connection in
            try await inUse.run(on: connection) {
                try await connection.openConnectionSQL().inTransaction { database in
                    try await database.raw("SELECT pg_advisory_xact_lock(\(bind: Self.writeLock))").run()
                    return try await body(database)
                }
            }
        }
    }

    /// Rewrites `tables` (names from the store's own code, never from a request) so that the old rows leave their
    /// files (`VACUUM FULL`); their old pages may still sit in WAL segments until PostgreSQL recycles them, which an
    /// operator bounds with its WAL settings.
    public func eraseDeletedRemnants(in tables: [String]) async throws {
        guard !tables.isEmpty else { return }  // a bare VACUUM FULL would rewrite the whole database
        try await Self.unavailableOnFailure {
            try await Self.within(limits.transaction) { [client] inUse in
                try await client.withConnection { connection in
                    try await inUse.run(on: connection) { try await Self.vacuum(tables, on: connection.openConnectionSQL()) }
                }
            }
        }
    }

    private static func vacuum(_ tables: [String], on db: any SQLDatabase) async throws {
        // VACUUM FULL copies a deleted row that a snapshot taken before the delete may still see, so first wait
        // (five seconds at most) until no other session holds a snapshot older than now.
        if let horizon = try await db.raw("SELECT (pg_snapshot_xmax(pg_current_snapshot())::text::bigint % 4294967296)::text AS xid")
            .first()?.decode(column: "xid", as: String.self) {
            for _ in 0..<100 {
                let older = try await db.raw("""
                    SELECT count(*) AS n FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_xmin IS NOT NULL
                      AND age(backend_xmin) > age(\(bind: horizon)::text::xid)
                    """).first()?.decode(column: "n", as: Int64.self) ?? 0
                if older == 0 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        try await db.raw("VACUUM FULL \(unsafeRaw: tables.joined(separator: ", "))").run()
    }

    public func close() async throws {
        runner.cancel()
        _ = await runner.value
    }
}

public struct PostgresSessionsError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
