import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import OCIModels
import Testing

/// Every regular file under `directory`.
func filesUnder(_ directory: String) -> [String] {
    guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
    return enumerator.compactMap { $0 as? String }.map { directory + "/" + $0 }.filter { path in
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }
}

@Suite struct AtRestTests {
    static let scopes = ["repository:coffer/app:pull,push,delete"]

    @Test(.enabled(if: Fixture.onFilesystem, "reads or damages object files on disk")) func noPlaintextMarkerAnywhereInTheDataDirectory() async throws {
        let fixture = try await Fixture.make()
        let marker = "COFFER-AT-REST-MARKER-" + UUID().uuidString
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let layer = Array(String(repeating: marker + "\n", count: 5000).utf8)
            var manifest = try await pushImage(client, token: token, layer: layer)
            // The manifest carries the marker too, in an annotation.
            var object = try JSONSerialization.jsonObject(with: Data(manifest)) as! [String: Any]
            object["annotations"] = ["marker": marker]
            manifest = Array(try JSONSerialization.data(withJSONObject: object))
            #expect(try await client.send(.put, "/v2/coffer/app/manifests/v1", token: token,
                                          headers: [.contentType: MediaTypes.ociManifest], body: manifest).status == .created)
            // An unfinished chunked upload sits in staging.
            let started = try await client.send(.post, "/v2/coffer/app/blobs/uploads/", token: token)
            _ = try await client.send(.patch, try #require(started.headers[.location]), token: token, body: Array(layer.prefix(100_000)))
            // Everything reads back.
            let read = try await client.send(.get, "/v2/coffer/app/blobs/\(sha256(layer))", token: token)
            #expect(Array(read.body.readableBytesView) == layer)
        }
        let files = filesUnder(fixture.dataDirectory)
        #expect(files.contains { $0.contains("/staging/") })
        for file in files {
            let contents = try Data(contentsOf: URL(fileURLWithPath: file))
            #expect(contents.range(of: Data(marker.utf8)) == nil, "marker found in \(file)")
            #expect(contents.range(of: Data(marker.utf8.reversed())) == nil)
        }
    }

    @Test(.enabled(if: Fixture.onFilesystem, "reads or damages object files on disk")) func tamperedObjectIsAnErrorNeverData() async throws {
        let fixture = try await Fixture.make()
        let blob = randomBytes(150_000)
        let digest = try Digest(parsing: sha256(blob))
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            #expect(try await client.send(.post, "/v2/coffer/app/blobs/uploads/?digest=\(digest)", token: token, body: blob).status == .created)
            let path = try fixture.objectPath(registry: "coffer", digest: digest)
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            let original = bytes
            bytes[bytes.count / 2] ^= 0x40
            try bytes.write(to: URL(fileURLWithPath: path))
            let tampered = try await client.send(.get, "/v2/coffer/app/blobs/\(digest)", token: token, headers: [.range: "bytes=70000-70010"])
            #expect(tampered.status == .internalServerError)
            #expect(errorCode(tampered) == "UNKNOWN")

            try original.prefix(original.count - 30).write(to: URL(fileURLWithPath: path))
            let truncated = try await client.send(.get, "/v2/coffer/app/blobs/\(digest)", token: token)
            #expect(truncated.status == .internalServerError)
            #expect(errorCode(truncated) == "UNKNOWN")

            try original.write(to: URL(fileURLWithPath: path))
            let restored = try await client.send(.get, "/v2/coffer/app/blobs/\(digest)", token: token)
            #expect(Array(restored.body.readableBytesView) == blob)
        }
    }

    @Test(.enabled(if: Fixture.onFilesystem, "reads or damages object files on disk")) func uploadSurvivesRestartAndLeftoversAreCleaned() async throws {
        let first = try await Fixture.make()
        let blob = randomBytes(180_000)
        let location = LockedBox<String>()
        try await first.test { client in
            let token = try await client.token(first, scopes: Self.scopes)
            let started = try await client.send(.post, "/v2/coffer/app/blobs/uploads/", token: token)
            let url = try #require(started.headers[.location])
            let patched = try await client.send(.patch, url, token: token, body: Array(blob.prefix(100_000)))
            #expect(patched.status == .accepted)
            location.value = url
        }
        // A crash leftover that no upload owns.
        FileManager.default.createFile(atPath: first.dataDirectory + "/blobs/staging/orphan", contents: Data("x".utf8))

        let second = try await Fixture.make(dataDirectory: first.dataDirectory)
        #expect(!FileManager.default.fileExists(atPath: first.dataDirectory + "/blobs/staging/orphan"))
        try await second.test { client in
            let token = try await client.token(second, scopes: Self.scopes)
            let url = try #require(location.value)
            let status = try await client.send(.get, url, token: token)
            #expect(status.headers[.range] == "0-99999")
            let completed = try await client.send(.put, "\(url)?digest=\(sha256(blob))", token: token, body: Array(blob[100_000...]))
            #expect(completed.status == .created)
            let read = try await client.send(.get, "/v2/coffer/app/blobs/\(sha256(blob))", token: token)
            #expect(Array(read.body.readableBytesView) == blob)
        }
    }

    /// A kill in the middle of writing a chunk leaves part of a sealed segment at the end of staging (the kill
    /// harness found such sessions). The session is refused as inconsistent — never read as data — and, as the
    /// refusal says, it can be cancelled and the upload started again.
    @Test(.enabled(if: Fixture.onFilesystem, "reads or damages object files on disk")) func aChunkTornByACrashIsRefusedAndCanBeCancelled() async throws {
        let fixture = try await Fixture.make()
        let blob = randomBytes(200_000)
        let headerlessSession = LockedBox<String>()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: Self.scopes)
            let url = try #require(try await client.send(.post, "/v2/coffer/app/blobs/uploads/", token: token).headers[.location])
            #expect(try await client.send(.patch, url, token: token, body: Array(blob.prefix(150_000))).status == .accepted)
            // What the kill left: a segment's first bytes appended, its tag never written.
            let id = String(try #require(url.split(separator: "/").last))
            let staging = try #require(FileHandle(forWritingAtPath: fixture.dataDirectory + "/blobs/staging/" + id))
            try staging.seekToEnd()
            try staging.write(contentsOf: Data(randomBytes(1_000)))
            try staging.close()

            let status = try await client.send(.get, url, token: token)
            #expect(status.status == .badRequest && errorCode(status) == "BLOB_UPLOAD_INVALID")
            #expect(String(buffer: status.body).contains("start the upload again"))
            let completed = try await client.send(.put, "\(url)?digest=\(sha256(blob))", token: token, body: Array(blob[150_000...]))
            #expect(completed.status == .badRequest)
            #expect(try await client.send(.head, "/v2/coffer/app/blobs/\(sha256(blob))", token: token).status == .notFound)
            #expect(try await client.send(.delete, url, token: token).status == .noContent)
            #expect(try await client.send(.get, url, token: token).status == .notFound)
            #expect(try await client.send(.post, "/v2/coffer/app/blobs/uploads/?digest=\(sha256(blob))", token: token, body: blob).status == .created)

            // Staging without its header (an object store's clean-up after a commit, stopped part-way, removes the
            // header first), found after a restart: refused the same way, not a 500.
            let other = try #require(try await client.send(.post, "/v2/coffer/app/blobs/uploads/", token: token).headers[.location])
            #expect(try await client.send(.patch, other, token: token, body: randomBytes(70_000)).status == .accepted)
            let otherID = String(try #require(other.split(separator: "/").last))
            let headerless = try #require(FileHandle(forWritingAtPath: fixture.dataDirectory + "/blobs/staging/" + otherID))
            try headerless.write(contentsOf: Data(repeating: 0, count: 8))
            try headerless.close()
            headerlessSession.value = other
        }
        let restarted = try await Fixture.make(dataDirectory: fixture.dataDirectory)
        try await restarted.test { client in
            let token = try await client.token(restarted, scopes: Self.scopes)
            let other = try #require(headerlessSession.value)
            let refused = try await client.send(.get, other, token: token)
            #expect(refused.status == .badRequest && errorCode(refused) == "BLOB_UPLOAD_INVALID")
            #expect(try await client.send(.delete, other, token: token).status == .noContent)
        }
    }
}

final class LockedBox<Value: Sendable>: Sendable {
    private let storage = Mutex<Value?>(nil)
    var value: Value? {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}

import Synchronization
