import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import OCIModels
import RegistryService
import Testing

/// Regression tests for what a client holding an ordinary push token tried against the data plane: requests
/// that crashed the server, mounts that crossed repositories, documents read differently by other clients,
/// and resources without bounds. Each test fails on the code before its fix.
@Suite struct HostileClientTests {
    static let scopes = ["repository:coffer/ci:pull,push,delete"]

    @Test func malformedContentRangesAreClientErrors() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let started = try await client.send(.post, "/v2/coffer/ci/blobs/uploads/", token: token)
            let location = try #require(started.headers[.location])
            for header in ["0-/", "/", "-", "0-", "a-b", "1-0-0", "bytes 0-/5", "99999999999999999999-1", "5-3", "0-1/x", "0 -1"] {
                let patched = try await client.send(.patch, location, token: token, headers: [.contentRange: header], body: [1, 2])
                #expect(patched.status == .badRequest, "PATCH with Content-Range \"\(header)\"")
                #expect(errorCode(patched) == "BLOB_UPLOAD_INVALID")
                let completed = try await client.send(.put, "\(location)?digest=\(sha256([1, 2]))", token: token,
                                                      headers: [.contentRange: header], body: [1, 2])
                #expect(completed.status == .badRequest, "PUT with Content-Range \"\(header)\"")
            }
            // The server is still there, and the upload untouched.
            let status = try await client.send(.get, location, token: token)
            #expect(status.status == .noContent)
            #expect(status.headers[.range] == "0-0")
            // The forms clients send still work: with and without `bytes `, with a total.
            let first = try await client.send(.patch, location, token: token, headers: [.contentRange: "bytes 0-1/*"], body: [1, 2])
            #expect(first.status == .accepted)
            let second = try await client.send(.patch, location, token: token, headers: [.contentRange: "2-3/4"], body: [3, 4])
            #expect(second.status == .accepted)
            #expect(second.headers[.range] == "0-3")
        }
    }

    @Test func aChunkMustHoldWhatItsContentRangeAnnounces() async throws {
        let fixture = try await Fixture.make()
        // Only the body tells (a chunked request has no Content-Length): the upload is cancelled, since its staging
        // already moved on. The in-process client always sends a Content-Length, so the service is called directly.
        let repository = try RepositoryName("ci")
        for (range, size) in [(100, 50), (10, 50)] {
            let upload = try await fixture.server.registry.startUpload(registry: "coffer", repository: repository)
            let refusal = await #expect(throws: RegistryError.self) {
                try await fixture.server.registry.appendToUpload(registry: "coffer", repository: repository, id: upload.id, expectedOffset: 0,
                                                                 expectedLength: Int64(range), body: SharedStorageTests.Chunks(bytes: randomBytes(size)))
            }
            #expect(refusal?.code == .blobUploadInvalid)
            await #expect(throws: RegistryError(.blobUploadUnknown, "upload \(upload.id) is not known in this repository")) {
                try await fixture.server.registry.uploadProgress(registry: "coffer", repository: repository, id: upload.id)
            }
        }
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let location = try #require(try await client.send(.post, "/v2/coffer/ci/blobs/uploads/", token: token).headers[.location])
            // Announced by Content-Length too: refused before anything is written, the upload goes on.
            let declared = try await client.send(.patch, location, token: token,
                                                 headers: [.contentRange: "0-99", .contentLength: "50"], body: randomBytes(50))
            #expect(declared.status == .badRequest)
            #expect(errorCode(declared) == "BLOB_UPLOAD_INVALID")
            #expect(try await client.send(.get, location, token: token).headers[.range] == "0-0")
        }
    }

    @Test func contentTypesWithoutAMediaTypeAreHandled() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let config = Array("{}".utf8)
            _ = try await client.send(.post, "/v2/coffer/ci/blobs/uploads/?digest=\(sha256(config))", token: token, body: config)
            let manifest = Array("""
                {"schemaVersion":2,"mediaType":"\(MediaTypes.ociManifest)","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(sha256(config))","size":2},"layers":[]}
                """.utf8)
            for (tag, contentType) in [("a", ";"), ("b", ""), ("c", " ; charset=utf-8"), ("d", ";;;")] {
                let put = try await client.send(.put, "/v2/coffer/ci/manifests/\(tag)", token: token,
                                                headers: [.contentType: contentType], body: manifest)
                #expect(put.status == .created, "Content-Type \"\(contentType)\"")
            }
            let read = try await client.send(.get, "/v2/coffer/ci/manifests/a", token: token)
            #expect(read.headers[.contentType] == MediaTypes.ociManifest)
        }
    }

    @Test func aMountNeedsASourceThatHoldsTheBlobAndMayBePulled() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let owner = try await client.token(fixture, scopes: ["repository:coffer/secret:pull,push,delete"])
            let layer = randomBytes(3000)
            let digest = sha256(layer)
            #expect(try await client.send(.post, "/v2/coffer/secret/blobs/uploads/?digest=\(digest)", token: owner, body: layer).status == .created)
            let attacker = try await client.token(fixture, scopes: Self.scopes)

            // No `from`: a normal upload starts, whether or not the registry holds the digest.
            let blind = try await client.send(.post, "/v2/coffer/ci/blobs/uploads/?mount=\(digest)", token: attacker)
            #expect(blind.status == .accepted)
            let unknown = try await client.send(.post, "/v2/coffer/ci/blobs/uploads/?mount=\(sha256([9]))", token: attacker)
            #expect(unknown.status == .accepted)
            #expect(try await client.send(.get, "/v2/coffer/ci/blobs/\(digest)", token: attacker).status == .notFound)

            // `from` the attacker may not pull: refused, and nothing learnt about the digest.
            let foreign = try await client.send(.post, "/v2/coffer/ci/blobs/uploads/?mount=\(digest)&from=coffer/secret", token: attacker)
            #expect(foreign.status == .forbidden)
            #expect(try await client.send(.get, "/v2/coffer/ci/blobs/\(digest)", token: attacker).status == .notFound)

            // With pull on the source, a mount works; from a source that lacks the blob, an upload starts.
            let both = try await client.token(fixture, scopes: ["repository:coffer/ci:pull,push", "repository:coffer/secret:pull,delete",
                                                                "repository:coffer/empty:pull"])
            #expect(try await client.send(.post, "/v2/coffer/ci/blobs/uploads/?mount=\(digest)&from=coffer/empty", token: both).status == .accepted)
            #expect(try await client.send(.post, "/v2/coffer/ci/blobs/uploads/?mount=\(digest)&from=coffer/secret", token: both).status == .created)
            #expect(Array(try await client.send(.get, "/v2/coffer/ci/blobs/\(digest)", token: both).body.readableBytesView) == layer)

            // Content its owner deleted does not come back by mounting.
            let other = randomBytes(2000)
            let otherDigest = sha256(other)
            _ = try await client.send(.post, "/v2/coffer/secret/blobs/uploads/?digest=\(otherDigest)", token: owner, body: other)
            #expect(try await client.send(.delete, "/v2/coffer/secret/blobs/\(otherDigest)", token: owner).status == .accepted)
            let revived = try await client.send(.post, "/v2/coffer/ci/blobs/uploads/?mount=\(otherDigest)&from=coffer/secret", token: both)
            #expect(revived.status == .accepted)
            #expect(try await client.send(.get, "/v2/coffer/ci/blobs/\(otherDigest)", token: both).status == .notFound)
        }
    }

    @Test func manifestsWithDuplicateKeysAreRefused() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let config = Array("{}".utf8)
            _ = try await client.send(.post, "/v2/coffer/ci/blobs/uploads/?digest=\(sha256(config))", token: token, body: config)
            let configDescriptor = "{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"\(sha256(config))\",\"size\":2}"
            let foreign = "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"\(sha256([7, 7]))\",\"size\":2}"
            let documents = [
                "{\"schemaVersion\":2,\"config\":\(configDescriptor),\"layers\":[],\"layers\":[\(foreign)]}",
                "{\"schemaVersion\":2,\"config\":\(configDescriptor),\"layers\":[],\"lay\\u0065rs\":[\(foreign)]}",
                "{\"schemaVersion\":2,\"config\":\(configDescriptor),\"layers\":[],\"annotations\":{\"a\":\"1\",\"a\":\"2\"}}",
                "{\"schemaVersion\":2,\"schemaVersion\":2,\"config\":\(configDescriptor),\"layers\":[]}",
                // Go's decoder (docker, containerd, oras) matches field names without regard to case.
                "{\"schemaVersion\":2,\"config\":\(configDescriptor),\"layers\":[],\"Layers\":[\(foreign)]}",
                "{\"schemaVersion\":2,\"config\":\(configDescriptor),\"layer\\u017f\":[],\"layers\":[\(foreign)]}",
            ]
            for document in documents {
                let put = try await client.send(.put, "/v2/coffer/ci/manifests/dup", token: token,
                                                headers: [.contentType: MediaTypes.ociManifest], body: Array(document.utf8))
                #expect(put.status == .badRequest, "\(document)")
                #expect(errorCode(put) == "MANIFEST_INVALID")
            }
            // Deep nesting is refused by the same check, and the same manifest without duplicates is accepted.
            let deep = "{\"schemaVersion\":2,\"config\":\(configDescriptor),\"layers\":[],\"x\":" + String(repeating: "[", count: 100_000)
                + String(repeating: "]", count: 100_000) + "}"
            let deepPut = try await client.send(.put, "/v2/coffer/ci/manifests/deep", token: token,
                                                headers: [.contentType: MediaTypes.ociManifest], body: Array(deep.utf8))
            #expect(deepPut.status == .badRequest)
            // Annotation keys are a map to Go as well: keys differing only in case are distinct there, and accepted.
            let annotated = "{\"schemaVersion\":2,\"config\":\(configDescriptor),\"layers\":[],\"annotations\":{\"org.A\":\"1\",\"org.a\":\"2\"}}"
            #expect(try await client.send(.put, "/v2/coffer/ci/manifests/annotated", token: token, headers: [.contentType: MediaTypes.ociManifest],
                                          body: Array(annotated.utf8)).status == .created)
            let clean = "{\"schemaVersion\":2,\"config\":\(configDescriptor),\"layers\":[]}"
            #expect(try await client.send(.put, "/v2/coffer/ci/manifests/ok", token: token, headers: [.contentType: MediaTypes.ociManifest],
                                          body: Array(clean.utf8)).status == .created)
        }
    }

    @Test func unsatisfiableReadRangesSayWhatWentWrong() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let blob = randomBytes(100)
            let digest = sha256(blob)
            _ = try await client.send(.post, "/v2/coffer/ci/blobs/uploads/?digest=\(digest)", token: token, body: blob)
            for header in ["bytes=200-", "bytes=5-2", "bytes=-", "bytes=0-1,3-4", "items=0-1", "bytes=99999999999999999999-", "bytes=-0",
                           "bytes=9223372036854775806-"] {
                let read = try await client.send(.get, "/v2/coffer/ci/blobs/\(digest)", token: token, headers: [.range: header])
                #expect(read.status == .rangeNotSatisfiable, "Range \(header)")
                #expect(errorCode(read) == "RANGE_NOT_SATISFIABLE")
            }
            let last = try await client.send(.get, "/v2/coffer/ci/blobs/\(digest)", token: token, headers: [.range: "bytes=-1000"])
            #expect(Array(last.body.readableBytesView) == blob)
        }
    }

    @Test func openUploadSessionsAreCappedPerRepositoryAndPrincipal() async throws {
        let fixture = try await Fixture.make { configuration in
            configuration.uploadSessionsPerRepository = 3
            configuration.uploadSessionsPerPrincipal = 4
        }
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: ["repository:coffer/ci:pull,push", "repository:coffer/web:pull,push"])
            var sessions: [String] = []
            for _ in 0..<3 {
                let started = try await client.send(.post, "/v2/coffer/ci/blobs/uploads/", token: token)
                #expect(started.status == .accepted)
                sessions.append(try #require(started.headers[.location]))
            }
            let refused = try await client.send(.post, "/v2/coffer/ci/blobs/uploads/", token: token)
            #expect(refused.status == .tooManyRequests)
            #expect(errorCode(refused) == "TOOMANYREQUESTS")
            #expect(refused.headers[.retryAfter] != nil)
            // A monolithic upload opens a session too, for as long as it runs.
            let blob = randomBytes(10)
            #expect(try await client.send(.post, "/v2/coffer/ci/blobs/uploads/?digest=\(sha256(blob))", token: token, body: blob).status
                    == .tooManyRequests)
            // Per principal, across repositories: the fourth is allowed, the fifth is not.
            #expect(try await client.send(.post, "/v2/coffer/web/blobs/uploads/", token: token).status == .accepted)
            #expect(try await client.send(.post, "/v2/coffer/web/blobs/uploads/", token: token).status == .tooManyRequests)
            // Finishing one frees its place.
            #expect(try await client.send(.delete, sessions[0], token: token).status == .noContent)
            #expect(try await client.send(.post, "/v2/coffer/ci/blobs/uploads/?digest=\(sha256(blob))", token: token, body: blob).status
                    == .created)
        }
    }

    @Test func idleUploadSessionsExpireWithTheirStaging() async throws {
        // Idle for 3 s. The pass runs as of the moment before the second session starts, so however long a loaded
        // machine takes between the requests, the first session has been idle 4 s or more and the second not at all
        // (timestamps are whole seconds).
        let fixture = try await Fixture.make { $0.uploadIdleSeconds = 3 }
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let idle = try #require(try await client.send(.post, "/v2/coffer/ci/blobs/uploads/", token: token).headers[.location])
            #expect(try await client.send(.patch, idle, token: token, body: randomBytes(70_000)).status == .accepted)
            #expect(try await fixture.stagingNames().count == 2)
            try await Task.sleep(for: .milliseconds(4200))
            let beforeActive = Int64(Date().timeIntervalSince1970)
            let active = try #require(try await client.send(.post, "/v2/coffer/ci/blobs/uploads/", token: token).headers[.location])
            #expect(try await fixture.server.registry.expireIdleUploads(now: beforeActive) == 1)
            #expect(try await client.send(.get, idle, token: token).status == .notFound)
            #expect(try await client.send(.get, active, token: token).status == .noContent)
            #expect(try await fixture.stagingNames().count == 1)
        }
    }
}
