import Testing
@testable import RegistryAPI

@Suite struct OCIRouteTests {
    @Test func parsesEveryEndpoint() {
        let digest = "sha256:" + String(repeating: "a", count: 64)
        #expect(OCIRoute(path: "/v2/") == .base)
        #expect(OCIRoute(path: "/v2") == .base)
        #expect(OCIRoute(path: "/v2/_catalog") == .catalog)
        #expect(OCIRoute(path: "/v2/coffer/app/tags/list") == .tags(name: "coffer/app"))
        #expect(OCIRoute(path: "/v2/a/b/c/manifests/v1") == .manifest(name: "a/b/c", reference: "v1"))
        #expect(OCIRoute(path: "/v2/app/manifests/\(digest)") == .manifest(name: "app", reference: digest))
        #expect(OCIRoute(path: "/v2/app/blobs/\(digest)") == .blob(name: "app", digest: digest))
        #expect(OCIRoute(path: "/v2/app/blobs/uploads/") == .startUpload(name: "app"))
        #expect(OCIRoute(path: "/v2/app/blobs/uploads") == .startUpload(name: "app"))
        #expect(OCIRoute(path: "/v2/app/blobs/uploads/1234-abcd") == .upload(name: "app", id: "1234-abcd"))
        #expect(OCIRoute(path: "/v2/app/referrers/\(digest)") == .referrers(name: "app", digest: digest))
    }

    @Test func namesMayContainEndpointWords() {
        #expect(OCIRoute(path: "/v2/manifests/tags/manifests/v1") == .manifest(name: "manifests/tags", reference: "v1"))
        #expect(OCIRoute(path: "/v2/blobs/app/blobs/uploads/") == .startUpload(name: "blobs/app"))
    }

    @Test func unknownPathsAreNotRoutes() {
        #expect(OCIRoute(path: "/v3/") == nil)
        #expect(OCIRoute(path: "/v2/app/unknown") == nil)
        #expect(OCIRoute(path: "/v2x") == nil)
    }
}
