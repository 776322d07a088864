import CofferStorage
import Envelope
import Foundation
import NIOCore
import OCIModels

/// A manifest read back: its record and its exact bytes.
public struct StoredManifest: Sendable {
    public let record: ManifestRecord
    public let bytes: [UInt8]
}

extension RegistryService {
    /// Stores a manifest after validating it and checking that everything it references is present.
    /// - Returns: the stored record (its digest, and its subject for the `OCI-Subject` header).
    public func putManifest(
        registry: String, repository: RepositoryName, reference: ManifestReference, bytes: [UInt8], contentType: String?
    ) async throws -> ManifestRecord {
        let parsed: ParsedManifest
        do { parsed = try ParsedManifest(bytes: bytes, contentType: contentType) } catch {
            throw RegistryError(error.code == .sizeInvalid ? .sizeInvalid : .manifestInvalid, error.message)
        }
        var tag: Tag?
        let digest: Digest
        switch reference {
        case .tag(let name):
            tag = name
            digest = Digest.of(bytes)
        case .digest(let expected):
            digest = Digest.of(bytes, using: expected.algorithm)
            guard digest == expected else {
                throw RegistryError(.digestInvalid, "manifest content has digest \(digest), not \(expected)")
            }
        }
        var annotations: String?
        if let values = parsed.annotations {
            let masterKey = try await masterKey(registry: registry)
            annotations = Data(try masterKey.sealMetadata(Array(try JSONEncoder().encode(values)), context: "annotations:\(digest)")).base64EncodedString()
        }
        let record = ManifestRecord(
            registry: registry, repository: repository.value, digest: digest, mediaType: parsed.mediaType,
            size: Int64(bytes.count), artifactType: parsed.artifactType, subject: parsed.subject,
            sealedAnnotations: annotations, createdAt: Self.now()
        )
        let references = ManifestReferences(blobs: parsed.blobReferences, manifests: parsed.manifestReferences)
        do {
            try await save(record, content: try await storeContent(registry: registry, digest: digest, bytes: bytes, reuse: true),
                             references: references, tag: tag)
        } catch let missing as MissingReferenceError where missing.kind == .content {
            // Garbage collection removed the registry's copy between the look and the write: store it anew.
            try await save(record, content: try await storeContent(registry: registry, digest: digest, bytes: bytes, reuse: false),
                             references: references, tag: tag)
        }
        return record
    }

    /// Writes the manifest's records, which checks its references in the same transaction: a reference that is
    /// missing (never pushed, deleted, or collected) is the client's error, and content stored for it is removed.
    private func save(_ record: ManifestRecord, content: BlobRecord?, references: ManifestReferences, tag: Tag?) async throws {
        do {
            try await metadata.putManifest(record, content: content, references: references, tag: tag?.value)
        } catch let missing as MissingReferenceError where missing.kind != .content {
            if let content { try? await blobs.delete(content.objectKey) }
            let what = missing.kind == .blob ? "manifest references blob" : "index references manifest"
            throw RegistryError(.manifestBlobUnknown, "\(what) \(missing.digest), which is not in repository \(record.repository)",
                                detail: ["digest": missing.digest.description])
        }
    }

    /// Resolves a tag or digest to the manifest's record, without reading its bytes.
    public func manifestInfo(registry: String, repository: RepositoryName, reference: ManifestReference) async throws -> ManifestRecord {
        switch reference {
        case .digest(let digest):
            guard let record = try await metadata.manifest(registry: registry, repository: repository.value, digest: digest) else {
                throw RegistryError(.manifestUnknown, "manifest \(digest) is not in repository \(repository)")
            }
            return record
        case .tag(let tag):
            guard let record = try await metadata.taggedManifest(registry: registry, repository: repository.value, tag: tag.value) else {
                throw RegistryError(.manifestUnknown, "manifest \(tag) is not in repository \(repository)")
            }
            return record
        }
    }

