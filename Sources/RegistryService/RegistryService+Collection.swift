import CofferStorage
import CoreMetrics
import OCIModels
import Synchronization

/// What garbage collection removed from one registry.
public struct CollectionReport: Sendable, Equatable {
    /// Blobs no manifest referenced (layers, configs, contents of deleted manifests), with their records.
    public var blobs = 0
    /// Their plaintext bytes.
    public var bytes: Int64 = 0
    /// Objects in the blob store that no record named (a crash between publishing and recording, a lost race).
    public var strayObjects = 0

    public init() {}
}

/// Garbage collection's and retention's counters, for the metrics endpoint.
public final class CollectionTotals: Sendable {
    private let passes = Counter(label: "coffer_gc_passes_total")
    private let blobsRemoved = Counter(label: "coffer_gc_blobs_removed_total")
    private let bytesRemoved = Counter(label: "coffer_gc_bytes_removed_total")
    private let strayObjectsRemoved = Counter(label: "coffer_gc_stray_objects_removed_total")
    /// Retention's removals, beside garbage collection's (made here so that it is exposed, at 0, from the start).
    let retentionRemoved = Counter(label: "coffer_retention_manifests_removed_total")

    func add(_ report: CollectionReport) {
        passes.increment()
        blobsRemoved.increment(by: report.blobs)
        bytesRemoved.increment(by: report.bytes)
        strayObjectsRemoved.increment(by: report.strayObjects)
    }

}

extension RegistryService {
    /// Blobs removed per metadata transaction.
    static let collectionBatch = 500

    /// Garbage collection of one registry: removes blobs that no manifest of any repository references and that
    /// were last used (committed, mounted, found by a client's HEAD, stored as a manifest) before `unusedBefore`,
    /// then objects no record names that were written before it. Safe beside pushes on any node: each removal is
    /// one transaction that a manifest put (which checks its references in its own) orders against; every write
    /// of an object has its own key; staging is never touched. Manifests stored before references were recorded
    /// are read (under the registry's key) to record them first, so a registry whose key is unavailable keeps
    /// everything.
    public func collectGarbage(registry: String, unusedBefore cutoff: Int64) async throws -> CollectionReport {
        try await recordMissingReferences(registry: registry)
        var report = CollectionReport()
        while true {
            let removed = try await metadata.removeUnreferencedBlobs(registry: registry, unusedBefore: cutoff, limit: Self.collectionBatch)
            for blob in removed {
                // A failed delete leaves a stray object, which a later pass removes.
                try? await blobs.delete(blob.objectKey)
            }
            report.blobs += removed.count
            report.bytes += removed.reduce(0) { $0 + $1.size }
            if removed.count < Self.collectionBatch { break }
        }
        // Listed before the records are read: an object published meanwhile has its record in the read, or is too new.
        let objects = try await blobs.list(prefix: Self.blobPrefix(registry: registry))
        let named = try await metadata.blobObjectKeys(registry: registry)
        for key in objects where !named.contains(key) && (Self.objectKeyTime(key) ?? 0) < cutoff {
            try await blobs.delete(key)
            report.strayObjects += 1
        }
        collectionTotals.add(report)
        if report != CollectionReport() {
            logger.info("garbage collected", metadata: [
                LogKey.registry: .string(registry), "coffer.blobs": .stringConvertible(report.blobs),
                "coffer.bytes": .stringConvertible(report.bytes), "coffer.stray_objects": .stringConvertible(report.strayObjects),
            ])
        }
        return report
    }

    /// Collects every registry; a registry that fails (its key unavailable, say) is logged and skipped.
    public func collectGarbage(unusedBefore cutoff: Int64) async throws {
        for registry in try await metadata.registries() {
            do {
                _ = try await collectGarbage(registry: registry.name, unusedBefore: cutoff)
            } catch {
                logger.warning("garbage collection skipped a registry", metadata: [
                    LogKey.registry: .string(registry.name), "coffer.error": .string(String(describing: Self.translate(error))),
                ])
            }
        }
    }

    /// Records the references of manifests stored before references were recorded, by reading them.
    private func recordMissingReferences(registry: String) async throws {
        for record in try await metadata.manifestsWithoutReferences(registry: registry) {
            let stored = try await manifest(registry: registry, repository: try RepositoryName(record.repository), reference: .digest(record.digest))
            let parsed = try ParsedManifest(bytes: stored.bytes, contentType: record.mediaType, strict: false)
            try await metadata.recordReferences(registry: registry, repository: record.repository, manifest: record.digest,
                                                blobs: parsed.blobReferences)
        }
    }
}
