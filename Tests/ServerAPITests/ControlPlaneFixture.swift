import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Identity
import Logging
import NIOCore
import Testing
@testable import CofferServer
@testable import ResourceManagerAPI

/// A Coffer server on a fresh data directory, its resource manager driven in-process, with principals made and
/// tokens issued directly through its directory.
struct ControlPlaneFixture {
    let server: CofferServer
    let api: ResourceManagerAPI
    var directory: Directory { api.directory }
    var subscription: String { "/subscriptions/\(server.bootstrap.subscriptionID)" }
    var tenantID: String { server.bootstrap.tenantID }
    static let audience = "https://localhost:8443"

    static func make() async throws -> ControlPlaneFixture {
        var configuration = ServerConfiguration()
        configuration.dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-arm-\(UUID().uuidString)").path
        configuration.requirePreviewRegistration = false
        let server = try await CofferServer.prepare(configuration, logger: quietLogger)
        return ControlPlaneFixture(server: server, api: server.responder.resourceManagerAPI)
    }

    /// A new service principal holding `roles` (role, scope).
    func principal(_ name: String, roles: [(BuiltInRole, String)] = []) async throws -> Principal {
        let (principal, _) = try await directory.createServicePrincipal(tenantID: tenantID, displayName: name)
        for (role, scope) in roles { try await directory.assignRole(role, to: principal.objectId, scope: scope) }
        return principal
    }

    func token(for principal: Principal, audience: String = audience, now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> String {
        try directory.issueToken(for: principal, resource: audience, issuer: "\(Self.audience)/\(principal.tenantId)/v2.0", now: now).token
    }

    func test(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await test(at: "localhost", body)
    }

    /// Requests to the server as if sent to `authority` (the router test framework always says `localhost`, and the
    /// server routes by host: vaults at `<name>.vault.localhost`); the server is closed afterwards.
    func test(at authority: String, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let application = Application(responder: AtAuthority(authority: authority, inner: server.responder),
                                      configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        do {
            try await application.test(.router, body)
        } catch {
            try await server.close()
            throw error
        }
        try await server.close()
    }
}

/// The server's responder as a client reaching `authority` sees it.
struct AtAuthority: HTTPResponder {
    let authority: String
    let inner: CofferResponder

    func respond(to request: Request, context: CofferRequestContext) async throws -> Response {
        var head = request.head
        head.authority = authority
        return try await inner.respond(to: Request(head: head, body: request.body), context: context)
    }
}

extension TestClientProtocol {
    func arm(_ method: HTTPRequest.Method, _ path: String, token: String?, body: String? = nil, apiVersion: String = "2023-07-01") async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if body != nil { headers[.contentType] = "application/json" }
        return try await execute(uri: "\(path)?api-version=\(apiVersion)", method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
    }

    /// Sends and requires a 2xx, for setting things up.
    @discardableResult
    func armOK(_ method: HTTPRequest.Method, _ path: String, token: String, body: String? = nil) async throws -> TestResponse {
        let response = try await arm(method, path, token: token, body: body)
        guard (200..<300).contains(response.status.code) else {
            throw SetupError("\(method) \(path) answered \(response.status.code): \(String(buffer: response.body))")
        }
        return response
    }
}

struct SetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
