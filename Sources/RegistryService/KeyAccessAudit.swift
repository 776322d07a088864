import Foundation
import CoreMetrics
import Logging
import Synchronization

/// The audit trail of key-encryption-key use: every wrap, unwrap and rotation of a registry master
/// key, and every failure, is logged with the registry, the key id and the identity that used it
/// (never key material), and counted for the metrics endpoint.
public final class KeyAccessAudit: Sendable {
    public enum Operation: String, Sendable, CaseIterable {
        case wrap, unwrap, rotate
    }

    public enum Outcome: String, Sendable, CaseIterable {
        case success
        /// The key could not be used (revoked, disabled, deleted, unreachable): data fails closed.
        case denied
        /// The key was purged: the registry's data is gone for good.
        case purged
    }

    /// One counter's labels.
    public struct Labels: Hashable, Sendable, Comparable {
        public let registry: String
        public let operation: Operation
        public let outcome: Outcome

        public static func < (a: Labels, b: Labels) -> Bool {
            (a.registry, a.operation.rawValue, a.outcome.rawValue) < (b.registry, b.operation.rawValue, b.outcome.rawValue)
        }
    }

    /// One use of a key, as the console lists it.
    public struct Event: Sendable {
        public let time: Int64
        public let registry: String
        public let operation: Operation
        public let outcome: Outcome
        public let key: String
        public let identity: String
        public let reason: String?
    }

    private let counts = Mutex<[Labels: Int]>([:])
    /// The newest events of this process, oldest first (a bounded ring: the log keeps the whole trail).
    private let events = Mutex<[Event]>([])
    static let keptEvents = 500
    private let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Records one use of a key for `registry`. `reason` is the failure's message, which names keys
    /// and identities but never carries key material.
    func record(_ operation: Operation, registry: String, key: (key: String, identity: String), outcome: Outcome, reason: String? = nil) {
        counts.withLock { $0[Labels(registry: registry, operation: operation, outcome: outcome), default: 0] += 1 }
        let event = Event(time: Int64(Date().timeIntervalSince1970), registry: registry, operation: operation, outcome: outcome,
                          key: key.key, identity: key.identity, reason: reason.map { String($0.prefix(500)) })
        events.withLock { events in
            if events.count >= Self.keptEvents { events.removeFirst(events.count - Self.keptEvents + 1) }
            events.append(event)
        }
        Counter(label: "coffer_key_access_total", dimensions: [("registry", registry), ("operation", operation.rawValue),
                                                               ("outcome", outcome.rawValue)]).increment()
        var metadata: Logger.Metadata = [
            "coffer.audit": "key-access", LogKey.registry: .string(registry), "coffer.key_operation": .string(operation.rawValue),
            "coffer.outcome": .string(outcome.rawValue), LogKey.keyID: .string(key.key), "coffer.identity": .string(key.identity),
        ]
        if let reason { metadata["coffer.reason"] = .string(reason) }
        if outcome == .success {
            logger.info("key access", metadata: metadata)
        } else {
            logger.warning("key access failed", metadata: metadata)
        }
    }

    /// The newest events of `registry` in this process, newest first.
    public func recentEvents(registry: String, limit: Int = 50) -> [Event] {
        let name = registry.lowercased()
        return Array(events.withLock { $0 }.reversed().filter { $0.registry == name }.prefix(limit))
    }

    /// Every counter so far, in a stable order.
    public func snapshot() -> [(labels: Labels, count: Int)] {
        counts.withLock { $0 }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}
