import CofferStorage
import Foundation
import OCIModels
import SQLMetadataStore
import Testing

/// The metadata half of `coffer backup`: the snapshot is taken from a live store, and made to agree with the objects
/// copied after it. Garbage (a record nothing references, whose object collection removed meanwhile) is dropped; an
/// object a manifest needs must never be missing from a backup that claims success.
@Suite struct SQLiteBackupTests {
    private func digest(_ character: Character) -> Digest {
        try! Digest(parsing: "sha256:" + String(repeating: character, count: 64))
    }

    @Test func theSnapshotAgreesWithTheCopiedObjects() async throws {
        let directory = temporaryDirectory()
        let store = try await SQLMetadataStore(sessions: try await SQLiteSessions.open(path: directory + "/metadata.sqlite"))
        try await store.createRegistry(RegistryRecord(name: "r", wrappedMasterKey: [1], keyEncryptionKeyID: "k", createdAt: 1))
        // A manifest (its own content object) referencing a layer; and a layer nothing references.
        let (manifestDigest, layer, loose) = (digest("a"), digest("b"), digest("c"))
        try await store.commitBlob(BlobRecord(registry: "r", digest: layer, size: 10, objectKey: "objects/layer"), repository: "app")
        try await store.commitBlob(BlobRecord(registry: "r", digest: loose, size: 10, objectKey: "objects/loose"), repository: "app")
        try await store.putManifest(ManifestRecord(registry: "r", repository: "app", digest: manifestDigest, mediaType: MediaTypes.ociManifest, size: 10,
                                                   artifactType: nil, subject: nil, sealedAnnotations: nil, createdAt: 1),
                                    content: BlobRecord(registry: "r", digest: manifestDigest, size: 10, objectKey: "objects/manifest"),
                                    references: .init(blobs: [layer]), tag: "v1")
        try await store.recordReferences(registry: "r", repository: "app", manifest: manifestDigest, blobs: [layer])
        _ = try await store.createUpload(UploadRecord(id: "u1", registry: "r", repository: "app", startedAt: 1), limits: UploadLimits(perRepository: 9, perPrincipal: 9))

        // Taken while the store is open (the server running).
        let first = directory + "/first.sqlite"
        try await SQLiteBackup.snapshot(directory + "/metadata.sqlite", into: first)
        // The layer a manifest needs is missing: no backup.
        let failure = await #expect(throws: SQLiteBackup.MissingObjects.self) {
            _ = try await SQLiteBackup.reconcile(first) { $0 != "objects/layer" }
        }
        #expect(failure?.keys == ["objects/layer"])

        // Only the loose layer is missing: its record is dropped, the rest kept, the upload session forgotten.
        let second = directory + "/second.sqlite"
        try await SQLiteBackup.snapshot(directory + "/metadata.sqlite", into: second)
        let (kept, dropped) = try await SQLiteBackup.reconcile(second) { $0 != "objects/loose" }
        #expect(kept == 2 && dropped == 1)
        let copy = try await SQLMetadataStore(sessions: try await SQLiteSessions.open(path: second))
        #expect(try await copy.blob(registry: "r", digest: loose) == nil)
        #expect(try await copy.isBlobLinked(registry: "r", repository: "app", digest: loose) == false)
        #expect(try await copy.isBlobLinked(registry: "r", repository: "app", digest: layer))
        #expect(try await copy.resolveTag(registry: "r", repository: "app", tag: "v1") == manifestDigest)
        #expect(try await copy.upload(id: "u1") == nil)
        // The live store is untouched.
        #expect(try await store.blob(registry: "r", digest: loose) != nil)
        #expect(try await store.upload(id: "u1") != nil)
        try await copy.close()
        try await store.close()
    }
}
