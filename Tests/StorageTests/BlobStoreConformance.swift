import CofferStorage
import Foundation
import NIOCore
import Testing

/// The one suite every blob driver must pass. Add a driver by adding a factory to `drivers`.
struct BlobStoreFactory: CustomTestStringConvertible, Sendable {
    let name: String
    let make: @Sendable () async throws -> any BlobStore
    var testDescription: String { name }

    static let drivers: [BlobStoreFactory] = [
        BlobStoreFactory(name: "filesystem") { try FileSystemBlobStore(root: temporaryDirectory()) },
    ]
}

func temporaryDirectory() -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-test-\(UUID().uuidString)").path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite struct BlobStoreConformance {
    @Test(arguments: BlobStoreFactory.drivers)
    func stagingIsInvisibleUntilCommitted(_ factory: BlobStoreFactory) async throws {
        let store = try await factory.make()
        try await store.createStaging("upload1")
        try await store.appendStaging("upload1", ByteBuffer(string: "hello "))
        try await store.appendStaging("upload1", ByteBuffer(string: "world"))
        #expect(try await store.stagingSize("upload1") == 11)
        #expect(try await store.size("objects/a") == nil)
        #expect(try await store.list(prefix: "").isEmpty)
        try await store.commitStaging("upload1", as: "objects/a")
        #expect(try await store.size("objects/a") == 11)
        #expect(String(buffer: try await store.read("objects/a", offset: 6, length: 5)) == "world")
        #expect(try await store.stagingSize("upload1") == nil)
        #expect(try await store.listStaging().isEmpty)
    }

    @Test(arguments: BlobStoreFactory.drivers)
    func readsStopAtTheEnd(_ factory: BlobStoreFactory) async throws {
        let store = try await factory.make()
        try await store.replaceStaging("s", ByteBuffer(string: "0123456789"))
        #expect(String(buffer: try await store.readStaging("s", offset: 8, length: 10)) == "89")
        try await store.commitStaging("s", as: "k")
        #expect(try await store.read("k", offset: 10, length: 4).readableBytes == 0)
    }

    @Test(arguments: BlobStoreFactory.drivers)
    func replaceAndCommitOverwrite(_ factory: BlobStoreFactory) async throws {
        let store = try await factory.make()
        try await store.replaceStaging("t", ByteBuffer(string: "first"))
        try await store.replaceStaging("t", ByteBuffer(string: "second"))
        #expect(String(buffer: try await store.readStaging("t", offset: 0, length: 100)) == "second")
        try await store.commitStaging("t", as: "dir/key")
        try await store.replaceStaging("u", ByteBuffer(string: "third"))
        try await store.commitStaging("u", as: "dir/key")
        #expect(String(buffer: try await store.read("dir/key", offset: 0, length: 100)) == "third")
    }

    @Test(arguments: BlobStoreFactory.drivers)
    func missingThingsAreNotFoundAndDeletesAreIdempotent(_ factory: BlobStoreFactory) async throws {
        let store = try await factory.make()
        await #expect(throws: StorageError.self) { try await store.read("nope", offset: 0, length: 1) }
        await #expect(throws: StorageError.self) { try await store.appendStaging("nope", ByteBuffer(string: "x")) }
        await #expect(throws: StorageError.self) { try await store.commitStaging("nope", as: "k") }
        try await store.delete("nope")
        try await store.deleteStaging("nope")
        try await store.replaceStaging("x", ByteBuffer(string: "1"))
        try await store.commitStaging("x", as: "a/b/c")
        try await store.delete("a/b/c")
        #expect(try await store.size("a/b/c") == nil)
    }

    @Test(arguments: BlobStoreFactory.drivers)
    func listsByPrefixSorted(_ factory: BlobStoreFactory) async throws {
        let store = try await factory.make()
        for key in ["r/2", "r/1", "q/1", "r/sub/3"] {
            try await store.replaceStaging("s", ByteBuffer(string: key))
            try await store.commitStaging("s", as: key)
        }
        #expect(try await store.list(prefix: "r/") == ["r/1", "r/2", "r/sub/3"])
        try await store.createStaging("left1")
        try await store.createStaging("left2")
        #expect(try await store.listStaging() == ["left1", "left2"])
    }

    @Test(arguments: BlobStoreFactory.drivers)
    func refusesKeysThatEscape(_ factory: BlobStoreFactory) async throws {
        let store = try await factory.make()
        for key in ["../x", "a/../../b", "/abs", "a//b", "", "a/./b", "sp ace"] {
            await #expect(throws: StorageError.self, "\(key)") { try await store.size(key) }
        }
        await #expect(throws: StorageError.self) { try await store.createStaging("a/b") }
    }

    @Test(arguments: BlobStoreFactory.drivers)
    func largeAppendsKeepEveryByte(_ factory: BlobStoreFactory) async throws {
        let store = try await factory.make()
        try await store.createStaging("big")
        var expected: [UInt8] = []
        for round in 0..<20 {
            let chunk = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &+ round) }
            expected += chunk
            try await store.appendStaging("big", ByteBuffer(bytes: chunk))
        }
        try await store.commitStaging("big", as: "big")
        let read = try await store.read("big", offset: 0, length: expected.count)
        #expect(Array(read.readableBytesView) == expected)
    }
}
