import CofferStorage
import Envelope
import Foundation
import NIOCore
import OCIModels
import RegistryService
import SQLMetadataStore
import Testing

/// Garbage collection on the registry service: what it removes, and what it must leave alone — with two
/// services on one metadata store and one blob store standing for two nodes of a cluster.
@Suite struct GarbageCollectionTests {
    typealias Chunks = SharedStorageTests.Chunks

    struct Cluster {
        let first: RegistryService
        let second: RegistryService
        let blobs: FileSystemBlobStore
        let metadata: SQLMetadataStore
        let repository = try! RepositoryName("app")

        static func make() async throws -> Cluster {
            let stores = try await SharedStores.make()
            let cluster = Cluster(first: stores.node(), second: stores.node(), blobs: stores.blobs, metadata: stores.metadata)
            try await cluster.first.createRegistry(name: "gc", keyWrapperID: ServiceManagedKeyWrapper.identifier)
            return cluster
        }

        func upload(_ data: [UInt8], on node: RegistryService) async throws -> Descriptor {
            let digest = OCIModels.Digest.of(data)
            _ = try await node.uploadBlob(registry: "gc", repository: repository, digest: digest, body: Chunks(bytes: data))
            return Descriptor(mediaType: "application/octet-stream", digest: digest.description, size: Int64(data.count))
        }

        func putImage(config: Descriptor, layers: [Descriptor], tag: String, on node: RegistryService) async throws -> OCIModels.Digest {
            func json(_ descriptor: Descriptor) -> String {
                #"{"mediaType":"\#(descriptor.mediaType)","digest":"\#(descriptor.digest)","size":\#(descriptor.size)}"#
            }
            let body = #"{"schemaVersion":2,"mediaType":"\#(MediaTypes.ociManifest)","config":\#(json(config)),"layers":[\#(layers.map(json).joined(separator: ","))]}"#
            let record = try await node.putManifest(registry: "gc", repository: repository, reference: .tag(try Tag(tag)),
                                                    bytes: Array(body.utf8), contentType: MediaTypes.ociManifest)
            return record.digest
        }

        func read(_ descriptor: Descriptor, on node: RegistryService) async throws -> [UInt8] {
            try await SharedStores.read(node, registry: "gc", repository: repository, digest: try OCIModels.Digest(parsing: descriptor.digest))
        }

        func objects() async throws -> [String] { try await blobs.list(prefix: "registries/gc/blobs/") }

        static var now: Int64 { Int64(Date().timeIntervalSince1970) }
    }

