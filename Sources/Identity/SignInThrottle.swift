import Foundation
import Synchronization

/// Online guessing of one user's password, slowed: after 10 failed sign-ins within 15 minutes a name is refused
/// for a minute without a check, then for twice as long after each further failure (up to an hour), like Entra ID's
/// smart lockout. In memory, per node (a cluster of n nodes allows n times as many guesses); at most 10,000 names
/// are tracked, the oldest dropped first.
public final class SignInThrottle: Sendable {
    private struct Record {
        var failures: Int
        var firstFailure: Int64
        var lockedUntil: Int64
    }
    private let records = Mutex<[String: Record]>([:])
    static let allowedFailures = 10
    static let window: Int64 = 15 * 60
    static let trackedNames = 10_000

    public init() {}

    /// Throws ``SignInLocked`` while the name is locked.
    func admit(_ name: String, now: Int64 = Int64(Date().timeIntervalSince1970)) throws {
        if let until = records.withLock({ $0[name]?.lockedUntil }), until > now { throw SignInLocked(seconds: until - now) }
    }

    func failed(_ name: String, now: Int64 = Int64(Date().timeIntervalSince1970)) {
        records.withLock { records in
            var record = records[name] ?? Record(failures: 0, firstFailure: now, lockedUntil: 0)
            if now - record.firstFailure > Self.window, record.lockedUntil <= now { record = Record(failures: 0, firstFailure: now, lockedUntil: 0) }
            record.failures += 1
            if record.failures >= Self.allowedFailures {
                let excess = min(record.failures - Self.allowedFailures, 6)
                record.lockedUntil = now + min(3600, 60 << excess)
            }
            if records[name] == nil, records.count >= Self.trackedNames,
               let oldest = records.min(by: { $0.value.firstFailure < $1.value.firstFailure })?.key {
                records.removeValue(forKey: oldest)
            }
            records[name] = record
        }
    }

    func succeeded(_ name: String) {
        _ = records.withLock { $0.removeValue(forKey: name) }
    }
}

/// The name had too many failed sign-ins; retry after `seconds`.
public struct SignInLocked: Error, Sendable {
    public let seconds: Int64
}
