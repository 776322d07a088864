import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Identity
import Logging
import NIOCore
import NIOEmbedded
import OCIModels
import Testing
@testable import CofferServer
@testable import RegistryAPI

/// The data plane's authorization matrix, generated from ``OCIOperation/all``: every operation, in both
/// addressing styles, for every kind of caller, against the status its declared requirement implies. A new
/// route is covered the day its table entry is written; a route without one must answer 405.
@Suite struct AuthorizationMatrixTests {
    enum Style: CaseIterable {
        case path, host

        var authority: String { self == .path ? "localhost:8443" : "coffer.cr.localhost:8443" }
        func name(_ registry: String, _ repository: String) -> String { self == .path ? "\(registry)/\(repository)" : repository }
    }

    /// A caller, and the grants its token carries on the repository under test (`coffer/ci`).
    struct Caller: CustomStringConvertible, Sendable {
        let description: String
        /// nil: the token must be refused outright (401).
        let actions: Set<String>?
        let catalog: Bool
        let token: @Sendable (Style) async throws -> String?
    }

    @Test func everyOperationForEveryCaller() async throws {
        let fixture = try await Fixture.make()
        let authority = fixture.server.responder.registryAPI.authority
        try await fixture.server.registry.createRegistry(name: "second", keyWrapperID: "service-managed")
        let config = Array("{}".utf8)
        let configDigest = sha256(config)
        let now = Int64(Date().timeIntervalSince1970)
        @Sendable func issue(_ style: Style, _ scopes: [(String, [String])], catalog: Bool = false, service: String? = nil, now: Int64 = now) throws -> String {
            var grants = scopes.map { AccessGrant(type: "repository", name: $0.0, actions: $0.1) }
            if catalog { grants.append(AccessGrant(type: "registry", name: "catalog", actions: ["*"])) }
            return try authority.issue(subject: "matrix", service: service ?? style.authority, grants: grants, now: now)
        }
        let all = ["pull", "push", "delete"]
        let callers: [Caller] = [
            Caller(description: "no token", actions: nil, catalog: false) { _ in nil },
            Caller(description: "a malformed token", actions: nil, catalog: false) { _ in "not.a.token" },
            Caller(description: "an expired token", actions: nil, catalog: false) { style in
                try issue(style, [(style.name("coffer", "ci"), all)], now: now - 7200)
            },
            Caller(description: "a token for another service", actions: nil, catalog: false) { style in
                try issue(style, [(style.name("coffer", "ci"), all)], service: "elsewhere.example:8443")
            },
            Caller(description: "a token for another registry's login server", actions: nil, catalog: false) { style in
                try issue(style, [(style.name("coffer", "ci"), all)], service: "second.cr.localhost:8443")
            },
            Caller(description: "a token signed by another key", actions: nil, catalog: false) { style in
                let stranger = RegistryTokenAuthority(signer: TokenSigner(privateKey: .init()), administrator: authority.administrator)
                return try stranger.issue(subject: "matrix", service: style.authority,
                                          grants: [AccessGrant(type: "repository", name: style.name("coffer", "ci"), actions: all)])
            },
            Caller(description: "pull", actions: ["pull"], catalog: false) { try issue($0, [($0.name("coffer", "ci"), ["pull"])]) },
            Caller(description: "push", actions: ["push"], catalog: false) { try issue($0, [($0.name("coffer", "ci"), ["push"])]) },
            Caller(description: "pull and push", actions: ["pull", "push"], catalog: false) {
                try issue($0, [($0.name("coffer", "ci"), ["pull", "push"])])
            },
            Caller(description: "delete", actions: ["delete"], catalog: false) { try issue($0, [($0.name("coffer", "ci"), ["delete"])]) },
            Caller(description: "every action", actions: Set(all), catalog: true) { try issue($0, [($0.name("coffer", "ci"), all)], catalog: true) },
            Caller(description: "`*`", actions: Set(all + ["metadata_read", "metadata_write"]), catalog: false) { try issue($0, [($0.name("coffer", "ci"), ["*"])]) },
            Caller(description: "metadata_read", actions: ["metadata_read"], catalog: false) {
                try issue($0, [($0.name("coffer", "ci"), ["metadata_read"])])
            },
            Caller(description: "every action on another repository", actions: [], catalog: false) {
                try issue($0, [($0.name("coffer", "other"), all)])
            },
            Caller(description: "every action on another registry's repository", actions: [], catalog: false) { style in
                try issue(style, [("second/ci", all)])
            },
            Caller(description: "the catalog only", actions: [], catalog: true) { try issue($0, [], catalog: true) },
        ]

        var checked = 0
        // Content to read: a config blob and a manifest tagged v1 in coffer/ci.
        let seed = try issue(.path, [("coffer/ci", ["pull", "push"])])
        #expect(try await fixture.respond(.post, "/v2/coffer/ci/blobs/uploads/?digest=\(configDigest)", authority: Style.path.authority,
                                          token: seed, body: config) == .created)
        let manifest = Array("""
            {"schemaVersion":2,"mediaType":"\(MediaTypes.ociManifest)","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(configDigest)","size":2},"layers":[]}
            """.utf8)
        #expect(try await fixture.respond(.put, "/v2/coffer/ci/manifests/v1", authority: Style.path.authority, token: seed, body: manifest,
                                          contentType: MediaTypes.ociManifest) == .created)

        for style in Style.allCases {
            let name = style.name("coffer", "ci")
            for operation in OCIOperation.all {
                let (path, body) = Self.request(for: operation, name: name, config: configDigest, manifest: manifest)
                for caller in callers {
                    let token = try await caller.token(style)
                    let status = try await fixture.respond(operation.method, path, authority: style.authority, token: token, body: body,
                                                           contentType: body == nil ? nil : MediaTypes.ociManifest)
                    let context = "\(operation.method) \(path) (\(style)-style) as \(caller)"
                    switch Self.expectation(operation.requirement, caller) {
                    case .refused(let refusal): #expect(status == refusal, "\(context): \(status)")
                    case .allowed: #expect(![.unauthorized, .forbidden].contains(status) && status.code < 500, "\(context): \(status)")
                    }
                    checked += 1
                }
            }
        }
        try await fixture.server.close()
        // 29 operations × 2 styles × 16 callers.
        #expect(checked == OCIOperation.all.count * Style.allCases.count * callers.count)
        #expect(checked >= 500)
    }

    @Test func methodsWithoutATableEntryAreRefused() async throws {
        let fixture = try await Fixture.make()
        let authority = fixture.server.responder.registryAPI.authority
        let token = try authority.issue(subject: "matrix", service: "localhost:8443", grants: [
            AccessGrant(type: "repository", name: "coffer/ci", actions: ["*"]), AccessGrant(type: "registry", name: "catalog", actions: ["*"]),
        ])
        let routes: [(OCIOperation.Endpoint, String)] = [
            (.base, "/v2/"), (.catalog, "/v2/_catalog"), (.tags, "/v2/coffer/ci/tags/list"), (.manifest, "/v2/coffer/ci/manifests/v1"),
            (.blob, "/v2/coffer/ci/blobs/\(sha256([1]))"), (.startUpload, "/v2/coffer/ci/blobs/uploads/"),
            (.upload, "/v2/coffer/ci/blobs/uploads/\(UUID().uuidString.lowercased())"), (.referrers, "/v2/coffer/ci/referrers/\(sha256([1]))"),
            (.acrCatalog, "/acr/v1/_catalog"), (.acrRepository, "/acr/v1/coffer/ci"), (.acrTags, "/acr/v1/coffer/ci/_tags"),
            (.acrTag, "/acr/v1/coffer/ci/_tags/v1"), (.acrManifests, "/acr/v1/coffer/ci/_manifests"),
            (.acrManifest, "/acr/v1/coffer/ci/_manifests/\(sha256([1]))"),
        ]
        #expect(Set(routes.map(\.0)) == Set(OCIOperation.Endpoint.allCases))
        var refused = 0
        for (endpoint, path) in routes {
            #expect(OCIRoute(path: String(path.split(separator: "?")[0]))?.endpoint == endpoint)
            for method in [HTTPRequest.Method.get, .head, .put, .post, .patch, .delete, .options] where OCIOperation.find(endpoint, method) == nil {
                let status = try await fixture.respond(method, path, authority: "localhost:8443", token: token, body: nil)
                #expect(status == .methodNotAllowed, "\(method) \(path): \(status)")
                refused += 1
            }
        }
        #expect(refused == OCIOperation.Endpoint.allCases.count * 7 - OCIOperation.all.count)
        try await fixture.server.close()
    }

    enum Expectation {
        case allowed
        case refused(HTTPResponse.Status)
    }

    static func expectation(_ requirement: OCIOperation.Requirement, _ caller: Caller) -> Expectation {
        guard let actions = caller.actions else { return .refused(.unauthorized) }
        switch requirement {
        case .anyValidToken: return .allowed
        case .catalog: return caller.catalog ? .allowed : .refused(.forbidden)
        case .repository(let needed): return Set(needed).isSubset(of: actions) ? .allowed : .refused(.forbidden)
        }
    }

    /// A request that exercises the operation on `name`, with a body where it needs one.
    static func request(for operation: OCIOperation, name: String, config: String, manifest: [UInt8]) -> (String, [UInt8]?) {
        let upload = "/v2/\(name)/blobs/uploads/\(UUID().uuidString.lowercased())"
        switch (operation.endpoint, operation.method) {
        case (.base, _): return ("/v2/", nil)
        case (.catalog, _): return ("/v2/_catalog", nil)
        case (.tags, _): return ("/v2/\(name)/tags/list", nil)
        case (.manifest, .put): return ("/v2/\(name)/manifests/matrix", manifest)
        case (.manifest, .delete): return ("/v2/\(name)/manifests/absent", nil)
        case (.manifest, _): return ("/v2/\(name)/manifests/v1", nil)
        case (.blob, .delete): return ("/v2/\(name)/blobs/\(sha256([0xAB]))", nil)
        case (.blob, _): return ("/v2/\(name)/blobs/\(config)", nil)
        case (.startUpload, _): return ("/v2/\(name)/blobs/uploads/", nil)
        case (.upload, .put): return ("\(upload)?digest=\(config)", nil)
        case (.upload, _): return (upload, nil)
        case (.referrers, _): return ("/v2/\(name)/referrers/\(config)", nil)
        case (.acrCatalog, _): return ("/acr/v1/_catalog", nil)
        // Deletes the repository (later operations then find nothing: 404 is still not a refusal).
        case (.acrRepository, _): return ("/acr/v1/\(name)", nil)
        case (.acrTags, _): return ("/acr/v1/\(name)/_tags", nil)
        case (.acrTag, .delete): return ("/acr/v1/\(name)/_tags/absent", nil)
        case (.acrTag, _): return ("/acr/v1/\(name)/_tags/v1", nil)
        case (.acrManifests, _): return ("/acr/v1/\(name)/_manifests", nil)
        case (.acrManifest, .delete): return ("/acr/v1/\(name)/_manifests/\(sha256([0xAB]))", nil)
        case (.acrManifest, _): return ("/acr/v1/\(name)/_manifests/\(config)", nil)
        }
    }
}

extension Fixture {
    /// Answers one request as the HTTPS listener would, with the given `Host` (the in-process test client always
    /// says `localhost`, so login servers cannot be reached through it). Returns the status.
    func respond(_ method: HTTPRequest.Method, _ path: String, authority: String, token: String?, body: [UInt8]?,
                 contentType: String? = nil) async throws -> HTTPResponse.Status {
        var fields: HTTPFields = [:]
        if let contentType { fields[.contentType] = contentType }
        if let token { fields[.authorization] = "Bearer \(token)" }
        if let body { fields[.contentLength] = String(body.count) }
        let head = HTTPRequest(method: method, scheme: "https", authority: authority, path: path, headerFields: fields)
        let request = Request(head: head, body: RequestBody(buffer: ByteBuffer(bytes: body ?? [])))
        let context = CofferRequestContext(source: ApplicationRequestContextSource(channel: EmbeddedChannel(), logger: Logger(label: "matrix")))
        let response = try await server.responder.respond(to: request, context: context)
        try await response.body.write(DiscardingWriter())
        return response.status
    }
}

private struct DiscardingWriter: ResponseBodyWriter {
    mutating func write(_ buffer: ByteBuffer) async throws {}
    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