    static func random(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255) } }

    @Test func collectionRemovesWhatNoManifestReferencesAndNothingElse() async throws {
        let cluster = try await Cluster.make()
        defer { Task { try await cluster.metadata.close() } }
        let (configData, firstData, secondData) = (Self.random(300), Self.random(200_000), Self.random(150_000))
        let config = try await cluster.upload(configData, on: cluster.first)
        let firstLayer = try await cluster.upload(firstData, on: cluster.first)
        let secondLayer = try await cluster.upload(secondData, on: cluster.first)
        let firstImage = try await cluster.putImage(config: config, layers: [firstLayer], tag: "one", on: cluster.first)
        _ = try await cluster.putImage(config: config, layers: [secondLayer], tag: "two", on: cluster.first)
        #expect(try await cluster.objects().count == 5)  // three blobs, two manifests
        // A crash leftover: an object of the earlier key form that no record names.
        try await cluster.blobs.replaceStaging("leftover", ByteBuffer(bytes: [1, 2, 3]))
        try await cluster.blobs.commitStaging("leftover", as: "registries/gc/blobs/sha256/ab/" + String(repeating: "ab", count: 32))

        // An object just published whose record is not written yet (another node between the two steps).
        let publishing = "registries/gc/blobs/sha256/cd/" + String(repeating: "cd", count: 32) + ".\(Cluster.now).1f"
        try await cluster.blobs.replaceStaging("publishing", ByteBuffer(bytes: [4, 5, 6]))
        try await cluster.blobs.commitStaging("publishing", as: publishing)

        // Within the grace period everything referenced or recently written stays; the old leftover goes.
        var report = try await cluster.first.collectGarbage(registry: "gc", unusedBefore: Cluster.now - 3600)
        #expect(report.blobs == 0 && report.strayObjects == 1)
        #expect(try await cluster.objects().count == 6)

        // Nothing referenced goes even past the grace period; an object no record names does, by then.
        report = try await cluster.second.collectGarbage(registry: "gc", unusedBefore: Cluster.now + 60)
        #expect(report.blobs == 0 && report.strayObjects == 1)
        #expect(try await cluster.blobs.size(publishing) == nil)

        let firstManifest = try await cluster.first.manifest(registry: "gc", repository: cluster.repository, reference: .digest(firstImage))
        try await cluster.first.deleteManifest(registry: "gc", repository: cluster.repository, reference: .digest(firstImage))
        report = try await cluster.second.collectGarbage(registry: "gc", unusedBefore: Cluster.now + 60)
        #expect(report.blobs == 2 && report.bytes == Int64(firstData.count + firstManifest.bytes.count))
        #expect(try await cluster.objects().count == 3)
        await #expect(throws: RegistryError.self) { _ = try await cluster.read(firstLayer, on: cluster.first) }
        // The other image, which shares the config, pulls as pushed from either node.
        #expect(try await cluster.read(config, on: cluster.first) == configData)
        #expect(try await cluster.read(secondLayer, on: cluster.second) == secondData)
        let two = try await cluster.first.manifest(registry: "gc", repository: cluster.repository, reference: .tag(try Tag("two")))
        #expect(two.bytes.isEmpty == false)

        // The collected content can be pushed again (under a new object key) and pulls back.
        _ = try await cluster.upload(firstData, on: cluster.second)
        #expect(try await cluster.putImage(config: config, layers: [firstLayer], tag: "one", on: cluster.second) == firstImage)
        #expect(try await cluster.read(firstLayer, on: cluster.first) == firstData)
    }

    @Test func collectionOnOneNodeSparesWhatAnotherIsWriting() async throws {
        let cluster = try await Cluster.make()
        defer { Task { try await cluster.metadata.close() } }
        let configData = Self.random(300), layerData = Self.random(300_000)
        // The second node is mid-push: the config is uploaded (not yet referenced), the layer half-way.
        let config = try await cluster.upload(configData, on: cluster.second)
        let upload = try await cluster.second.startUpload(registry: "gc", repository: cluster.repository)
        _ = try await cluster.second.appendToUpload(registry: "gc", repository: cluster.repository, id: upload.id, expectedOffset: 0,
                                                     body: Chunks(bytes: Array(layerData[..<120_000])))

        // The first node collects with an hour's grace: the push in progress loses nothing.
        let report = try await cluster.first.collectGarbage(registry: "gc", unusedBefore: Cluster.now - 3600)
        #expect(report == CollectionReport())
        let digest = OCIModels.Digest.of(layerData)
        _ = try await cluster.second.completeUpload(registry: "gc", repository: cluster.repository, id: upload.id, digest: digest,
                                                     expectedOffset: 120_000, body: Chunks(bytes: Array(layerData[120_000...])))
        let layer = Descriptor(mediaType: "application/octet-stream", digest: digest.description, size: Int64(layerData.count))
        _ = try await cluster.putImage(config: config, layers: [layer], tag: "v1", on: cluster.second)
        #expect(try await cluster.read(layer, on: cluster.first) == layerData)
        #expect(try await cluster.read(config, on: cluster.first) == configData)
    }

    @Test func aManifestWhoseBlobWasCollectedIsRefusedNotStoredDangling() async throws {
        let cluster = try await Cluster.make()
        defer { Task { try await cluster.metadata.close() } }
        let configData = Self.random(300), layerData = Self.random(100_000)
        let config = try await cluster.upload(configData, on: cluster.second)
        let layer = try await cluster.upload(layerData, on: cluster.second)
        // The push stalled past the grace period and the first node collected its blobs.
        let report = try await cluster.first.collectGarbage(registry: "gc", unusedBefore: Cluster.now + 60)
        #expect(report.blobs == 2)
        do {
            _ = try await cluster.putImage(config: config, layers: [layer], tag: "v1", on: cluster.second)
            Issue.record("a manifest referencing collected blobs was stored")
        } catch let error as RegistryError {
            #expect(error.code == .manifestBlobUnknown)
        }
        #expect(try await cluster.metadata.resolveTag(registry: "gc", repository: "app", tag: "v1") == nil)
        // The client pushes the blobs again, and then the manifest lands.
        _ = try await cluster.upload(configData, on: cluster.first)
        _ = try await cluster.upload(layerData, on: cluster.second)
        _ = try await cluster.putImage(config: config, layers: [layer], tag: "v1", on: cluster.first)
        #expect(try await cluster.read(layer, on: cluster.second) == layerData)
    }
}
