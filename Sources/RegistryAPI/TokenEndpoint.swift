import Foundation
import HTTPTypes
import Hummingbird
import Identity

/// `GET|POST /oauth2/token`: exchanges the administrator's credentials for a registry bearer token.
///
/// GET with HTTP Basic credentials is the Docker token flow; POST with a form
/// (`grant_type=password`) is its OAuth2 variant. Refused requests get OAuth2's `{"error":…}` body.
struct TokenEndpoint: Sendable {
    let authority: RegistryTokenAuthority

    func respond(to request: Request, context: some RequestContext) async throws -> Response {
        var service = request.uri.queryParameters.get("service")
        var scopes = request.uri.queryParameters.getAll("scope")
        var credentials = CredentialParsing.basic(request.headers[.authorization]).map { ($0.user, $0.password) }
        if request.method == .post {
            var request = request
            let body = try await request.collectBody(upTo: 64 * 1024)
            let form = CredentialParsing.form(String(buffer: body))
            let grantType = form["grant_type"]?.first
            guard grantType == "password" else {
                return try Self.oauthError(.badRequest, "unsupported_grant_type", "only grant_type=password is supported")
            }
            service = form["service"]?.first ?? service
            scopes += form["scope"] ?? []
            if let username = form["username"]?.first, let password = form["password"]?.first {
                credentials = (username, password)
            }
        }
        guard let service, !service.isEmpty else {
            return try Self.oauthError(.badRequest, "invalid_request", "the service parameter is required")
        }
        guard let (username, password) = credentials, authority.administrator.matches(username: username, password: password) else {
            context.logger.notice("token request refused")
            return try Self.oauthError(.unauthorized, "invalid_client", "user name or password is incorrect",
                                       headers: [.wwwAuthenticate: "Basic realm=\"coffer\""])
        }
        let requested = scopes.flatMap { $0.split(separator: " ") }.compactMap { AccessGrant(scope: $0) }
        let grants = authority.grants(forAdministratorRequesting: requested)
        let now = Int64(Date().timeIntervalSince1970)
        let token = try authority.issue(subject: username, service: service, grants: grants, now: now)
        let body: [String: TokenValue] = [
            "token": .string(token), "access_token": .string(token),
            "expires_in": .number(authority.tokenLifetime),
            "issued_at": .string(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(now)))),
        ]
        return Response(
            status: .ok,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(body)))
        )
    }

    private enum TokenValue: Encodable {
        case string(String)
        case number(Int64)

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .string(let value): try container.encode(value)
            case .number(let value): try container.encode(value)
            }
        }
    }

    static func oauthError(_ status: HTTPResponse.Status, _ code: String, _ description: String, headers: HTTPFields = [:]) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        let body = try JSONEncoder().encode(["error": code, "error_description": description])
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
