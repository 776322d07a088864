import Foundation
import HTTPTypes
import Hummingbird
import RegistryService

/// The one table from registry error codes to the distribution spec's wire codes and statuses.
enum RegistryErrorMapping {
    static func wire(_ code: RegistryError.Code) -> (status: HTTPResponse.Status, code: String) {
        switch code {
        case .blobUnknown: (.notFound, "BLOB_UNKNOWN")
        case .blobUploadInvalid: (.badRequest, "BLOB_UPLOAD_INVALID")
        case .blobUploadUnknown: (.notFound, "BLOB_UPLOAD_UNKNOWN")
        case .digestInvalid: (.badRequest, "DIGEST_INVALID")
        case .manifestBlobUnknown: (.badRequest, "MANIFEST_BLOB_UNKNOWN")
        case .manifestInvalid: (.badRequest, "MANIFEST_INVALID")
        case .manifestUnknown: (.notFound, "MANIFEST_UNKNOWN")
        case .nameInvalid: (.badRequest, "NAME_INVALID")
        case .nameUnknown: (.notFound, "NAME_UNKNOWN")
        case .sizeInvalid: (.contentTooLarge, "SIZE_INVALID")
        case .unsupported: (.methodNotAllowed, "UNSUPPORTED")
        case .uploadOutOfOrder: (.rangeNotSatisfiable, "BLOB_UPLOAD_INVALID")
        // The spec names no code for a read's bad range; this one says what happened.
        case .rangeNotSatisfiable: (.rangeNotSatisfiable, "RANGE_NOT_SATISFIABLE")
        case .tooManyRequests: (.tooManyRequests, "TOOMANYREQUESTS")
        case .keyUnavailable: (.serviceUnavailable, "KEY_UNAVAILABLE")
        // Gone for good: retrying cannot help, so not a 503.
        case .keyPurged: (.gone, "KEY_PURGED")
        case .dataCorrupt: (.internalServerError, "UNKNOWN")
        case .storageUnavailable: (.serviceUnavailable, "UNAVAILABLE")
        }
    }
}

/// An error response in the distribution spec's shape: `{"errors":[{"code","message","detail"}]}`.
struct DistributionErrorResponse: HTTPResponseError {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    let detail: [String: String]
    var headers: HTTPFields = [:]

    init(status: HTTPResponse.Status, code: String, message: String, detail: [String: String] = [:], headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.headers = headers
    }

    init(_ error: RegistryError, headers: HTTPFields = [:]) {
        let wire = RegistryErrorMapping.wire(error.code)
        self.init(status: wire.status, code: wire.code, message: error.message, detail: error.detail, headers: headers)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = DistributionErrorBody(errors: [.init(code: code, message: message, detail: detail.isEmpty ? nil : detail)])
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        let data = try JSONEncoder().encode(body)
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

private struct DistributionErrorBody: Encodable {
    struct Entry: Encodable {
        let code: String
        let message: String
        let detail: [String: String]?
    }
    let errors: [Entry]
}
