import CofferTelemetry
import Foundation
import HTTPTypes
import Hummingbird
import Identity

/// `GET|POST /oauth2/token`: exchanges credentials for a registry bearer token, and `POST /oauth2/exchange`.
///
/// Credentials: the server administrator's; a registry's admin user (user name = registry name); or a refresh
/// token from `/oauth2/exchange` (ACR's Entra flow), given as `grant_type=refresh_token` or as the password of
/// user `00000000-0000-0000-0000-000000000000` (what `docker login` with an `acr login --expose-token` token
/// sends). GET with HTTP Basic is the Docker token flow; POST with a form is its OAuth2 variant. Refused
/// requests get OAuth2's `{"error":…}` body.
struct TokenEndpoint: Sendable {
    let authority: RegistryTokenAuthority
    let accessProvider: (any RegistryAccessProvider)?

    private enum Credential {
        case password(username: String, password: String)
        case refreshToken(String)
    }

    func respond(to request: Request, context: some RequestContext) async throws -> Response {
        var service = request.uri.queryParameters.get("service")
        var scopes = request.uri.queryParameters.getAll("scope")
        var credential = CredentialParsing.basic(request.headers[.authorization]).map { Credential.password(username: $0.user, password: $0.password) }
        if request.method == .post {
            let form = try await Self.form(of: request)
            switch form["grant_type"]?.first {
            case "password":
                if let username = form["username"]?.first, let password = form["password"]?.first {
                    credential = .password(username: username, password: password)
                }
            case "refresh_token":
                credential = form["refresh_token"]?.first.map(Credential.refreshToken)
            default:
                return try Self.oauthError(.badRequest, "unsupported_grant_type", "grant_type must be password or refresh_token")
            }
            service = form["service"]?.first ?? service
            scopes += form["scope"] ?? []
        }
        guard let service, !service.isEmpty else {
            return try Self.oauthError(.badRequest, "invalid_request", "the service parameter is required")
        }
        let requested = scopes.flatMap { $0.split(separator: " ") }.compactMap { AccessGrant(scope: $0) }
        guard let credential, let (subject, grants) = await grants(for: credential, service: service, requested: requested) else {
            context.logger.notice("token request refused")
            return try Self.oauthError(.unauthorized, "invalid_client", "user name, password or token is incorrect",
                                       headers: [.wwwAuthenticate: "Basic realm=\"coffer\""])
        }
        RequestRecord.notePrincipal(subject)
        let now = Int64(Date().timeIntervalSince1970)
        let token = try authority.issue(subject: subject, service: service, grants: grants, now: now)
        return try Self.json([
            "token": .string(token), "access_token": .string(token),
            "expires_in": .number(authority.tokenLifetime),
            "issued_at": .string(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(now)))),
        ])
    }

    /// The token's subject and grants for a credential, or nil when the credential is not valid.
    private func grants(for credential: Credential, service: String, requested: [AccessGrant]) async -> (String, [AccessGrant])? {
        switch credential {
        case .password(let username, let password) where authority.administrator.matches(username: username, password: password):
            return (username, authority.grants(forAdministratorRequesting: requested))
        case .password(RegistryTokenAuthority.refreshTokenUser, let token), .refreshToken(let token):
            guard let accessProvider, let claims = try? authority.verifyRefresh(token, service: service) else { return nil }
            return (claims.sub, await accessProvider.grants(principalID: claims.sub, service: service, requested: requested))
        case .password(let username, let password):
            guard let (subject, grants) = await accessProvider?.passwordGrants(username: username, password: password, service: service,
                                                                               requested: requested) else {
                return nil
            }
            return (subject, grants)
        }
    }

    /// `POST /oauth2/exchange` (`grant_type=access_token`, `service`, `access_token`): a refresh token for the
    /// principal the Entra access token speaks for, usable at `service` only.
    func exchange(_ request: Request, context: some RequestContext) async throws -> Response {
        guard request.method == .post else { return try Self.oauthError(.methodNotAllowed, "invalid_request", "use POST") }
        let form = try await Self.form(of: request)
        guard form["grant_type"]?.first == "access_token" else {
            return try Self.oauthError(.badRequest, "unsupported_grant_type", "grant_type must be access_token")
        }
        guard let service = form["service"]?.first, !service.isEmpty, let accessToken = form["access_token"]?.first else {
            return try Self.oauthError(.badRequest, "invalid_request", "service and access_token are required")
        }
        guard let accessProvider, let principal = await accessProvider.principal(fromAccessToken: accessToken) else {
            context.logger.notice("token exchange refused")
            return try Self.oauthError(.unauthorized, "invalid_token", "the access token is not valid for this registry")
        }
        RequestRecord.notePrincipal(principal)
        return try Self.json(["refresh_token": .string(try authority.issueRefresh(principalID: principal, service: service))])
    }

    private static func form(of request: Request) async throws -> [String: [String]] {
        var request = request
        return CredentialParsing.form(String(buffer: try await request.collectBody(upTo: 64 * 1024)))
    }

    private static func json(_ body: [String: TokenValue]) throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(body))))
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
