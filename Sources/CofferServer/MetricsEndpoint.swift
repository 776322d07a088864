import AzureHTTP
import CofferStorage
import CoreMetrics
import Hummingbird
import ResourceManagerAPI

/// `GET /metrics` on the base address: the process's metrics (``ServerMetrics``) in Prometheus' text format, for a
/// caller with at least Reader on the subscription (an ARM bearer token, as any monitoring principal would hold).
struct MetricsEndpoint: Sendable {
    let resourceManager: ResourceManagerAPI
    let metadata: any MetadataStore
    private let process = ProcessMetrics()
    private let uploadsOpen = Gauge(label: "coffer_uploads_open")

    init(resourceManager: ResourceManagerAPI, metadata: any MetadataStore) {
        self.resourceManager = resourceManager
        self.metadata = metadata
    }

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
                        body: .init(byteBuffer: ByteBuffer(bytes: await render())))
    }

    /// The exposition, with the values read at scrape time brought up to date first.
    func render() async -> [UInt8] {
        process.update()
        // The metadata store unreachable leaves the last value; /readyz says why.
        if let count = try? await metadata.uploadCount() { uploadsOpen.record(count) }
        return ServerMetrics.registry.emitToBuffer()
    }
}
