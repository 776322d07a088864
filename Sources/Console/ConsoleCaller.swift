import CofferTelemetry
import Foundation
import HTTPTypes
import Hummingbird
import Identity
import NIOCore

/// Where this server answers what: the base address, the host suffixes of vaults and registries, the port.
public struct ConsoleAddresses: Sendable {
    /// `https://localhost:8443`: the console's only origin (cookies and the sign-in's redirect URI are bound to it).
    public let base: String
    public let port: Int
    public let vaultHostSuffix: String
    public let registryHostSuffix: String

    public init(base: String, port: Int, vaultHostSuffix: String, registryHostSuffix: String) {
        self.base = base
        self.port = port
        self.vaultHostSuffix = vaultHostSuffix
        self.registryHostSuffix = registryHostSuffix
    }

    var baseAuthority: String { String(base.dropFirst("https://".count)) }
    func vaultAuthority(_ vault: String) -> String { "\(vault.lowercased()).\(vaultHostSuffix):\(port)" }
    func registryAuthority(_ registry: String) -> String { "\(registry.lowercased()).\(registryHostSuffix):\(port)" }
}

/// The signed-in user calling this server's own APIs, in-process, with tokens minted for them: the console sees and
/// does exactly what the user's roles open through the APIs (the same operation table, the same checks), never more.
struct ConsoleCaller: Sendable {
    let user: DirectoryUser
    let directory: Directory
    let addresses: ConsoleAddresses
    let tenantID: String
    let send: @Sendable (Request) async throws -> InProcessResponse

    static let armVersion = "2023-07-01"
    static let vaultVersion = "7.4"

    private var issuer: String { "\(addresses.base)/\(tenantID)/v2.0" }

    private func token(for resource: String) throws -> String {
        try directory.issueToken(for: user, clientID: PublicClient.consoleClientID, resource: resource, issuer: issuer).token
    }

    /// A resource-manager call: `path` is an ARM id or collection path.
    func arm(_ method: HTTPRequest.Method, _ path: String, query: String = "", body: Any? = nil) async throws -> InProcessResponse {
        let separator = query.isEmpty ? "" : "&"
        return try await call(method, authority: addresses.baseAuthority, path: "\(path)?\(query)\(separator)api-version=\(Self.armVersion)",
                              bearer: try token(for: addresses.base), json: body)
    }

    /// A key vault data-plane call.
    func vault(_ method: HTTPRequest.Method, _ vault: String, _ path: String, body: Any? = nil) async throws -> InProcessResponse {
        try await call(method, authority: addresses.vaultAuthority(vault), path: "\(path)?api-version=\(Self.vaultVersion)",
                       bearer: try token(for: "https://vault.azure.net"), json: body)
    }

    /// A registry access token for `scopes`, through ACR's exchange (the user's resource-manager token for a refresh
    /// token, that for an access token): what the token carries is what the user's roles grant, as for `az acr login`.
    func registryToken(_ registry: String, scopes: [String]) async throws -> String? {
        let authority = addresses.registryAuthority(registry)
        let exchange = try await call(.post, authority: authority, path: "/oauth2/exchange", bearer: nil,
                                      form: [("grant_type", "access_token"), ("service", authority), ("access_token", try token(for: addresses.base))])
        guard exchange.status == .ok, let refresh = exchange.object["refresh_token"] as? String else { return nil }
        let issued = try await call(.post, authority: authority, path: "/oauth2/token", bearer: nil,
                                    form: [("grant_type", "refresh_token"), ("service", authority), ("refresh_token", refresh)]
                                        + scopes.map { ("scope", $0) })
        return issued.object["access_token"] as? String
    }

    /// A registry data-plane call with a token from ``registryToken(_:scopes:)``.
    func registry(_ method: HTTPRequest.Method, _ registry: String, _ path: String, token: String?, accept: String? = nil) async throws -> InProcessResponse {
        try await call(method, authority: addresses.registryAuthority(registry), path: path, bearer: token, accept: accept)
    }

    private func call(_ method: HTTPRequest.Method, authority: String, path: String, bearer: String?, json: Any? = nil,
                      form: [(String, String)]? = nil, accept: String? = nil) async throws -> InProcessResponse {
        var headers: HTTPFields = [:]
        if let bearer { headers[.authorization] = "Bearer \(bearer)" }
        if let accept { headers[.accept] = accept }
        var body = ByteBuffer()
        if let json {
            body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json))
            headers[.contentType] = "application/json"
        } else if let form {
            var components = URLComponents()
            components.queryItems = form.map { URLQueryItem(name: $0.0, value: $0.1) }
            body = ByteBuffer(string: (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B"))
            headers[.contentType] = "application/x-www-form-urlencoded"
        }
        if json != nil || form != nil || [.post, .put, .patch].contains(method) { headers[.contentLength] = String(body.readableBytes) }
        let head = HTTPRequest(method: method, scheme: "https", authority: authority, path: path, headerFields: headers)
        let request = Request(head: head, body: .init(buffer: body))
        // The inner call is the console's own doing: it leaves the browser's request record (its route, its principal) alone.
        return try await RequestRecord.$current.withValue(nil) { try await send(request) }
    }
}
