import AzureErrors
import CofferTelemetry
import CoreMetrics
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization
import Tracing

/// Sees every request through: gives it its ids, and when the last byte of its answer is written (or the client has
/// gone), writes its access log line and records its metrics. Nothing from the request reaches the log but what the
/// layers noted in its ``RequestRecord`` (a route template, a verified principal), its method from a closed set, the
/// client's address and a correlation id that passed ``RequestRecord/wellFormedID(_:)``: never a token or a path.
struct RequestObserver: Sendable {
    /// Whether access lines are written: the server logs at `info` or below.
    let writesAccessLog: Bool
    private let inFlight = Meter(label: "coffer_http_requests_in_flight")
    private let metrics = RequestMetrics()

    init(writesAccessLog: Bool) {
        self.writesAccessLog = writesAccessLog
    }

    private static func startSpan(for request: Request) -> any Span {
        var parent = InstrumentationContext.current ?? .topLevel
        if ServerTracing.continuesClientTraces {
            InstrumentationSystem.instrument.extract(request.headers, into: &parent, using: HTTPFieldsExtractor())
        }
        return InstrumentationSystem.tracer.startSpan(request.method.rawValue, context: parent, ofKind: .server)
    }

    /// Runs `work` with the request's record, and its span's context when there is a span.
    private static func within<T>(_ span: (any Span)?, _ record: RequestRecord, _ work: () async throws -> T) async rethrows -> T {
        guard let span else { return try await RequestRecord.$current.withValue(record) { try await work() } }
        return try await InstrumentationContext.withValue(span.context) { try await RequestRecord.$current.withValue(record) { try await work() } }
    }

    /// Answers held in memory of at most this many bytes end when they are handed to the server; longer ones, and
    /// those read from storage as they are written (``RequestRecord/noteStreamedAnswer()``), when their last byte is.
    static let smallAnswer = 64 << 10

    /// The methods labelled by name; any other is `other`, so a client cannot add label values.
    private static let knownMethods: Set<String> = ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"]

    func observe(_ request: Request, client: String?, answer: () async -> Response) async -> Response {
        let started = ContinuousClock.now
        let record = RequestRecord(id: RequestRecord.newID(),
                                   correlationID: RequestRecord.wellFormedID(request.headers[.msCorrelationRequestID]))
        inFlight.increment()
        // The request's span, when tracing is on: a child of the client's trace when it sent W3C trace context. Named
        // and described when the answer ends, once the route is known.
        let span = ServerTracing.isEnabled ? Self.startSpan(for: request) : nil
        var response = await Self.within(span, record) { await answer() }
        inFlight.decrement()  // here, not when the body ends: a body the server never writes must not leave it counted
        response.headers[.msRequestID] = record.id
        response.headers[.msCorrelationRequestID] = record.correlationID
        let ending = RequestEnding(writesAccessLog: writesAccessLog, metrics: metrics, record: record, span: span, client: client, started: started, status: response.status.code,
                                   method: Self.knownMethods.contains(request.method.rawValue) ? request.method.rawValue : "other")
        let body = response.body
        if let length = body.contentLength, length <= Self.smallAnswer, !record.streamsAnswer {
            // A small answer is left as it is, so the server writes its head and body together (wrapped, it writes them
            // one by one); it ends now, when it is handed over.
            ending.countBytesOut(length)
            ending.end(complete: true)
            return response
        }
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            // Streamed bodies read on while they are written: their store calls belong to this request too.
            do {
                try await Self.within(span, record) { try await body.write(CountingBodyWriter(base: writer, ending: ending)) }
                ending.end(complete: true)
            } catch {
                ending.end(complete: false)
                throw error
            }
        }
        return response
    }
}

/// The end of one request: its access log line, its metrics and its span, written once — when its body's last byte
/// is, or, when the server never writes the body (the client gone before the answer's head could be sent), when the
/// response is let go.
final class RequestEnding: Sendable {
    private let writesAccessLog: Bool
    private let metrics: RequestMetrics
    private let record: RequestRecord
    private let span: (any Span)?
    private let client: String?
    private let started: ContinuousClock.Instant
    private let status: Int
    private let method: String
    private let state = Mutex<(ended: Bool, bytesOut: Int64)>((false, 0))

    init(writesAccessLog: Bool, metrics: RequestMetrics, record: RequestRecord, span: (any Span)?, client: String?, started: ContinuousClock.Instant,
         status: Int, method: String) {
        self.writesAccessLog = writesAccessLog
        self.metrics = metrics
        self.record = record
        self.span = span
        self.client = client
        self.started = started
        self.status = status
        self.method = method
    }

    deinit {
        end(complete: false)
    }

