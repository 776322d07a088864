import CoreMetrics
import Prometheus

/// The process's metrics: every module records through swift-metrics' API, and this installs the one backend it
/// has per process, a Prometheus registry that `GET /metrics` renders. Installed by the first server prepared, so
/// everything made after it (caches, stores, services) records into it. Metric names and help texts are here, in
/// one table, so that the exposition, docs/operations.md and the dashboard agree.
enum ServerMetrics {
    static let registry = PrometheusCollectorRegistry()

    private static let installed: Void = {
        MetricsSystem.bootstrap(DescribedPrometheusFactory(registry: registry))
    }()

    static func install() { _ = installed }

    /// Help text by metric name. A metric recorded under a name missing here is exposed without one.
    static let help: [String: String] = [
        "coffer_http_requests_total": "Requests answered, by API, method, route template and status class.",
        "coffer_http_request_duration_seconds": "Time from a request's arrival to the last byte of its answer, by API, method, route template and status class.",
        "coffer_http_request_body_bytes_total": "Request body bytes read, by API.",
        "coffer_http_response_body_bytes_total": "Response body bytes written, by API.",
        "coffer_http_requests_in_flight": "Requests being handled now (until their answer starts to be written).",
        "coffer_uploads_open": "Blob upload sessions open (begun, neither finished nor expired) across every node of the metadata store.",
        "coffer_storage_operation_duration_seconds": "Time taken by metadata and blob store operations, by store, backend and operation.",
        "coffer_storage_operation_errors_total": "Metadata and blob store operations that failed, by store, backend, operation and kind (unavailable, corrupt: the store's; not_found, conflict, invalid_key: answers to what a client asked; other).",
        "coffer_cache_lookups_total": "Cache lookups by cache (master_keys, manifests, registries, tokens, vault_keys) and result (hit, miss).",
        "coffer_key_access_total": "Uses of registry key-encryption keys (wrap, unwrap, rotate) by registry and outcome (success, denied, purged).",
        "coffer_gc_passes_total": "Garbage-collection passes over a registry on this node.",
        "coffer_gc_blobs_removed_total": "Unreferenced blobs removed by garbage collection on this node.",
        "coffer_gc_bytes_removed_total": "Plaintext bytes of the blobs garbage collection removed on this node.",
        "coffer_gc_stray_objects_removed_total": "Stored objects no record named, removed by garbage collection on this node.",
        "coffer_retention_manifests_removed_total": "Untagged manifests removed by retention policies on this node.",
        "process_cpu_seconds_total": "User and system CPU time of the process, seconds.",
        "process_resident_memory_bytes": "Resident memory of the process, bytes.",
        "process_virtual_memory_bytes": "Virtual memory of the process, bytes.",
        "process_open_fds": "Open file descriptors of the process.",
        "process_max_fds": "The process's limit on open file descriptors.",
        "process_start_time_seconds": "When the process started, seconds since 1970.",
        "process_threads": "Threads of the process.",
    ]

    /// Buckets of every duration histogram: from a cached manifest read (well under a millisecond) to a large blob
    /// streamed over a slow link.
    static let durationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
        .seconds(10), .seconds(30), .seconds(60), .seconds(300),
    ]
}

/// swift-prometheus' factory, with each metric's help text from ``ServerMetrics/help`` (its own factory has none).
struct DescribedPrometheusFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry

    private func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: ServerMetrics.help[label] ?? "")
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(label), labels: dimensions) }
        return registry.makeValueHistogram(descriptor: descriptor(label), labels: dimensions,
                                           buckets: [1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000])
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(descriptor: descriptor(label), labels: dimensions, buckets: ServerMetrics.durationBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { registry.unregisterValueHistogram(histogram) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}
