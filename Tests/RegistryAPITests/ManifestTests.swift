import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import OCIModels
import Testing

/// Pushes a config and a layer and returns an image manifest referencing them.
func pushImage(_ client: some TestClientProtocol, token: String, repository: String = "coffer/app",
               artifactType: String? = nil, subject: (digest: String, size: Int)? = nil, layer: [UInt8]? = nil) async throws -> [UInt8] {
    let config = Array("{\"architecture\":\"amd64\",\"os\":\"linux\"}".utf8)
    let layerBytes = layer ?? randomBytes(1000)
    for blob in [config, layerBytes] {
        let response = try await client.send(.post, "/v2/\(repository)/blobs/uploads/?digest=\(sha256(blob))", token: token, body: blob)
        #expect(response.status == .created)
    }
    var manifest: [String: Any] = [
        "schemaVersion": 2, "mediaType": MediaTypes.ociManifest,
        "config": ["mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config), "size": config.count],
        "layers": [["mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(layerBytes), "size": layerBytes.count]],
    ]
    if let artifactType { manifest["artifactType"] = artifactType }
    if let subject { manifest["subject"] = ["mediaType": MediaTypes.ociManifest, "digest": subject.digest, "size": subject.size] }
    return Array(try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys]))
}

@Suite struct ManifestTests {
    static let scopes = ["repository:coffer/app:pull,push,delete", "registry:catalog:*", "repository:coffer/zzz:pull,push"]
    let ociType: HTTPFields = [.contentType: MediaTypes.ociManifest]

    @Test func putGetHeadByTagAndDigest() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let manifest = try await pushImage(client, token: token)
            let digest = sha256(manifest)
            let put = try await client.send(.put, "/v2/coffer/app/manifests/v1", token: token, headers: ociType, body: manifest)
            #expect(put.status == .created)
            #expect(put.headers[.location] == "/v2/coffer/app/manifests/\(digest)")
            #expect(put.headers[HTTPField.Name("Docker-Content-Digest")!] == digest)
            for reference in ["v1", digest] {
                let get = try await client.send(.get, "/v2/coffer/app/manifests/\(reference)", token: token)
                #expect(get.status == .ok)
                #expect(get.headers[.contentType] == MediaTypes.ociManifest)
                #expect(Array(get.body.readableBytesView) == manifest)
                let head = try await client.send(.head, "/v2/coffer/app/manifests/\(reference)", token: token)
                #expect(head.status == .ok)
                #expect(head.headers[.contentLength] == String(manifest.count))
                #expect(head.headers[HTTPField.Name("Docker-Content-Digest")!] == digest)
            }
            let byDigest = try await client.send(.put, "/v2/coffer/app/manifests/\(digest)", token: token, headers: ociType, body: manifest)
            #expect(byDigest.status == .created)
            let wrongDigest = try await client.send(.put, "/v2/coffer/app/manifests/\(sha256([1]))", token: token, headers: ociType, body: manifest)
            #expect(errorCode(wrongDigest) == "DIGEST_INVALID")
            let unknown = try await client.send(.get, "/v2/coffer/app/manifests/nope", token: token)
            #expect(unknown.status == .notFound)
            #expect(errorCode(unknown) == "MANIFEST_UNKNOWN")
        }
    }

    @Test func invalidManifestsAreRefusedWithSpecCodes() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let missingBlob: [String: Any] = [
                "schemaVersion": 2, "mediaType": MediaTypes.ociManifest,
                "config": ["mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256([9]), "size": 1],
                "layers": [],
            ]
            let body = Array(try JSONSerialization.data(withJSONObject: missingBlob))
            let refused = try await client.send(.put, "/v2/coffer/app/manifests/v1", token: token, headers: ociType, body: body)
            #expect(refused.status == .badRequest)
            #expect(errorCode(refused) == "MANIFEST_BLOB_UNKNOWN")
            // Its content was stored before the records refused it (references are checked in the records' own
            // transaction); it was removed again. The same document with its blob present is stored, as a control.
            let refusedDigest = try Digest(parsing: sha256(body))
            #expect(try await fixture.objectKeys(registry: "coffer", digest: refusedDigest).isEmpty)
            let garbage = try await client.send(.put, "/v2/coffer/app/manifests/v1", token: token, headers: ociType, body: Array("{nope".utf8))
            #expect(errorCode(garbage) == "MANIFEST_INVALID")
            let badTag = try await client.send(.put, "/v2/coffer/app/manifests/-bad", token: token, headers: ociType, body: body)
            #expect(badTag.status == .badRequest)
            let huge = try await client.send(.put, "/v2/coffer/app/manifests/v1", token: token, headers: ociType,
                                             body: [UInt8](repeating: 0x20, count: ParsedManifest.maximumSize + 10))
            #expect(huge.status == .contentTooLarge)
            #expect(errorCode(huge) == "SIZE_INVALID")
            let index: [String: Any] = [
                "schemaVersion": 2, "mediaType": MediaTypes.ociIndex,
                "manifests": [["mediaType": MediaTypes.ociManifest, "digest": sha256([7]), "size": 1]],
            ]
            let dangling = try await client.send(.put, "/v2/coffer/app/manifests/idx", token: token, headers: [.contentType: MediaTypes.ociIndex],
                                                 body: Array(try JSONSerialization.data(withJSONObject: index)))
            #expect(errorCode(dangling) == "MANIFEST_BLOB_UNKNOWN")
            // Nothing was tagged by any of the refused pushes.
            let tags = try await client.send(.get, "/v2/coffer/app/tags/list", token: token)
            #expect(errorCode(tags) == "NAME_UNKNOWN")
            #expect(try await client.send(.post, "/v2/coffer/app/blobs/uploads/?digest=\(sha256([9]))", token: token, body: [9]).status == .created)
            #expect(try await client.send(.put, "/v2/coffer/app/manifests/v1", token: token, headers: ociType, body: body).status == .created)
            #expect(try await fixture.objectKeys(registry: "coffer", digest: refusedDigest).count == 1)
        }
    }

    @Test func tagListPaginatesWithLink() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let manifest = try await pushImage(client, token: token)
            for tag in ["c", "a", "b", "d"] {
                #expect(try await client.send(.put, "/v2/coffer/app/manifests/\(tag)", token: token, headers: ociType, body: manifest).status == .created)
            }
            let all = try await client.send(.get, "/v2/coffer/app/tags/list", token: token)
            #expect(String(buffer: all.body) == "{\"name\":\"coffer/app\",\"tags\":[\"a\",\"b\",\"c\",\"d\"]}")
            let page = try await client.send(.get, "/v2/coffer/app/tags/list?n=2", token: token)
            #expect(String(buffer: page.body).contains("[\"a\",\"b\"]"))
            #expect(page.headers[HTTPField.Name("Link")!] == "</v2/coffer/app/tags/list?n=2&last=b>; rel=\"next\"")
            let next = try await client.send(.get, "/v2/coffer/app/tags/list?n=2&last=b", token: token)
            #expect(String(buffer: next.body).contains("[\"c\",\"d\"]"))
            #expect(next.headers[HTTPField.Name("Link")!] == nil)
            let unknownRepository = try await client.send(.get, "/v2/coffer/zzz/tags/list", token: token)
            #expect(errorCode(unknownRepository) == "NAME_UNKNOWN")

            let catalog = try await client.send(.get, "/v2/_catalog?n=1", token: token)
            #expect(String(buffer: catalog.body) == "{\"repositories\":[\"coffer/app\"]}")
        }
    }

    @Test func deleteTagThenManifest() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let manifest = try await pushImage(client, token: token)
            let digest = sha256(manifest)
            _ = try await client.send(.put, "/v2/coffer/app/manifests/v1", token: token, headers: ociType, body: manifest)
            _ = try await client.send(.put, "/v2/coffer/app/manifests/v2", token: token, headers: ociType, body: manifest)
            #expect(try await client.send(.delete, "/v2/coffer/app/manifests/v1", token: token).status == .accepted)
            #expect(try await client.send(.get, "/v2/coffer/app/manifests/v1", token: token).status == .notFound)
            #expect(try await client.send(.get, "/v2/coffer/app/manifests/v2", token: token).status == .ok)
            #expect(try await client.send(.delete, "/v2/coffer/app/manifests/\(digest)", token: token).status == .accepted)
            #expect(try await client.send(.get, "/v2/coffer/app/manifests/v2", token: token).status == .notFound)
            #expect(try await client.send(.delete, "/v2/coffer/app/manifests/\(digest)", token: token).status == .notFound)
        }
    }

    @Test func referrersListSubjectsAndFilter() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let image = try await pushImage(client, token: token)
            let imageDigest = sha256(image)
            // Referrers may be pushed before their subject exists.
            let signature = try await pushImage(client, token: token, artifactType: "application/vnd.example.signature",
                                                subject: (imageDigest, image.count))
            let put = try await client.send(.put, "/v2/coffer/app/manifests/\(sha256(signature))", token: token, headers: ociType, body: signature)
            #expect(put.status == .created)
            #expect(put.headers[HTTPField.Name("OCI-Subject")!] == imageDigest)
            let sbom = try await pushImage(client, token: token, artifactType: "application/vnd.example.sbom", subject: (imageDigest, image.count))
            _ = try await client.send(.put, "/v2/coffer/app/manifests/\(sha256(sbom))", token: token, headers: ociType, body: sbom)
            _ = try await client.send(.put, "/v2/coffer/app/manifests/v1", token: token, headers: ociType, body: image)

            let all = try await client.send(.get, "/v2/coffer/app/referrers/\(imageDigest)", token: token)
            #expect(all.status == .ok)
            #expect(all.headers[.contentType] == MediaTypes.ociIndex)
            let index = try JSONSerialization.jsonObject(with: Data(buffer: all.body)) as? [String: Any]
            let manifests = index?["manifests"] as? [[String: Any]] ?? []
            #expect(Set(manifests.compactMap { $0["artifactType"] as? String }) == ["application/vnd.example.signature", "application/vnd.example.sbom"])
            #expect(Set(manifests.compactMap { $0["digest"] as? String }) == [sha256(signature), sha256(sbom)])

            let filtered = try await client.send(.get, "/v2/coffer/app/referrers/\(imageDigest)?artifactType=application/vnd.example.sbom", token: token)
            #expect(filtered.headers[HTTPField.Name("OCI-Filters-Applied")!] == "artifactType")
            let filteredIndex = try JSONSerialization.jsonObject(with: Data(buffer: filtered.body)) as? [String: Any]
            #expect((filteredIndex?["manifests"] as? [[String: Any]])?.count == 1)

            let none = try await client.send(.get, "/v2/coffer/app/referrers/\(sha256([0]))", token: token)
            #expect(none.status == .ok)
            #expect(String(buffer: none.body).contains("\"manifests\":[]"))
        }
    }
}
