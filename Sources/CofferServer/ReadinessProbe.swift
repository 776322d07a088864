import CofferStorage
import Foundation
import Hummingbird

/// `GET /readyz` on the base address: whether this node can serve now — its metadata store and its blob store each
/// answer within a few seconds. `/healthz` says only that the process is up; a load balancer or Kubernetes takes a
/// node out of rotation on a `503` here (a node whose PostgreSQL or S3 is unreachable) and puts it back once both
/// answer again. Unauthenticated, as probes are: the answer names which store failed, never an address or an error
/// text that could carry one. The key vault is part of this process and its store is the metadata store; a
/// customer's key that is disabled or purged is that customer's choice, not the node's fault, so neither makes a
/// node unready.
struct ReadinessProbe: Sendable {
    let metadata: any MetadataStore
    let blobs: any BlobStore
    var limit: Duration = .seconds(5)

    /// A name no registry can have (names are lowercase alphanumerics) and a key no object has: each a single,
    /// indexed lookup that must reach its store.
    static let probeRegistry = "readiness-probe"
    static let probeKey = "readiness/probe"

    func respond() async -> Response {
        async let metadataReady = answers { [metadata] in _ = try await metadata.registry(named: Self.probeRegistry) }
        async let blobsReady = answers { [blobs] in _ = try await blobs.size(Self.probeKey) }
        let checks = [("metadata", await metadataReady), ("blobs", await blobsReady)]
        let ready = checks.allSatisfy(\.1)
        let body: [String: Any] = [
            "status": ready ? "ready" : "unavailable",
            "checks": Dictionary(uniqueKeysWithValues: checks.map { ($0.0, $0.1 ? "ok" : "unavailable") }),
        ]
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        return Response(status: ready ? .ok : .serviceUnavailable,
                        headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Whether `check` finishes without an error within ``limit``.
    private func answers(_ check: @escaping @Sendable () async throws -> Void) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                do { try await check(); return true } catch { return false }
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }
}
