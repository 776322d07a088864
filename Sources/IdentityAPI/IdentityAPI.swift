import AzureHTTP
import CofferTelemetry
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Identity

/// The identity endpoints, shaped like Microsoft Entra ID's so MSAL and azure-identity work unchanged:
/// OIDC discovery, JWKS, and the client-credentials token endpoints (v2 and v1).
public struct IdentityAPI: Sendable {
    let directory: Directory
    let tenantID: String
    /// Each user-assigned identity's `X-IDENTITY-HEADER`: a workload holding one header gets tokens for that identity only.
    let workloadSecrets: WorkloadIdentitySecrets
    /// Whether the IMDS path answers: it takes no secret, so anything that can reach Coffer could get tokens.
    let imdsEnabled: Bool
    /// Where this service is reached (`https://localhost:8443`): tokens' issuer and the discovery document's URLs.
    /// Configuration, never the request's Host, so no caller chooses what its tokens or the discovery document say.
    let base: String
    /// The clients people sign in through: the web console (back to this server's `/console/callback`) and the Azure CLI.
    let publicClients: [PublicClient]

    public static let managedIdentityPath = "/msi/token"
    /// Where the console's sign-in comes back to, under this server's base address.
    public static let consoleCallbackPath = "/console/callback"

    public init(directory: Directory, tenantID: String, workloadSecrets: WorkloadIdentitySecrets, imdsEnabled: Bool, base: String) {
        self.directory = directory
        self.base = base
        self.tenantID = tenantID
        self.workloadSecrets = workloadSecrets
        self.imdsEnabled = imdsEnabled
        self.publicClients = [
            PublicClient(clientID: PublicClient.consoleClientID, displayName: "The Coffer console",
                         redirectURIs: [base + Self.consoleCallbackPath], loopbackRedirects: false),
            PublicClient(clientID: PublicClient.azureCLIClientID, displayName: "Azure CLI", redirectURIs: [], loopbackRedirects: true),
        ]
    }

    /// The endpoints under `/{tenant}/`, as route templates for access logs and metrics.
    private static let endpoints: Set<String> = ["v2.0/.well-known/openid-configuration", ".well-known/openid-configuration",
                                                  "discovery/v2.0/keys", "discovery/keys", "oauth2/v2.0/token", "oauth2/token",
                                                  "oauth2/v2.0/authorize"]

    /// Whether a path belongs to the identity service (`/{tenant}/…`, the managed-identity endpoints).
    public func handles(path: String) -> Bool {
        let lower = path.lowercased()
        if lower == Self.managedIdentityPath || lower == "/metadata/identity/oauth2/token" { return true }
        let first = lower.split(separator: "/").first.map(String.init)
        return first == tenantID || first == "organizations" || first == "common"
    }

    public func respond(to request: Request, context: some RequestContext) async throws -> Response {
        let components = request.uri.path.split(separator: "/").map { String($0).lowercased() }
        if request.uri.path.lowercased() == Self.managedIdentityPath || request.uri.path.lowercased() == "/metadata/identity/oauth2/token" {
            RequestRecord.noteRoute(request.uri.path.lowercased())
            return try await managedIdentityToken(request)
        }
        let rest = Array(components.dropFirst())
        let endpoint = rest.joined(separator: "/")
        RequestRecord.noteRoute("/{tenant}/" + (Self.endpoints.contains(endpoint) ? endpoint : "{unknown}"))
        do {
            switch (request.method, rest) {
            case (.get, ["v2.0", ".well-known", "openid-configuration"]):
                return try AzureJSON.response(discovery(version: "v2.0"))
            case (.get, [".well-known", "openid-configuration"]):
                return try AzureJSON.response(discovery(version: nil))
            case (.get, ["discovery", "v2.0", "keys"]), (.get, ["discovery", "keys"]):
                return try AzureJSON.response(jwks())
            case (.get, ["oauth2", "v2.0", "authorize"]):
                return authorizePage(request)
            case (.post, ["oauth2", "v2.0", "authorize"]):
                return try await authorizeSubmit(request)
            case (.post, ["oauth2", "v2.0", "token"]):
                return try await token(request, version2: true)
            case (.post, ["oauth2", "token"]):
                return try await token(request, version2: false)
            default:
                throw AzureErrorResponse(.notFound, code: "NotFound", message: "no identity endpoint at this path")
            }
        }
    }

