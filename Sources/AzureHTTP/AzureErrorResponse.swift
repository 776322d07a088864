@_exported import AzureErrors
import Foundation
import HTTPTypes
import Hummingbird

// The domain's error, written as Azure writes errors.
extension AzureErrorResponse: HTTPResponseError {
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.msRequestID] = UUID().uuidString.lowercased()
        let body = try JSONEncoder().encode(["error": ["code": code, "message": message]])
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// JSON in and out, the way Azure's services speak it.
public enum AzureJSON {
    /// A JSON response with a request id.
    public static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.msRequestID] = UUID().uuidString.lowercased()
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    /// An empty response with a request id.
    public static func empty(_ status: HTTPResponse.Status, headers: HTTPFields = [:]) -> Response {
        var fields: HTTPFields = [.msRequestID: UUID().uuidString.lowercased(), .contentLength: "0"]
        fields.append(contentsOf: headers)
        return Response(status: status, headers: fields, body: .init())
    }

    /// Decodes a JSON body of at most `limit` bytes; a bad body is a 400 with `code`.
    public static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int = 1 << 20, code: String = "BadParameter") async throws -> T {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch {
            throw AzureErrorResponse(.contentTooLarge, code: code, message: "the request body is larger than \(limit) bytes")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
        } catch {
            throw AzureErrorResponse(.badRequest, code: code, message: "the request body is not valid JSON for this operation: \(Self.describe(error))")
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        default: return "malformed JSON"
        }
    }
}

/// The bearer token of a request, if it carries one.
public func bearerToken(of request: Request) -> String? {
    guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else { return nil }
    return String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
}

/// A query parameter decoded as HTML forms encode it (`+` is a space, then percent-decoding), key included:
/// clients write OData's `$filter` both as is and as `%24filter`, with spaces as `+` or `%20`.
public func formQueryValue(of request: Request, _ name: String) -> String? {
    for pair in (request.uri.query ?? "").split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
        }
        if parts[0].lowercased() == name.lowercased() { return parts.count > 1 ? parts[1] : "" }
    }
    return nil
}
