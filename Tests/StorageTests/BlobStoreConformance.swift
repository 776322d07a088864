import CofferStorage
import Foundation
import NIOCore
import S3BlobStore
import Testing

/// The one suite every blob driver must pass. Add a driver by adding a factory to `drivers`.
struct BlobStoreFactory: CustomTestStringConvertible, Sendable {
    let name: String
    let make: @Sendable () async throws -> any BlobStore
    var testDescription: String { name }

    /// The filesystem always; S3 when the test command started an S3 endpoint (`COFFER_TEST_S3_ENDPOINT`, moto's
    /// server), each store in a bucket of its own. `COFFER_REQUIRE_S3=1` makes a missing endpoint an error.
    static let drivers: [BlobStoreFactory] = {
        var drivers = [BlobStoreFactory(name: "filesystem") { try FileSystemBlobStore(root: temporaryDirectory()) }]
        let environment = ProcessInfo.processInfo.environment
        if let endpoint = environment["COFFER_TEST_S3_ENDPOINT"].flatMap(URL.init(string:)) {
            drivers.append(BlobStoreFactory(name: "s3") {
                let store = S3BlobStore(configuration: S3Configuration(
                    endpoint: endpoint, bucket: "coffer-test-\(UUID().uuidString.lowercased())", prefix: "node/", region: "us-east-1",
                    accessKeyID: "test", secretAccessKey: "test"))
                try await store.createBucket()
                return store
            })
        } else if environment["COFFER_REQUIRE_S3"] == "1" {
            drivers.append(BlobStoreFactory(name: "s3") { throw StorageError(.ioFailure, "COFFER_REQUIRE_S3=1 but COFFER_TEST_S3_ENDPOINT is not set") })
        }
        return drivers
    }()
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

    /// Big enough that object stores publish it in several parts (S3: 8 MiB parts), with appends that do not
    /// line up with the parts.
    @Test(arguments: BlobStoreFactory.drivers)
    func objectsLargerThanAPartKeepEveryByte(_ factory: BlobStoreFactory) async throws {
        let store = try await factory.make()
        try await store.createStaging("huge")
        var hasher = RunningChecksum()
        var total = 0
        for round in 0..<7 {
            let chunk = ByteBuffer(bytes: (0..<3_000_017).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ round) })
            hasher.update(chunk)
            total += chunk.readableBytes
            try await store.appendStaging("huge", chunk)
        }
        try await store.commitStaging("huge", as: "objects/huge")
        #expect(try await store.size("objects/huge") == Int64(total))
        var check = RunningChecksum()
        var offset: Int64 = 0
        while offset < Int64(total) {
            let piece = try await store.read("objects/huge", offset: offset, length: 4_000_000)
            check.update(piece)
            offset += Int64(piece.readableBytes)
        }
        #expect(check.value == hasher.value)
        #expect(try await store.listStaging().isEmpty)
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


/// A running checksum of byte buffers (FNV-1a 64: enough to tell a lost or reordered byte in a test).
struct RunningChecksum {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func update(_ buffer: ByteBuffer) {
        for byte in buffer.readableBytesView { value = (value ^ UInt64(byte)) &* 0x100_0000_01b3 }
    }
}
