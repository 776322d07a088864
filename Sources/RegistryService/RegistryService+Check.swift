import CofferStorage
import Envelope
import NIOCore
import OCIModels

/// What `coffer check` found: counts, and each problem with whether `--repair` fixed it.
public struct ConsistencyReport: Sendable {
    public enum Kind: String, Sendable {
        /// The registry's master key cannot be unwrapped (its vault key disabled, deleted or purged): its objects
        /// cannot be authenticated.
        case keyUnavailable = "key-unavailable"
        /// A blob record whose object is gone.
        case missingObject = "missing-object"
        /// An object whose header or commit record does not authenticate under its registry's key, or whose length
        /// is not its record's.
        case corruptObject = "corrupt-object"
        /// (`--deep`) An object that decrypts, but not to bytes of its digest, or whose segments fail authentication.
        case digestMismatch = "digest-mismatch"
        /// A tag naming a manifest the repository does not hold.
        case danglingTag = "dangling-tag"
        /// A manifest whose content record is gone.
        case manifestWithoutContent = "manifest-without-content"
        /// An object no record names, older than the collection grace period.
        case strayObject = "stray-object"
    }

    public struct Finding: Sendable {
        public let kind: Kind
        public let registry: String
        public let subject: String
        public let detail: String
        public var repaired = false
    }

    public var registries = 0
    public var blobRecords = 0
    public var objectsAuthenticated = 0
    public var objectsDecrypted = 0
    public var bytesDecrypted: Int64 = 0
    public var manifests = 0
    public var tags = 0
    public var findings: [Finding] = []

    /// Problems `--repair` did not (or could not safely) fix.
    public var unrepaired: [Finding] { findings.filter { !$0.repaired } }
}

extension RegistryService {
    /// Verifies metadata against objects: every record's object exists and authenticates under its registry's key
    /// (`deep`: decrypts to bytes of its digest), every tag names a manifest, every manifest has its content, and no
    /// object outlives the records naming it beyond `strayBefore`. `repair` fixes only what loses nothing: stray
    /// objects are deleted (as collection would), and a record whose object is lost is forgotten when no manifest is
    /// or references it (so clients upload the blob again instead of being told it is there). Data a manifest
    /// references is never deleted.
    public func checkConsistency(deep: Bool, repair: Bool, strayBefore cutoff: Int64) async throws -> ConsistencyReport {
        var report = ConsistencyReport()
        for registry in try await metadata.registries() {
            report.registries += 1
            try await checkRegistry(registry.name, deep: deep, repair: repair, strayBefore: cutoff, into: &report)
        }
        return report
    }

    private func checkRegistry(_ registry: String, deep: Bool, repair: Bool, strayBefore cutoff: Int64, into report: inout ConsistencyReport) async throws {
        func found(_ kind: ConsistencyReport.Kind, _ subject: String, _ detail: String, repaired: Bool = false) {
            report.findings.append(.init(kind: kind, registry: registry, subject: subject, detail: detail, repaired: repaired))
        }
        var masterKey: RegistryMasterKey?
        do {
            masterKey = try await self.masterKey(registry: registry)
        } catch {
            found(.keyUnavailable, registry, "\(Self.translate(error))")
        }
        // Objects listed before records are read: an object published meanwhile has its record in the read, or is new.
        let objects = try await blobs.list(prefix: Self.blobPrefix(registry: registry))
        let named = try await metadata.blobObjectKeys(registry: registry)
        var last: String?
        while true {
            let page = try await metadata.blobRecords(registry: registry, after: last, limit: Self.collectionBatch)
            for record in page {
                report.blobRecords += 1
                // Beside a running server, collection may remove a record and its object after the page was read:
                // a problem counts only if the record still names that object.
                func stillNamed() async throws -> Bool {
                    try await metadata.blob(registry: registry, digest: record.digest)?.objectKey == record.objectKey
                }
                guard try await blobs.size(record.objectKey) != nil else {
                    guard try await stillNamed() else { continue }
                    let forgotten = repair ? try await metadata.forgetUnreferencedBlob(registry: registry, digest: record.digest) : false
                    found(.missingObject, record.digest.description, "object \(record.objectKey) is gone"
                          + (repair && !forgotten ? "; a manifest needs it: restore it from a backup" : ""), repaired: forgotten)
                    continue
                }
                guard let masterKey else { continue }
                let reader: SealedObjectReader
                do {
                    reader = try await SealedObjectReader.open(store: blobs, key: record.objectKey, masterKey: masterKey,
                                                               digest: record.digest, expectedLength: record.size)
                    report.objectsAuthenticated += 1
                } catch {
                    if try await stillNamed() {
                        found(.corruptObject, record.digest.description, "object \(record.objectKey): \(Self.translate(error))")
                    }
                    continue
                }
                guard deep else { continue }
                do {
                    var hasher = DigestHasher(record.digest.algorithm)
                    if record.size > 0 {
                        for try await buffer in reader.stream(range: 0...(record.size - 1)) {
                            buffer.withUnsafeReadableBytes { hasher.update($0) }
                            report.bytesDecrypted += Int64(buffer.readableBytes)
                        }
                    }
                    report.objectsDecrypted += 1
                    let actual = hasher.finalize()
                    if actual != record.digest { found(.digestMismatch, record.digest.description, "object \(record.objectKey) decrypts to \(actual)") }
                } catch {
                    if try await stillNamed() {
                        found(.digestMismatch, record.digest.description, "object \(record.objectKey) does not decrypt: \(Self.translate(error))")
                    }
                }
            }
            if page.count < Self.collectionBatch { break }
            last = page.last?.digest.description
        }
        for repository in try await allRepositories(registry) {
            for (tag, digest) in try await metadata.tagsWithDigests(registry: registry, repository: repository) {
                report.tags += 1
                // Both read again, so that a tag moved or a manifest deleted meanwhile is not taken for damage.
                if try await metadata.manifest(registry: registry, repository: repository, digest: digest) == nil,
                   try await metadata.resolveTag(registry: registry, repository: repository, tag: tag) == digest {
                    found(.danglingTag, "\(repository):\(tag)", "names \(digest), which the repository does not hold")
                }
            }
            for manifest in try await metadata.manifests(registry: registry, repository: repository) {
                report.manifests += 1
                if try await metadata.blob(registry: registry, digest: manifest.digest) == nil,
                   try await metadata.manifest(registry: registry, repository: repository, digest: manifest.digest) != nil {
                    found(.manifestWithoutContent, "\(repository)@\(manifest.digest)", "the manifest's content record is gone")
                }
            }
        }
        for key in objects where !named.contains(key) && (Self.objectKeyTime(key) ?? 0) < cutoff {
            var deleted = false
            if repair {
                try await blobs.delete(key)
                deleted = true
            }
            found(.strayObject, key, "no record names it", repaired: deleted)
        }
    }

    private func allRepositories(_ registry: String) async throws -> [String] {
        var result: [String] = []
        while true {
            let page = try await metadata.repositories(registry: registry, after: result.last, limit: Self.collectionBatch)
            result += page
            if page.count < Self.collectionBatch { return result }
        }
    }
}
