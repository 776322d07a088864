import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An answer of this server's own APIs to a request the console made in-process.
public struct InProcessResponse: Sendable {
    public let status: HTTPResponse.Status
    public let headers: HTTPFields
    public let body: Data

    public init(status: HTTPResponse.Status, headers: HTTPFields, body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The body as a JSON object (empty when it is not one).
    var object: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }

    /// The API's own error message (Azure's `error.message`, OCI's `errors[0].message`, OAuth's `error_description`).
    var errorMessage: String {
        let object = self.object
        if let error = object["error"] as? [String: Any], let message = error["message"] as? String { return message }
        if let errors = object["errors"] as? [[String: Any]], let message = errors.first?["message"] as? String { return message }
        if let description = object["error_description"] as? String { return description }
        return "HTTP \(status.code)"
    }

    /// Reads a response's body (the console asks only for small answers: JSON documents, manifests).
    public static func collect(_ response: Response, limit: Int = 8 << 20) async throws -> InProcessResponse {
        let collector = BodyCollector(limit: limit)
        try await response.body.write(collector)
        return InProcessResponse(status: response.status, headers: response.headers, body: collector.data)
    }
}

/// Gathers a response body's buffers.
private final class BodyCollector: ResponseBodyWriter, @unchecked Sendable {
    private(set) var data = Data()
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    func write(_ buffer: ByteBuffer) async throws {
        guard data.count + buffer.readableBytes <= limit else { throw CollectedBodyTooLarge() }
        data.append(contentsOf: buffer.readableBytesView)
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

struct CollectedBodyTooLarge: Error {}
