import CofferStorage
import Foundation
import OCIModels
import SQLMetadataStore
import Testing

/// The one suite every metadata store must pass. Add a backend by adding a factory to `backends`.
struct MetadataStoreFactory: CustomTestStringConvertible, Sendable {
    let name: String
    let make: @Sendable () async throws -> any MetadataStore
    var testDescription: String { name }

    static let backends: [MetadataStoreFactory] = SQLStoreBackend.all.map { backend in
        MetadataStoreFactory(name: backend.name) { try await backend.make() }
    }
}

private func digest(_ character: Character) -> Digest {
    try! Digest(parsing: "sha256:" + String(repeating: character, count: 64))
}

private func manifest(_ repository: String, _ digest: Digest, subject: Digest? = nil, artifactType: String? = nil) -> ManifestRecord {
    ManifestRecord(registry: "r", repository: repository, digest: digest, mediaType: MediaTypes.ociManifest, size: 10,
                   artifactType: artifactType, subject: subject, sealedAnnotations: nil, createdAt: 1)
}

private func content(_ digest: Digest) -> BlobRecord {
    BlobRecord(registry: "r", digest: digest, size: 10, objectKey: "k/\(digest.encoded)")
}

@Suite struct MetadataStoreConformance {
    @Test(arguments: MetadataStoreFactory.backends)
    func registriesAreUniqueAndKeysRotate(_ factory: MetadataStoreFactory) async throws {
        let store = try await factory.make()
        defer { Task { try await store.close() } }
        try await store.createRegistry(RegistryRecord(name: "r", wrappedMasterKey: [1, 2, 3], keyEncryptionKeyID: "k1", createdAt: 5))
        await #expect(throws: StorageError.self) {
            try await store.createRegistry(RegistryRecord(name: "r", wrappedMasterKey: [9], keyEncryptionKeyID: "k9", createdAt: 6))
        }
        try await store.updateRegistryKey(name: "r", wrappedMasterKey: [4, 5], keyEncryptionKeyID: "k2")
        let record = try #require(try await store.registry(named: "r"))
        #expect(record.wrappedMasterKey == [4, 5] && record.keyEncryptionKeyID == "k2" && record.createdAt == 5)
        await #expect(throws: StorageError.self) { try await store.updateRegistryKey(name: "nope", wrappedMasterKey: [], keyEncryptionKeyID: "") }
        #expect(try await store.registries().map(\.name) == ["r"])
        try await store.commitBlob(content(digest("a")), repository: "app")
        try await store.deleteRegistry(name: "r")
        #expect(try await store.registry(named: "r") == nil)
        #expect(try await store.blob(registry: "r", digest: digest("a")) == nil)
        #expect(try await !store.repositoryExists(registry: "r", repository: "app"))
    }

    @Test(arguments: MetadataStoreFactory.backends)
    func blobsLinkPerRepository(_ factory: MetadataStoreFactory) async throws {
        let store = try await factory.make()
        defer { Task { try await store.close() } }
        let blob = content(digest("a"))
        try await store.commitBlob(blob, repository: "one")
        #expect(try await store.blob(registry: "r", digest: blob.digest) == blob)
        #expect(try await store.isBlobLinked(registry: "r", repository: "one", digest: blob.digest))
        #expect(try await !store.isBlobLinked(registry: "r", repository: "two", digest: blob.digest))
        #expect(try await store.linkBlob(registry: "r", repository: "two", digest: blob.digest))
        #expect(try await !store.linkBlob(registry: "r", repository: "two", digest: digest("b")))
        #expect(try await store.unlinkBlob(registry: "r", repository: "one", digest: blob.digest))
        #expect(try await !store.unlinkBlob(registry: "r", repository: "one", digest: blob.digest))
        #expect(try await store.isBlobLinked(registry: "r", repository: "two", digest: blob.digest))
        // A second commit of the same digest keeps the first record.
        try await store.commitBlob(BlobRecord(registry: "r", digest: blob.digest, size: 99, objectKey: "other"), repository: "three")
        #expect(try await store.blob(registry: "r", digest: blob.digest)?.objectKey == blob.objectKey)
        #expect(try await store.repositories(registry: "r", after: nil, limit: nil) == ["one", "three", "two"])
    }

    @Test(arguments: MetadataStoreFactory.backends)
    func manifestsTagsAndPagination(_ factory: MetadataStoreFactory) async throws {
        let store = try await factory.make()
        defer { Task { try await store.close() } }
        let first = digest("1"), second = digest("2")
        try await store.putManifest(manifest("app", first), content: content(first), references: .init(), tag: "v1")
        try await store.putManifest(manifest("app", second), content: content(second), references: .init(), tag: "v2")
        try await store.putManifest(manifest("app", second), content: content(second), references: .init(), tag: "latest")
        try await store.putManifest(manifest("app", first), content: content(first), references: .init(), tag: "v2")
        #expect(try await store.resolveTag(registry: "r", repository: "app", tag: "v2") == first)
        #expect(try await store.taggedManifest(registry: "r", repository: "app", tag: "v2")?.digest == first)
        #expect(try await store.taggedManifest(registry: "r", repository: "app", tag: "latest")?.digest == second)
        #expect(try await store.taggedManifest(registry: "r", repository: "app", tag: "nope") == nil)
        #expect(try await store.taggedManifest(registry: "r", repository: "other", tag: "v2") == nil)
        #expect(try await store.tags(registry: "r", repository: "app", after: nil, limit: nil) == ["latest", "v1", "v2"])
        #expect(try await store.tags(registry: "r", repository: "app", after: "latest", limit: 1) == ["v1"])
        #expect(try await store.tags(registry: "r", repository: "app", after: "v2", limit: 5).isEmpty)
        #expect(try await store.repositoryExists(registry: "r", repository: "app"))
        #expect(try await !store.repositoryExists(registry: "r", repository: "other"))
        #expect(try await store.blob(registry: "r", digest: first) != nil)

        #expect(try await store.deleteTag(registry: "r", repository: "app", tag: "latest"))
        #expect(try await !store.deleteTag(registry: "r", repository: "app", tag: "latest"))
        #expect(try await store.deleteManifest(registry: "r", repository: "app", digest: first))
        #expect(try await store.manifest(registry: "r", repository: "app", digest: first) == nil)
        #expect(try await store.taggedManifest(registry: "r", repository: "app", tag: "v2") == nil)
        #expect(try await store.tags(registry: "r", repository: "app", after: nil, limit: nil).isEmpty)
        #expect(try await !store.deleteManifest(registry: "r", repository: "app", digest: first))
        #expect(try await store.manifest(registry: "r", repository: "app", digest: second) != nil)
    }

    @Test(arguments: MetadataStoreFactory.backends)
    func referrersBySubject(_ factory: MetadataStoreFactory) async throws {
        let store = try await factory.make()
        defer { Task { try await store.close() } }
        let subject = digest("5")
        try await store.putManifest(manifest("app", digest("6"), subject: subject, artifactType: "a/sig"), content: content(digest("6")), references: .init(), tag: nil)
        try await store.putManifest(manifest("app", digest("7"), subject: subject, artifactType: "a/sbom"), content: content(digest("7")), references: .init(), tag: nil)
        try await store.putManifest(manifest("other", digest("8"), subject: subject), content: content(digest("8")), references: .init(), tag: nil)
        let referrers = try await store.referrers(registry: "r", repository: "app", subject: subject)
        #expect(Set(referrers.map(\.digest)) == [digest("6"), digest("7")])
        #expect(Set(referrers.compactMap(\.artifactType)) == ["a/sig", "a/sbom"])
    }

    @Test(arguments: MetadataStoreFactory.backends)
    func manifestsAndTaggedDigestsOfARepository(_ factory: MetadataStoreFactory) async throws {
        let store = try await factory.make()
        defer { Task { try await store.close() } }
        try await store.putManifest(manifest("app", digest("b")), content: content(digest("b")), references: .init(), tag: "v1")
        try await store.putManifest(manifest("app", digest("a")), content: content(digest("a")), references: .init(), tag: nil)
        try await store.putManifest(manifest("other", digest("c")), content: content(digest("c")), references: .init(), tag: "v1")
        #expect(try await store.manifests(registry: "r", repository: "app").map(\.digest) == [digest("a"), digest("b")])
        #expect(try await store.taggedDigests(registry: "r", repository: "app") == [digest("b")])
        #expect(try await store.tagsWithDigests(registry: "r", repository: "app").map { "\($0.name)=\($0.digest)" } == ["v1=\(digest("b"))"])
        _ = try await store.deleteTag(registry: "r", repository: "app", tag: "v1")
        #expect(try await store.taggedDigests(registry: "r", repository: "app").isEmpty)
        #expect(try await store.manifests(registry: "r", repository: "nothing").isEmpty)
    }

    @Test(arguments: MetadataStoreFactory.backends)
    func aDeletedRepositoryLeavesNothingBehindButItsBlobs(_ factory: MetadataStoreFactory) async throws {
        let store = try await factory.make()
        defer { Task { try await store.close() } }
        try await store.putManifest(manifest("app", digest("b")), content: content(digest("b")), references: .init(), tag: "v1")
        try await store.putManifest(manifest("app", digest("a")), content: content(digest("a")), references: .init(), tag: nil)
        try await store.putManifest(manifest("other", digest("c")), content: content(digest("c")), references: .init(), tag: "v1")
        let deleted = try await store.deleteRepository(registry: "r", repository: "app")
        #expect(deleted.manifests == [digest("a").description, digest("b").description] && deleted.tags == ["v1"])
        #expect(try await !store.repositoryExists(registry: "r", repository: "app"))
        #expect(try await store.repositories(registry: "r", after: nil, limit: nil) == ["other"])
        #expect(try await store.manifests(registry: "r", repository: "app").isEmpty)
        #expect(try await store.resolveTag(registry: "r", repository: "other", tag: "v1") == digest("c"))
        #expect(try await store.blob(registry: "r", digest: digest("a")) != nil)
        let again = try await store.deleteRepository(registry: "r", repository: "app")
        #expect(again.manifests.isEmpty && again.tags.isEmpty)
    }

    @Test(arguments: MetadataStoreFactory.backends)
    func leasesHaveOneHolderUntilTheyRunOut(_ factory: MetadataStoreFactory) async throws {
        let store = try await factory.make()
        defer { Task { try await store.close() } }
        #expect(try await store.acquireLease(name: "jobs", holder: "node-a", until: 100, now: 0))
        #expect(try await !store.acquireLease(name: "jobs", holder: "node-b", until: 150, now: 50))
        #expect(try await store.acquireLease(name: "jobs", holder: "node-a", until: 200, now: 90))  // renewal
        #expect(try await !store.acquireLease(name: "jobs", holder: "node-b", until: 250, now: 150))
        #expect(try await store.acquireLease(name: "other", holder: "node-b", until: 250, now: 150))
        #expect(try await store.acquireLease(name: "jobs", holder: "node-b", until: 300, now: 200))  // ran out
        #expect(try await !store.acquireLease(name: "jobs", holder: "node-a", until: 300, now: 201))
    }

    @Test(arguments: MetadataStoreFactory.backends)
    func uploadsAreRecordedAndRemoved(_ factory: MetadataStoreFactory) async throws {
        let store = try await factory.make()
        defer { Task { try await store.close() } }
        #expect(try await store.createUpload(UploadRecord(id: "u1", registry: "r", repository: "app", startedAt: 10), limits: .unlimited) == .admitted)
        #expect(try await store.createUpload(UploadRecord(id: "u2", registry: "r", repository: "app", startedAt: 11, principal: "p"),
                                             limits: .unlimited) == .admitted)
        #expect(try await store.upload(id: "u1")?.repository == "app")
        #expect(try await store.upload(id: "u2")?.principal == "p")
        #expect(try await store.uploads().map(\.id) == ["u1", "u2"])
        #expect(try await store.uploadCount() == 2)
        try await store.deleteUpload(id: "u1")
        #expect(try await store.upload(id: "u1") == nil)
        await #expect(throws: (any Error).self) {
            try await store.createUpload(UploadRecord(id: "u2", registry: "r", repository: "x", startedAt: 1), limits: .unlimited)
        }
    }

    @Test(arguments: MetadataStoreFactory.backends)
    func uploadLimitsCountPerRepositoryAndPerPrincipal(_ factory: MetadataStoreFactory) async throws {
        let store = try await factory.make()
        defer { Task { try await store.close() } }
        let limits = UploadLimits(perRepository: 2, perPrincipal: 3)
        func start(_ id: String, _ repository: String, _ principal: String) async throws -> UploadAdmission {
            try await store.createUpload(UploadRecord(id: id, registry: "r", repository: repository, startedAt: 1, principal: principal), limits: limits)
        }
        #expect(try await start("a1", "app", "alice") == .admitted)
        #expect(try await start("a2", "app", "bob") == .admitted)
        #expect(try await start("a3", "app", "carol") == .repositoryAtLimit(2))
        #expect(try await store.upload(id: "a3") == nil)
        #expect(try await start("b1", "web", "alice") == .admitted)
        #expect(try await start("c1", "api", "alice") == .admitted)
        #expect(try await start("d1", "db", "alice") == .principalAtLimit(3))
        // Another registry's repository of the same name counts apart.
        #expect(try await store.createUpload(UploadRecord(id: "x1", registry: "other", repository: "app", startedAt: 1, principal: "zed"),
                                             limits: limits) == .admitted)
        try await store.deleteUpload(id: "a1")
        #expect(try await start("a4", "app", "carol") == .admitted)
    }

    @Test(arguments: MetadataStoreFactory.backends)
    func concurrentStartsNeverPassTheLimit(_ factory: MetadataStoreFactory) async throws {
        let store = try await factory.make()
        defer { Task { try await store.close() } }
        let limits = UploadLimits(perRepository: 5, perPrincipal: 100)
        let outcomes = try await withThrowingTaskGroup(of: UploadAdmission.self) { group in
            for index in 0..<30 {
                group.addTask {
                    try await store.createUpload(UploadRecord(id: "u\(index)", registry: "r", repository: "app", startedAt: 1, principal: "p\(index)"),
                                                 limits: limits)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == .admitted }.count == 5)
        #expect(try await store.uploads().count == 5)
    }

    @Test(arguments: MetadataStoreFactory.backends)
    func idleUploadsAreFoundByTheirLastActivity(_ factory: MetadataStoreFactory) async throws {
        let store = try await factory.make()
        defer { Task { try await store.close() } }
        for (id, started) in [("old", Int64(100)), ("busy", 100), ("new", 500)] {
            _ = try await store.createUpload(UploadRecord(id: id, registry: "r", repository: "app", startedAt: started), limits: .unlimited)
        }
        try await store.touchUpload(id: "busy", at: 400)
        try await store.touchUpload(id: "busy", at: 300)  // never moves back
        #expect(try await store.upload(id: "busy")?.activeAt == 400)
        #expect(try await store.idleUploads(before: 350, limit: 10).map(\.id) == ["old"])
        #expect(try await store.idleUploads(before: 1000, limit: 2).map(\.id) == ["old", "busy"])
    }

    @Test(arguments: MetadataStoreFactory.backends)
    func concurrentWritersAllLand(_ factory: MetadataStoreFactory) async throws {
        let store = try await factory.make()
        defer { Task { try await store.close() } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<40 {
                group.addTask {
                    let value = try Digest(parsing: "sha256:" + String(format: "%064x", index))
                    try await store.putManifest(manifest("app", value), content: content(value), references: .init(), tag: "t\(index)")
                }
            }
            try await group.waitForAll()
        }
        #expect(try await store.tags(registry: "r", repository: "app", after: nil, limit: nil).count == 40)
    }

    @Test(arguments: MetadataStoreFactory.backends)
    func manifestReferencesAreCheckedWhereTheyAreWritten(_ factory: MetadataStoreFactory) async throws {
        let store = try await factory.make()
        defer { Task { try await store.close() } }
        try await store.commitBlob(content(digest("c")), repository: "app")
        try await store.commitBlob(content(digest("d")), repository: "elsewhere")
        let image = digest("1")
        // A blob linked only into another repository is missing here: nothing of the manifest is written.
        await #expect(throws: MissingReferenceError.self) {
            try await store.putManifest(manifest("app", image), content: content(image),
                                        references: ManifestReferences(blobs: [digest("c"), digest("d")]), tag: "v1")
        }
        #expect(try await store.manifest(registry: "r", repository: "app", digest: image) == nil)
        #expect(try await store.blob(registry: "r", digest: image) == nil)
        #expect(try await store.resolveTag(registry: "r", repository: "app", tag: "v1") == nil)
        // An index's children must be in the repository.
        await #expect(throws: MissingReferenceError.self) {
            try await store.putManifest(manifest("app", digest("2")), content: content(digest("2")),
                                        references: ManifestReferences(manifests: [image]), tag: nil)
        }
        // Content the caller expects the registry to hold must still be there.
        await #expect(throws: MissingReferenceError.self) {
            try await store.putManifest(manifest("app", image), content: nil, references: ManifestReferences(blobs: [digest("c")]), tag: nil)
        }
        try await store.putManifest(manifest("app", image), content: content(image), references: ManifestReferences(blobs: [digest("c")]), tag: "v1")
        try await store.putManifest(manifest("app", image), content: nil, references: ManifestReferences(blobs: [digest("c")]), tag: "v2")
        #expect(try await store.resolveTag(registry: "r", repository: "app", tag: "v2") == image)
    }

    @Test(arguments: MetadataStoreFactory.backends)
    func collectionRemovesOnlyUnreferencedBlobsPastTheirGrace(_ factory: MetadataStoreFactory) async throws {
        let store = try await factory.make()
        defer { Task { try await store.close() } }
        let config = digest("c"), layer = digest("d"), shared = digest("e"), orphan = digest("f")
        for blob in [config, layer, shared, orphan] { try await store.commitBlob(content(blob), repository: "app") }
        try await store.commitBlob(content(shared), repository: "other")
        let image = digest("1"), other = digest("2")
        try await store.putManifest(manifest("app", image), content: content(image),
                                    references: ManifestReferences(blobs: [config, layer, shared]), tag: "v1")
        try await store.putManifest(manifest("other", other), content: content(other), references: ManifestReferences(blobs: [shared]), tag: "v1")
        let now = Int64(Date().timeIntervalSince1970)
        // Everything was used just now: within the grace period nothing goes.
        #expect(try await store.removeUnreferencedBlobs(registry: "r", unusedBefore: now - 60, limit: 100).isEmpty)
        let removed = try await store.removeUnreferencedBlobs(registry: "r", unusedBefore: now + 60, limit: 100)
        #expect(removed.map(\.digest) == [orphan])
        #expect(try await store.blob(registry: "r", digest: orphan) == nil)
        #expect(try await !store.isBlobLinked(registry: "r", repository: "app", digest: orphan))
        #expect(try await store.blobObjectKeys(registry: "r") == Set([config, layer, shared, image, other].map { content($0).objectKey }))

        // Deleting the manifest frees its blobs and its content, but not what another manifest still references.
        #expect(try await store.deleteManifest(registry: "r", repository: "app", digest: image))
        let freed = try await store.removeUnreferencedBlobs(registry: "r", unusedBefore: now + 60, limit: 2)
        #expect(freed.map(\.digest) == [image, config])  // in digest order, at most `limit`
        let rest = try await store.removeUnreferencedBlobs(registry: "r", unusedBefore: now + 60, limit: 100)
        #expect(rest.map(\.digest) == [layer])
        #expect(try await store.blob(registry: "r", digest: shared) != nil)
        #expect(try await store.isBlobLinked(registry: "r", repository: "other", digest: shared))
        // Another registry's blobs are not this registry's business.
        #expect(try await store.removeUnreferencedBlobs(registry: "elsewhere", unusedBefore: now + 60, limit: 100).isEmpty)
    }

    @Test(arguments: MetadataStoreFactory.backends)
    func aManifestPutRacingCollectionNeverReferencesARemovedBlob(_ factory: MetadataStoreFactory) async throws {
        let store = try await factory.make()
        defer { Task { try await store.close() } }
        let future = Int64(Date().timeIntervalSince1970) + 60
        // Each order on its own first, so that both outcomes the race below may produce are shown to happen and to
        // be whole: the put first — it lands and its layer is safe from then on; collection first — the layer goes
        // and the put is refused, leaving nothing.
        let kept = try Digest(parsing: "sha256:" + String(repeating: "a", count: 63) + "0")
        let keptImage = try Digest(parsing: "sha256:" + String(repeating: "a", count: 63) + "1")
        try await store.commitBlob(content(kept), repository: "app")
        try await store.putManifest(manifest("app", keptImage), content: content(keptImage), references: ManifestReferences(blobs: [kept]), tag: "first")
        #expect(try await store.removeUnreferencedBlobs(registry: "r", unusedBefore: future, limit: 100).isEmpty)
        #expect(try await store.blob(registry: "r", digest: kept) != nil)
        let lost = try Digest(parsing: "sha256:" + String(repeating: "b", count: 63) + "0")
        let lostImage = try Digest(parsing: "sha256:" + String(repeating: "b", count: 63) + "1")
        try await store.commitBlob(content(lost), repository: "app")
        #expect(try await store.removeUnreferencedBlobs(registry: "r", unusedBefore: future, limit: 100).map(\.digest) == [lost])
        await #expect(throws: MissingReferenceError.self) {
            try await store.putManifest(manifest("app", lostImage), content: content(lostImage), references: ManifestReferences(blobs: [lost]), tag: "second")
        }
        #expect(try await store.manifest(registry: "r", repository: "app", digest: lostImage) == nil)
        #expect(try await store.resolveTag(registry: "r", repository: "app", tag: "second") == nil)
        _ = try await store.deleteTag(registry: "r", repository: "app", tag: "first")
        _ = try await store.deleteManifest(registry: "r", repository: "app", digest: keptImage)
        _ = try await store.removeUnreferencedBlobs(registry: "r", unusedBefore: future, limit: 100)

        // Then the two at once, many times: whichever wins, never a manifest over a removed blob.
        var landed = 0
        for index in 0..<30 {
            let layer = try Digest(parsing: "sha256:" + String(format: "%064x", index))
            let image = try Digest(parsing: "sha256:" + String(format: "%063xf", index))
            try await store.commitBlob(content(layer), repository: "app")
            async let put: Bool = {
                do {
                    try await store.putManifest(manifest("app", image), content: content(image),
                                                references: ManifestReferences(blobs: [layer]), tag: "t\(index)")
                    return true
                } catch is MissingReferenceError { return false }
            }()
            _ = try await store.removeUnreferencedBlobs(registry: "r", unusedBefore: future, limit: 100)
            if try await put {
                landed += 1
                // The manifest landed, so its layer must have survived: it is referenced from then on.
                #expect(try await store.blob(registry: "r", digest: layer) != nil, "layer \(index) removed under a manifest")
                #expect(try await store.removeUnreferencedBlobs(registry: "r", unusedBefore: future, limit: 100).isEmpty)
            } else {
                #expect(try await store.manifest(registry: "r", repository: "app", digest: image) == nil)
            }
        }
        #expect(try await store.tags(registry: "r", repository: "app", after: nil, limit: nil).count == landed)
    }

    /// `coffer check` walks blob records a page at a time, and forgets a lost object's record only when no manifest
    /// is or references it.
    @Test(arguments: MetadataStoreFactory.backends)
    func checkWalksBlobRecordsAndForgetsOnlyUnreferencedOnes(_ factory: MetadataStoreFactory) async throws {
        let store = try await factory.make()
        defer { Task { try await store.close() } }
        try await store.createRegistry(RegistryRecord(name: "r", wrappedMasterKey: [1], keyEncryptionKeyID: "k", createdAt: 1))
        for character in "abcde" { try await store.commitBlob(content(digest(character)), repository: "app") }
        try await store.putManifest(manifest("app", digest("f")), content: content(digest("f")), references: .init(blobs: [digest("a")]), tag: "v1")
        try await store.recordReferences(registry: "r", repository: "app", manifest: digest("f"), blobs: [digest("a")])
        var seen: [Digest] = []
        while true {
            let page = try await store.blobRecords(registry: "r", after: seen.last?.description, limit: 2)
            seen += page.map(\.digest)
            if page.count < 2 { break }
        }
        #expect(seen == "abcdef".map(digest))
        #expect(try await !store.forgetUnreferencedBlob(registry: "r", digest: digest("a")))  // a manifest references it
        #expect(try await !store.forgetUnreferencedBlob(registry: "r", digest: digest("f")))  // it is a manifest
        #expect(try await store.forgetUnreferencedBlob(registry: "r", digest: digest("b")))
        #expect(try await store.blob(registry: "r", digest: digest("b")) == nil)
        #expect(try await !store.isBlobLinked(registry: "r", repository: "app", digest: digest("b")))
        #expect(try await store.blob(registry: "r", digest: digest("a")) != nil)
    }
}
