import Crypto
import Foundation
import NIOCore

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
