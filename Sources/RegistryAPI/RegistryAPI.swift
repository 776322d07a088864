import CofferStorage
import Foundation
import HTTPTypes
import Hummingbird
import Identity
import OCIModels
import RegistryService

/// The OCI Distribution API (v1.1) and its token endpoint, over ``RegistryService``.
///
/// Two addressing styles reach the same registries: host-style (`<registry>.cr.<suffix>/v2/<repo>/…`,
/// the registry's login server) and path-style (`<host>/v2/<registry>/<repo>/…`, for clients
/// without name resolution of those hosts).
public struct RegistryAPI: Sendable {
    let service: RegistryService
    let authority: RegistryTokenAuthority
    let accessProvider: (any RegistryAccessProvider)?
    let networkPolicy: (any RegistryNetworkPolicy)?
    let serviceNames: RegistryServiceNames
    /// ACR's changeable attributes (image locks), where a document store keeps them.
    let lockStore: RepositoryLockStore?

    /// - Parameter documents: where repositories' changeable attributes are kept (nil: every repository unlocked, and
    ///   `PATCH /acr/v1/…` refused).
    public init(service: RegistryService, authority: RegistryTokenAuthority, serviceNames: RegistryServiceNames,
                accessProvider: (any RegistryAccessProvider)? = nil, networkPolicy: (any RegistryNetworkPolicy)? = nil,
                documents: (any DocumentStore)? = nil) {
        self.service = service
        self.authority = authority
        self.serviceNames = serviceNames
        self.lockStore = documents.map { RepositoryLockStore(documents: $0) }
        self.accessProvider = accessProvider
        self.networkPolicy = networkPolicy
    }

    /// Answers the token endpoint (`/oauth2/token`).
    public func respondToToken(_ request: Request, context: some RequestContext) async throws -> Response {
        try await TokenEndpoint(authority: authority, accessProvider: accessProvider).respond(to: request, context: context)
    }

    /// Answers ACR's exchange of an Entra access token for a registry refresh token (`/oauth2/exchange`).
    public func respondToExchange(_ request: Request, context: some RequestContext) async throws -> Response {
        try await TokenEndpoint(authority: authority, accessProvider: accessProvider).exchange(request, context: context)
    }

    /// Answers a `/v2…` request.
    /// - Parameter hostRegistry: the registry a host-style request addresses; nil for path-style.
    /// - Parameter clientAddress: the client's IP address, for registries with network rules.
    public func respond(to request: Request, context: some RequestContext, hostRegistry: String?, clientAddress: String? = nil) async throws -> Response {
        let body = RequestBodyReader(request.body)
        var response = try await answer(request, body: body, context: context, hostRegistry: hostRegistry, clientAddress: clientAddress)
        if RequestBodyReader.announcesBody(request), !(await body.finish()) {
            response.headers[.connection] = "close"
        }
        return response
    }

    private func answer(_ request: Request, body: RequestBodyReader, context: some RequestContext, hostRegistry: String?,
                        clientAddress: String?) async throws -> Response {
        let service = serviceNames.service(requestAuthority: request.head.authority, hostRegistry: hostRegistry)
        do {
            guard let route = OCIRoute(path: request.uri.path) else {
                throw DistributionErrorResponse(status: .notFound, code: "NOT_FOUND", message: "no such endpoint")
            }
            var exchange = Exchange(api: self, request: request, body: body, context: context, service: service,
                                    hostRegistry: hostRegistry, clientAddress: clientAddress)
            return try await exchange.dispatch(route)
        } catch let error as RegistryError {
            return try respondWithError(DistributionErrorResponse(error, headers: Self.errorHeaders(error)), request, context)
        } catch let error as DistributionErrorResponse {
            return try respondWithError(error, request, context)
        } catch let error as StorageError where error.code == .ioFailure {
            // Storage that cannot be reached (anywhere in the request, not only where the service translates it).
            return try respondWithError(DistributionErrorResponse(RegistryError.unavailable(error)), request, context)
        } catch {
            context.logger.error("registry request failed", metadata: ["coffer.error.type": .string(String(describing: type(of: error)))])
            return try respondWithError(
                DistributionErrorResponse(status: .internalServerError, code: "UNKNOWN", message: "internal error"), request, context
            )
        }
    }

    private func respondWithError(_ error: DistributionErrorResponse, _ request: Request, _ context: some RequestContext) throws -> Response {
        var response = try error.response(from: request, context: context)
        response.headers[.dockerDistributionAPIVersion] = "registry/2.0"
        return response
    }

    private static func errorHeaders(_ error: RegistryError) -> HTTPFields {
        var headers: HTTPFields = [:]
        if error.code == .rangeNotSatisfiable, let size = error.detail["size"] {
            headers[.contentRange] = "bytes */\(size)"
        }
        if error.code == .tooManyRequests { headers[.retryAfter] = "30" }
        return headers
    }
}

extension HTTPField.Name {
    static let dockerDistributionAPIVersion = Self("Docker-Distribution-API-Version")!
    static let dockerContentDigest = Self("Docker-Content-Digest")!
    static let dockerUploadUUID = Self("Docker-Upload-UUID")!
    static let ociSubject = Self("OCI-Subject")!
    static let ociFiltersApplied = Self("OCI-Filters-Applied")!
    static let ociChunkMinLength = Self("OCI-Chunk-Min-Length")!
    static let link = Self("Link")!
}
