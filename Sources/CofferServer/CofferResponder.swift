import CofferTelemetry
import Foundation
import HTTPTypes
import Hummingbird
import AzureHTTP
import Console
import CofferStorage
import IdentityAPI
import KeyVaultAPI
import RegistryAPI
import ResourceManagerAPI

/// Routes every request by `Host` (DESIGN §3): registry login servers, key vaults, and the base address.
struct CofferResponder: HTTPResponder {
    typealias Context = CofferRequestContext

    let registryAPI: RegistryAPI
    let identityAPI: IdentityAPI
    let keyVaultAPI: KeyVaultAPI
    let resourceManagerAPI: ResourceManagerAPI
    let graphAPI: GraphAPI
    /// The host Microsoft Graph answers at.
    let graphHost: String
    /// The web console on the base address (`/`, `/console/…`).
    let console: Console
    /// Served at `/metadata/endpoints` on the base address.
    let cloudMetadata: CloudMetadata
    let metrics: MetricsEndpoint
    let readiness: ReadinessProbe
    /// Where clients reach the identity service (named in key vault challenges).
    let identityBase: String
    let registryHostSuffix: String
    let vaultHostSuffix: String
    /// How long a control-plane or token request's body may take to arrive (see ``ServerConfiguration/requestBodySeconds``).
    let requestBodyDeadline: Duration
    /// Each request's ids, access log line and metrics.
    let observer: RequestObserver

    func respond(to request: Request, context: Context) async throws -> Response {
        await observer.observe(request, client: context.remoteAddress?.ipAddress) {
            await answer(request, context: context)
        }
    }

    /// The answer to a request, its errors turned into each API's error answers.
    private func answer(_ request: Request, context: Context) async -> Response {
        do {
            return try await route(request, context: context)
        } catch let error as any HTTPResponseError {
            return Self.fallback(try? error.response(from: request, context: context))
        } catch let error as StorageError where error.code == .ioFailure {
            return Self.azureError(.serviceUnavailable, code: "ServiceUnavailable", message: "Storage is unavailable; retry later. (\(error.message))")
        } catch {
            context.logger.error("request failed", metadata: ["coffer.error.type": .string(String(describing: type(of: error)))])
            return Self.azureError(.internalServerError, code: "InternalError", message: "internal error")
        }
    }

    /// An error whose response could not be made (it never happens with this server's errors) is a plain 500.
    private static func fallback(_ response: Response?) -> Response {
        response ?? azureError(.internalServerError, code: "InternalError", message: "internal error")
    }

