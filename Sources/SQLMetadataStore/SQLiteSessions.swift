import Logging
import NIOPosix
import SQLiteKit
import Synchronization

/// Embedded SQLite: one writer connection behind a lock, reader connections on WAL snapshots,
/// `synchronous=FULL` so a committed transaction survives a crash, `secure_delete` so deleted rows
/// (purged key material above all) are overwritten, not left in free pages.
public final class SQLiteSessions: SQLSessions {
    private let writer: SQLiteConnection
    private let readers: [SQLiteConnection]
    private let writeLock = AsyncMutex()
    private let lender: ConnectionLender

    public static func open(path: String, readerCount: Int = 4, logger: Logger = Logger(label: "coffer.sqlite")) async throws -> SQLiteSessions {
        let writer = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=5000", "PRAGMA foreign_keys=ON", "PRAGMA secure_delete=ON"] {
            _ = try await writer.query(pragma)
        }
        var readers: [SQLiteConnection] = []
        for _ in 0..<max(1, readerCount) {
            let reader = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
            _ = try await reader.query("PRAGMA busy_timeout=5000")
            readers.append(reader)
        }
        return SQLiteSessions(writer: writer, readers: readers)
    }

    private init(writer: SQLiteConnection, readers: [SQLiteConnection]) {
        self.writer = writer
        self.readers = readers
        lender = ConnectionLender(count: readers.count)
    }

    /// One reader connection, for this read alone (see ``ConnectionLender``).
    public func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await lender.withConnection { index in try await body(readers[index].sql()) }
    }

    public func transaction<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await writeLock.withLock {
            try await writer.sql().inTransaction(begin: "BEGIN IMMEDIATE", body)
        }
    }

    /// Copies the WAL into the database (where `secure_delete` has zeroed deleted rows) and truncates it,
    /// so the WAL's older frames holding the rows are gone too.
    public func eraseDeletedRemnants(in tables: [String]) async throws {  // the checkpoint covers every table
        try await writeLock.withLock {
            _ = try await writer.query("PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }

    public func close() async throws {
        try await writer.close()
        for reader in readers { try await reader.close() }
    }
}