    /// The issuer of every token this service issues.
    var issuer: String { "\(base)/\(tenantID)/v2.0" }

    private func discovery(version: String?) -> [String: OpenIDValue] {
        let prefix = "\(base)/\(tenantID)"
        let oauth = version.map { "\(prefix)/oauth2/\($0)" } ?? "\(prefix)/oauth2"
        return [
            "issuer": .string(issuer),
            "token_endpoint": .string("\(oauth)/token"),
            "authorization_endpoint": .string("\(oauth)/authorize"),
            "jwks_uri": .string("\(prefix)/discovery/\(version.map { "\($0)/" } ?? "")keys"),
            "response_types_supported": .strings(["code", "token"]),
            "code_challenge_methods_supported": .strings(["S256"]),
            "scopes_supported": .strings(["openid", "profile", "offline_access"]),
            "subject_types_supported": .strings(["pairwise"]),
            "id_token_signing_alg_values_supported": .strings(["ES256"]),
            "token_endpoint_auth_methods_supported": .strings(["client_secret_post", "client_secret_basic"]),
            "grant_types_supported": .strings(["client_credentials", "authorization_code", "password", "refresh_token"]),
            "tenant_region_scope": .string("NA"),
        ]
    }

    private func jwks() -> [String: [[String: String]]] {
        let publicKey = directory.signingPublicKey
        let raw = Array(publicKey.x963Representation.dropFirst())
        return ["keys": [[
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": directory.signingKeyID,
            "x": Base64URL.encode(Array(raw[0..<32])), "y": Base64URL.encode(Array(raw[32..<64])),
        ]]]
    }

