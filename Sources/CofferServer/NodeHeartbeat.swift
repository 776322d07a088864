import CofferStorage
import Foundation

/// Which nodes of a cluster are running: each node renews a lease named after itself at start and on every
/// maintenance pass; a node whose lease has expired has stopped (or has lost the metadata store, which for the work
/// it recorded there is the same).
struct NodeHeartbeat: Sendable {
    let metadata: any MetadataStore
    let node: String
    /// How long one beat counts: a few maintenance intervals, so that one slow pass does not make a node look stopped.
    let lifetime: Int64

    static func leaseName(of node: String) -> String { "node:" + node }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    func beat(now: Int64 = now()) async throws {
        _ = try await metadata.acquireLease(name: Self.leaseName(of: node), holder: node, until: now + lifetime, now: now)
    }

    /// Whether `other` has stopped beating. Asked of the lease itself, which can be taken only once it has expired;
    /// it is taken with an expiry of `now`, so that the node, should it come back, gets it at its next beat.
    func hasStopped(_ other: String, now: Int64 = now()) async throws -> Bool {
        guard other != node else { return false }
        return try await metadata.acquireLease(name: Self.leaseName(of: other), holder: node + " (asking)", until: now, now: now)
    }
}
