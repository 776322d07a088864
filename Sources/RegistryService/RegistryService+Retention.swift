import CofferStorage
import Foundation
import OCIModels

extension RegistryService {
    /// A retention policy's pass: deletes the registry's untagged manifests created before `cutoff` (seconds since
    /// 1970), except those still needed — children of an index in the repository (multi-architecture images)
    /// and referrers whose subject is still there. Returns what was deleted (`repository@digest`). Blobs stay
    /// until garbage collection. Index contents are read under the registry's key, so a registry whose key is
    /// unavailable deletes nothing.
    /// - Parameter locks: the registry's image locks by repository: what may not be deleted is kept.
    public func purgeUntaggedManifests(registry: String, createdBefore cutoff: Int64, locks: [String: RepositoryLocks] = [:]) async throws -> [String] {
        var purged: [String] = []
        for repository in try await metadata.repositories(registry: registry, after: nil, limit: nil) {
            let locked = locks[repository] ?? RepositoryLocks()
            if !locked.repository.mayDelete { continue }
            let manifests = try await metadata.manifests(registry: registry, repository: repository)
            let tagged = try await metadata.taggedDigests(registry: registry, repository: repository)
            let present = Set(manifests.map(\.digest))
            var needed: Set<Digest> = []
            for index in manifests where MediaTypes.indexTypes.contains(index.mediaType) {
                let stored = try await manifest(registry: registry, repository: try RepositoryName(repository), reference: .digest(index.digest))
                needed.formUnion(try ParsedManifest(bytes: stored.bytes, contentType: index.mediaType, strict: false).manifestReferences)
            }
            for manifest in manifests where !tagged.contains(manifest.digest) && manifest.createdAt < cutoff && !needed.contains(manifest.digest)
                && locked.manifest(manifest.digest.description).mayDelete {
                if let subject = manifest.subject, present.contains(subject) { continue }
                if try await metadata.deleteManifest(registry: registry, repository: repository, digest: manifest.digest) {
                    purged.append("\(repository)@\(manifest.digest)")
                }
            }
        }
        collectionTotals.retentionRemoved.increment(by: purged.count)
        if !purged.isEmpty {
            logger.info("untagged manifests purged by the retention policy", metadata: [LogKey.registry: .string(registry), "coffer.count": .stringConvertible(purged.count)])
        }
        return purged
    }
}
