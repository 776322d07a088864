import AsyncHTTPClient
import Foundation
import JMESPath
import NIOCore
import NIOHTTP1
import NIOFoundationCompat
import NIOSSL
import Synchronization

/// Talks HTTPS to a running Coffer as its operator: client-credentials tokens, the resource manager
/// and the key vault data plane.
final class CofferClient: Sendable {
    let authority: String
    let tenantID: String
    let subscriptionID: String
    private let clientID: String
    /// The application (client) id the CLI is signed in as.
    var signedInClientID: String { clientID }
    private let clientSecret: String
    private let http: HTTPClient
    private let tokens = Mutex<[String: String]>([:])

    /// Logs each HTTP exchange (method, address without query secrets, status, time) to standard error: `--debug`.
    let debug: Bool

    init(credentials: ClientCredentials, subscription: String?, debug: Bool = false) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile = credentials.caFile { tls.trustRoots = .file(caFile) }
        self.authority = ProcessInfo.processInfo.environment["COFFER_URL"] ?? credentials.authority
        self.tenantID = credentials.tenantID
        self.subscriptionID = subscription ?? credentials.subscriptionID
        self.clientID = credentials.clientID
        self.clientSecret = credentials.clientSecret
        self.debug = debug
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
    }

    deinit {
        try? http.syncShutdown()
    }

    /// The vault URL of the server's vault host suffix (`https://<vault>.vault.localhost:<port>`).
    func vaultURL(_ name: String) -> String {
        let hostAndPort = authority.replacingOccurrences(of: "https://", with: "")
        let port = hostAndPort.contains(":") ? ":" + (hostAndPort.split(separator: ":").last.map(String.init) ?? "") : ""
        return "https://\(name.lowercased()).vault.localhost\(port)"
    }

    var vaultResource: String { vaultURL("x").replacingOccurrences(of: "https://x.", with: "https://") }

    func token(for resource: String) async throws -> String {
        if let token = tokens.withLock({ $0[resource] }) { return token }
        var request = HTTPClientRequest(url: "\(authority)/\(tenantID)/oauth2/v2.0/token")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        func encode(_ value: String) -> String { value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value }
        let form = "grant_type=client_credentials&client_id=\(encode(clientID))&client_secret=\(encode(clientSecret))&scope=\(encode(resource + "/.default"))"
        request.body = .bytes(ByteBuffer(string: form))
        let (status, body) = try await send(request)
        guard status == 200, case .string(let token) = body["access_token"] else {
            throw CLIError("authentication failed: \(Self.describe(body))")
        }
        tokens.withLock { $0[resource] = token }
        return token
    }

    /// The object id of the signed-in principal (from its token).
    func objectID() async throws -> String {
        let token = try await token(for: authority)
        let parts = token.split(separator: ".")
        var payload = String(parts[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while payload.count % 4 != 0 { payload += "=" }
        guard let data = Data(base64Encoded: payload), case .string(let oid) = try JSONText.parse(String(decoding: data, as: UTF8.self))["oid"] else {
            throw CLIError("cannot read the signed-in principal from its token")
        }
        return oid
    }

    /// A resource manager call; `path` starts at `/subscriptions/…` (or any ARM path). A long-running operation
    /// (an `Azure-AsyncOperation` answer) is followed to its end, as az does unless `--no-wait`: a failure is an
    /// error, and a PUT or PATCH returns the resource as it then is.
    /// The answer is shaped as the SDK model az prints (``AzureOutputShape/sdkDates(_:genericProperties:)``).
    @discardableResult
    func arm(_ method: HTTPMethod, _ path: String, apiVersion: String, body: JSONValue? = nil, wait: Bool = true,
             genericProperties: Bool = false) async throws -> JSONValue {
        AzureOutputShape.sdkDates(try await armAnswer(method, path, apiVersion: apiVersion, body: body, wait: wait), genericProperties: genericProperties)
    }

    private func armAnswer(_ method: HTTPMethod, _ path: String, apiVersion: String, body: JSONValue?, wait: Bool) async throws -> JSONValue {
        let separator = path.contains("?") ? "&" : "?"
        let url = "\(authority)\(path)\(separator)api-version=\(apiVersion)"
        let (headers, response) = try await exchange(method, url, resource: authority, body: body)
        if wait, headers.first(name: "Azure-AsyncOperation") == nil, let location = headers.first(name: "Location"), location.hasPrefix(authority) {
            // A long-running operation answered with a Location (a group's deletion): 202 until it is done.
            var pause = Self.retryAfter(headers)
            while true {
                try await Task.sleep(for: pause)
                let (pollHeaders, _) = try await exchange(.GET, location, resource: authority, body: nil)
                guard pollHeaders.first(name: "Location") != nil else { return response }
                pause = Self.retryAfter(pollHeaders)
            }
        }
        guard wait, let statusURL = headers.first(name: "Azure-AsyncOperation") else { return response }
        var pause = Self.retryAfter(headers)
        while true {
            try await Task.sleep(for: pause)
            let (pollHeaders, status) = try await exchange(.GET, statusURL, resource: authority, body: nil)
            switch status["status"] {
            case .string("Succeeded"):
                return method == .PUT || method == .PATCH ? try await exchange(.GET, url, resource: authority, body: nil).1 : response
            case .string("Failed"), .string("Canceled"):
                throw CLIError(Self.describe(status))
            default:
                pause = Self.retryAfter(pollHeaders)
            }
        }
    }

    /// The pause a `Retry-After` asks for (seconds), 1 s when absent, never more than a minute.
    static func retryAfter(_ headers: HTTPHeaders) -> Duration {
        .seconds(min(60, max(1, headers.first(name: "Retry-After").flatMap { Int($0) } ?? 1)))
    }

    /// A key vault data-plane call.
    @discardableResult
    func vault(_ method: HTTPMethod, vault: String, _ path: String, body: JSONValue? = nil) async throws -> JSONValue {
        let separator = path.contains("?") ? "&" : "?"
        return try await call(method, "\(vaultURL(vault))\(path)\(separator)api-version=7.5", resource: vaultResource, body: body)
    }

    /// A Microsoft Graph call (`/v1.0/…`) at the server's Graph host (`graph.localhost` on the server's port).
    @discardableResult
    func graph(_ method: HTTPMethod, _ path: String, body: JSONValue? = nil) async throws -> JSONValue {
        try await call(method, vaultURL("x").replacingOccurrences(of: "https://x.vault.localhost", with: "https://graph.localhost") + path,
                       resource: "https://graph.microsoft.com", body: body)
    }

    private func call(_ method: HTTPMethod, _ url: String, resource: String, body: JSONValue?) async throws -> JSONValue {
        try await exchange(method, url, resource: resource, body: body).1
    }

    /// One authenticated call: the response's headers and body, or the service's error.
    private func exchange(_ method: HTTPMethod, _ url: String, resource: String, body: JSONValue?) async throws -> (HTTPHeaders, JSONValue) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(try await token(for: resource))")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: JSONText.serialize(body)))
        }
        let (status, headers, response) = try await sendWithHeaders(request)
        guard (200..<300).contains(status) else { throw CLIError(Self.describe(response)) }
        return (headers, response)
    }

    private func send(_ request: HTTPClientRequest) async throws -> (Int, JSONValue) {
        let (status, _, body) = try await sendWithHeaders(request)
        return (status, body)
    }

    func sendWithHeaders(_ request: HTTPClientRequest) async throws -> (Int, HTTPHeaders, JSONValue) {
        let response: HTTPClientResponse
        let started = ContinuousClock.now
        do {
            response = try await http.execute(request, timeout: .seconds(60))
            if debug {
                // Never the headers or bodies: they carry tokens and secrets.
                let elapsed = ContinuousClock.now - started
                FileHandle.standardError.write(Data("DEBUG: \(request.method.rawValue) \(request.url.split(separator: "?").first ?? "") -> \(response.status.code) (\(elapsed.formatted(.units(allowed: [.milliseconds]))))\n".utf8))
            }
        } catch {
            throw CLIError("cannot reach \(request.url.split(separator: "?").first ?? ""): \(error). Is `coffer serve` running, and does *.localhost resolve?")
        }
        let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        let text = String(buffer: bytes)
        let value = text.isEmpty ? JSONValue.null : ((try? JSONText.parse(text)) ?? .string(text))
        return (Int(response.status.code), response.headers, value)
    }

    /// `(Code) message`, as az prints service errors.
    static func describe(_ body: JSONValue) -> String {
        if case .string(let code) = body["error"]["code"], case .string(let message) = body["error"]["message"] { return "(\(code)) \(message)" }
        if case .string(let code) = body["error"], case .string(let message) = body["error_description"] { return "(\(code)) \(message)" }
        return JSONText.serialize(body)
    }
}
