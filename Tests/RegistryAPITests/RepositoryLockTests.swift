import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import OCIModels
import Testing

/// ACR's changeable attributes (`az acr repository update`): a tag, a manifest or a whole repository locked against
/// writing, deleting, reading or listing, through `PATCH /acr/v1/…`, and every data call held to them.
@Suite struct RepositoryLockTests {
    static let scopes = ["repository:coffer/locked:pull,push,delete,metadata_read,metadata_write", "registry:catalog:*"]
    let ociType: HTTPFields = [.contentType: MediaTypes.ociManifest]

    func patch(_ client: some TestClientProtocol, _ path: String, token: String, _ body: String) async throws -> TestResponse {
        try await client.send(.patch, "/acr/v1/coffer/locked\(path)", token: token, headers: [.contentType: "application/json"], body: Array(body.utf8))
    }

    func attributes(_ response: TestResponse, _ key: String?) throws -> [String: Bool] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
        let holder = try #require((key.map { object[$0] } ?? object) as? [String: Any])
        return try #require(holder["changeableAttributes"] as? [String: Bool])
    }

    @Test func locksHoldOnEveryDataCallAndLiftAgain() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let manifest = try await pushImage(client, token: token, repository: "coffer/locked")
            let digest = sha256(manifest)
            #expect(try await client.send(.put, "/v2/coffer/locked/manifests/v1", token: token, headers: ociType, body: manifest).status == .created)
            #expect(try await client.send(.put, "/v2/coffer/locked/manifests/v2", token: token, headers: ociType, body: manifest).status == .created)

            // A tag locked against writing: it cannot be moved or deleted; another tag can.
            let locked = try await patch(client, "/_tags/v1", token: token, #"{"writeEnabled":false}"#)
            #expect(locked.status == .ok)
            #expect(try attributes(locked, "tag") == ["deleteEnabled": true, "writeEnabled": false, "readEnabled": true, "listEnabled": true])
            let other = try await pushImage(client, token: token, repository: "coffer/locked", layer: randomBytes(500))
            let moved = try await client.send(.put, "/v2/coffer/locked/manifests/v1", token: token, headers: ociType, body: other)
            #expect(moved.status == .forbidden && errorCode(moved) == "DENIED")
            #expect(try await client.send(.delete, "/v2/coffer/locked/manifests/v1", token: token).status == .forbidden)
            #expect(try await client.send(.delete, "/acr/v1/coffer/locked/_tags/v1", token: token).status == .forbidden)
            // Its manifest cannot go either (that would take the tag), and the repository cannot.
            #expect(try await client.send(.delete, "/v2/coffer/locked/manifests/\(digest)", token: token).status == .forbidden)
            #expect(try await client.send(.delete, "/acr/v1/coffer/locked", token: token).status == .forbidden)
            #expect(try await client.send(.put, "/v2/coffer/locked/manifests/v3", token: token, headers: ociType, body: other).status == .created)
            #expect(try await client.send(.get, "/v2/coffer/locked/manifests/v1", token: token).status == .ok)

            // Read- and list-locked manifest and tag.
            #expect(try await patch(client, "/_manifests/\(digest)", token: token, #"{"readEnabled":false}"#).status == .ok)
            let unreadable = try await client.send(.get, "/v2/coffer/locked/manifests/v2", token: token)  // a tag of that manifest
            #expect(unreadable.status == .forbidden && errorCode(unreadable) == "DENIED")
            #expect(try await client.send(.head, "/v2/coffer/locked/manifests/\(digest)", token: token).status == .forbidden)
            #expect(try await patch(client, "/_tags/v3", token: token, #"{"listEnabled":false}"#).status == .ok)
            let tags = try await client.send(.get, "/v2/coffer/locked/tags/list", token: token)
            #expect(String(buffer: tags.body).contains("v1") && !String(buffer: tags.body).contains("v3"))

            // The whole repository: no pushes, no pulls, not in the catalog.
            #expect(try await patch(client, "", token: token, #"{"writeEnabled":false,"readEnabled":false,"listEnabled":false}"#).status == .ok)
            let upload = try await client.send(.post, "/v2/coffer/locked/blobs/uploads/", token: token)
            #expect(upload.status == .forbidden && errorCode(upload) == "DENIED")
            #expect(try await client.send(.get, "/v2/coffer/locked/blobs/\(digest)", token: token).status == .forbidden)
            #expect(!String(buffer: try await client.send(.get, "/v2/_catalog", token: token).body).contains("coffer/locked"))
            let shown = try await client.send(.get, "/acr/v1/coffer/locked", token: token)
            #expect(try attributes(shown, nil) == ["deleteEnabled": true, "writeEnabled": false, "readEnabled": false, "listEnabled": false])

            // Lifted: everything works again, and deleting the tag forgets its attributes.
            #expect(try await patch(client, "", token: token, #"{"writeEnabled":true,"readEnabled":true,"listEnabled":true}"#).status == .ok)
            #expect(try await patch(client, "/_tags/v1", token: token, #"{"writeEnabled":true}"#).status == .ok)
            #expect(try await patch(client, "/_manifests/\(digest)", token: token, #"{"readEnabled":true}"#).status == .ok)
            #expect(try await client.send(.get, "/v2/coffer/locked/manifests/v2", token: token).status == .ok)
            #expect(try await client.send(.put, "/v2/coffer/locked/manifests/v1", token: token, headers: ociType, body: other).status == .created)
            #expect(String(buffer: try await client.send(.get, "/v2/_catalog", token: token).body).contains("coffer/locked"))

            // A body that is not the four booleans, and a tag that does not exist.
            #expect(try await patch(client, "", token: token, #"{"writeEnabled":"no"}"#).status == .badRequest)
            #expect(try await patch(client, "/_tags/nope", token: token, #"{"writeEnabled":false}"#).status == .notFound)
        }
    }

    @Test func changingAttributesTakesMetadataWrite() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let pusher = try await client.token(fixture, scopes: Self.scopes)
            let manifest = try await pushImage(client, token: pusher, repository: "coffer/locked")
            #expect(try await client.send(.put, "/v2/coffer/locked/manifests/v1", token: pusher, headers: ociType, body: manifest).status == .created)
            let reader = try await client.token(fixture, scopes: ["repository:coffer/locked:pull,metadata_read"])
            let refused = try await patch(client, "/_tags/v1", token: reader, #"{"writeEnabled":false}"#)
            #expect(refused.status == .forbidden || refused.status == .unauthorized)
            #expect(try await client.send(.put, "/v2/coffer/locked/manifests/v1", token: pusher, headers: ociType, body: manifest).status == .created)
        }
    }

    @Test func noWayAroundALock() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes + ["repository:coffer/elsewhere:pull,push"])
            let layer = randomBytes(700)
            let manifest = try await pushImage(client, token: token, repository: "coffer/locked", layer: layer)
            let digest = sha256(manifest)
            for tag in ["a", "b", "c"] {
                #expect(try await client.send(.put, "/v2/coffer/locked/manifests/\(tag)", token: token, headers: ociType, body: manifest).status == .created)
            }
            // A layer of a locked image is not deleted on its own.
            #expect(try await patch(client, "/_tags/a", token: token, #"{"deleteEnabled":false}"#).status == .ok)
            #expect(try await client.send(.delete, "/v2/coffer/locked/blobs/\(sha256(layer))", token: token).status == .forbidden)
            // A read-locked repository's blobs are not mounted elsewhere (a plain upload session starts instead).
            #expect(try await patch(client, "", token: token, #"{"readEnabled":false}"#).status == .ok)
            let mount = try await client.send(.post, "/v2/coffer/elsewhere/blobs/uploads/?mount=\(sha256(layer))&from=coffer/locked", token: token)
            #expect(mount.status == .accepted)
            #expect(try await patch(client, "", token: token, #"{"readEnabled":true}"#).status == .ok)
            // A page of tags is full when more follow, whatever is unlisted.
            #expect(try await patch(client, "/_tags/a", token: token, #"{"deleteEnabled":true,"listEnabled":false}"#).status == .ok)
            let page = try await client.send(.get, "/v2/coffer/locked/tags/list?n=1", token: token)
            #expect(String(buffer: page.body).contains("\"b\"") && page.headers[HTTPField.Name("Link")!] != nil, "\(String(buffer: page.body))")
            // Deleting the manifest by digest takes its tags' attributes with it: the tag pushed again is listed.
            #expect(try await client.send(.delete, "/v2/coffer/locked/manifests/\(digest)", token: token).status == .accepted)
            #expect(try await client.send(.put, "/v2/coffer/locked/manifests/a", token: token, headers: ociType, body: manifest).status == .created)
            #expect(String(buffer: try await client.send(.get, "/v2/coffer/locked/tags/list", token: token).body).contains("\"a\""))
        }
    }
}
