import Logging
import NIOCore
import PostgresKit
import SQLKit

extension PostgresConnection {
    /// This connection as an `SQLDatabase` whose queries fail on a closed connection instead of waiting for ever.
    func openConnectionSQL() -> any SQLDatabase {
        OpenConnectionDatabase(connection: self, database: sql())
    }
}

/// PostgresNIO (1.33) writes a query to its channel without a write promise. Once the connection has closed (PostgreSQL
/// stopped or restarted, the session terminated) its handlers are gone from the pipeline, the write fails unseen, and
/// the query's own promise is never completed: the caller waits for ever, holding its request, its pool lease and,
/// after a failed statement, the `ROLLBACK` that follows. So each query is sent from the connection's event loop right
/// after checking that the connection is still open; a channel only closes on that loop, so between the check and the
/// write it cannot, and a connection that closes later fails the queries it holds.
struct OpenConnectionDatabase: SQLDatabase {
    let connection: PostgresConnection
    let database: any SQLDatabase

    var logger: Logger { database.logger }
    var eventLoop: any EventLoop { connection.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { database.version }
    var dialect: any SQLDialect { database.dialect }
    var queryLogLevel: Logger.Level? { database.queryLogLevel }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
        connection.eventLoop.flatSubmit { [connection, database] in
            guard !connection.isClosed else {
                return connection.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
            }
            return database.execute(sql: query, onRow)
        }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        try await execute(sql: query, onRow).get()
    }
}
