import CofferStorage
import Envelope
import NIOCore
import OCIModels

/// A blob opened for reading: its size, the range served, and the decrypted bytes of that range.
public struct BlobContent: Sendable {
    public let digest: Digest
    public let size: Int64
    /// Inclusive byte range served; nil for an empty blob.
    public let range: ClosedRange<Int64>?
    public let body: PrefetchedStream?
}

/// A decrypted stream whose first batch was read (and authenticated) before the response began,
/// so a damaged object within that batch becomes an error status rather than a cut-off body.
public struct PrefetchedStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let first: ByteBuffer?
    let rest: DecryptedStream.AsyncIterator

    static func start(_ stream: DecryptedStream) async throws -> PrefetchedStream {
        var iterator = stream.makeAsyncIterator()
        let first = try await iterator.next()
        return PrefetchedStream(first: first, rest: iterator)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var first: ByteBuffer?
        var rest: DecryptedStream.AsyncIterator

        public mutating func next() async throws -> ByteBuffer? {
            if let buffer = first {
                first = nil
                return buffer
            }
            return try await rest.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(first: first, rest: rest) }
}

extension RegistryService {
    /// The blob's record if it is present in the repository.
    public func blobInfo(registry: String, repository: RepositoryName, digest: Digest) async throws -> BlobRecord {
        guard try await metadata.isBlobLinked(registry: registry, repository: repository.value, digest: digest),
              let record = try await metadata.blob(registry: registry, digest: digest) else {
            throw RegistryError(.blobUnknown, "blob \(digest) is not in repository \(repository)")
        }
        return record
    }

    /// The blob's record if it is present in the repository, for a client asking whether to upload it: a client that
    /// finds it present may reference it in a manifest soon, so garbage collection spares it for its grace period.
    public func checkBlob(registry: String, repository: RepositoryName, digest: Digest) async throws -> BlobRecord {
        let record = try await blobInfo(registry: registry, repository: repository, digest: digest)
        try await metadata.markBlobUsed(registry: registry, digest: digest)
        return record
    }

    /// Opens a blob for reading, after verifying its commit record. `range` is inclusive and is
    /// clamped to the blob; an unsatisfiable range throws ``RegistryError/Code/rangeNotSatisfiable``.
    public func openBlob(
        registry: String, repository: RepositoryName, digest: Digest, range: ClosedRange<Int64>? = nil
    ) async throws -> BlobContent {
        let record = try await blobInfo(registry: registry, repository: repository, digest: digest)
        return try await open(record, range: range)
    }

    func open(_ record: BlobRecord, range: ClosedRange<Int64>?) async throws -> BlobContent {
        do {
            let masterKey = try await masterKey(registry: record.registry)
            let reader = try await SealedObjectReader.open(
                store: blobs, key: record.objectKey, masterKey: masterKey, digest: record.digest, expectedLength: record.size
            )
            if let range {
                guard range.lowerBound < record.size else {
                    throw RegistryError(.rangeNotSatisfiable, "range starts beyond the blob's \(record.size) bytes",
                                        detail: ["size": String(record.size)])
                }
                let clamped = range.lowerBound...min(range.upperBound, record.size - 1)
                return BlobContent(digest: record.digest, size: record.size, range: clamped,
                                   body: try await PrefetchedStream.start(reader.stream(range: clamped)))
            }
            guard record.size > 0 else { return BlobContent(digest: record.digest, size: 0, range: nil, body: nil) }
            let whole = Int64(0)...(record.size - 1)
            return BlobContent(digest: record.digest, size: record.size, range: whole,
                               body: try await PrefetchedStream.start(reader.stream(range: whole)))
        } catch {
            let translated = Self.translate(error)
            if let registryError = translated as? RegistryError, registryError.code == .dataCorrupt {
                logger.error("stored object failed verification", metadata: [
                    LogKey.registry: .string(record.registry), LogKey.digest: .string(record.digest.description),
                ])
            }
            throw translated
        }
    }

    /// Removes the blob from the repository. Its bytes stay until garbage collection finds them unreferenced.
    public func deleteBlob(registry: String, repository: RepositoryName, digest: Digest) async throws {
        guard try await metadata.unlinkBlob(registry: registry, repository: repository.value, digest: digest) else {
            throw RegistryError(.blobUnknown, "blob \(digest) is not in repository \(repository)")
        }
    }

    /// Cross-repository mount: links a blob of `source` into `repository` (same registry: blobs are deduplicated
    /// per registry, never across registries, whose keys differ). Only a blob `source` holds can be mounted, so
    /// content unlinked from every repository comes back only by uploading it again.
    /// Returns false when the blob cannot be mounted and a normal upload is needed.
    public func mountBlob(registry: String, repository: RepositoryName, digest: Digest, from source: RepositoryName) async throws -> Bool {
        guard try await metadata.isBlobLinked(registry: registry, repository: source.value, digest: digest) else { return false }
        _ = try await masterKey(registry: registry)
        return try await metadata.linkBlob(registry: registry, repository: repository.value, digest: digest)
    }
}
