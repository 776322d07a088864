import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@Suite struct BlobTests {
    static let scopes = ["repository:coffer/app:pull,push,delete", "repository:coffer/other:pull,push"]

    @Test func monolithicUploadThenRangedReads() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let blob = randomBytes(200_000)
            let digest = sha256(blob)
            let created = try await client.send(.post, "/v2/coffer/app/blobs/uploads/?digest=\(digest)", token: token, body: blob)
            #expect(created.status == .created)
            #expect(created.headers[.location] == "/v2/coffer/app/blobs/\(digest)")
            #expect(created.headers[HTTPField.Name("Docker-Content-Digest")!] == digest)

            let head = try await client.send(.head, "/v2/coffer/app/blobs/\(digest)", token: token)
            #expect(head.status == .ok)
            #expect(head.headers[.contentLength] == "200000")

            let whole = try await client.send(.get, "/v2/coffer/app/blobs/\(digest)", token: token)
            #expect(whole.status == .ok)
            #expect(Array(whole.body.readableBytesView) == blob)

            // A range spanning a segment boundary (segments are 64 KiB).
            let ranged = try await client.send(.get, "/v2/coffer/app/blobs/\(digest)", token: token, headers: [.range: "bytes=65530-65545"])
            #expect(ranged.status == .partialContent)
            #expect(ranged.headers[.contentRange] == "bytes 65530-65545/200000")
            #expect(Array(ranged.body.readableBytesView) == Array(blob[65530...65545]))

            let open = try await client.send(.get, "/v2/coffer/app/blobs/\(digest)", token: token, headers: [.range: "bytes=199990-"])
            #expect(Array(open.body.readableBytesView) == Array(blob[199990...]))
            let suffix = try await client.send(.get, "/v2/coffer/app/blobs/\(digest)", token: token, headers: [.range: "bytes=-5"])
            #expect(Array(suffix.body.readableBytesView) == Array(blob.suffix(5)))
            let beyond = try await client.send(.get, "/v2/coffer/app/blobs/\(digest)", token: token, headers: [.range: "bytes=300000-"])
            #expect(beyond.status == .rangeNotSatisfiable)
        }
    }

    @Test func chunkedUploadAcrossSegmentBoundaries() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let blob = randomBytes(230_000)
            let started = try await client.send(.post, "/v2/coffer/app/blobs/uploads/", token: token)
            #expect(started.status == .accepted)
            var location = try #require(started.headers[.location])
            #expect(started.headers[.range] == "0-0")
            var offset = 0
            for size in [100_000, 30_000, 70_000] {
                let chunk = Array(blob[offset..<(offset + size)])
                let patched = try await client.send(.patch, location, token: token, headers: [
                    .contentRange: "\(offset)-\(offset + size - 1)", .contentType: "application/octet-stream",
                ], body: chunk)
                #expect(patched.status == .accepted)
                offset += size
                #expect(patched.headers[.range] == "0-\(offset - 1)")
                location = try #require(patched.headers[.location])
            }
            let outOfOrder = try await client.send(.patch, location, token: token, headers: [.contentRange: "5-9"], body: [1, 2, 3, 4, 5])
            #expect(outOfOrder.status == .rangeNotSatisfiable)
            #expect(outOfOrder.headers[.range] == "0-\(offset - 1)")
            #expect(outOfOrder.headers[.location] == location)
            let status = try await client.send(.get, location, token: token)
            #expect(status.status == .noContent)
            #expect(status.headers[.range] == "0-\(offset - 1)")

            let digest = sha256(blob)
            let completed = try await client.send(.put, "\(location)?digest=\(digest)", token: token, body: Array(blob[offset...]))
            #expect(completed.status == .created)
            let read = try await client.send(.get, "/v2/coffer/app/blobs/\(digest)", token: token)
            #expect(Array(read.body.readableBytesView) == blob)
            let gone = try await client.send(.get, location, token: token)
            #expect(gone.status == .notFound)
            #expect(errorCode(gone) == "BLOB_UPLOAD_UNKNOWN")
        }
    }

    @Test func wrongDigestIsRefusedAndLeavesNothing() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let blob = randomBytes(1000)
            let claimed = sha256(Array("something else".utf8))
            let refused = try await client.send(.post, "/v2/coffer/app/blobs/uploads/?digest=\(claimed)", token: token, body: blob)
            #expect(refused.status == .badRequest)
            #expect(errorCode(refused) == "DIGEST_INVALID")
            let missing = try await client.send(.head, "/v2/coffer/app/blobs/\(claimed)", token: token)
            #expect(missing.status == .notFound)
            let malformed = try await client.send(.post, "/v2/coffer/app/blobs/uploads/?digest=sha256:zz", token: token, body: blob)
            #expect(errorCode(malformed) == "DIGEST_INVALID")
            let unsupported = try await client.send(.post, "/v2/coffer/app/blobs/uploads/?digest=md5:abcd", token: token, body: blob)
            #expect(errorCode(unsupported) == "UNSUPPORTED")
            let staging = try await fixture.stagingNames()
            #expect(staging.isEmpty)
        }
    }

    @Test func sha512DigestsAreAccepted() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let blob = randomBytes(5000)
            let digest = Digest.of(blob, using: .sha512).description
            let monolithic = try await client.send(.post, "/v2/coffer/app/blobs/uploads/?digest=\(digest)", token: token, body: blob)
            #expect(monolithic.status == .created)
            // A chunked upload hashed as sha256 while streaming, completed with a sha512 digest.
            let other = randomBytes(70_000)
            let started = try await client.send(.post, "/v2/coffer/app/blobs/uploads/", token: token)
            let location = try #require(started.headers[.location])
            let otherDigest = Digest.of(other, using: .sha512).description
            let completed = try await client.send(.put, "\(location)?digest=\(otherDigest)", token: token, body: other)
            #expect(completed.status == .created)
            let read = try await client.send(.get, "/v2/coffer/app/blobs/\(otherDigest)", token: token)
            #expect(Array(read.body.readableBytesView) == other)
        }
    }

    @Test func mountLinksWithinTheRegistry() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let blob = randomBytes(3000)
            let digest = sha256(blob)
            _ = try await client.send(.post, "/v2/coffer/app/blobs/uploads/?digest=\(digest)", token: token, body: blob)
            let notYet = try await client.send(.head, "/v2/coffer/other/blobs/\(digest)", token: token)
            #expect(notYet.status == .notFound)
            let mounted = try await client.send(.post, "/v2/coffer/other/blobs/uploads/?mount=\(digest)&from=coffer/app", token: token)
            #expect(mounted.status == .created)
            #expect(mounted.headers[.location] == "/v2/coffer/other/blobs/\(digest)")
            let read = try await client.send(.get, "/v2/coffer/other/blobs/\(digest)", token: token)
            #expect(Array(read.body.readableBytesView) == blob)

            let unknown = sha256(Array("never pushed".utf8))
            let fallback = try await client.send(.post, "/v2/coffer/other/blobs/uploads/?mount=\(unknown)&from=coffer/app", token: token)
            #expect(fallback.status == .accepted)
            #expect(fallback.headers[.location]?.hasPrefix("/v2/coffer/other/blobs/uploads/") == true)
        }
    }

    /// A mount without `from` would read any repository of the registry: it starts a normal upload instead.
    @Test func mountWithoutFromStartsAnUpload() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let blob = randomBytes(100)
            let digest = sha256(blob)
            #expect(try await client.send(.post, "/v2/coffer/app/blobs/uploads/?digest=\(digest)", token: token, body: blob).status == .created)
            let mounted = try await client.send(.post, "/v2/coffer/other/blobs/uploads/?mount=\(digest)", token: token)
            #expect(mounted.status == .accepted)
            let location = try #require(mounted.headers[.location])
            #expect(location.hasPrefix("/v2/coffer/other/blobs/uploads/"))
            // Nothing was mounted: the blob is not in the target until the client uploads it through the session given.
            #expect(try await client.send(.head, "/v2/coffer/other/blobs/\(digest)", token: token).status == .notFound)
            let separator = location.contains("?") ? "&" : "?"
            #expect(try await client.send(.put, "\(location)\(separator)digest=\(digest)", token: token, body: blob).status == .created)
            #expect(Array(try await client.send(.get, "/v2/coffer/other/blobs/\(digest)", token: token).body.readableBytesView) == blob)
        }
    }

    @Test func deleteAndCancel() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let blob = randomBytes(100)
            let digest = sha256(blob)
            _ = try await client.send(.post, "/v2/coffer/app/blobs/uploads/?digest=\(digest)", token: token, body: blob)
            #expect(try await client.send(.delete, "/v2/coffer/app/blobs/\(digest)", token: token).status == .accepted)
            #expect(try await client.send(.get, "/v2/coffer/app/blobs/\(digest)", token: token).status == .notFound)
            #expect(try await client.send(.delete, "/v2/coffer/app/blobs/\(digest)", token: token).status == .notFound)

            let started = try await client.send(.post, "/v2/coffer/app/blobs/uploads/", token: token)
            let location = try #require(started.headers[.location])
            _ = try await client.send(.patch, location, token: token, body: [1, 2, 3])
            #expect(try await client.send(.delete, location, token: token).status == .noContent)
            #expect(try await client.send(.get, location, token: token).status == .notFound)
            let staging = try await fixture.stagingNames()
            #expect(staging.isEmpty)
        }
    }

    @Test func emptyBlobRoundTrips() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let digest = sha256([])
            #expect(try await client.send(.post, "/v2/coffer/app/blobs/uploads/?digest=\(digest)", token: token, body: []).status == .created)
            let read = try await client.send(.get, "/v2/coffer/app/blobs/\(digest)", token: token)
            #expect(read.status == .ok)
            #expect(read.body.readableBytes == 0)
        }
    }

    @Test func namesAndRegistriesAreChecked() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: ["repository:coffer/Bad:pull", "repository:nosuch/app:pull", "repository:single:pull"])
            let invalid = try await client.send(.get, "/v2/coffer/Bad/tags/list", token: token)
            #expect(invalid.status == .badRequest)
            #expect(errorCode(invalid) == "NAME_INVALID")
            let unknownRegistry = try await client.send(.get, "/v2/nosuch/app/tags/list", token: token)
            #expect(unknownRegistry.status == .notFound)
            #expect(errorCode(unknownRegistry) == "NAME_UNKNOWN")
            let noRepository = try await client.send(.get, "/v2/single/tags/list", token: token)
            #expect(errorCode(noRepository) == "NAME_INVALID")
        }
    }
}

import OCIModels
