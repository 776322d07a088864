import Crypto
import Foundation
import NIOCore

/// The at-rest format of every blob and manifest (segmented AES-256-GCM, after Tink's streaming AEAD):
///
/// ```
/// header  "CFRB" | version (1) | segment size (u32) | object id (16) | nonce prefix (7) | wrapped-key length (u16) | wrapped data key
/// segment i       AES-256-GCM(data key, nonce = prefix ‖ i (u32) ‖ 0x00, aad = "seg" ‖ object id ‖ i) → ciphertext ‖ tag
/// commit record   AES-256-GCM(data key, nonce = prefix ‖ 0xFFFFFFFF ‖ 0x01,
///                             aad = header ‖ registry ‖ 0x00 ‖ digest ‖ segment count) of the plaintext length (u64)
/// ```
///
/// Every segment is the segment size except the last, which is shorter and non-empty (an empty
/// object has no segments). The commit record binds the whole object to its registry, digest,
/// length and segment count, so a truncated, extended, reordered or swapped object fails
/// authentication before any of it is served. Segments are written as data streams in, before
/// the digest is known; the digest is bound once, at commit.
public enum SealedObjectFormat {
    public static let defaultSegmentSize = 64 * 1024
    public static let tagSize = 16
    public static let commitRecordSize = 8 + tagSize
    /// A sealed upload tail is its nonce, the ciphertext (as long as the tail) and the tag.
    public static let sealedTailOverhead = 12 + tagSize
    static let magic: [UInt8] = Array("CFRB".utf8)
    static let version: UInt8 = 1

    /// Where segment `index` starts in the file and how many bytes it occupies.
    public static func segmentRange(
        index: Int, plaintextLength: Int64, header: SealedObjectHeader
    ) -> (offset: Int64, length: Int) {
        let segmentSize = Int64(header.segmentSize)
        let offset = Int64(header.encodedSize) + Int64(index) * (segmentSize + Int64(tagSize))
        let plaintext = min(segmentSize, plaintextLength - Int64(index) * segmentSize)
        return (offset, Int(plaintext) + tagSize)
    }

    public static func segmentCount(plaintextLength: Int64, segmentSize: UInt32) -> Int {
        Int((plaintextLength + Int64(segmentSize) - 1) / Int64(segmentSize))
    }

    /// The plaintext length implied by a sealed object's total size, or nil if no length fits.
    public static func plaintextLength(objectSize: Int64, header: SealedObjectHeader) -> Int64? {
        let body = objectSize - Int64(header.encodedSize) - Int64(commitRecordSize)
        guard body >= 0 else { return nil }
        let stride = Int64(header.segmentSize) + Int64(tagSize)
        let fullSegments = body / stride
        let remainder = body % stride
        if remainder == 0 { return fullSegments * Int64(header.segmentSize) }
        guard remainder > Int64(tagSize) else { return nil }
        return fullSegments * Int64(header.segmentSize) + remainder - Int64(tagSize)
    }
}

/// The header of a sealed object.
public struct SealedObjectHeader: Sendable, Equatable {
    /// Headers are small; readers fetch this many bytes first.
    public static let maximumEncodedSize = 4 + 1 + 4 + 16 + 7 + 2 + 256

    public let segmentSize: UInt32
    public let objectID: [UInt8]
    public let noncePrefix: [UInt8]
    public let wrappedDataKey: [UInt8]

    public init(segmentSize: UInt32, objectID: [UInt8], noncePrefix: [UInt8], wrappedDataKey: [UInt8]) {
        self.segmentSize = segmentSize
        self.objectID = objectID
        self.noncePrefix = noncePrefix
        self.wrappedDataKey = wrappedDataKey
    }

    public var encodedSize: Int { 4 + 1 + 4 + 16 + 7 + 2 + wrappedDataKey.count }

    public var encoded: [UInt8] {
        var bytes = SealedObjectFormat.magic
        bytes.append(SealedObjectFormat.version)
        bytes += bigEndianBytes(segmentSize)
        bytes += objectID
        bytes += noncePrefix
        bytes += bigEndianBytes(UInt16(wrappedDataKey.count))
        bytes += wrappedDataKey
        return bytes
    }

    /// Parses a header from the start of `bytes` (which may run on into the segments).
    public init(parsing bytes: some Collection<UInt8>) throws(EnvelopeError) {
        let bytes = Array(bytes)
        guard bytes.count >= 34, Array(bytes[0..<4]) == SealedObjectFormat.magic else {
            throw EnvelopeError(.formatInvalid, "stored object is not in Coffer's sealed format")
        }
        guard bytes[4] == SealedObjectFormat.version else {
            throw EnvelopeError(.formatInvalid, "stored object has unknown format version \(bytes[4])")
        }
        let segmentSize = bytes[5..<9].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let keyLength = Int(bytes[32]) << 8 | Int(bytes[33])
        guard segmentSize >= 16, segmentSize <= 16 * 1024 * 1024, bytes.count >= 34 + keyLength else {
            throw EnvelopeError(.formatInvalid, "stored object header is malformed")
        }
        self.segmentSize = segmentSize
        self.objectID = Array(bytes[9..<25])
        self.noncePrefix = Array(bytes[25..<32])
        self.wrappedDataKey = Array(bytes[34..<(34 + keyLength)])
    }
}

