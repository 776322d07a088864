import CofferStorage
import Foundation
import OCIModels
@testable import SQLMetadataStore
import Testing

/// Manifests stored before references were recorded (the schema before garbage collection) must hold back
/// collection until their references are recorded; otherwise their layers would look unreferenced.
@Suite struct ReferenceBackfillTests {
    @Test(arguments: SQLStoreBackend.all)
    func collectionWaitsForManifestsWithoutRecordedReferences(_ backend: SQLStoreBackend) async throws {
        let store = try await backend.make()
        defer { Task { try await store.close() } }
        let layer = try Digest(parsing: "sha256:" + String(repeating: "d", count: 64))
        let image = try Digest(parsing: "sha256:" + String(repeating: "1", count: 64))
        try await store.commitBlob(BlobRecord(registry: "r", digest: layer, size: 1, objectKey: "k/layer"), repository: "app")
        try await store.putManifest(
            ManifestRecord(registry: "r", repository: "app", digest: image, mediaType: MediaTypes.ociManifest, size: 1,
                           artifactType: nil, subject: nil, sealedAnnotations: nil, createdAt: 1),
            content: BlobRecord(registry: "r", digest: image, size: 1, objectKey: "k/image"),
            references: ManifestReferences(blobs: [layer]), tag: "v1")
        // As an older schema left it: the manifest is there, its references are not.
        try await store.sessions.transaction { db in
            try await db.raw("DELETE FROM manifest_blobs").run()
            try await db.raw("UPDATE manifests SET references_recorded = 0").run()
        }
        let future = Int64(Date().timeIntervalSince1970) + 60
        await #expect(throws: StorageError.self) {
            _ = try await store.removeUnreferencedBlobs(registry: "r", unusedBefore: future, limit: 10)
        }
        #expect(try await store.blob(registry: "r", digest: layer) != nil)
        #expect(try await store.manifestsWithoutReferences(registry: "r").map(\.digest) == [image])
        try await store.recordReferences(registry: "r", repository: "app", manifest: image, blobs: [layer])
        #expect(try await store.manifestsWithoutReferences(registry: "r").isEmpty)
        #expect(try await store.removeUnreferencedBlobs(registry: "r", unusedBefore: future, limit: 10).isEmpty)
        // A manifest deleted meanwhile gets no references recorded (they would pin its blobs for ever).
        try await store.recordReferences(registry: "r", repository: "app", manifest: layer, blobs: [layer])
        #expect(try await store.deleteManifest(registry: "r", repository: "app", digest: image))
        #expect(try await store.removeUnreferencedBlobs(registry: "r", unusedBefore: future, limit: 10).map(\.digest) == [image, layer].sorted { $0.description < $1.description })
    }
}
