import Foundation
import Logging
import OTel
import ServiceLifecycle
import Synchronization
import Tracing

/// Traces, off unless an OTLP endpoint is configured (`--otlp-endpoint`, or OpenTelemetry's own
/// `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): spans for each request, each metadata and
/// blob store call, and each vault wrap and unwrap, exported over OTLP/HTTP (protobuf unless
/// `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`) by swift-otel. Every other `OTEL_*` variable of the specification applies
/// (sampler, headers, batch sizes) and, being the operator's, overrides the flag.
enum ServerTracing {
    /// Whether a tracer was installed: without one, request and store paths skip span work altogether (the no-op
    /// tracer still costs a lock per lookup).
    static var isEnabled: Bool { enabled.load(ordering: .relaxed) }
    private static let enabled = Atomic<Bool>(false)
    /// Whether a request's span continues the trace its client's `traceparent` names.
    static var continuesClientTraces: Bool { continuing.load(ordering: .relaxed) }
    private static let continuing = Atomic<Bool>(true)

    /// Installs the exporter as the process's tracer; returns the service that exports in the background (run it
    /// first in the service group: it is shut down last, after the requests whose spans it flushes).
    static func install(endpoint: String?, continueClientTraces: Bool, logger: Logger) throws -> (any Service)? {
        let environment = ProcessInfo.processInfo.environment
        let configured = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].contains { environment[$0]?.isEmpty == false }
        guard endpoint != nil || configured else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = "coffer"
        configuration.diagnosticLogger = .custom(logger)
        // swift-otel logs each OTEL_* variable it applies with its value; the headers carry the collector's
        // credentials, so they are read here and taken out of the environment before it looks.
        configuration.traces.otlpExporter.headers = Self.takeHeaders()
        configuration.diagnosticLogLevel = .warning
        configuration.logs.enabled = false
        configuration.metrics.enabled = false  // metrics are Prometheus' (GET /metrics)
        configuration.traces.enabled = true
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        // Like OTEL_EXPORTER_OTLP_ENDPOINT, the flag names the collector; traces go to its /v1/traces.
        if let endpoint { configuration.traces.otlpExporter.endpoint = (endpoint.hasSuffix("/") ? endpoint : endpoint + "/") + "v1/traces" }
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        continuing.store(continueClientTraces, ordering: .relaxed)
        enabled.store(true, ordering: .relaxed)
        return backend.service
    }

    /// `OTEL_EXPORTER_OTLP_HEADERS` (then `…_TRACES_HEADERS`, which wins): `key=value` pairs, comma-separated, values
    /// percent-encoded, as the specification writes them; removed from the environment once read.
    static func takeHeaders() -> [(String, String)] {
        var headers: [String: String] = [:]
        for variable in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"] {
            guard let text = getenv(variable).map({ String(cString: $0) }) else { continue }
            unsetenv(variable)
            headers = [:]  // the traces' own variable replaces the general one
            for pair in text.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, !parts[0].isEmpty else { continue }
                headers[parts[0].lowercased()] = parts[1].removingPercentEncoding ?? parts[1]
            }
        }
        return headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// An endpoint must be an http or https URL with a host: anything else is refused at start, naming the flag.
    static func validate(endpoint: String) throws {
        guard let url = URLComponents(string: endpoint), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host?.isEmpty == false,
              url.query == nil else {
            throw ServerStartError("--otlp-endpoint (\"telemetry.otlpEndpoint\" in a configuration file, COFFER_TELEMETRY_OTLP_ENDPOINT) must be an "
                                   + "http or https URL of an OpenTelemetry collector, such as http://127.0.0.1:4318, not "
                                   + Setting.withoutPassword(String(endpoint.prefix(80))))
        }
    }
}
