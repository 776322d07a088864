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
    /// Records a committed blob (keeping an existing record of the same digest) and links it into the repository;
    /// marks the blob used now. Returns the record in effect: when it is not `blob`, `blob`'s object is not needed.
    @discardableResult
    func commitBlob(_ blob: BlobRecord, repository: String) async throws -> BlobRecord
    func isBlobLinked(registry: String, repository: String, digest: Digest) async throws -> Bool
    /// Links an existing blob into a repository (cross-repository mount) and marks it used now; false when the
    /// registry has no such blob (any more: garbage collection may have just removed it).
    func linkBlob(registry: String, repository: String, digest: Digest) async throws -> Bool
    /// Removes a blob from a repository; false when it was not linked there.
    func unlinkBlob(registry: String, repository: String, digest: Digest) async throws -> Bool

    /// Marks a blob used now (a client found it present and may reference it soon), so that garbage collection
    /// leaves it alone for its grace period. Cheap when the blob was marked recently.
    func markBlobUsed(registry: String, digest: Digest) async throws

    // Manifests and tags
    /// Records a manifest with its references, its content (as a blob) and optionally a tag pointing at it, in one
    /// transaction that also checks the references: every blob in `references` must be linked into the repository
    /// and every manifest in `references` present in it, else ``MissingReferenceError`` and nothing is written.
    /// `content` is the manifest's newly stored content, or nil when the registry already holds a blob of the
    /// manifest's digest, which must still be there (else ``MissingReferenceError`` too).
    func putManifest(_ manifest: ManifestRecord, content: BlobRecord?, references: ManifestReferences, tag: String?) async throws
    func manifest(registry: String, repository: String, digest: Digest) async throws -> ManifestRecord?
    func resolveTag(registry: String, repository: String, tag: String) async throws -> Digest?
    /// The manifest a tag points at, in one read (the hot path of pulls by tag).
    func taggedManifest(registry: String, repository: String, tag: String) async throws -> ManifestRecord?
    /// Removes a manifest and every tag that points at it; false when it was not there.
    func deleteManifest(registry: String, repository: String, digest: Digest) async throws -> Bool
    func deleteTag(registry: String, repository: String, tag: String) async throws -> Bool
    /// Removes a repository: its tags, manifests, blob links and its name (the blobs stay until garbage collection).
    /// Returns the manifest digests and tags it held; empty when there was no such repository.
    func deleteRepository(registry: String, repository: String) async throws -> (manifests: [String], tags: [String])
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
    /// Every tag of a repository with the digest it names, ordered by tag (one query, for ACR's metadata API).
    func tagsWithDigests(registry: String, repository: String) async throws -> [(name: String, digest: Digest)]

    // Garbage collection
    /// Manifests stored before references were recorded (an older schema); collection waits until they have them.
    func manifestsWithoutReferences(registry: String) async throws -> [ManifestRecord]
    /// Records the blob references of a manifest stored without them; nothing when the manifest is gone.
    func recordReferences(registry: String, repository: String, manifest: Digest, blobs: [Digest]) async throws
    /// Removes, in one transaction, up to `limit` blobs of the registry that no manifest references, that are no
    /// manifest's content, and that were last used before `unusedBefore` (seconds since 1970), with their
    /// repository links. Returns them (their objects are for the caller to delete). Throws `.conflict` while the
    /// registry has manifests without recorded references.
    func removeUnreferencedBlobs(registry: String, unusedBefore: Int64, limit: Int) async throws -> [BlobRecord]
    /// The object keys of every blob record of the registry (to find objects no record names).
    func blobObjectKeys(registry: String) async throws -> Set<String>

    /// The registry's blob records in digest order, after `last` (`coffer check` walks them a page at a time).
    func blobRecords(registry: String, after last: String?, limit: Int) async throws -> [BlobRecord]

    /// Removes a blob record and its repository links, unless a manifest is or references it (then false): what
    /// `coffer check --repair` does to a record whose object is lost.
    func forgetUnreferencedBlob(registry: String, digest: Digest) async throws -> Bool
    /// The bytes the registry's blobs and manifests take (their sizes before encryption), for `listUsages`.
    func storedBytes(registry: String) async throws -> Int64

    // Uploads
    /// Records a new upload session unless its repository or its principal already has `limits` open ones
    /// (counted and inserted in one transaction, so concurrent starts cannot pass the limit together).
    func createUpload(_ upload: UploadRecord, limits: UploadLimits) async throws -> UploadAdmission
    func upload(id: String) async throws -> UploadRecord?
    /// Notes activity on an upload (a chunk arrived), which keeps it from expiring.
    func touchUpload(id: String, at time: Int64) async throws
    func deleteUpload(id: String) async throws
    func uploads() async throws -> [UploadRecord]
    /// How many upload sessions are open (for the metrics, scraped often: a count, not the records).
    func uploadCount() async throws -> Int
    /// Uploads with no activity since `before` (seconds since 1970), oldest first.
    func idleUploads(before: Int64, limit: Int) async throws -> [UploadRecord]

    /// Takes or renews the lease `name` for `holder` until `until` (seconds since 1970), unless another holder's
    /// lease is still running at `now`. Background jobs take one so that a cluster runs them once, not per node.
    func acquireLease(name: String, holder: String, until: Int64, now: Int64) async throws -> Bool

    /// Releases connections; the store is unusable afterwards.
    func close() async throws
}
