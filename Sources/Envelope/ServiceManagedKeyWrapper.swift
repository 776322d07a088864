import Crypto

/// The key-encryption key Coffer manages itself, for registries without a customer-managed key:
/// AES-256-GCM under a key derived from the server master key.
public struct ServiceManagedKeyWrapper: KeyWrapper {
    public static let identifier = "service-managed"

    public let keyID = ServiceManagedKeyWrapper.identifier
    private let keyEncryptionKey: SymmetricKey

    /// - Parameter serverMasterKey: the 256-bit secret from the data directory (or the operator's key file).
    public init(serverMasterKey: SymmetricKey) {
        keyEncryptionKey = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: serverMasterKey,
            info: Array("coffer service-managed key-encryption key v1".utf8),
            outputByteCount: 32
        )
    }

    public func wrap(_ key: SymmetricKey, context: [UInt8]) async throws -> [UInt8] {
        try AEADKeyWrap.wrap(key, under: keyEncryptionKey, context: context)
    }

    public func unwrap(_ wrapped: [UInt8], context: [UInt8]) async throws -> SymmetricKey {
        try AEADKeyWrap.unwrap(wrapped, under: keyEncryptionKey, context: context)
    }
}

/// Key wrapping with AES-256-GCM: random nonce ‖ ciphertext ‖ tag, the context as associated data.
enum AEADKeyWrap {
    static func wrap(_ key: SymmetricKey, under wrappingKey: SymmetricKey, context: [UInt8]) throws -> [UInt8] {
        let box = try key.withUnsafeBytes { bytes in
            try AES.GCM.seal(Array(bytes), using: wrappingKey, authenticating: context)
        }
        return Array(box.nonce) + Array(box.ciphertext) + Array(box.tag)
    }

    static func unwrap(_ wrapped: [UInt8], under wrappingKey: SymmetricKey, context: [UInt8]) throws -> SymmetricKey {
        guard wrapped.count == 12 + 32 + 16 else {
            throw EnvelopeError(.formatInvalid, "wrapped key has the wrong length")
        }
        do {
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: wrapped[0..<12]),
                ciphertext: wrapped[12..<44],
                tag: wrapped[44..<60]
            )
            return SymmetricKey(data: try AES.GCM.open(box, using: wrappingKey, authenticating: context))
        } catch {
            throw EnvelopeError(.integrityFailure, "wrapped key failed authentication")
        }
    }
}