    func countBytesOut(_ count: Int) {
        guard method != "HEAD" else { return }  // the server writes the head only
        state.withLock { $0.bytesOut &+= Int64(count) }
    }

    func end(complete: Bool) {
        guard let bytesOut = state.withLock({ state -> Int64? in
            if state.ended { return nil }
            state.ended = true
            return state.bytesOut
        }) else { return }
        let duration = ContinuousClock.now - started
        let api = record.api ?? "none"
        let route = record.route ?? "other"
        let bytesIn = record.bytesIn
        metrics.record(api: api, method: method, route: route, statusClass: "\(min(max(status / 100, 1), 5))xx", duration: duration,
                       bytesIn: bytesIn, bytesOut: bytesOut)
        if writesAccessLog {
            // The stream handler's format, its fields in its (sorted) order.
            let micros = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
            let fraction = micros % 1000
            var line = [UInt8]()
            line.reserveCapacity(320)
            for part in ["coffer.api=", api, " coffer.bytes_in=", String(bytesIn), " coffer.bytes_out=", String(bytesOut),
                         " coffer.client=", client ?? "-", " coffer.correlation_id=", record.correlationID,
                         " coffer.duration_ms=", String(micros / 1000), fraction < 10 ? ".00" : fraction < 100 ? ".0" : ".", String(fraction),
                         complete ? "" : " coffer.incomplete=true", " coffer.method=", method, " coffer.principal=", record.principal ?? "-",
                         " coffer.request_id=", record.id, " coffer.route=", route, " coffer.status=", String(status)] {
                line.append(contentsOf: part.utf8)
            }
            AccessLogWriter.shared.append(fields: line)
        }
        endSpan()
    }

    /// Names the request's span after its route and ends it (OpenTelemetry's HTTP server conventions).
    private func endSpan() {
        guard let span else { return }
        if span.isRecording {
            let route = record.route ?? "other"
            span.operationName = "\(method) \(route)"
            span.attributes["http.request.method"] = method
            span.attributes["http.route"] = route
            span.attributes["http.response.status_code"] = status
            span.attributes["coffer.api"] = record.api ?? "none"
            span.attributes["coffer.request_id"] = record.id
            if let principal = record.principal { span.attributes["coffer.principal"] = principal }
            if status >= 500 { span.setStatus(SpanStatus(code: .error)) }
        }
        span.end()
    }
}

/// The request metrics' handles, kept by label set: making one through swift-metrics checks the name and labels and
/// looks them up in the registry each time, which a request need not pay.
final class RequestMetrics: Sendable {
    private struct Handles {
        let requests: CoreMetrics.Counter
        let duration: CoreMetrics.Timer
    }
    private let handles = Mutex<[String: Handles]>([:])
    private let bodyBytes = Mutex<[String: (in: CoreMetrics.Counter, out: CoreMetrics.Counter)]>([:])

    func record(api: String, method: String, route: String, statusClass: String, duration: Duration, bytesIn: Int64, bytesOut: Int64) {
        let key = "\(api) \(method) \(route) \(statusClass)"
        let found = handles.withLock { $0[key] } ?? {
            let labels = [("api", api), ("method", method), ("route", route), ("status_class", statusClass)]
            let made = Handles(requests: Counter(label: "coffer_http_requests_total", dimensions: labels),
                               duration: Timer(label: "coffer_http_request_duration_seconds", dimensions: labels))
            handles.withLock { $0[key] = made }
            return made
        }()
        found.requests.increment()
        found.duration.record(duration: duration)
        guard bytesIn > 0 || bytesOut > 0 else { return }
        let bytes = bodyBytes.withLock { $0[api] } ?? {
            let made = (in: Counter(label: "coffer_http_request_body_bytes_total", dimensions: [("api", api)]),
                        out: Counter(label: "coffer_http_response_body_bytes_total", dimensions: [("api", api)]))
            bodyBytes.withLock { $0[api] = made }
            return made
        }()
        if bytesIn > 0 { bytes.in.increment(by: bytesIn) }
        if bytesOut > 0 { bytes.out.increment(by: bytesOut) }
    }
}

/// Reads W3C trace context (`traceparent`, `tracestate`) from a request's headers.
struct HTTPFieldsExtractor: Extractor {
    func extract(key: String, from carrier: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { carrier[$0] }
    }
}


/// A response body writer that counts what passes through it.
struct CountingBodyWriter: ResponseBodyWriter {
    var base: any ResponseBodyWriter
    let ending: RequestEnding

    mutating func write(_ buffer: ByteBuffer) async throws {
        ending.countBytesOut(buffer.readableBytes)
        try await base.write(buffer)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        try await base.finish(trailingHeaders)
    }
}
