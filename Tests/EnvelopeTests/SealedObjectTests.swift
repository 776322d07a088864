import Crypto
import Foundation
import Synchronization
import Testing
@testable import Envelope

@Suite struct SealedObjectTests {
    let masterKey = RegistryMasterKey.generate(for: "coffer")
    let digest = "sha256:" + String(repeating: "d", count: 64)

    /// Seals `plaintext` the way the registry does: header, segments, commit record.
    func seal(_ plaintext: [UInt8], segmentSize: Int = 64) throws -> (bytes: [UInt8], sealer: SealedObjectSealer) {
        let sealer = try masterKey.newObjectSealer(segmentSize: segmentSize)
        var bytes = sealer.header.encoded
        var index = 0
        var offset = 0
        while offset < plaintext.count {
            let end = min(plaintext.count, offset + segmentSize)
            bytes += try sealer.sealSegment(plaintext[offset..<end], index: index)
            index += 1
            offset = end
        }
        bytes += try sealer.sealCommitRecord(digest: digest, plaintextLength: Int64(plaintext.count))
        return (bytes, sealer)
    }

    /// Opens a sealed object completely, as a reader does.
    func open(_ bytes: [UInt8], key: RegistryMasterKey? = nil, digest: String? = nil) throws -> [UInt8] {
        let header = try SealedObjectHeader(parsing: bytes)
        let sealer = try (key ?? masterKey).sealer(for: header)
        guard let length = SealedObjectFormat.plaintextLength(objectSize: Int64(bytes.count), header: header) else {
            throw EnvelopeError(.integrityFailure, "no length fits")
        }
        try sealer.verifyCommitRecord(bytes.suffix(SealedObjectFormat.commitRecordSize), digest: digest ?? self.digest, plaintextLength: length)
        var plaintext: [UInt8] = []
        for index in 0..<SealedObjectFormat.segmentCount(plaintextLength: length, segmentSize: header.segmentSize) {
            let range = SealedObjectFormat.segmentRange(index: index, plaintextLength: length, header: header)
            plaintext += try sealer.openSegment(bytes[Int(range.offset)..<(Int(range.offset) + range.length)], index: index)
        }
        return plaintext
    }

    @Test(arguments: [0, 1, 63, 64, 65, 200, 256])
    func roundTrips(length: Int) throws {
        let plaintext = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let (bytes, _) = try seal(plaintext)
        #expect(try open(bytes) == plaintext)
    }

    @Test func ciphertextDoesNotContainPlaintext() throws {
        let marker = Array("COFFER-PLAINTEXT-MARKER".utf8)
        let (bytes, _) = try seal(Array(repeating: marker, count: 20).flatMap { $0 })
        #expect(Data(bytes).range(of: Data(marker)) == nil)
    }

    @Test func everyFlippedByteIsDetected() throws {
        let plaintext = (0..<150).map { UInt8($0) }
        let (bytes, _) = try seal(plaintext)
        for position in 0..<bytes.count {
            var tampered = bytes
            tampered[position] ^= 0x01
            #expect(throws: EnvelopeError.self, "flip at \(position)") { try open(tampered) }
        }
    }

    @Test func truncationAndExtensionAreDetected() throws {
        let (bytes, _) = try seal((0..<150).map { UInt8($0) })
        for cut in [1, 16, 40, 80] {
            #expect(throws: EnvelopeError.self) { try open(Array(bytes.dropLast(cut))) }
        }
        // Dropping a whole segment (keeping the commit record) must fail too.
        let header = try SealedObjectHeader(parsing: bytes)
        let stride = 64 + SealedObjectFormat.tagSize
        var withoutSegment = Array(bytes[0..<header.encodedSize])
        withoutSegment += bytes[(header.encodedSize + stride)...]
        #expect(throws: EnvelopeError.self) { try open(withoutSegment) }
        #expect(throws: EnvelopeError.self) { try open(bytes + [0]) }
    }

    @Test func objectIsBoundToItsDigestAndRegistry() throws {
        let (bytes, _) = try seal(Array("content".utf8))
        #expect(throws: EnvelopeError.self) { try open(bytes, digest: "sha256:" + String(repeating: "e", count: 64)) }
        let otherRegistry = RegistryMasterKey(registry: "other", key: masterKey.key)
        #expect(throws: EnvelopeError.self) { try open(bytes, key: otherRegistry) }
        #expect(throws: EnvelopeError.self) { try open(bytes, key: RegistryMasterKey.generate(for: "coffer")) }
    }

    @Test func segmentsCannotBeReordered() throws {
        let plaintext = (0..<128).map { UInt8($0) }
        let (bytes, _) = try seal(plaintext)
        let header = try SealedObjectHeader(parsing: bytes)
        let stride = 64 + SealedObjectFormat.tagSize
        let first = Array(bytes[header.encodedSize..<(header.encodedSize + stride)])
        let second = Array(bytes[(header.encodedSize + stride)..<(header.encodedSize + 2 * stride)])
        let swapped = Array(bytes[0..<header.encodedSize]) + second + first + bytes.suffix(SealedObjectFormat.commitRecordSize)
        #expect(throws: EnvelopeError.self) { try open(swapped) }
    }

    @Test func tailsRoundTripOnlyAtTheirIndex() throws {
        let sealer = try masterKey.newObjectSealer(segmentSize: 64)
        let sealed = try sealer.sealTail(Array("partial".utf8), index: 3)
        #expect(try sealer.openTail(sealed, index: 3) == Array("partial".utf8))
        #expect(throws: EnvelopeError.self) { try sealer.openTail(sealed, index: 4) }
        // Random nonces: sealing the same tail twice gives different bytes.
        #expect(try sealer.sealTail(Array("partial".utf8), index: 3) != sealed)
    }

    @Test func headerRejectsForeignBytes() {
        #expect(throws: EnvelopeError.self) { try SealedObjectHeader(parsing: Array("not a sealed object at all, no".utf8) + [UInt8](repeating: 0, count: 40)) }
    }
}

@Suite struct KeyWrapperTests {
    @Test func serviceManagedWrapRoundTripsAndBindsContext() async throws {
        let wrapper = ServiceManagedKeyWrapper(serverMasterKey: SymmetricKey(size: .bits256))
        let key = RegistryMasterKey.generate(for: "reg1")
        let wrapped = try await key.wrapped(by: wrapper)
        let unwrapped = try await RegistryMasterKey.unwrap(wrapped, registry: "reg1", using: wrapper)
        #expect(unwrapped.key == key.key)
        await #expect(throws: EnvelopeError.self) { try await RegistryMasterKey.unwrap(wrapped, registry: "reg2", using: wrapper) }
        let otherServer = ServiceManagedKeyWrapper(serverMasterKey: SymmetricKey(size: .bits256))
        await #expect(throws: EnvelopeError.self) { try await RegistryMasterKey.unwrap(wrapped, registry: "reg1", using: otherServer) }
    }

    @Test func masterKeyCacheReusesUntilWrappedBytesChange() async throws {
        let cache = MasterKeyCache(lifetime: .seconds(60))
        let key = RegistryMasterKey.generate(for: "r")
        let calls = Counter()
        for _ in 0..<3 {
            _ = try await cache.masterKey(registry: "r", wrapped: [1]) { calls.increment(); return key }
        }
        #expect(calls.value == 1)
        _ = try await cache.masterKey(registry: "r", wrapped: [2]) { calls.increment(); return key }
        #expect(calls.value == 2)
    }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func increment() { count.withLock { $0 += 1 } }
}
