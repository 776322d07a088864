import CofferTelemetry
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Identity
import OCIModels
import RegistryService

/// Which registry and repository a request names, and the name as the client wrote it.
struct RepositoryTarget {
    let registry: String
    let repository: RepositoryName
    /// The name as it appears in the URL (and in token scopes): `<repo>` host-style, `<registry>/<repo>` path-style.
    let urlName: String
    /// Who the token speaks for (its subject).
    let principal: String
}

/// One request to the distribution API, from authorization to response.
struct Exchange<Context: RequestContext> {
    let api: RegistryAPI
    let request: Request
    /// The request's body: read through here only (see ``RequestBodyReader``).
    let body: RequestBodyReader
    let context: Context
    let service: String
    let hostRegistry: String?
    let clientAddress: String?
    /// The target repository's changeable attributes (ACR's locks), read once the target is known.
    private var locks = RepositoryLocks()

    init(api: RegistryAPI, request: Request, body: RequestBodyReader, context: Context, service: String, hostRegistry: String?,
         clientAddress: String?) {
        self.api = api
        self.request = request
        self.body = body
        self.context = context
        self.service = service
        self.hostRegistry = hostRegistry
        self.clientAddress = clientAddress
    }

    private var registry: RegistryService { api.service }
    private var uploadRate: UploadRateGuard {
        UploadRateGuard(minimumBytesPerSecond: registry.configuration.uploadMinimumBytesPerSecond, window: registry.configuration.uploadRateWindow)
    }
    private var method: HTTPRequest.Method { request.method }
    private var query: FlatDictionary<Substring, Substring> { request.uri.queryParameters }

    mutating func dispatch(_ route: OCIRoute) async throws -> Response {
        RequestRecord.noteRoute(route.endpoint.template)
        guard let operation = OCIOperation.find(route.endpoint, method) else {
            throw RegistryError(.unsupported, "\(method.rawValue) is not supported on this endpoint")
        }
        let target: RepositoryTarget?
        switch operation.requirement {
        case .anyValidToken:
            try await authorize(scope: nil)
            target = nil
        case .catalog:
            try await authorize(scope: nil, catalog: true)
            target = nil
        case .repository(let actions):
            guard let name = route.repositoryName else { throw RegistryError(.nameInvalid, "this endpoint names no repository") }
            target = try await self.target(name, actions: actions)
        }
        if let target, let store = api.lockStore {
            locks = try await store.locks(registry: target.registry, repository: target.repository.value)
            if let refusal = locks.refusal(route: route, method: method, repository: target.repository.value) {
                throw DistributionErrorResponse(status: .forbidden, code: "DENIED", message: refusal)
            }
        }
        switch (route, target) {
        case (.base, _):
            return respond(.ok, json: Data("{}".utf8))
        case (.catalog, _):
            return try await catalog()
        case (.tags, let target?):
            return try await tags(target)
        case (.manifest(_, let reference), let target?):
            switch method {
            case .put: return try await putManifest(target, reference)
            case .delete:
                let parsed = try parseReference(reference, lookup: true)
                let tagsOfIt = try await tagsWithLocks(of: target, parsed)
                if let locked = tagsOfIt.first(where: { !locks.tag($0).mayDelete }) {
                    throw DistributionErrorResponse(status: .forbidden, code: "DENIED",
                                                    message: "\(target.repository):\(locked) is delete-locked (deleteEnabled or writeEnabled is false)")
                }
                try await registry.deleteManifest(registry: target.registry, repository: target.repository, reference: parsed)
                try await forgetLocks(target, parsed, tags: tagsOfIt)
                return respond(.accepted)
            default: return try await getManifest(target, reference)
            }
        case (.blob(_, let digest), let target?):
            guard method == .delete else { return try await getBlob(target, digest) }
            try await registry.deleteBlob(registry: target.registry, repository: target.repository, digest: try parseDigest(digest))
            return respond(.accepted)
        case (.startUpload, let target?):
            return try await startUpload(target)
        case (.upload(_, let id), let target?):
            switch method {
            case .patch: return try await patchUpload(target, id)
            case .put: return try await completeUpload(target, id)
            case .delete:
                try await registry.cancelUpload(registry: target.registry, repository: target.repository, id: id)
                return respond(.noContent)
            default:
                let progress = try await registry.uploadProgress(registry: target.registry, repository: target.repository, id: id)
                return respond(.noContent, headers: uploadHeaders(target, progress))
            }
        case (.referrers(_, let digest), let target?):
            return try await referrers(target, digest)
        case (.acrCatalog, _):
            return try await catalog()
        case (.acrRepository, let target?), (.acrTags, let target?), (.acrTag, let target?), (.acrManifests, let target?), (.acrManifest, let target?):
            let metadata = ACRMetadata(registry: registry, target: target, loginServer: service, locks: locks, lockStore: api.lockStore)
            let (status, body) = try await metadata.respond(to: route, method: method, limit: try pagination().limit,
                                                            body: method == .patch ? try await collectBody(limit: 64 * 1024) : [])
            return respond(status, json: body)
        default:
            throw RegistryError(.unsupported, "\(method.rawValue) is not supported on this endpoint")
        }
    }

