import OCIModels

/// A registry: its name and its master key, stored only wrapped by a key-encryption key.
public struct RegistryRecord: Sendable, Equatable {
    public var name: String
    /// The registry master key, wrapped; never stored in plaintext.
    public var wrappedMasterKey: [UInt8]
    /// Which key-encryption key wrapped it (a wrapper's identifier, e.g. `service-managed` or a vault key id).
    public var keyEncryptionKeyID: String
    public var createdAt: Int64

    public init(name: String, wrappedMasterKey: [UInt8], keyEncryptionKeyID: String, createdAt: Int64) {
        self.name = name
        self.wrappedMasterKey = wrappedMasterKey
        self.keyEncryptionKeyID = keyEncryptionKeyID
        self.createdAt = createdAt
    }
}

/// A committed, content-addressed object of one registry (a layer, a config or a manifest).
public struct BlobRecord: Sendable, Equatable {
    public var registry: String
    public var digest: Digest
    /// Plaintext size in bytes.
    public var size: Int64
    /// Where the sealed object lives in the blob store.
    public var objectKey: String

    public init(registry: String, digest: Digest, size: Int64, objectKey: String) {
        self.registry = registry
        self.digest = digest
        self.size = size
        self.objectKey = objectKey
    }
}

/// A manifest present in one repository.
public struct ManifestRecord: Sendable, Equatable {
    public var registry: String
    public var repository: String
    public var digest: Digest
    public var mediaType: String
    public var size: Int64
    public var artifactType: String?
    public var subject: Digest?
    /// The manifest's annotations (for the referrers API), encrypted under the registry master key
    /// and base64-encoded: annotations are content, not names, so they never rest in plaintext.
    public var sealedAnnotations: String?
    public var createdAt: Int64

    public init(
        registry: String, repository: String, digest: Digest, mediaType: String, size: Int64,
        artifactType: String?, subject: Digest?, sealedAnnotations: String?, createdAt: Int64
    ) {
        self.registry = registry
        self.repository = repository
        self.digest = digest
        self.mediaType = mediaType
        self.size = size
        self.artifactType = artifactType
        self.subject = subject
        self.sealedAnnotations = sealedAnnotations
        self.createdAt = createdAt
    }
}

/// An upload session that has been started and not yet completed or cancelled.
public struct UploadRecord: Sendable, Equatable {
    public var id: String
    public var registry: String
    public var repository: String
    public var startedAt: Int64
    /// Who started it (the token's subject), for the per-principal limit; empty when unknown.
    public var principal: String
    /// When a request last wrote to it: sessions idle too long expire.
    public var activeAt: Int64

    public init(id: String, registry: String, repository: String, startedAt: Int64, principal: String = "", activeAt: Int64? = nil) {
        self.id = id
        self.registry = registry
        self.repository = repository
        self.startedAt = startedAt
        self.principal = principal
        self.activeAt = activeAt ?? startedAt
    }
}

/// How many upload sessions may be open at once.
public struct UploadLimits: Sendable, Equatable {
    public var perRepository: Int
    public var perPrincipal: Int

    public init(perRepository: Int, perPrincipal: Int) {
        self.perRepository = perRepository
        self.perPrincipal = perPrincipal
    }

    public static let unlimited = UploadLimits(perRepository: .max, perPrincipal: .max)
}

/// Whether a new upload session was recorded.
public enum UploadAdmission: Sendable, Equatable {
    case admitted
    /// The repository has this many open sessions already.
    case repositoryAtLimit(Int)
    /// The principal has this many open sessions already.
    case principalAtLimit(Int)
}

/// What a manifest references, for the checks and records of ``MetadataStore/putManifest(_:content:references:tag:)``.
public struct ManifestReferences: Sendable, Equatable {
    /// Blobs (config, layers) that must be linked into the repository.
    public var blobs: [Digest]
    /// Manifests (an index's children) that must be present in the repository.
    public var manifests: [Digest]

    public init(blobs: [Digest] = [], manifests: [Digest] = []) {
        self.blobs = blobs
        self.manifests = manifests
    }
}

/// A manifest's reference that is not (or no longer) in its repository; nothing of the manifest was written.
public struct MissingReferenceError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case blob, manifest, content }
    public let digest: Digest
    public let kind: Kind

    public init(digest: Digest, kind: Kind) {
        self.digest = digest
        self.kind = kind
    }

    public var description: String {
        switch kind {
        case .blob: "blob \(digest) is not in the repository"
        case .manifest: "manifest \(digest) is not in the repository"
        case .content: "the stored content of manifest \(digest) is gone"
        }
    }
}
