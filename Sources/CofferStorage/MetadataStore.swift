import OCIModels

/// Where the registry's metadata lives: the contract every metadata backend implements
/// (embedded SQLite now; PostgreSQL later, on the same SQL).
///
/// Each method is atomic: a reader never observes half of one call's effects.
/// Every implementation must pass the shared conformance suite in `Tests/StorageTests`.
public protocol MetadataStore: Sendable {
    // Registries
    /// Inserts a registry; throws `StorageError.conflict` if the name is taken.
    func createRegistry(_ registry: RegistryRecord) async throws
    func registry(named name: String) async throws -> RegistryRecord?
    func registries() async throws -> [RegistryRecord]
    /// Removes a registry and everything recorded about its content (its objects become unreadable:
    /// their keys went with the registry's master key).
    func deleteRegistry(name: String) async throws
    /// Replaces the wrapped master key (key rotation); throws `.notFound` for an unknown registry.
    func updateRegistryKey(name: String, wrappedMasterKey: [UInt8], keyEncryptionKeyID: String) async throws

    // Blobs
    func blob(registry: String, digest: Digest) async throws -> BlobRecord?
    /// Records a committed blob (keeping an existing record of the same digest) and links it into the repository.
    func commitBlob(_ blob: BlobRecord, repository: String) async throws
    func isBlobLinked(registry: String, repository: String, digest: Digest) async throws -> Bool
    /// Links an existing blob into a repository (cross-repository mount); false when the registry has no such blob.
    func linkBlob(registry: String, repository: String, digest: Digest) async throws -> Bool
    /// Removes a blob from a repository; false when it was not linked there.
    func unlinkBlob(registry: String, repository: String, digest: Digest) async throws -> Bool

    // Manifests and tags
    /// Records a manifest's content (as a blob), the manifest in its repository, and optionally points a tag at it.
    func putManifest(_ manifest: ManifestRecord, content: BlobRecord, tag: String?) async throws
    func manifest(registry: String, repository: String, digest: Digest) async throws -> ManifestRecord?
    func resolveTag(registry: String, repository: String, tag: String) async throws -> Digest?
    /// Removes a manifest and every tag that points at it; false when it was not there.
    func deleteManifest(registry: String, repository: String, digest: Digest) async throws -> Bool
    func deleteTag(registry: String, repository: String, tag: String) async throws -> Bool
    /// Tags in lexical order after `last`, at most `limit` when given.
    func tags(registry: String, repository: String, after last: String?, limit: Int?) async throws -> [String]
    func repositoryExists(registry: String, repository: String) async throws -> Bool
    /// Repositories in lexical order after `last`, at most `limit` when given.
    func repositories(registry: String, after last: String?, limit: Int?) async throws -> [String]
    /// Manifests of the repository whose subject is `subject`.
    func referrers(registry: String, repository: String, subject: Digest) async throws -> [ManifestRecord]
    /// Every manifest of a repository, ordered by digest (retention policies look them over).
    func manifests(registry: String, repository: String) async throws -> [ManifestRecord]
    /// The digests that have at least one tag in a repository.
    func taggedDigests(registry: String, repository: String) async throws -> Set<Digest>

    // Uploads
    func createUpload(_ upload: UploadRecord) async throws
    func upload(id: String) async throws -> UploadRecord?
    func deleteUpload(id: String) async throws
    func uploads() async throws -> [UploadRecord]

    /// Takes or renews the lease `name` for `holder` until `until` (seconds since 1970), unless another holder's
    /// lease is still running at `now`. Background jobs take one so that a cluster runs them once, not per node.
    func acquireLease(name: String, holder: String, until: Int64, now: Int64) async throws -> Bool

    /// Releases connections; the store is unusable afterwards.
    func close() async throws
}
