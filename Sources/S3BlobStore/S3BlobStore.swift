import CofferStorage
import Foundation
import NIOCore

/// The blob store on S3-compatible object storage (AWS S3, MinIO, Ceph RGW). The store only ever sees
/// ciphertext: Coffer encrypts before a driver gets bytes.
///
/// Published objects live under `<prefix>objects/<key>`. A staging object is a run of segment objects under
/// `<prefix>staging/<name>/`, named `<generation>-<index>`: an append adds the next index; a replace writes the
/// next generation, then removes the older one, so a reader — which takes the newest generation whole — sees
/// the old bytes or the new, never a mix. Every node sees the same segments, so an upload started on one node
/// continues on another. Publishing copies the segments into one object (a server-side copy for one segment,
/// a multipart upload streamed through in 8 MiB parts otherwise), which S3 makes visible atomically.
public final class S3BlobStore: BlobStore {
    private let client: S3Client
    private let prefix: String
    /// Multipart part size when publishing (S3 wants at least 5 MiB for every part but the last).
    private let partSize = 8 * 1024 * 1024

    public init(configuration: S3Configuration) {
        self.client = S3Client(configuration: configuration)
        self.prefix = configuration.prefix
    }

    /// Creates the bucket (for tests and first set-up); an existing bucket of ours is fine.
    public func createBucket() async throws {
        let reply = try await client.send(.PUT, key: nil)
        guard reply.status == 200 || reply.text.contains("BucketAlreadyOwnedByYou") else {
            throw StorageError(.ioFailure, "the bucket could not be created (\(reply.status))")
        }
    }

    /// Staging names are one key component: they name a directory of segments.
    private static func validateStaging(_ name: String) throws {
        try StorageKey.validate(name)
        guard !name.contains("/") else { throw StorageError(.invalidKey, "invalid staging name") }
    }

    private func objectKey(_ key: String) -> String { "\(prefix)objects/\(key)" }
    private func stagingPrefix(_ name: String) -> String { "\(prefix)staging/\(name)/" }

    // MARK: staging

    private struct Segment {
        let generation: Int
        let index: Int
        let key: String
        let size: Int64
    }

    /// The staging object's newest generation, in order; nil when there is no such staging object.
    private func segments(_ name: String) async throws -> [Segment]? {
        let all = try await client.list(prefix: stagingPrefix(name)).compactMap { entry -> Segment? in
            let parts = entry.key.split(separator: "/").last?.split(separator: "-") ?? []
            guard parts.count == 2, let generation = Int(parts[0]), let index = Int(parts[1]) else { return nil }
            return Segment(generation: generation, index: index, key: entry.key, size: entry.size)
        }
        guard let newest = all.map(\.generation).max() else { return nil }
        return all.filter { $0.generation == newest }.sorted { $0.index < $1.index }
    }

    private func segmentKey(_ name: String, generation: Int, index: Int) -> String {
        stagingPrefix(name) + String(format: "%08d-%010d", generation, index)
    }

    /// The server-side-encryption headers for a request that creates an object.
    private var encryptionHeaders: [String: String] {
        var headers: [String: String] = [:]
        if let sse = client.configuration.serverSideEncryption { headers["x-amz-server-side-encryption"] = sse }
        if let keyID = client.configuration.serverSideEncryptionKeyID { headers["x-amz-server-side-encryption-aws-kms-key-id"] = keyID }
        return headers
    }

    private func put(_ key: String, _ bytes: ByteBuffer) async throws {
        let reply = try await client.send(.PUT, key: key, headers: encryptionHeaders, body: bytes)
        guard reply.status == 200 else { throw StorageError(.ioFailure, "writing to the object store failed (\(reply.status))") }
    }

    private func remove(_ key: String) async throws {
        let reply = try await client.send(.DELETE, key: key)
        guard reply.status == 204 || reply.status == 200 || reply.status == 404 else {
            throw StorageError(.ioFailure, "deleting from the object store failed (\(reply.status))")
        }
    }

    public func createStaging(_ name: String) async throws {
        try await createStagingWith(name, ByteBuffer())
    }

    public func appendStaging(_ name: String, _ bytes: ByteBuffer) async throws {
        try Self.validateStaging(name)
        guard let current = try await segments(name), let last = current.last else {
            throw StorageError(.notFound, "no such staging object")
        }
        try await put(segmentKey(name, generation: last.generation, index: last.index + 1), bytes)
    }

    public func replaceStaging(_ name: String, _ bytes: ByteBuffer) async throws {
        try await createStagingWith(name, bytes)
    }

    /// A new generation holding `bytes`, then the old one removed: readers see one or the other whole.
    private func createStagingWith(_ name: String, _ bytes: ByteBuffer) async throws {
        try Self.validateStaging(name)
        let old = try await segments(name) ?? []
        try await put(segmentKey(name, generation: (old.first?.generation ?? -1) + 1, index: 0), bytes)
        for segment in old { try await remove(segment.key) }
    }

    public func stagingSize(_ name: String) async throws -> Int64? {
        try Self.validateStaging(name)
        return try await segments(name).map { $0.reduce(0) { $0 + $1.size } }
    }

    public func readStaging(_ name: String, offset: Int64, length: Int) async throws -> ByteBuffer {
        try Self.validateStaging(name)
        guard let current = try await segments(name) else { throw StorageError(.notFound, "no such staging object") }
        var result = ByteBuffer()
        var position: Int64 = 0
        for segment in current where result.readableBytes < length {
            defer { position += segment.size }
            let end = position + segment.size
            guard end > offset, segment.size > 0 else { continue }
            let start = max(offset, position) - position
            let wanted = min(Int64(length - result.readableBytes), segment.size - start)
            var bytes = try await ranged(segment.key, offset: start, length: Int(wanted))
            result.writeBuffer(&bytes)
        }
        return result
    }

