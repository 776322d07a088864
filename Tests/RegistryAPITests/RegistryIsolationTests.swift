import Envelope
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import OCIModels
import Testing

@Suite struct RegistryIsolationTests {
    @Test(.enabled(if: Fixture.onFilesystem, "reads or damages object files on disk")) func registriesKeepSeparateKeysAndNeverShareObjects() async throws {
        let fixture = try await Fixture.make()
        try await fixture.server.registry.createRegistry(name: "second", keyWrapperID: ServiceManagedKeyWrapper.identifier)
        let blob = randomBytes(10_000)
        let digest = try Digest(parsing: sha256(blob))
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: ["repository:coffer/app:pull,push", "repository:second/app:pull,push"])
            #expect(try await client.send(.post, "/v2/coffer/app/blobs/uploads/?digest=\(digest)", token: token, body: blob).status == .created)
            // Mounting across registries is refused (their keys differ): a fresh upload session starts instead.
            let mount = try await client.send(.post, "/v2/second/app/blobs/uploads/?mount=\(digest)&from=coffer/app", token: token)
            #expect(mount.status == .accepted)
            #expect(try await client.send(.head, "/v2/second/app/blobs/\(digest)", token: token).status == .notFound)
            #expect(try await client.send(.post, "/v2/second/app/blobs/uploads/?digest=\(digest)", token: token, body: blob).status == .created)
            let read = try await client.send(.get, "/v2/second/app/blobs/\(digest)", token: token)
            #expect(Array(read.body.readableBytesView) == blob)
        }
        let secondPath = try fixture.objectPath(registry: "second", digest: digest)
        let first = try Data(contentsOf: URL(fileURLWithPath: try fixture.objectPath(registry: "coffer", digest: digest)))
        let second = try Data(contentsOf: URL(fileURLWithPath: secondPath))
        #expect(first != second)
        // An object moved from one registry into the other does not open there.
        try first.write(to: URL(fileURLWithPath: secondPath))
        let reopened = try await Fixture.make(dataDirectory: fixture.dataDirectory)
        try await reopened.test { client in
            let token = try await client.token(reopened, scopes: ["repository:second/app:pull"])
            let swapped = try await client.send(.get, "/v2/second/app/blobs/\(digest)", token: token)
            #expect(swapped.status == .internalServerError)
        }
    }

    @Test func dockerManifestListAndSchema2() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: ["repository:coffer/app:pull,push"])
            let config = Array("{\"architecture\":\"arm64\"}".utf8)
            let layer = randomBytes(500)
            for blob in [config, layer] {
                _ = try await client.send(.post, "/v2/coffer/app/blobs/uploads/?digest=\(sha256(blob))", token: token, body: blob)
            }
            let manifest = Array(try JSONSerialization.data(withJSONObject: [
                "schemaVersion": 2, "mediaType": MediaTypes.dockerManifest,
                "config": ["mediaType": "application/vnd.docker.container.image.v1+json", "digest": sha256(config), "size": config.count],
                "layers": [["mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": sha256(layer), "size": layer.count]],
            ] as [String: Any]))
            let put = try await client.send(.put, "/v2/coffer/app/manifests/arm64", token: token,
                                            headers: [.contentType: MediaTypes.dockerManifest], body: manifest)
            #expect(put.status == .created)
            let list = Array(try JSONSerialization.data(withJSONObject: [
                "schemaVersion": 2, "mediaType": MediaTypes.dockerManifestList,
                "manifests": [["mediaType": MediaTypes.dockerManifest, "digest": sha256(manifest), "size": manifest.count,
                               "platform": ["architecture": "arm64", "os": "linux"]]],
            ] as [String: Any]))
            let putList = try await client.send(.put, "/v2/coffer/app/manifests/latest", token: token,
                                                headers: [.contentType: MediaTypes.dockerManifestList], body: list)
            #expect(putList.status == .created)
            let get = try await client.send(.get, "/v2/coffer/app/manifests/latest", token: token)
            #expect(get.headers[.contentType] == MediaTypes.dockerManifestList)
            #expect(Array(get.body.readableBytesView) == list)
        }
    }
}
