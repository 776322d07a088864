import AzureHTTP
import Hummingbird
import RegistryService
import ResourceManagerAPI

/// `GET /metrics` on the base address: counters in Prometheus' text format, for a caller with at least
/// Reader on the subscription (an ARM bearer token, as any monitoring principal would hold).
struct MetricsEndpoint: Sendable {
    let registry: RegistryService
    let resourceManager: ResourceManagerAPI

    func respond(to request: Request) async throws -> Response {
        // Scrapers often try Basic first: say what this endpoint takes rather than that a header is missing.
        if let header = request.headers[.authorization], !header.lowercased().hasPrefix("bearer ") {
            throw AzureErrorResponse(.unauthorized, code: "AuthenticationFailed",
                                     message: "GET /metrics takes a bearer token for the resource manager, of a principal with Reader on the "
                                         + "subscription; Prometheus gets one itself with its oauth2 client-credentials settings (README: Metrics).",
                                     headers: [.wwwAuthenticate: "Bearer"])
        }
        try await resourceManager.requireMetricsReader(try resourceManager.authenticate(request))
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
        let collection = registry.collectionTotals.snapshot()
        for (name, help, value) in [
            ("coffer_gc_passes_total", "Garbage-collection passes over a registry on this node.", Int64(collection.passes)),
            ("coffer_gc_blobs_removed_total", "Unreferenced blobs removed by garbage collection on this node.", Int64(collection.report.blobs)),
            ("coffer_gc_bytes_removed_total", "Plaintext bytes of the blobs garbage collection removed on this node.", collection.report.bytes),
            ("coffer_gc_stray_objects_removed_total", "Stored objects no record named, removed by garbage collection on this node.",
             Int64(collection.report.strayObjects)),
        ] {
            lines += ["# HELP \(name) \(help)", "# TYPE \(name) counter", "\(name) \(value)"]
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Label values escape backslash, double quote and newline (the exposition format's rule).
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
