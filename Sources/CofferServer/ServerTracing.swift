import Foundation
import Logging
import OTel
import ServiceLifecycle
import Tracing

/// Traces, off unless an OTLP endpoint is configured (`--otlp-endpoint`, or OpenTelemetry's own
/// `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): spans for each request, each metadata and
/// blob store call, and each vault wrap and unwrap, exported over OTLP/HTTP (protobuf unless
/// `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`) by swift-otel. Every other `OTEL_*` variable of the specification applies
/// (sampler, headers, batch sizes) and, being the operator's, overrides the flag.
enum ServerTracing {
    /// Installs the exporter as the process's tracer; returns the service that exports in the background (run it
    /// first in the service group: it is shut down last, after the requests whose spans it flushes).
    static func install(endpoint: String?, logger: Logger) throws -> (any Service)? {
        let environment = ProcessInfo.processInfo.environment
        let configured = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].contains { environment[$0]?.isEmpty == false }
        guard endpoint != nil || configured else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = "coffer"
        configuration.diagnosticLogger = .custom(logger)
        configuration.logs.enabled = false
        configuration.metrics.enabled = false  // metrics are Prometheus' (GET /metrics)
        configuration.traces.enabled = true
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        // Like OTEL_EXPORTER_OTLP_ENDPOINT, the flag names the collector; traces go to its /v1/traces.
        if let endpoint { configuration.traces.otlpExporter.endpoint = (endpoint.hasSuffix("/") ? endpoint : endpoint + "/") + "v1/traces" }
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        return backend.service
    }

    /// An endpoint must be an http or https URL with a host: anything else is refused at start, naming the flag.
    static func validate(endpoint: String) throws {
        guard let url = URLComponents(string: endpoint), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host?.isEmpty == false,
              url.query == nil else {
            throw ServerStartError("--otlp-endpoint (\"otlpEndpoint\" in a configuration file) must be an http or https URL of an "
                                   + "OpenTelemetry collector, such as http://127.0.0.1:4318, not \(endpoint.prefix(80))")
        }
    }
}
