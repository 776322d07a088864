import CofferStorage
import Envelope
import Foundation
import NIOCore
import OCIModels
import RegistryService
import SQLMetadataStore
import Testing

/// Two registry services on one metadata store and one blob store: what two Coffer nodes behind a load
/// balancer are. An upload may go on at either node, and a node's memory of it must never win over storage.
@Suite struct SharedStorageTests {
    struct Chunks: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let bytes: [UInt8]
        struct AsyncIterator: AsyncIteratorProtocol {
            var rest: ArraySlice<UInt8>
            mutating func next() async -> ByteBuffer? {
                guard !rest.isEmpty else { return nil }
                let chunk = rest.prefix(10_000)
                rest = rest.dropFirst(chunk.count)
                return ByteBuffer(bytes: chunk)
            }
        }
        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(rest: bytes[...]) }
    }

    @Test func anUploadAlternatesBetweenNodes() async throws {
        let stores = try await SharedStores.make()
        defer { Task { try await stores.metadata.close() } }
        let (first, second) = (stores.node(), stores.node())
        try await first.createRegistry(name: "shared", keyWrapperID: ServiceManagedKeyWrapper.identifier)
        let repository = try RepositoryName("app")
        let data = (0..<250_000).map { _ in UInt8.random(in: 0...255) }
        let parts = [data[0..<70_000], data[70_000..<70_100], data[70_100..<200_000], data[200_000...]].map(Array.init)

        let upload = try await first.startUpload(registry: "shared", repository: repository)
        var offset: Int64 = 0
        // first, second, first (its memory is stale by now), then the second node completes.
        for (index, part) in parts.dropLast().enumerated() {
            let service = index % 2 == 0 ? first : second
            let progress = try await service.appendToUpload(registry: "shared", repository: repository, id: upload.id,
                                                            expectedOffset: offset, body: Chunks(bytes: part))
            offset += Int64(part.count)
            #expect(progress.offset == offset)
        }
        // A node asked where the upload stands answers from storage, whoever wrote last.
        #expect(try await first.uploadProgress(registry: "shared", repository: repository, id: upload.id).offset == offset)
        let digest = Digest.of(data)
        _ = try await second.completeUpload(registry: "shared", repository: repository, id: upload.id, digest: digest,
                                            expectedOffset: offset, body: Chunks(bytes: parts.last!))
        for service in [first, second] {
            #expect(try await SharedStores.read(service, registry: "shared", repository: repository, digest: digest) == data)
        }
    }

    @Test func registryRowsAreReusedBrieflyAndAbsenceNever() async throws {
        let stores = try await SharedStores.make()
        defer { Task { try await stores.metadata.close() } }
        func node(rowLifetime: Duration) -> RegistryService {
            var configuration = RegistryConfiguration()
            configuration.registryRecordLifetime = rowLifetime
            return stores.node(configuration)
        }
        let (first, second) = (node(rowLifetime: .seconds(600)), node(rowLifetime: .seconds(600)))
        #expect(try await !second.registryExists("rows"))
        // Created on one node: usable on the other at once (absence is not remembered).
        try await first.createRegistry(name: "rows", keyWrapperID: ServiceManagedKeyWrapper.identifier)
        #expect(try await second.registryExists("rows"))
        // Deleted on one node: gone there at once; the other reuses the row it read, within the row's lifetime...
        try await first.deleteRegistry(name: "rows")
        #expect(try await !first.registryExists("rows"))
        #expect(try await second.registryExists("rows"))
        // ...and no longer once the lifetime has passed.
        let brief = node(rowLifetime: .milliseconds(200))
        try await first.createRegistry(name: "rows", keyWrapperID: ServiceManagedKeyWrapper.identifier)
        #expect(try await brief.registryExists("rows"))
        try await first.deleteRegistry(name: "rows")
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await !brief.registryExists("rows"))
    }
}
