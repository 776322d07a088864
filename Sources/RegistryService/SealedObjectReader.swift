import CofferStorage
import Envelope
import NIOCore
import OCIModels

/// Opens sealed objects in the blob store: checks the header and commit record before any byte is
/// served, then decrypts only the segments a requested range touches.
struct SealedObjectReader: Sendable {
    let store: any BlobStore
    let key: String
    let sealer: SealedObjectSealer
    let plaintextLength: Int64
    /// The object's first bytes when the whole object was small enough to read at once.
    let wholeObject: ByteBuffer?

    /// Objects up to this size are read in one request.
    static let wholeReadLimit = 1024 * 1024

    static func open(
        store: any BlobStore, key: String, masterKey: RegistryMasterKey, digest: Digest, expectedLength: Int64
    ) async throws -> SealedObjectReader {
        guard let objectSize = try await store.size(key) else {
            throw RegistryError(.dataCorrupt, "stored object for \(digest) is missing")
        }
        let firstRead = objectSize <= Int64(wholeReadLimit) ? Int(objectSize) : SealedObjectHeader.maximumEncodedSize
        let start = try await store.read(key, offset: 0, length: min(firstRead, Int(objectSize)))
        let header = try SealedObjectHeader(parsing: start.readableBytesView)
        let sealer = try masterKey.sealer(for: header)
        guard let length = SealedObjectFormat.plaintextLength(objectSize: objectSize, header: header), length == expectedLength else {
            throw RegistryError(.dataCorrupt, "stored object for \(digest) has the wrong length")
        }
        let footer: ByteBuffer
        if objectSize <= Int64(wholeReadLimit) {
            guard let tail = start.getSlice(at: Int(objectSize) - SealedObjectFormat.commitRecordSize, length: SealedObjectFormat.commitRecordSize) else {
                throw RegistryError(.dataCorrupt, "stored object for \(digest) is truncated")
            }
            footer = tail
        } else {
            footer = try await store.read(key, offset: objectSize - Int64(SealedObjectFormat.commitRecordSize), length: SealedObjectFormat.commitRecordSize)
        }
        try sealer.verifyCommitRecord(footer.readableBytesView, digest: digest.description, plaintextLength: length)
        return SealedObjectReader(
            store: store, key: key, sealer: sealer, plaintextLength: length,
            wholeObject: objectSize <= Int64(wholeReadLimit) ? start : nil
        )
    }

    /// Decrypted bytes of `range` (inclusive bounds), streamed segment batch by segment batch.
    func stream(range: ClosedRange<Int64>, batchSegments: Int = 16) -> DecryptedStream {
        DecryptedStream(reader: self, range: range, batchSegments: batchSegments)
    }

    /// The whole plaintext (for manifests, which are small).
    func readAll() async throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(plaintextLength))
        if plaintextLength == 0 { return bytes }
        for try await buffer in stream(range: 0...(plaintextLength - 1)) {
            bytes += buffer.readableBytesView
        }
        return bytes
    }

    /// Reads and decrypts segments `first...last`.
    func segments(_ first: Int, _ last: Int) async throws -> [[UInt8]] {
        let header = sealer.header
        let start = SealedObjectFormat.segmentRange(index: first, plaintextLength: plaintextLength, header: header)
        let end = SealedObjectFormat.segmentRange(index: last, plaintextLength: plaintextLength, header: header)
        let total = Int(end.offset - start.offset) + end.length
        let buffer: ByteBuffer
        if let wholeObject {
            buffer = wholeObject.getSlice(at: Int(start.offset), length: total)!
        } else {
            buffer = try await store.read(key, offset: start.offset, length: total)
        }
        guard buffer.readableBytes == total else {
            throw RegistryError(.dataCorrupt, "stored object is truncated")
        }
        var result: [[UInt8]] = []
        var cursor = 0
        for index in first...last {
            let length = SealedObjectFormat.segmentRange(index: index, plaintextLength: plaintextLength, header: header).length
            let view = buffer.readableBytesView
            let slice = view[(view.startIndex + cursor)..<(view.startIndex + cursor + length)]
            result.append(try sealer.openSegment(slice, index: index))
            cursor += length
        }
        return result
    }
}

/// Plaintext of a range of a sealed object, produced lazily as the consumer reads.
public struct DecryptedStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let reader: SealedObjectReader
    let range: ClosedRange<Int64>
    let batchSegments: Int

    public struct AsyncIterator: AsyncIteratorProtocol, Sendable {
        let reader: SealedObjectReader
        let range: ClosedRange<Int64>
        let batchSegments: Int
        var nextSegment: Int
        let lastSegment: Int

        public mutating func next() async throws -> ByteBuffer? {
            guard nextSegment <= lastSegment else { return nil }
            let segmentSize = Int64(reader.sealer.segmentSize)
            let batchEnd = Swift.min(lastSegment, nextSegment + batchSegments - 1)
            let plaintexts: [[UInt8]]
            do {
                plaintexts = try await reader.segments(nextSegment, batchEnd)
            } catch {
                throw RegistryService.translate(error)
            }
            var buffer = ByteBufferAllocator().buffer(capacity: plaintexts.reduce(0) { $0 + $1.count })
            for (offset, plaintext) in plaintexts.enumerated() {
                let index = nextSegment + offset
                let segmentStart = Int64(index) * segmentSize
                let from = Int(Swift.max(0, range.lowerBound - segmentStart))
                let to = Int(Swift.min(Int64(plaintext.count), range.upperBound - segmentStart + 1))
                if from < to { buffer.writeBytes(plaintext[from..<to]) }
            }
            nextSegment = batchEnd + 1
            return buffer
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        let segmentSize = Int64(reader.sealer.segmentSize)
        return AsyncIterator(
            reader: reader, range: range, batchSegments: batchSegments,
            nextSegment: Int(range.lowerBound / segmentSize), lastSegment: Int(range.upperBound / segmentSize)
        )
    }
}