/// Seals and opens the pieces of one object with its data key. Pure computation, no I/O.
public struct SealedObjectSealer: Sendable {
    public let header: SealedObjectHeader
    private let dataKey: SymmetricKey
    private let registry: String

    init(header: SealedObjectHeader, dataKey: SymmetricKey, registry: String) {
        self.header = header
        self.dataKey = dataKey
        self.registry = registry
    }

    public var segmentSize: Int { Int(header.segmentSize) }

    public func sealSegment(_ plaintext: some DataProtocol, index: Int) throws -> [UInt8] {
        var buffer = ByteBuffer()
        try sealSegment(plaintext, index: index, into: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// Seals a segment straight into `buffer` (ciphertext then tag), sparing the copies of the array form.
    public func sealSegment(_ plaintext: some DataProtocol, index: Int, into buffer: inout ByteBuffer) throws {
        let box = try AES.GCM.seal(plaintext, using: dataKey, nonce: nonce(index: UInt32(index), flag: 0), authenticating: segmentAAD(index))
        box.ciphertext.withUnsafeBytes { _ = buffer.writeBytes($0) }
        box.tag.withUnsafeBytes { _ = buffer.writeBytes($0) }
    }

    public func openSegment(_ sealed: some Collection<UInt8>, index: Int) throws(EnvelopeError) -> [UInt8] {
        let sealed = Array(sealed)
        guard sealed.count >= SealedObjectFormat.tagSize else {
            throw EnvelopeError(.integrityFailure, "stored object is truncated")
        }
        do {
            let split = sealed.count - SealedObjectFormat.tagSize
            let box = try AES.GCM.SealedBox(
                nonce: nonce(index: UInt32(index), flag: 0), ciphertext: sealed[..<split], tag: sealed[split...]
            )
            return Array(try AES.GCM.open(box, using: dataKey, authenticating: segmentAAD(index)))
        } catch {
            throw EnvelopeError(.integrityFailure, "stored object failed authentication at segment \(index)")
        }
    }

    /// Seals the record that binds a finished object to its registry, digest, length and segment count.
    public func sealCommitRecord(digest: String, plaintextLength: Int64) throws -> [UInt8] {
        let segments = SealedObjectFormat.segmentCount(plaintextLength: plaintextLength, segmentSize: header.segmentSize)
        let box = try AES.GCM.seal(
            bigEndianBytes(UInt64(plaintextLength)), using: dataKey, nonce: commitNonce(),
            authenticating: commitAAD(digest: digest, segments: segments)
        )
        return Array(box.ciphertext) + Array(box.tag)
    }

    /// Verifies the commit record against what the caller expects the object to be.
    public func verifyCommitRecord(_ record: some Collection<UInt8>, digest: String, plaintextLength: Int64) throws(EnvelopeError) {
        let record = Array(record)
        guard record.count == SealedObjectFormat.commitRecordSize else {
            throw EnvelopeError(.integrityFailure, "stored object is truncated")
        }
        let segments = SealedObjectFormat.segmentCount(plaintextLength: plaintextLength, segmentSize: header.segmentSize)
        let opened: [UInt8]
        do {
            let box = try AES.GCM.SealedBox(nonce: commitNonce(), ciphertext: record[0..<8], tag: record[8...])
            opened = Array(try AES.GCM.open(box, using: dataKey, authenticating: commitAAD(digest: digest, segments: segments)))
        } catch {
            throw EnvelopeError(.integrityFailure, "stored object failed authentication (altered, truncated or not this digest)")
        }
        guard opened == bigEndianBytes(UInt64(plaintextLength)) else {
            throw EnvelopeError(.integrityFailure, "stored object length does not match its commit record")
        }
    }

    /// Seals an unfinished trailing segment kept between upload requests. A random nonce, because
    /// the tail of one segment index is rewritten as chunks arrive.
    public func sealTail(_ plaintext: some DataProtocol, index: Int) throws -> [UInt8] {
        let box = try AES.GCM.seal(plaintext, using: dataKey, authenticating: tailAAD(index))
        return Array(box.nonce) + Array(box.ciphertext) + Array(box.tag)
    }

    public func openTail(_ sealed: some Collection<UInt8>, index: Int) throws(EnvelopeError) -> [UInt8] {
        let sealed = Array(sealed)
        guard sealed.count >= 12 + SealedObjectFormat.tagSize else {
            throw EnvelopeError(.integrityFailure, "staged upload tail is truncated")
        }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return Array(try AES.GCM.open(box, using: dataKey, authenticating: tailAAD(index)))
        } catch {
            throw EnvelopeError(.integrityFailure, "staged upload tail failed authentication")
        }
    }

    private func nonce(index: UInt32, flag: UInt8) throws -> AES.GCM.Nonce {
        try AES.GCM.Nonce(data: header.noncePrefix + bigEndianBytes(index) + [flag])
    }

    private func commitNonce() throws -> AES.GCM.Nonce { try nonce(index: .max, flag: 1) }

    private func segmentAAD(_ index: Int) -> [UInt8] {
        Array("seg".utf8) + header.objectID + bigEndianBytes(UInt32(index))
    }

    private func tailAAD(_ index: Int) -> [UInt8] {
        Array("tail".utf8) + header.objectID + bigEndianBytes(UInt32(index))
    }

    private func commitAAD(digest: String, segments: Int) -> [UInt8] {
        header.encoded + Array(registry.utf8) + [0] + Array(digest.utf8) + bigEndianBytes(UInt32(segments))
    }
}

func bigEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}