    public func commitStaging(_ name: String, as key: String) async throws {
        try Self.validateStaging(name)
        try StorageKey.validate(key)
        guard let current = try await segments(name) else { throw StorageError(.notFound, "no such staging object") }
        let parts = current.filter { $0.size > 0 }
        let total = parts.reduce(0) { $0 + $1.size }
        if parts.count <= 1 {
            try await publishSmall(parts.first, as: objectKey(key))
        } else if total <= Int64(partSize) {
            var whole = ByteBuffer()
            for segment in parts {
                var bytes = try await ranged(segment.key, offset: 0, length: Int(segment.size))
                whole.writeBuffer(&bytes)
            }
            try await put(objectKey(key), whole)
        } else {
            try await publishMultipart(parts, as: objectKey(key))
        }
        for segment in current { try await remove(segment.key) }
    }

    /// One segment (or none: an empty object) becomes the object by a server-side copy.
    private func publishSmall(_ segment: Segment?, as target: String) async throws {
        guard let segment else { return try await put(target, ByteBuffer()) }
        let source = "/\(client.configuration.bucket)/\(SignatureV4.encode(segment.key, keepSlash: true))"
        let reply = try await client.send(.PUT, key: target, headers: encryptionHeaders.merging(["x-amz-copy-source": source]) { $1 })
        // A copy can fail after its 200 status: the error is then in the body.
        guard reply.status == 200, !reply.text.contains("<Error>") else {
            throw StorageError(.ioFailure, "publishing an object failed (\(reply.status))")
        }
    }

    /// Streams the segments into a multipart upload, one part at a time; aborts the upload on failure.
    private func publishMultipart(_ segments: [Segment], as target: String) async throws {
        let started = try await client.send(.POST, key: target, query: [("uploads", "")], headers: encryptionHeaders)
        guard started.status == 200, let uploadID = S3XML.value("UploadId", in: started.text) else {
            throw StorageError(.ioFailure, "starting a multipart upload failed (\(started.status))")
        }
        do {
            var etags: [String] = []
            var part = ByteBuffer()
            func send(_ buffer: ByteBuffer) async throws {
                let reply = try await client.send(.PUT, key: target, query: [("partNumber", String(etags.count + 1)), ("uploadId", uploadID)], body: buffer)
                guard reply.status == 200, let etag = reply.headers.first(name: "ETag") else {
                    throw StorageError(.ioFailure, "uploading a part failed (\(reply.status))")
                }
                etags.append(etag)
            }
            for segment in segments {
                var offset: Int64 = 0
                while offset < segment.size {
                    let take = min(Int64(partSize - part.readableBytes), segment.size - offset)
                    var bytes = try await ranged(segment.key, offset: offset, length: Int(take))
                    part.writeBuffer(&bytes)
                    offset += take
                    if part.readableBytes >= partSize {
                        try await send(part)
                        part = ByteBuffer()
                    }
                }
            }
            if part.readableBytes > 0 { try await send(part) }
            let manifest = "<CompleteMultipartUpload>" + etags.enumerated().map { index, etag in
                "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(etag)</ETag></Part>"
            }.joined() + "</CompleteMultipartUpload>"
            let completed = try await client.send(.POST, key: target, query: [("uploadId", uploadID)], body: ByteBuffer(string: manifest))
            guard completed.status == 200, !completed.text.contains("<Error>") else {
                throw StorageError(.ioFailure, "completing a multipart upload failed (\(completed.status))")
            }
        } catch {
            _ = try? await client.send(.DELETE, key: target, query: [("uploadId", uploadID)])
            throw error
        }
    }

    public func deleteStaging(_ name: String) async throws {
        try Self.validateStaging(name)
        for entry in try await client.list(prefix: stagingPrefix(name)) { try await remove(entry.key) }
    }

    public func listStaging() async throws -> [String] {
        try await client.list(prefix: "\(prefix)staging/", delimiter: "/").map { entry in
            String(entry.key.dropFirst("\(prefix)staging/".count).dropLast())
        }.sorted()
    }

    // MARK: published objects

    public func read(_ key: String, offset: Int64, length: Int) async throws -> ByteBuffer {
        try StorageKey.validate(key)
        return try await ranged(objectKey(key), offset: offset, length: length)
    }

    /// Up to `length` bytes from `offset` (fewer at the end, none past it).
    private func ranged(_ key: String, offset: Int64, length: Int) async throws -> ByteBuffer {
        guard length > 0 else { return ByteBuffer() }
        let reply = try await client.send(.GET, key: key, headers: ["range": "bytes=\(offset)-\(offset + Int64(length) - 1)"],
                                          maximumResponse: length + 1024)
        switch reply.status {
        case 200, 206: return reply.body
        case 416: return ByteBuffer()
        case 404: throw StorageError(.notFound, "no such object")
        default: throw StorageError(.ioFailure, "reading from the object store failed (\(reply.status))")
        }
    }

    public func size(_ key: String) async throws -> Int64? {
        try StorageKey.validate(key)
        let reply = try await client.send(.HEAD, key: objectKey(key))
        switch reply.status {
        case 200: return reply.headers.first(name: "Content-Length").flatMap(Int64.init)
        case 404: return nil
        default: throw StorageError(.ioFailure, "the object store answered \(reply.status)")
        }
    }

    public func delete(_ key: String) async throws {
        try StorageKey.validate(key)
        try await remove(objectKey(key))
    }

    public func list(prefix keyPrefix: String) async throws -> [String] {
        let base = "\(prefix)objects/"
        return try await client.list(prefix: base + keyPrefix).map { String($0.key.dropFirst(base.count)) }
    }
}
