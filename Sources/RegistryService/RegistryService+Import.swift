import CofferStorage
import NIOCore
import OCIModels

/// Where an import reads from and writes to (ACR's `importImage`, between registries of this server).
public struct ImportRequest: Sendable {
    public let sourceRegistry: String
    public let sourceRepository: RepositoryName
    public let sourceReference: ManifestReference
    public let targetRegistry: String
    /// Repositories and tags to write (`repo:tag`), and repositories to write without a tag.
    public let targetTags: [(repository: RepositoryName, tag: Tag)]
    public let untaggedRepositories: [RepositoryName]

    public init(sourceRegistry: String, sourceRepository: RepositoryName, sourceReference: ManifestReference, targetRegistry: String,
                targetTags: [(repository: RepositoryName, tag: Tag)], untaggedRepositories: [RepositoryName]) {
        self.sourceRegistry = sourceRegistry
        self.sourceRepository = sourceRepository
        self.sourceReference = sourceReference
        self.targetRegistry = targetRegistry
        self.targetTags = targetTags
        self.untaggedRepositories = untaggedRepositories
    }
}

extension RegistryService {
    /// Copies an image (an index with every manifest it lists) with its blobs from one registry to another: read
    /// and decrypted under the source's key, written and encrypted under the target's, streamed blob by blob. The
    /// manifests go last, children before their index, so a reader never sees a manifest whose content is missing.
    public func importImage(_ request: ImportRequest) async throws -> Digest {
        guard !request.targetTags.isEmpty || !request.untaggedRepositories.isEmpty else {
            throw RegistryError(.unsupported, "name at least one target tag or repository")
        }
        let top = try await manifest(registry: request.sourceRegistry, repository: request.sourceRepository, reference: request.sourceReference)
        let targets = request.targetTags.map(\.repository) + request.untaggedRepositories
        for repository in Set(targets.map(\.value)).sorted() {
            let target = try RepositoryName(repository)
            var progress = ImportProgress()
            try await copy(top, from: request, into: target, depth: 0, progress: &progress)
            for (tagged, tag) in request.targetTags where tagged.value == repository {
                _ = try await putManifest(registry: request.targetRegistry, repository: target, reference: .tag(tag), bytes: top.bytes,
                                          contentType: top.record.mediaType)
            }
        }
        return top.record.digest
    }

    /// Copies what a manifest references into `target` and, for the children of an index, the child manifests.
    private func copy(_ manifest: StoredManifest, from request: ImportRequest, into target: RepositoryName, depth: Int,
                      progress: inout ImportProgress) async throws {
        guard depth <= 4 else { throw RegistryError(.manifestInvalid, "indexes nest too deep to import") }
        try Task.checkCancellation()
        let parsed: ParsedManifest
        do { parsed = try ParsedManifest(bytes: manifest.bytes, contentType: manifest.record.mediaType) } catch {
            throw RegistryError(.manifestInvalid, error.message)
        }
        for digest in parsed.blobReferences where progress.blobs.insert(digest).inserted {
            guard progress.blobs.count <= ImportProgress.maximumBlobs else {
                throw RegistryError(.unsupported, "an import copies at most \(ImportProgress.maximumBlobs) blobs")
            }
            guard try await metadata.isBlobLinked(registry: request.targetRegistry, repository: target.value, digest: digest) == false else { continue }
            let content = try await openBlob(registry: request.sourceRegistry, repository: request.sourceRepository, digest: digest)
            if let body = content.body {
                _ = try await uploadBlob(registry: request.targetRegistry, repository: target, digest: digest, body: body)
            } else {
                _ = try await uploadBlob(registry: request.targetRegistry, repository: target, digest: digest, body: EmptyBuffers())
            }
        }
        // An index may list a manifest many times, and manifests under it may share children: each is copied once.
        for digest in parsed.manifestReferences where progress.manifests.insert(digest).inserted {
            guard progress.manifests.count <= ImportProgress.maximumManifests else {
                throw RegistryError(.unsupported, "an import copies at most \(ImportProgress.maximumManifests) manifests")
            }
            let child = try await self.manifest(registry: request.sourceRegistry, repository: request.sourceRepository, reference: .digest(digest))
            try await copy(child, from: request, into: target, depth: depth + 1, progress: &progress)
            _ = try await putManifest(registry: request.targetRegistry, repository: target, reference: .digest(digest), bytes: child.bytes,
                                      contentType: child.record.mediaType)
        }
        if depth == 0, !request.targetTags.contains(where: { $0.repository.value == target.value }) {
            _ = try await putManifest(registry: request.targetRegistry, repository: target, reference: .digest(manifest.record.digest),
                                      bytes: manifest.bytes, contentType: manifest.record.mediaType)
        }
    }
}

/// What one import has copied so far, and how much it may.
private struct ImportProgress {
    static let maximumManifests = 1_000
    static let maximumBlobs = 10_000
    var manifests: Set<Digest> = []
    var blobs: Set<Digest> = []
}

/// No bytes (an empty blob's body).
private struct EmptyBuffers: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    struct AsyncIterator: AsyncIteratorProtocol {
        mutating func next() async throws -> ByteBuffer? { nil }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator() }
}
