import Foundation
import HTTPTypes

/// An error in Azure's shape, `{"error":{"code","message"}}`: what the control-plane domain throws. It knows nothing
/// of the HTTP server; `AzureHTTP` makes it a response (with an `x-ms-request-id`).
public struct AzureErrorResponse: Error, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }
}

extension HTTPField.Name {
    public static let msRequestID = Self("x-ms-request-id")!
    /// The caller's id for a chain of requests, echoed (Azure's `x-ms-correlation-request-id`).
    public static let msCorrelationRequestID = Self("x-ms-correlation-request-id")!
    /// Where a long-running operation's status is polled (ARM's asynchronous-operation pattern).
    public static let azureAsyncOperation = Self("Azure-AsyncOperation")!
}