    public func manifest(registry: String, repository: RepositoryName, reference: ManifestReference) async throws -> StoredManifest {
        let record = try await manifestInfo(registry: registry, repository: repository, reference: reference)
        // Served from memory only while the registry's key is accessible, as from storage.
        if let cached = manifests.get(registry: registry, digest: record.digest) {
            _ = try await masterKey(registry: registry)
            return StoredManifest(record: record, bytes: cached)
        }
        guard let blob = try await metadata.blob(registry: registry, digest: record.digest) else {
            throw RegistryError(.dataCorrupt, "manifest \(record.digest) has no stored content")
        }
        let content = try await open(blob, range: nil)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(content.size))
        if let body = content.body {
            do {
                for try await buffer in body { bytes += buffer.readableBytesView }
            } catch { throw Self.translate(error) }
        }
        manifests.put(registry: registry, digest: record.digest, bytes: bytes)
        return StoredManifest(record: record, bytes: bytes)
    }

    /// Deletes a repository with everything in it (ACR's `DELETE /acr/v1/<repository>`).
    public func deleteRepository(registry: String, repository: RepositoryName) async throws -> (manifests: [String], tags: [String]) {
        try await metadata.deleteRepository(registry: registry, repository: repository.value)
    }

    /// Deletes by digest (the manifest and its tags) or by tag (only the tag).
    public func deleteManifest(registry: String, repository: RepositoryName, reference: ManifestReference) async throws {
        switch reference {
        case .digest(let digest):
            guard try await metadata.deleteManifest(registry: registry, repository: repository.value, digest: digest) else {
                throw RegistryError(.manifestUnknown, "manifest \(digest) is not in repository \(repository)")
            }
        case .tag(let tag):
            guard try await metadata.deleteTag(registry: registry, repository: repository.value, tag: tag.value) else {
                throw RegistryError(.manifestUnknown, "tag \(tag) is not in repository \(repository)")
            }
        }
    }

    public func tags(registry: String, repository: RepositoryName, after last: String?, limit: Int?) async throws -> [String] {
        guard try await metadata.repositoryExists(registry: registry, repository: repository.value) else {
            throw RegistryError(.nameUnknown, "repository \(repository) is not known")
        }
        return try await metadata.tags(registry: registry, repository: repository.value, after: last, limit: limit)
    }

    public func repositories(registry: String, after last: String?, limit: Int?) async throws -> [String] {
        try await metadata.repositories(registry: registry, after: last, limit: limit)
    }

    /// A repository's manifests and its tags with the digest each names, for ACR's metadata API (names and sizes only:
    /// nothing here needs the registry's key, so it answers while a customer-managed key is unavailable).
    public func repositoryContents(registry: String, repository: RepositoryName) async throws -> (manifests: [ManifestRecord], tags: [(name: String, digest: Digest)]) {
        guard try await metadata.repositoryExists(registry: registry, repository: repository.value) else {
            throw RegistryError(.nameUnknown, "repository \(repository) is not known")
        }
        let manifests = try await metadata.manifests(registry: registry, repository: repository.value)
        return (manifests, try await metadata.tagsWithDigests(registry: registry, repository: repository.value))
    }

    /// The bytes the registry's blobs and manifests take (their content sizes), as `listUsages` reports them.
    public func storedBytes(registry: String) async throws -> Int64 {
        try await metadata.storedBytes(registry: registry)
    }

    /// Descriptors of the manifests whose subject is `digest`, optionally only those of one artifact type.
    public func referrers(registry: String, repository: RepositoryName, subject: Digest, artifactType: String?) async throws -> [Descriptor] {
        let records = try await metadata.referrers(registry: registry, repository: repository.value, subject: subject)
            .filter { artifactType == nil || $0.artifactType == artifactType }
        let masterKey = records.contains { $0.sealedAnnotations != nil } ? try await self.masterKey(registry: registry) : nil
        return try records.map { record in
            var annotations: [String: String]?
            if let sealed = record.sealedAnnotations, let masterKey {
                guard let bytes = Data(base64Encoded: sealed) else {
                    throw RegistryError(.dataCorrupt, "stored annotations of \(record.digest) are malformed")
                }
                do {
                    let plaintext = try masterKey.openMetadata(Array(bytes), context: "annotations:\(record.digest)")
                    annotations = try JSONDecoder().decode([String: String].self, from: Data(plaintext))
                } catch {
                    throw RegistryError(.dataCorrupt, "stored annotations of \(record.digest) failed verification")
                }
            }
            return Descriptor(
                mediaType: record.mediaType, digest: record.digest.description, size: record.size,
                artifactType: record.artifactType, annotations: annotations
            )
        }
    }

    /// Seals small content in one piece and publishes it under a new key; with `reuse`, returns nil instead when the
    /// registry already holds that digest.
    private func storeContent(registry: String, digest: Digest, bytes: [UInt8], reuse: Bool) async throws -> BlobRecord? {
        if reuse, try await metadata.blob(registry: registry, digest: digest) != nil { return nil }
        let masterKey = try await masterKey(registry: registry)
        let sealer = try masterKey.newObjectSealer(segmentSize: configuration.segmentSize)
        var sealed = ByteBuffer(bytes: sealer.header.encoded)
        var index = 0
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + sealer.segmentSize)
            sealed.writeBytes(try sealer.sealSegment(bytes[offset..<end], index: index))
            index += 1
            offset = end
        }
        sealed.writeBytes(try sealer.sealCommitRecord(digest: digest.description, plaintextLength: Int64(bytes.count)))
        let staging = UUID().uuidString.lowercased()
        let record = BlobRecord(registry: registry, digest: digest, size: Int64(bytes.count),
                                objectKey: Self.newObjectKey(registry: registry, digest: digest))
        do {
            try await blobs.replaceStaging(staging, sealed)
            try await blobs.commitStaging(staging, as: record.objectKey)
        } catch {
            try? await blobs.deleteStaging(staging)
            throw error
        }
        return record
    }
}
