import CofferStorage
import Foundation
import Hummingbird
import Synchronization

/// `GET /readyz` on the base address: whether this node can serve now — its metadata store and its blob store each
/// answer within a few seconds. `/healthz` says only that the process is up; a load balancer or Kubernetes takes a
/// node out of rotation on a `503` here (a node whose PostgreSQL or S3 is unreachable) and puts it back once both
/// answer again. Unauthenticated, as probes are, so it is cheap whatever the rate: one check at a time, its answer
/// reused for a second, each store's lookup ended at the limit even if the store never answers. The answer names
/// which store failed, never an address or an error text that could carry one. The key vault is part of this process
/// and its store is the metadata store; a customer's key that is disabled or purged is that customer's choice, not
/// the node's fault, so neither makes a node unready.
final class ReadinessProbe: Sendable {
    private let metadata: any MetadataStore
    private let blobs: any BlobStore
    private let limit: Duration
    private let reuse: Duration
    private let checks = ReadinessChecks()

    init(metadata: any MetadataStore, blobs: any BlobStore, limit: Duration = .seconds(5), reuse: Duration = .seconds(1)) {
        self.metadata = metadata
        self.blobs = blobs
        self.limit = limit
        self.reuse = reuse
    }

    /// A name no registry can have (names are lowercase alphanumerics) and a key no object has: each a single,
    /// indexed lookup that must reach its store.
    static let probeRegistry = "readiness-probe"
    static let probeKey = "readiness/probe"

    func respond() async -> Response {
        let results = await checks.current(reusing: reuse) { [metadata, blobs, limit] in
            async let metadataReady = Self.answers(within: limit) { _ = try await metadata.registry(named: Self.probeRegistry) }
            async let blobsReady = Self.answers(within: limit) { _ = try await blobs.size(Self.probeKey) }
            return ["metadata": await metadataReady, "blobs": await blobsReady]
        }
        let ready = results.values.allSatisfy { $0 }
        let body: [String: Any] = [
            "status": ready ? "ready" : "unavailable",
            "checks": results.mapValues { $0 ? "ok" : "unavailable" },
        ]
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        return Response(status: ready ? .ok : .serviceUnavailable,
                        headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Whether `check` finishes without an error within `limit`. The answer does not wait for a check that ignores
    /// cancellation (a hung mount): that check is left to end on its own, and only one runs at a time.
    static func answers(within limit: Duration, _ check: @escaping @Sendable () async throws -> Void) async -> Bool {
        let answer = FirstAnswer()
        return await withCheckedContinuation { continuation in
            answer.await(continuation)
            let work = Task {
                do { try await check(); answer.give(true) } catch { answer.give(false) }
            }
            Task {
                try? await Task.sleep(for: limit)
                work.cancel()
                answer.give(false)
            }
        }
    }
}

/// Resumes its continuation with the first answer given; later ones are dropped.
private final class FirstAnswer: Sendable {
    private let continuation = Mutex<CheckedContinuation<Bool, Never>?>(nil)

    func await(_ waiting: CheckedContinuation<Bool, Never>) {
        continuation.withLock { $0 = waiting }
    }

    func give(_ answer: Bool) {
        continuation.withLock { $0.take() }?.resume(returning: answer)
    }
}

/// The last readiness answer and the check under way, so that concurrent probes share one check.
private actor ReadinessChecks {
    private var last: (at: ContinuousClock.Instant, results: [String: Bool])?
    private var running: Task<[String: Bool], Never>?

    func current(reusing reuse: Duration, _ check: @escaping @Sendable () async -> [String: Bool]) async -> [String: Bool] {
        if let last, ContinuousClock.now - last.at < reuse { return last.results }
        if let running { return await running.value }
        let task = Task { await check() }
        running = task
        let results = await task.value
        running = nil
        last = (ContinuousClock.now, results)
        return results
    }
}
