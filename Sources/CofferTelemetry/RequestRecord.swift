import Synchronization

/// What the layers a request passes through learn about it, for its access log line and its metrics: the route it
/// matched (a template from the API's own table, never the raw path), the principal its token or password named,
/// and how many body bytes it carried. The server binds one to ``current`` for each request; a layer that learns
/// something notes it there. Values noted here must come from a closed set or from something this server signed:
/// they become log fields and metric labels.
public final class RequestRecord: Sendable {
    @TaskLocal public static var current: RequestRecord?

    /// This request's id (`x-ms-request-id`).
    public let id: String
    /// The client's correlation id when it sent a well-formed one (`x-ms-correlation-request-id`), else ``id``.
    public let correlationID: String

    private struct Noted {
        var api: String?
        var route: String?
        var principal: String?
        var bytesIn: Int64 = 0
        var streams = false
        var bodyCollected = false
    }
    private let noted = Mutex(Noted())

    public init(id: String, correlationID: String?) {
        self.id = id
        self.correlationID = correlationID ?? id
    }

    /// Which API answers the request (registry, vault, resource_manager, identity, graph, server).
    public static func noteAPI(_ api: String) {
        current?.noted.withLock { $0.api = api }
    }

    /// The route template the request matched, e.g. `/v2/{name}/blobs/{digest}`.
    public static func noteRoute(_ template: String) {
        current?.noted.withLock { $0.route = template }
    }

    /// The object id (or registry user) whose credentials the request carried, once they were verified.
    public static func notePrincipal(_ id: String) {
        current?.noted.withLock { $0.principal = id }
    }

    /// The answer's body is read from storage while it is written (a blob): its request ends with its last byte,
    /// however short it is.
    public static func noteStreamedAnswer() {
        current?.noted.withLock { $0.streams = true }
    }

    /// Request body bytes read from the client, by whoever reads them.
    public func countBytesIn(_ count: Int) {
        noted.withLock { $0.bytesIn &+= Int64(count) }
    }

    /// The whole body was read (and counted) before the request was routed: a handler that reads it again reads it
    /// from memory, and does not count it again.
    public func noteBodyCollected(_ count: Int) {
        noted.withLock {
            $0.bytesIn &+= Int64(count)
            $0.bodyCollected = true
        }
    }

    public var bodyWasCollected: Bool { noted.withLock { $0.bodyCollected } }

    public var api: String? { noted.withLock { $0.api } }
    public var route: String? { noted.withLock { $0.route } }
    public var principal: String? { noted.withLock { $0.principal } }
    public var bytesIn: Int64 { noted.withLock { $0.bytesIn } }
    public var streamsAnswer: Bool { noted.withLock { $0.streams } }

    /// A new request id: a random (version 4) UUID in lowercase, made without Foundation's three string copies.
    public static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in stride(from: 0, to: 16, by: 8) {
            withUnsafeBytes(of: generator.next() as UInt64) { for (offset, byte) in $0.enumerated() { bytes[index + offset] = byte } }
        }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(36)
        for (index, byte) in bytes.enumerated() {
            if [4, 6, 8, 10].contains(index) { text.append(0x2D) }
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// A client's request or correlation id is echoed and logged only when it looks like one: at most 64 letters,
    /// digits and dashes (a GUID), so that nothing a client sends can forge a log field or line.
    public static func wellFormedID(_ value: String?) -> String? {
        guard let value, (1...64).contains(value.utf8.count),
              value.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D })
        else { return nil }
        return value
    }
}
