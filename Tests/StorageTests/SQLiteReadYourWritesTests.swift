import Foundation
import SQLKit
import SQLMetadataStore
import Testing

/// A committed write is seen by every read that starts after it, however many reads run at once. SQLite shares one
/// read snapshot among the statements active on a connection, so a reader connection must serve one read at a time
/// (the soak once caught an upload session "not known" right after it was recorded).
@Suite struct SQLiteReadYourWritesTests {
    @Test func everyReadSeesEveryWriteCommittedBeforeIt() async throws {
        let sessions = try await SQLiteSessions.open(path: temporaryDirectory() + "/metadata.sqlite")
        try await sessions.transaction { db in try await db.raw("CREATE TABLE t (n INTEGER PRIMARY KEY)").run() }
        // The reads beside read the table, so each holds a read snapshot while it steps.
        try await sessions.transaction { db in try await db.raw("INSERT INTO t (n) VALUES (-1), (-2)").run() }
        var stale = 0
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        while !Task.isCancelled {
                            // Ended by cancellation, which a read may answer with an error: only the reads below count.
                            _ = try? await sessions.read { db in
                                try await db.raw("""
                                    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000) SELECT COUNT(*) AS n FROM c, t WHERE t.n < 3
                                    """).first()
                            }
                        }
                    }
                }
                for value in 1...40 {
                    try await sessions.transaction { db in try await db.raw("INSERT INTO t (n) VALUES (\(bind: value))").run() }
                    if try await sessions.read({ db in try await db.raw("SELECT n FROM t WHERE n = \(bind: value)").first() }) == nil { stale += 1 }
                }
                group.cancelAll()
                try await group.waitForAll()
            }
        } catch {
            try await sessions.close()
            throw error
        }
        #expect(stale == 0, "\(stale) of 40 reads missed a write committed before them")
        try await sessions.close()
    }
}