    private func route(_ request: Request, context: Context) async throws -> Response {
        let host = Self.hostName(request.head.authority)
        let path = request.uri.path
        let registryHost = Self.label(of: host, under: registryHostSuffix)
        let vaultHost = registryHost == nil ? Self.label(of: host, under: vaultHostSuffix) : nil
        // Registry data (`/v2/…`, where the registry answers it) streams, read by the registry's handlers; every other
        // body is small and read whole before use, so it is read here, against a deadline, once — a body nobody read
        // would otherwise be drained after the answer at the client's pace.
        let registryData = (path == "/v2" || path.hasPrefix("/v2/")) && vaultHost == nil && host != graphHost
        let request = registryData ? request : try await bodyCollected(request)
        RequestRecord.noteAPI("server")
        if path == "/healthz" {
            RequestRecord.noteRoute("/healthz")
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{\"status\":\"ok\"}")))
        }
        if path == "/readyz", request.method == .get || request.method == .head, registryHost == nil, vaultHost == nil, host != graphHost {
            RequestRecord.noteRoute("/readyz")
            return await readiness.respond()
        }
        if let registry = registryHost {
            return try await serveRegistry(request, context: context, hostRegistry: registry)
        }
        if let vault = vaultHost {
            RequestRecord.noteAPI("vault")
            return try await keyVaultAPI.respond(to: request, context: context, vaultName: vault, identityBase: identityBase)
        }
        if host == graphHost {
            RequestRecord.noteAPI("graph")
            return try await graphAPI.respond(to: request, context: context)
        }
        if CloudMetadata.isRequested(path: path), request.method == .get {
            RequestRecord.noteRoute("/metadata/endpoints")
            return try cloudMetadata.response()
        }
        if path == "/metrics", request.method == .get {
            RequestRecord.noteRoute("/metrics")
            return try await metrics.respond(to: request)
        }
        if Console.handles(path: path) {
            // The console calls the APIs in-process, through this same routing, as the signed-in user.
            return try await console.respond(to: request, authority: request.head.authority) { inner in
                try await InProcessResponse.collect(await answer(inner, context: context))
            }
        }
        if resourceManagerAPI.handles(path: path) {
            RequestRecord.noteAPI("resource_manager")
            return try await resourceManagerAPI.respond(to: request, context: context)
        }
        if identityAPI.handles(path: path) {
            RequestRecord.noteAPI("identity")
            return try await identityAPI.respond(to: request, context: context)
        }
        return try await serveRegistry(request, context: context, hostRegistry: nil)
    }

    private func serveRegistry(_ request: Request, context: Context, hostRegistry: String?) async throws -> Response {
        let path = request.uri.path
        RequestRecord.noteAPI("registry")
        if path == "/oauth2/token", request.method == .get || request.method == .post {
            RequestRecord.noteRoute("/oauth2/token")
            return try await registryAPI.respondToToken(request, context: context)
        }
        if path == "/oauth2/exchange" {
            RequestRecord.noteRoute("/oauth2/exchange")
            return try await registryAPI.respondToExchange(request, context: context)
        }
        if path == "/v2" || path.hasPrefix("/v2/") || path.hasPrefix("/acr/v1/") {
            return try await registryAPI.respond(to: request, context: context, hostRegistry: hostRegistry,
                                                 clientAddress: context.remoteAddress?.ipAddress)
        }
        return Self.azureError(.notFound, code: "NotFound", message: "no resource at this path")
    }

    /// The request with its whole body read (at most 4 MiB) within ``requestBodyDeadline``; a body still arriving then
    /// is a `408`, and the connection is closed with it.
    private func bodyCollected(_ request: Request) async throws -> Request {
        guard request.headers[.contentLength] != nil || request.headers[.transferEncoding] != nil else { return request }
        let deadline = requestBodyDeadline
        let body: ByteBuffer? = try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask {
                var request = request
                return try await request.collectBody(upTo: 4 << 20)
            }
            group.addTask {
                try await Task.sleep(for: deadline)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let body { RequestRecord.current?.noteBodyCollected(body.readableBytes) }
        guard let body else {
            throw AzureErrorResponse(.requestTimeout, code: "RequestTimeout",
                                     message: "The request body did not arrive within \(deadline.components.seconds) seconds.",
                                     headers: [.connection: "close"])
        }
        return Request(head: request.head, body: .init(buffer: body))
    }

    /// The host without port, lowercased (`[::1]:8443` → `::1`).
    static func hostName(_ authority: String?) -> String {
        guard var authority = authority?.lowercased() else { return "" }
        if authority.hasPrefix("[") {
            return authority.firstIndex(of: "]").map { String(authority[authority.index(after: authority.startIndex)..<$0]) } ?? authority
        }
        if let colon = authority.lastIndex(of: ":") { authority = String(authority[..<colon]) }
        return authority
    }

    /// `name` when `host` is exactly `name.suffix` with a single-label name.
    static func label(of host: String, under suffix: String) -> String? {
        guard host.hasSuffix("." + suffix) else { return nil }
        let name = host.dropLast(suffix.count + 1)
        return name.isEmpty || name.contains(".") ? nil : String(name)
    }

    static func azureError(_ status: HTTPResponse.Status, code: String, message: String) -> Response {
        let body = try? JSONEncoder().encode(["error": ["code": code, "message": message]])
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: body ?? Data())))
    }
}
