import Foundation

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
        // Rounded up without `length + size - 1`, which overflows for a length a storage backend may claim.
        let size = Int64(segmentSize)
        return Int(plaintextLength / size + (plaintextLength % size == 0 ? 0 : 1))
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

func bigEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}
