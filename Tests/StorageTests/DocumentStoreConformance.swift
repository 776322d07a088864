import CofferStorage
import Foundation
import SQLMetadataStore
import Testing

/// Control-plane documents and vault keys: part of the metadata store's conformance suite.
@Suite struct DocumentStoreConformance {
    @Test(arguments: SQLStoreBackend.all)
    func documentsAreCaseInsensitiveByIdAndQueryable(_ backend: SQLStoreBackend) async throws {
        let store = try await backend.make()
        defer { Task { try await store.close() } }
        try await store.putDocument(StoredDocument(id: "/Subscriptions/S/resourceGroups/RG1", type: "Microsoft.Resources/resourceGroups", name: "RG1", body: "{}"))
        try await store.putDocument(StoredDocument(id: "/subscriptions/s/resourcegroups/rg1/providers/x/vaults/v_1", type: "x/vaults", name: "v_1", body: "{\"a\":1}"))
        try await store.putDocument(StoredDocument(id: "/subscriptions/s/resourcegroups/rg10/providers/x/vaults/v2", type: "x/vaults", name: "v2", body: "{}"))
        #expect(try await store.document(id: "/SUBSCRIPTIONS/s/RESOURCEGROUPS/rg1")?.name == "rg1")
        #expect(try await store.documents(type: "X/Vaults", name: "V_1").map(\.body) == ["{\"a\":1}"])
        // A prefix scan of one group does not reach a group whose name merely starts the same way.
        #expect(try await store.documents(under: "/subscriptions/s/resourcegroups/rg1/", type: nil).count == 1)
        #expect(try await store.documents(under: "/subscriptions/s/", type: "x/vaults").count == 2)
        await #expect(throws: StorageError.self) {
            try await store.insertDocument(StoredDocument(id: "/subscriptions/s/resourcegroups/rg1", type: "t", name: "n", body: "{}"))
        }
        #expect(try await store.deleteDocument(id: "/subscriptions/s/resourceGroups/rg1"))
        #expect(try await !store.deleteDocument(id: "/subscriptions/s/resourceGroups/rg1"))
    }

    @Test(arguments: SQLStoreBackend.all)
    func replacementsSwapOnlyWhatWasRead(_ backend: SQLStoreBackend) async throws {
        let store = try await backend.make()
        defer { Task { try await store.close() } }
        let id = "/subscriptions/s/resourcegroups/rg/providers/x/tokens/t"
        try await store.putDocument(StoredDocument(id: id, type: "x/tokens", name: "t", body: "{\"v\":1}"))
        #expect(try await store.replaceDocument(StoredDocument(id: id, type: "x/tokens", name: "t", body: "{\"v\":2}"), ifBodyIs: "{\"v\":1}"))
        // A writer that read version 1 does not undo version 2.
        #expect(try await !store.replaceDocument(StoredDocument(id: id, type: "x/tokens", name: "t", body: "{\"v\":3}"), ifBodyIs: "{\"v\":1}"))
        #expect(try await store.document(id: id)?.body == "{\"v\":2}")
        _ = try await store.deleteDocument(id: id)
        #expect(try await !store.replaceDocument(StoredDocument(id: id, type: "x/tokens", name: "t", body: "{\"v\":4}"), ifBodyIs: "{\"v\":2}"))
        #expect(try await store.document(id: id) == nil)
        // Concurrent writers that each read the same version: exactly one swaps.
        try await store.putDocument(StoredDocument(id: id, type: "x/tokens", name: "t", body: "{\"v\":0}"))
        let swapped = try await withThrowingTaskGroup(of: Bool.self) { group in
            for writer in 1...8 {
                group.addTask { try await store.replaceDocument(StoredDocument(id: id, type: "x/tokens", name: "t", body: "{\"w\":\(writer)}"), ifBodyIs: "{\"v\":0}") }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(swapped == 1)
    }

    @Test(arguments: SQLStoreBackend.all)
    func keyVersionsSoftDeleteAndPurge(_ backend: SQLStoreBackend) async throws {
        let store = try await backend.make()
        defer { Task { try await store.close() } }
        try await store.insertKeyVersion(KeyVersionRecord(vault: "V", name: "Key", version: "a1", createdAt: 2, bundle: "{1}", sealedMaterial: "s1"), displayName: "Key")
        try await store.insertKeyVersion(KeyVersionRecord(vault: "v", name: "key", version: "0b", createdAt: 3, bundle: "{2}", sealedMaterial: "s2"), displayName: "ignored")
        #expect(try await store.keyVersions(vault: "v", name: "KEY").map(\.version) == ["a1", "0b"])
        #expect(try await store.keyName(vault: "v", name: "key")?.displayName == "Key")
        try await store.updateKeyBundle(vault: "v", name: "key", version: "0b", bundle: "{3}")
        #expect(try await store.keyVersion(vault: "v", name: "key", version: "0b")?.bundle == "{3}")
        await #expect(throws: StorageError.self) { try await store.updateKeyBundle(vault: "v", name: "key", version: "zz", bundle: "{}") }

        try await store.setKeyDeleted(vault: "v", name: "key", deletedAt: 10, scheduledPurgeAt: 20)
        #expect(try await store.keyNames(vault: "v", deleted: false).isEmpty)
        #expect(try await store.keyNames(vault: "v", deleted: true).map(\.scheduledPurgeAt) == [20])
        await #expect(throws: StorageError.self) {
            try await store.insertKeyVersion(KeyVersionRecord(vault: "v", name: "key", version: "c", createdAt: 4, bundle: "{}", sealedMaterial: "s"), displayName: "key")
        }
        try await store.setKeyDeleted(vault: "v", name: "key", deletedAt: nil, scheduledPurgeAt: nil)
        #expect(try await store.keyNames(vault: "v", deleted: false).count == 1)
        try await store.purgeKey(vault: "v", name: "key")
        #expect(try await store.keyName(vault: "v", name: "key") == nil)
        #expect(try await store.keyVersions(vault: "v", name: "key").isEmpty)
    }
}
