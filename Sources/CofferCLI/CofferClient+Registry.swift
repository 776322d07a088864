import AsyncHTTPClient
import Foundation
import JMESPath
import NIOCore
import NIOHTTP1

/// The registry data plane as az reaches it: an Entra token exchanged for a registry refresh token
/// (`/oauth2/exchange`), then access tokens for the scopes each call needs.
extension CofferClient {
    /// A registry refresh token for `loginServer`, for the signed-in principal.
    func registryRefreshToken(loginServer: String) async throws -> String {
        let form = [("grant_type", "access_token"), ("service", loginServer), ("tenant", tenantID), ("access_token", try await token(for: authority))]
        let (status, _, body) = try await postForm("https://\(loginServer)/oauth2/exchange", form)
        guard status == 200, case .string(let refresh) = body["refresh_token"] else {
            throw CLIError("the registry \(loginServer) refused the token exchange: \(Self.describe(body))")
        }
        return refresh
    }

    /// An access token for `scopes` at `loginServer`.
    func registryAccessToken(loginServer: String, refreshToken: String, scopes: [String]) async throws -> String {
        let form = [("grant_type", "refresh_token"), ("service", loginServer), ("refresh_token", refreshToken)] + scopes.map { ("scope", $0) }
        let (status, _, body) = try await postForm("https://\(loginServer)/oauth2/token", form)
        guard status == 200, case .string(let token) = body["access_token"] else {
            throw CLIError("the registry \(loginServer) refused a token: \(Self.describe(body))")
        }
        return token
    }

    /// A data-plane call: status, headers and the JSON body (errors in the distribution spec's shape are the caller's to read).
    func registryCall(_ method: HTTPMethod, loginServer: String, path: String, token: String,
                      accept: String? = nil, body: JSONValue? = nil) async throws -> (Int, HTTPHeaders, JSONValue) {
        var request = HTTPClientRequest(url: "https://\(loginServer)\(path)")
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let accept { request.headers.add(name: "Accept", value: accept) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: JSONText.serialize(body)))
        }
        return try await sendWithHeaders(request)
    }

    private func postForm(_ url: String, _ fields: [(String, String)]) async throws -> (Int, HTTPHeaders, JSONValue) {
        func encode(_ value: String) -> String { value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: fields.map { "\($0.0)=\(encode($0.1))" }.joined(separator: "&")))
        return try await sendWithHeaders(request)
    }

    /// `(CODE) message` of a distribution-spec error body.
    static func describeRegistryError(_ status: Int, _ body: JSONValue) -> String {
        if case .array(let errors) = body["errors"], let first = errors.first,
           case .string(let code) = first["code"], case .string(let message) = first["message"] { return "(\(code)) \(message)" }
        return "HTTP \(status)"
    }
}
