import Crypto

extension Digest {
    /// Digest of an in-memory byte sequence (manifests, small test blobs).
    public static func of(_ bytes: some Sequence<UInt8>, using algorithm: Algorithm = .sha256) -> Digest {
        var hasher = DigestHasher(algorithm)
        hasher.update(Array(bytes))
        return hasher.finalize()
    }
}

/// Incremental hashing for either supported algorithm, so bodies can be digested as they stream.
public struct DigestHasher: Sendable {
    private enum State: Sendable {
        case sha256(SHA256)
        case sha512(SHA512)
    }

    private var state: State
    public let algorithm: Digest.Algorithm

    public init(_ algorithm: Digest.Algorithm) {
        self.algorithm = algorithm
        switch algorithm {
        case .sha256: state = .sha256(SHA256())
        case .sha512: state = .sha512(SHA512())
        }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .sha256(var hasher):
            hasher.update(bufferPointer: bytes)
            state = .sha256(hasher)
        case .sha512(var hasher):
            hasher.update(bufferPointer: bytes)
            state = .sha512(hasher)
        }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public func finalize() -> Digest {
        let hash: [UInt8]
        switch state {
        case .sha256(let hasher): hash = Array(hasher.finalize())
        case .sha512(let hasher): hash = Array(hasher.finalize())
        }
        return Digest(algorithm: algorithm, encoded: hexString(hash))
    }
}

