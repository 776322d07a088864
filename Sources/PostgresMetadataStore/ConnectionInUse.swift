import PostgresNIO
import Synchronization
import CofferStorage

/// The connection a time-limited read or transaction is working on, so that when the limit passes the connection can
/// be closed under it: a query already sent does not heed task cancellation, but fails when its connection closes.
final class ConnectionInUse: Sendable {
    private enum State {
        case idle
        case using(PostgresConnection)
        case expired
    }

    private let state = Mutex(State.idle)

    /// Runs `work` on `connection`; refused when the limit has already passed (the lease came too late). A caller
    /// that is cancelled (its client gone, a probe's own deadline, shutdown) ends the work the same way: cancellation
    /// also ends the limit's timer, which would otherwise be what closes a connection PostgreSQL never answers on.
    func run<T>(on connection: PostgresConnection, _ work: () async throws -> T) async throws -> T {
        try state.withLock { state in
            if case .expired = state { throw StorageError(.ioFailure, "the metadata store did not answer in time") }
            state = .using(connection)
        }
        defer {
            state.withLock { state in
                if case .using = state { state = .idle }
            }
        }
        return try await withTaskCancellationHandler {
            try await work()
        } onCancel: {
            expire()
        }
    }

    /// The limit has passed: the connection in use, if any, is closed, which fails the query waiting on it. The close
    /// is started under the lock, so before the work can hand the connection back to the pool.
    func expire() {
        state.withLock { state in
            if case .using(let connection) = state {
                _ = connection.close() as EventLoopFuture<Void>
            }
            state = .expired
        }
    }
}
