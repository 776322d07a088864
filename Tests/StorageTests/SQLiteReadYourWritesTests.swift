import Foundation
import SQLKit
import SQLMetadataStore
import Testing

/// A committed write is seen by every read that starts after it, however many reads run at once. SQLite shares one
/// read snapshot among the statements active on a connection: a read run on a reader connection while another
/// statement was still stepping there saw the database as it was when that statement began (the soak caught an
/// upload session "not known" right after it was recorded, and a tag read back as it was before its move).
@Suite struct SQLiteReadYourWritesTests {
    @Test func everyReadSeesEveryWriteCommittedBeforeIt() async throws {
        let sessions = try await SQLiteSessions.open(path: temporaryDirectory() + "/metadata.sqlite")
        try await sessions.transaction { db in try await db.raw("CREATE TABLE t (n INTEGER PRIMARY KEY)").run() }
        // The long reads below read the table, so each holds a read snapshot while it steps.
        try await sessions.transaction { db in try await db.raw("INSERT INTO t (n) VALUES (-1), (-2)").run() }
        let stop = Date().addingTimeInterval(6)
        // Long reads keep statements stepping on the reader connections.
        async let slow: Void = withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    while Date() < stop {
                        _ = try await sessions.read { db in
                            try await db.raw("""
                                WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000) SELECT COUNT(*) AS n FROM c, t WHERE t.n < 3
                                """).first()
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        var stale = 0
        var written = 0
        while Date() < stop {
            written += 1
            let value = written
            try await sessions.transaction { db in try await db.raw("INSERT INTO t (n) VALUES (\(bind: value))").run() }
            let seen = try await sessions.read { db in try await db.raw("SELECT n FROM t WHERE n = \(bind: value)").first() }
            if seen == nil { stale += 1 }
        }
        try await slow
        print("read-your-writes: \(written) writes, \(stale) stale reads")
        #expect(written > 10)
        #expect(stale == 0, "\(stale) of \(written) reads missed a write committed before them")
        try await sessions.close()
    }
}
