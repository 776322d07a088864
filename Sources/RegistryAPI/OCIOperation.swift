import HTTPTypes

/// What each distribution endpoint and method needs from the bearer token: the data plane's one table of
/// authorization. ``Exchange`` looks every request up here before it does anything, so an endpoint or method
/// without an entry is refused (405), and the authorization matrix test is generated from this list.
struct OCIOperation: Sendable, Equatable {
    enum Endpoint: String, Sendable, CaseIterable {
        case base, catalog, tags, manifest, blob, startUpload, upload, referrers
        case acrCatalog, acrRepository, acrTags, acrTag, acrManifests, acrManifest

        /// The endpoint's path template, for access logs and metrics.
        var template: String {
            switch self {
            case .base: "/v2/"
            case .catalog: "/v2/_catalog"
            case .tags: "/v2/{name}/tags/list"
            case .manifest: "/v2/{name}/manifests/{reference}"
            case .blob: "/v2/{name}/blobs/{digest}"
            case .startUpload: "/v2/{name}/blobs/uploads/"
            case .upload: "/v2/{name}/blobs/uploads/{id}"
            case .referrers: "/v2/{name}/referrers/{digest}"
            case .acrCatalog: "/acr/v1/_catalog"
            case .acrRepository: "/acr/v1/{name}"
            case .acrTags: "/acr/v1/{name}/_tags"
            case .acrTag: "/acr/v1/{name}/_tags/{tag}"
            case .acrManifests: "/acr/v1/{name}/_manifests"
            case .acrManifest: "/acr/v1/{name}/_manifests/{reference}"
            }
        }
    }

    enum Requirement: Sendable, Equatable {
        /// Any valid token for this service (the `/v2/` check clients make first).
        case anyValidToken
        /// The `registry:catalog:*` grant.
        case catalog
        /// These actions on the repository the path names. A mount needs pull on its `from` repository as well.
        case repository([String])
    }

    let endpoint: Endpoint
    let method: HTTPRequest.Method
    let requirement: Requirement

    static let all: [OCIOperation] = [
        OCIOperation(endpoint: .base, method: .get, requirement: .anyValidToken),
        OCIOperation(endpoint: .base, method: .head, requirement: .anyValidToken),
        OCIOperation(endpoint: .catalog, method: .get, requirement: .catalog),
        OCIOperation(endpoint: .tags, method: .get, requirement: .repository(["pull"])),
        OCIOperation(endpoint: .manifest, method: .get, requirement: .repository(["pull"])),
        OCIOperation(endpoint: .manifest, method: .head, requirement: .repository(["pull"])),
        OCIOperation(endpoint: .manifest, method: .put, requirement: .repository(["push"])),
        OCIOperation(endpoint: .manifest, method: .delete, requirement: .repository(["delete"])),
        OCIOperation(endpoint: .blob, method: .get, requirement: .repository(["pull"])),
        OCIOperation(endpoint: .blob, method: .head, requirement: .repository(["pull"])),
        OCIOperation(endpoint: .blob, method: .delete, requirement: .repository(["delete"])),
        OCIOperation(endpoint: .startUpload, method: .post, requirement: .repository(["push"])),
        OCIOperation(endpoint: .upload, method: .get, requirement: .repository(["push"])),
        OCIOperation(endpoint: .upload, method: .patch, requirement: .repository(["push"])),
        OCIOperation(endpoint: .upload, method: .put, requirement: .repository(["push"])),
        OCIOperation(endpoint: .upload, method: .delete, requirement: .repository(["push"])),
        OCIOperation(endpoint: .referrers, method: .get, requirement: .repository(["pull"])),
        OCIOperation(endpoint: .acrCatalog, method: .get, requirement: .catalog),
        OCIOperation(endpoint: .acrRepository, method: .get, requirement: .repository(["metadata_read"])),
        OCIOperation(endpoint: .acrRepository, method: .delete, requirement: .repository(["delete"])),
        OCIOperation(endpoint: .acrTags, method: .get, requirement: .repository(["metadata_read"])),
        OCIOperation(endpoint: .acrTag, method: .get, requirement: .repository(["metadata_read"])),
        OCIOperation(endpoint: .acrTag, method: .delete, requirement: .repository(["delete"])),
        OCIOperation(endpoint: .acrManifests, method: .get, requirement: .repository(["metadata_read"])),
        OCIOperation(endpoint: .acrManifest, method: .get, requirement: .repository(["metadata_read"])),
        OCIOperation(endpoint: .acrManifest, method: .delete, requirement: .repository(["delete"])),
        // ACR's changeable attributes (`az acr repository update`), with `metadata_write`.
        OCIOperation(endpoint: .acrRepository, method: .patch, requirement: .repository(["metadata_write"])),
        OCIOperation(endpoint: .acrTag, method: .patch, requirement: .repository(["metadata_write"])),
        OCIOperation(endpoint: .acrManifest, method: .patch, requirement: .repository(["metadata_write"])),
    ]

    static func find(_ endpoint: Endpoint, _ method: HTTPRequest.Method) -> OCIOperation? {
        all.first { $0.endpoint == endpoint && $0.method == method }
    }
}

extension OCIRoute {
    var endpoint: OCIOperation.Endpoint {
        switch self {
        case .base: .base
        case .catalog: .catalog
        case .tags: .tags
        case .manifest: .manifest
        case .blob: .blob
        case .startUpload: .startUpload
        case .upload: .upload
        case .referrers: .referrers
        case .acrCatalog: .acrCatalog
        case .acrRepository: .acrRepository
        case .acrTags: .acrTags
        case .acrTag: .acrTag
        case .acrManifests: .acrManifests
        case .acrManifest: .acrManifest
        }
    }

    /// The repository name as the URL writes it; nil for the endpoints that name none.
    var repositoryName: String? {
        switch self {
        case .base, .catalog, .acrCatalog: nil
        case .tags(let name), .manifest(let name, _), .blob(let name, _), .startUpload(let name), .upload(let name, _), .referrers(let name, _): name
        case .acrRepository(let name), .acrTags(let name), .acrTag(let name, _), .acrManifests(let name), .acrManifest(let name, _): name
        }
    }
}