    private func token(_ request: Request, version2: Bool) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: 64 * 1024)
        let form = CredentialParsing.form(String(buffer: body)).compactMapValues(\.first)
        switch form["grant_type"] {
        case "client_credentials": break
        case "authorization_code" where version2: return try await redeemCode(form)
        case "password" where version2: return try await passwordGrant(form)
        case "refresh_token" where version2: return try await refreshGrant(form)
        default:
            return try Self.oauthError(.badRequest, "unsupported_grant_type",
                                       "AADSTS70003: the grant types are client_credentials, and on the v2.0 endpoint authorization_code, password and refresh_token", code: 70003)
        }
        var clientID = form["client_id"]
        var secret = form["client_secret"]
        if let basic = CredentialParsing.basic(request.headers[.authorization]) {
            clientID = clientID ?? basic.0
            secret = secret ?? basic.1
        }
        guard let clientID, let secret else {
            return try Self.oauthError(.badRequest, "invalid_request", "AADSTS900144: client_id and client_secret are required", code: 900144)
        }
        let resource: String
        if version2 {
            guard let scope = form["scope"]?.split(separator: " ").first.map(String.init), scope.hasSuffix("/.default") else {
                return try Self.oauthError(.badRequest, "invalid_scope", "AADSTS1002012: the scope must be '<resource>/.default'", code: 1002012)
            }
            resource = String(scope.dropLast("/.default".count))
        } else {
            guard let value = form["resource"], !value.isEmpty else {
                return try Self.oauthError(.badRequest, "invalid_request", "AADSTS50001: the resource parameter is required", code: 50001)
            }
            resource = value
        }
        guard let principal = try await directory.authenticate(tenantID: tenantID, clientID: clientID, secret: secret) else {
            return try Self.oauthError(.unauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided, or unknown client id.", code: 7000215)
        }
        let issued = try directory.issueToken(for: principal, resource: resource, issuer: issuer)
        var response: [String: OpenIDValue] = [
            "token_type": .string("Bearer"), "expires_in": .number(issued.expiresIn), "ext_expires_in": .number(issued.expiresIn),
            "access_token": .string(issued.token),
        ]
        if !version2 {
            response["resource"] = .string(resource)
            response["expires_on"] = .string(String(Int64(Date().timeIntervalSince1970) + issued.expiresIn))
        }
        return try AzureJSON.response(response, headers: [.cacheControl: "no-store"])
    }

    /// App Service style (`IDENTITY_ENDPOINT` + `X-IDENTITY-HEADER`, api-version 2019-08-01) and IMDS style
    /// (`/metadata/identity/oauth2/token` + `Metadata: true`) managed-identity tokens.
    private func managedIdentityToken(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let isIMDS = request.uri.path.lowercased().hasPrefix("/metadata/")
        func refuse(_ status: HTTPResponse.Status, _ message: String) throws -> Response {
            struct Body: Encodable { let statusCode: Int; let message: String; let error: String; let error_description: String }
            return try AzureJSON.response(Body(statusCode: Int(status.code), message: message,
                                               error: status == .badRequest ? "invalid_request" : "unauthorized_client", error_description: message),
                                          status: status)
        }
        guard request.method == .get else { return try refuse(.methodNotAllowed, "use GET") }
        if isIMDS {
            guard imdsEnabled else { return try refuse(.notFound, "the IMDS endpoint is disabled; use IDENTITY_ENDPOINT with X-IDENTITY-HEADER") }
            guard request.headers[HTTPField.Name("Metadata")!]?.lowercased() == "true" else {
                return try refuse(.badRequest, "Required metadata header not specified")
            }
        } else if (request.headers[HTTPField.Name("X-IDENTITY-HEADER")!] ?? "").isEmpty {
            return try refuse(.unauthorized, "X-IDENTITY-HEADER is missing")
        }
        guard let resource = query.get("resource"), !resource.isEmpty else { return try refuse(.badRequest, "the resource parameter is required") }
        let clientID = query.get("client_id")
        let objectID = query.get("principal_id") ?? query.get("object_id")
        let resourceID = query.get("mi_res_id") ?? query.get("msi_res_id")
        guard clientID != nil || objectID != nil || resourceID != nil else {
            return try refuse(.badRequest, "name a user-assigned identity with client_id, principal_id (object_id) or mi_res_id")
        }
        let found = try await directory.managedIdentity(clientID: clientID, objectID: objectID, resourceID: resourceID)
        let principal: Principal
        if isIMDS {
            guard let found else { return try refuse(.badRequest, "no managed identity matches the identity requested") }
            principal = found
        } else {
            // The header names one identity: a workload given one identity's header cannot ask for another. An unknown
            // identity answers as a wrong header does, after the same work, so identities cannot be probed.
            let presented = request.headers[HTTPField.Name("X-IDENTITY-HEADER")!] ?? ""
            let candidate = found ?? Principal(objectId: UUID().uuidString.lowercased(), appId: "", tenantId: "", displayName: "",
                                               kind: .managedIdentity, credential: nil, resourceId: nil)
            let matches = workloadSecrets.matches(presented, principal: candidate)
            guard let found, matches, WorkloadIdentitySecrets.isUserAssigned(found) else {
                return try refuse(.unauthorized, "X-IDENTITY-HEADER is not the header of the identity asked for (coffer identity workload-env gives it)")
            }
            principal = found
        }
        let issued = try directory.issueToken(for: principal, resource: resource, issuer: issuer)
        let now = Int64(Date().timeIntervalSince1970)
        return try AzureJSON.response([
            "access_token": issued.token, "expires_on": String(now + issued.expiresIn), "expires_in": String(issued.expiresIn),
            "not_before": String(now), "resource": resource, "token_type": "Bearer", "client_id": principal.appId,
        ], headers: [.cacheControl: "no-store"])
    }

    enum OpenIDValue: Encodable {
        case string(String)
        case strings([String])
        case number(Int64)

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .string(let value): try container.encode(value)
            case .strings(let value): try container.encode(value)
            case .number(let value): try container.encode(value)
            }
        }
    }

    static func oauthError(_ status: HTTPResponse.Status, _ error: String, _ description: String, code: Int) throws -> Response {
        struct Body: Encodable { let error: String; let error_description: String; let error_codes: [Int] }
        return try AzureJSON.response(Body(error: error, error_description: description, error_codes: [code]), status: status)
    }
}