    // MARK: authorization and names

    /// Checks the bearer token; `scope` names the repository and actions needed (nil: any valid token).
    @discardableResult
    private func authorize(scope: (name: String, actions: [String])?, catalog: Bool = false) async throws -> TokenClaims {
        var challengeScopes = [scope.map { "repository:\($0.name):\($0.actions.joined(separator: ","))" } ?? (catalog ? "registry:catalog:*" : nil)]
            .compactMap { $0 }
        // A mount needs pull on its source too: the first challenge names it, so that a client asks for both at once
        // (clients do not act on a second challenge for another repository), as distribution's does.
        if let source = mountSource, source != scope?.name { challengeScopes.append("repository:\(source):pull") }
        let challengeScope = challengeScopes.isEmpty ? nil : challengeScopes.joined(separator: " ")
        // No or invalid token: 401. A valid token without the scope: 403 `insufficient_scope` (RFC 6750 §3.1),
        // still with the challenge, so clients such as oras fetch a token with the wider scope and retry.
        func challenge(_ message: String, error: String? = nil) -> DistributionErrorResponse {
            var value = "Bearer realm=\"https://\(service)/oauth2/token\",service=\"\(service)\""
            if let challengeScope { value += ",scope=\"\(challengeScope)\"" }
            if let error { value += ",error=\"\(error)\"" }
            let insufficient = error == "insufficient_scope"
            return DistributionErrorResponse(
                status: insufficient ? .forbidden : .unauthorized, code: insufficient ? "DENIED" : "UNAUTHORIZED",
                message: message, headers: [.wwwAuthenticate: value]
            )
        }
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            throw challenge("authentication required")
        }
        let claims: TokenClaims
        do {
            claims = try api.authority.verify(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces), service: service)
        } catch {
            throw challenge(error.message, error: "invalid_token")
        }
        // A registry token disabled or deleted, or whose password was removed or regenerated, since this access token was
        // issued is refused at once.
        if let provider = api.accessProvider, !(await provider.isActive(subject: claims.sub)) {
            throw challenge("the token this access was granted to is disabled or deleted", error: "invalid_token")
        }
        let grants = claims.access ?? []
        if let scope, !scope.actions.allSatisfy({ grants.allows(repository: scope.name, action: $0) }) {
            throw challenge("token does not grant \(scope.actions.joined(separator: ",")) on \(scope.name)", error: "insufficient_scope")
        }
        if catalog, !grants.allowsCatalog {
            throw challenge("token does not grant the catalog", error: "insufficient_scope")
        }
        return claims
    }

    /// The repository a blob mount (`POST …/blobs/uploads/?mount=…&from=<name>`) reads from, when its name is valid
    /// (only then is it written into a challenge header).
    private var mountSource: String? {
        guard method == .post, query.get("mount") != nil, let from = query.get("from"), (try? RepositoryName(from)) != nil else { return nil }
        return from
    }

    /// Authorizes, then resolves the URL name to a registry and repository.
    private func target(_ urlName: String, actions: [String]) async throws -> RepositoryTarget {
        let claims = try await authorize(scope: (urlName, actions))
        let target = try resolve(urlName, principal: claims.sub)
        try await checkNetwork(target.registry)
        guard try await registry.registryExists(target.registry) else {
            throw RegistryError(.nameUnknown, "registry \(target.registry) is not known")
        }
        return target
    }

    /// The registry's firewall: a client its network rules do not allow gets 403 DENIED, as ACR answers.
    private func checkNetwork(_ registryName: String) async throws {
        guard let policy = api.networkPolicy, let refusal = try await policy.refusal(registry: registryName, address: clientAddress) else { return }
        throw DistributionErrorResponse(status: .forbidden, code: "DENIED", message: refusal)
    }

    private func resolve(_ urlName: String, principal: String) throws -> RepositoryTarget {
        do {
            _ = try RepositoryName(urlName)
            if let hostRegistry {
                return RepositoryTarget(registry: hostRegistry, repository: try RepositoryName(urlName), urlName: urlName, principal: principal)
            }
            guard let slash = urlName.firstIndex(of: "/") else {
                throw RegistryError(.nameInvalid, "path-style names are <registry>/<repository>; \(urlName) names no repository")
            }
            return RepositoryTarget(
                registry: String(urlName[..<slash]),
                repository: try RepositoryName(urlName[urlName.index(after: slash)...]),
                urlName: urlName, principal: principal
            )
        } catch let error as OCIValidationError {
            throw RegistryError(.nameInvalid, error.message)
        }
    }

    private func parseDigest(_ text: some StringProtocol) throws -> Digest {
        do { return try Digest(parsing: text) } catch {
            throw RegistryError(error.code == .digestUnsupported ? .unsupported : .digestInvalid, error.message)
        }
    }

    /// `lookup`: the reference names a manifest to read or delete, and one that is not even a valid tag names none:
    /// `404 MANIFEST_UNKNOWN`, as distribution and the conformance suite have it (a PUT under it stays a 400).
    private func parseReference(_ text: String, lookup: Bool = false) throws -> ManifestReference {
        do { return try ManifestReference(parsing: text) } catch {
            switch error.code {
            case .tagInvalid where lookup: throw RegistryError(.manifestUnknown, "no manifest is named \(text.prefix(130)): \(error.message)")
            case .tagInvalid: throw RegistryError(.manifestInvalid, error.message)
            case .digestUnsupported: throw RegistryError(.unsupported, error.message)
            default: throw RegistryError(.digestInvalid, error.message)
            }
        }
    }

    // MARK: listing

    private func pagination() throws -> (last: String?, limit: Int?) {
        let last = query.get("last")
        guard let text = query.get("n") else { return (last, nil) }
        guard let limit = Int(text), limit >= 0 else {
            throw RegistryError(.unsupported, "n must be a non-negative integer")
        }
        return (last, min(limit, 10_000))
    }

    private func nextLink(path: String, limit: Int, last: String) -> String {
        var components = URLComponents()
        components.path = path
        components.queryItems = [URLQueryItem(name: "n", value: String(limit)), URLQueryItem(name: "last", value: last)]
        return "<\(components.string ?? path)>; rel=\"next\""
    }

    private func catalog() async throws -> Response {
        let (last, limit) = try pagination()
        var names: [String]
        if let hostRegistry {
            try await checkNetwork(hostRegistry)
            let hidden = try await unlistedRepositories(hostRegistry)
            names = try await registry.repositories(registry: hostRegistry, after: last, limit: hidden.isEmpty ? limit.map { $0 + 1 } : nil)
                .filter { !hidden.contains($0) }
            if let limit, names.count > limit + 1 { names = Array(names.prefix(limit + 1)) }
        } else {
            names = try await pathStyleCatalog(after: last, limit: limit)
        }
        var headers: HTTPFields = [:]
        if let limit, names.count > limit {
            names = Array(names.prefix(limit))
            if let final = names.last { headers[.link] = nextLink(path: "/v2/_catalog", limit: limit, last: final) }
        }
        return respond(.ok, json: try Self.json.encode(["repositories": names]), headers: headers)
    }

    /// The base address's catalog: every registry's repositories as `<registry>/<repository>`, in order, from after
    /// `last`, at most `limit + 1` (one more tells a next page exists). Registry names hold no `/`, so the prefixes
    /// `<registry>/` never contain one another and the whole order is the registries' (by prefix) with each one's
    /// repositories in order: each registry is one indexed query with a limit, and a page costs what it shows, not what
    /// the registries hold. A registry whose firewall refuses this client is left out.
    private func pathStyleCatalog(after last: String?, limit: Int?) async throws -> [String] {
        var names: [String] = []
        let wanted = limit.map { $0 + 1 }
        for registryName in try await registry.registryNames().sorted(by: { "\($0)/" < "\($1)/" }) {
            if let wanted, names.count >= wanted { break }
            let prefix = registryName + "/"
            var after: String?
            if let last {
                if last.hasPrefix(prefix) {
                    after = String(last.dropFirst(prefix.count))
                } else if prefix < last {
                    continue  // every name of this registry sorts before `last`
                }
            }
            guard (try? await checkNetwork(registryName)) != nil else { continue }
            let hidden = try await unlistedRepositories(registryName)
            let remaining = wanted.map { $0 - names.count }
            names += try await registry.repositories(registry: registryName, after: after, limit: hidden.isEmpty ? remaining : nil)
                .filter { !hidden.contains($0) }.map { prefix + $0 }
        }
        if let wanted, names.count > wanted { names = Array(names.prefix(wanted)) }
        return names
    }

    private func tags(_ target: RepositoryTarget) async throws -> Response {
        let (last, limit) = try pagination()
        // Unlisted tags are left out before the page is cut, so that a page is full when more follow.
        let hidesTags = locks.tags.values.contains { !$0.listEnabled }
        var tags = try await registry.tags(registry: target.registry, repository: target.repository, after: last,
                                           limit: hidesTags ? nil : limit.map { $0 + 1 })
            .filter { locks.tag($0).listEnabled }
        if let limit, tags.count > limit + 1 { tags = Array(tags.prefix(limit + 1)) }
        var headers: HTTPFields = [:]
        if let limit, tags.count > limit {
            tags = Array(tags.prefix(limit))
            if let final = tags.last { headers[.link] = nextLink(path: "/v2/\(target.urlName)/tags/list", limit: limit, last: final) }
        }
        return respond(.ok, json: try Self.json.encode(TagList(name: target.urlName, tags: tags)), headers: headers)
    }

    private func referrers(_ target: RepositoryTarget, _ digestText: String) async throws -> Response {
        let subject = try parseDigest(digestText)
        let artifactType = query.get("artifactType")
        let descriptors = try await registry.referrers(
            registry: target.registry, repository: target.repository, subject: subject, artifactType: artifactType
        )
        var headers: HTTPFields = [.contentType: MediaTypes.ociIndex]
        if artifactType != nil { headers[.ociFiltersApplied] = "artifactType" }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try Self.json.encode(ReferrersIndex(manifests: descriptors)))))
    }

    // MARK: locks (ACR's changeable attributes)

    /// A tag's manifest may be read-locked although the tag is not.
    private func refuseIfReadLocked(_ target: RepositoryTarget, _ digest: Digest) throws {
        guard locks.manifest(digest.description).readEnabled else {
            throw DistributionErrorResponse(status: .forbidden, code: "DENIED",
                                            message: "\(target.repository)@\(digest) is read-locked (readEnabled is false)")
        }
    }

    /// The tags with attributes that deleting a manifest by digest would remove with it (deleting it is refused while
    /// one of them may not be deleted, and their attributes go with them).
    private func tagsWithLocks(of target: RepositoryTarget, _ reference: ManifestReference) async throws -> [String] {
        guard case .digest(let digest) = reference, !locks.tags.isEmpty else { return [] }
        let (_, tags) = try await registry.repositoryContents(registry: target.registry, repository: target.repository)
        return tags.filter { $0.digest == digest && locks.tags[$0.name] != nil }.map(\.name)
    }

    /// A deleted tag or manifest takes its attributes with it (and a manifest those of its tags): a tag pushed again
    /// under the name starts unlocked.
    private func forgetLocks(_ target: RepositoryTarget, _ reference: ManifestReference, tags: [String] = []) async throws {
        guard let store = api.lockStore else { return }
        let key: String
        switch reference {
        case .tag(let tag): key = tag.description
        case .digest(let digest): key = digest.description
        }
        guard locks.tags[key] != nil || locks.manifests[key] != nil || !tags.isEmpty else { return }
        _ = try await store.change(registry: target.registry, repository: target.repository.value) {
            $0.tags[key] = nil
            $0.manifests[key] = nil
            for tag in tags { $0.tags[tag] = nil }
        }
    }

    /// The repositories of a registry that the catalog does not list (`listEnabled` false).
    private func unlistedRepositories(_ registryName: String) async throws -> Set<String> {
        guard let store = api.lockStore else { return [] }
        return Set(try await store.locks(registry: registryName).filter { !$0.value.repository.listEnabled }.keys)
    }

    // MARK: manifests

    private func getManifest(_ target: RepositoryTarget, _ referenceText: String) async throws -> Response {
        let reference = try parseReference(referenceText, lookup: true)
        var headers: HTTPFields = [:]
        if method == .head {
            let record = try await registry.manifestInfo(registry: target.registry, repository: target.repository, reference: reference)
            headers[.contentType] = record.mediaType
            headers[.dockerContentDigest] = record.digest.description
            headers[.contentLength] = String(record.size)
            headers[.dockerDistributionAPIVersion] = "registry/2.0"
            try refuseIfReadLocked(target, record.digest)
            return Response(status: .ok, headers: headers, body: .init())
        }
        let manifest = try await registry.manifest(registry: target.registry, repository: target.repository, reference: reference)
        try refuseIfReadLocked(target, manifest.record.digest)
        headers[.contentType] = manifest.record.mediaType
        headers[.dockerContentDigest] = manifest.record.digest.description
        headers[.dockerDistributionAPIVersion] = "registry/2.0"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: manifest.bytes)))
    }

    private mutating func putManifest(_ target: RepositoryTarget, _ referenceText: String) async throws -> Response {
        let reference = try parseReference(referenceText)
        let bytes = try await collectBody(limit: ParsedManifest.maximumSize)
        let record = try await registry.putManifest(
            registry: target.registry, repository: target.repository, reference: reference,
            bytes: bytes, contentType: request.headers[.contentType]
        )
        var headers: HTTPFields = [
            .location: "/v2/\(target.urlName)/manifests/\(record.digest)",
            .dockerContentDigest: record.digest.description,
        ]
        if let subject = record.subject { headers[.ociSubject] = subject.description }
        return respond(.created, headers: headers)
    }

    private mutating func collectBody(limit: Int) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(decimal), length > limit {
            throw RegistryError(.sizeInvalid, "manifest is larger than \(limit) bytes")
        }
        // A manifest's body is held to the uploads' minimum rate too: trickled, it would hold its connection.
        return try await uploadRate.run(body: body.sequence) { body in
            var bytes: [UInt8] = []
            for try await buffer in body {
                guard bytes.count + buffer.readableBytes <= limit else {
                    throw RegistryError(.sizeInvalid, "manifest is larger than \(limit) bytes")
                }
                bytes += buffer.readableBytesView
            }
            return bytes
        }
    }

    // MARK: blobs

    private func getBlob(_ target: RepositoryTarget, _ digestText: String) async throws -> Response {
        let digest = try parseDigest(digestText)
        var headers: HTTPFields = [
            .dockerContentDigest: digest.description, .contentType: "application/octet-stream", .acceptRanges: "bytes",
            .dockerDistributionAPIVersion: "registry/2.0",
        ]
        if method == .head {
            let record = try await registry.checkBlob(registry: target.registry, repository: target.repository, digest: digest)
            headers[.contentLength] = String(record.size)
            return Response(status: .ok, headers: headers, body: .init())
        }
        let requested = try request.headers[.range].map { header in
            guard let range = ByteRangeRequest(header: header) else {
                throw RegistryError(.rangeNotSatisfiable, "unsupported Range header \"\(header.prefix(100))\"; use bytes=<start>-<end>")
            }
            return range
        }
        let range: ClosedRange<Int64>?
        switch requested {
        case nil: range = nil
        case .suffix(let count)?:
            let record = try await registry.blobInfo(registry: target.registry, repository: target.repository, digest: digest)
            guard count > 0, record.size > 0 else {
                throw RegistryError(.rangeNotSatisfiable, "range is not satisfiable", detail: ["size": String(record.size)])
            }
            range = max(0, record.size - count)...(record.size - 1)
        case .bounded(let bounds)?: range = bounds
        }
        let content = try await registry.openBlob(registry: target.registry, repository: target.repository, digest: digest, range: range)
        let served = content.range.map { Int($0.upperBound - $0.lowerBound + 1) } ?? 0
        var status = HTTPResponse.Status.ok
        if requested != nil, let served = content.range {
            status = .partialContent
            headers[.contentRange] = "bytes \(served.lowerBound)-\(served.upperBound)/\(content.size)"
        }
        guard let body = content.body else {
            headers[.contentLength] = "0"
            return Response(status: status, headers: headers, body: .init())
        }
        RequestRecord.noteStreamedAnswer()
        return Response(status: status, headers: headers, body: ResponseBody(contentLength: served) { writer in
            try await writer.write(body)
            try await writer.finish(nil)
        })
    }

    // MARK: uploads

    private func uploadHeaders(_ target: RepositoryTarget, _ progress: UploadProgress) -> HTTPFields {
        [
            .location: "/v2/\(target.urlName)/blobs/uploads/\(progress.id)",
            .range: "0-\(max(0, progress.offset - 1))",
            .dockerUploadUUID: progress.id,
        ]
    }

    private func blobCreatedHeaders(_ target: RepositoryTarget, _ digest: Digest) -> HTTPFields {
        [.location: "/v2/\(target.urlName)/blobs/\(digest)", .dockerContentDigest: digest.description]
    }

    /// `POST …/blobs/uploads/`: a mount, a monolithic upload (`?digest=`), or a new session.
    ///
    /// A mount needs `from`, pull on it, and the blob linked there: a repository is a boundary, so a mount must
    /// never read (or reveal) what another repository holds. Anything else starts a normal session (`202`), as
    /// distribution answers a mount it cannot do.
    private func startUpload(_ target: RepositoryTarget) async throws -> Response {
        if let mountText = query.get("mount"), let from = query.get("from") {
            let digest = try parseDigest(mountText)
            try await authorize(scope: (from, ["pull"]))
            let source = try resolve(from, principal: target.principal)
            // A read-locked repository's blobs are not mounted elsewhere, where they could be pulled.
            let sourceReadable = try await api.lockStore?.locks(registry: source.registry, repository: source.repository.value).repository.readEnabled ?? true
            if source.registry == target.registry, sourceReadable,
               try await registry.mountBlob(registry: target.registry, repository: target.repository, digest: digest, from: source.repository) {
                return respond(.created, headers: blobCreatedHeaders(target, digest))
            }
            return try await startUploadSession(target)
        }
        if let digestText = query.get("digest") {
            let digest = try parseDigest(digestText)
            let record = try await uploadRate.run(body: body.sequence) { [registry] body in
                try await registry.uploadBlob(registry: target.registry, repository: target.repository, digest: digest,
                                              principal: target.principal, body: body)
            }
            return respond(.created, headers: blobCreatedHeaders(target, record.digest))
        }
        return try await startUploadSession(target)
    }

    private func startUploadSession(_ target: RepositoryTarget) async throws -> Response {
        let progress = try await registry.startUpload(registry: target.registry, repository: target.repository, principal: target.principal)
        var headers = uploadHeaders(target, progress)
        headers[.ociChunkMinLength] = String(registry.configuration.segmentSize)
        return respond(.accepted, headers: headers)
    }

    /// The range a chunk's `Content-Range: <start>-<end>` claims, if any; it must agree with `Content-Length`.
    private func chunkRange() throws -> ChunkRange? {
        guard let header = request.headers[.contentRange] else { return nil }
        guard let range = ChunkRange(header: header) else {
            throw RegistryError(.blobUploadInvalid, "malformed Content-Range \"\(header.prefix(100))\"; use <start>-<end>")
        }
        if let lengthText = request.headers[.contentLength], decimal(lengthText) != range.length {
            throw RegistryError(.blobUploadInvalid, "Content-Range \"\(header.prefix(100))\" announces \(range.length) bytes but Content-Length is \(lengthText.prefix(20))")
        }
        return range
    }

    private func patchUpload(_ target: RepositoryTarget, _ id: String) async throws -> Response {
        let chunk = try chunkRange()
        do {
            let progress = try await uploadRate.run(body: body.sequence) { [registry] body in
                try await registry.appendToUpload(
                    registry: target.registry, repository: target.repository, id: id, expectedOffset: chunk?.start, expectedLength: chunk?.length,
                    body: body
                )
            }
            return respond(.accepted, headers: uploadHeaders(target, progress))
        } catch let error as RegistryError where error.code == .uploadOutOfOrder {
            throw outOfOrder(error, target, id)
        }
    }

    /// A 416 for an out-of-order chunk tells the client where the upload stands and where to send the next one.
    private func outOfOrder(_ error: RegistryError, _ target: RepositoryTarget, _ id: String) -> DistributionErrorResponse {
        var headers: HTTPFields = [.location: "/v2/\(target.urlName)/blobs/uploads/\(id)", .dockerUploadUUID: id]
        if let offset = error.detail["offset"].flatMap(Int64.init) { headers[.range] = "0-\(max(0, offset - 1))" }
        return DistributionErrorResponse(error, headers: headers)
    }

    private func completeUpload(_ target: RepositoryTarget, _ id: String) async throws -> Response {
        guard let digestText = query.get("digest") else {
            throw RegistryError(.digestInvalid, "the digest query parameter is required to complete an upload")
        }
        let digest = try parseDigest(digestText)
        let chunk = try chunkRange()
        do {
            let record = try await uploadRate.run(body: body.sequence) { [registry] body in
                try await registry.completeUpload(
                    registry: target.registry, repository: target.repository, id: id, digest: digest,
                    expectedOffset: chunk?.start, expectedLength: chunk?.length, body: body
                )
            }
            return respond(.created, headers: blobCreatedHeaders(target, record.digest))
        } catch let error as RegistryError where error.code == .uploadOutOfOrder {
            throw outOfOrder(error, target, id)
        }
    }

    // MARK: responses

    private static var json: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    private func respond(_ status: HTTPResponse.Status, json: Data? = nil, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.dockerDistributionAPIVersion] = "registry/2.0"
        guard let json else {
            fields[.contentLength] = "0"
            return Response(status: status, headers: fields, body: .init())
        }
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: json)))
    }
}

private struct TagList: Encodable {
    let name: String
    let tags: [String]
}

private struct ReferrersIndex: Encodable {
    var schemaVersion = 2
    var mediaType = MediaTypes.ociIndex
    let manifests: [Descriptor]
}
