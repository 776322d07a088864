import Hummingbird
import RegistryService
import ResourceManagerAPI

/// `GET /metrics` on the base address: counters in Prometheus' text format, for a caller with at least
/// Reader on the subscription (an ARM bearer token, as any monitoring principal would hold).
struct MetricsEndpoint: Sendable {
    let registry: RegistryService
    let resourceManager: ResourceManagerAPI

    func respond(to request: Request) async throws -> Response {
        try await resourceManager.requireSubscriptionReader(try resourceManager.authenticate(request))
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: render())))
    }

    func render() -> String {
        var lines = [
            "# HELP coffer_key_access_total Uses of registry key-encryption keys (wrap, unwrap, rotate) by outcome (success, denied, purged).",
            "# TYPE coffer_key_access_total counter",
        ]
        for (labels, count) in registry.keyAudit.snapshot() {
            let text = "registry=\"\(Self.escape(labels.registry))\",operation=\"\(labels.operation.rawValue)\",outcome=\"\(labels.outcome.rawValue)\""
            lines.append("coffer_key_access_total{\(text)} \(count)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Label values escape backslash, double quote and newline (the exposition format's rule).
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
