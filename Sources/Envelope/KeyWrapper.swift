import Crypto

/// Something that wraps and unwraps keys under a key-encryption key it never releases.
///
/// The registry's master key is wrapped by one of these. The service-managed wrapper is local;
/// the key vault will provide one that calls wrapKey/unwrapKey as the registry's identity.
public protocol KeyWrapper: Sendable {
    /// Identifies the key-encryption key, recorded beside each key it wraps.
    var keyID: String { get }
    /// - Parameter context: bytes the wrapping is bound to (a wrapper may bind them as associated data).
    func wrap(_ key: SymmetricKey, context: [UInt8]) async throws -> [UInt8]
    func unwrap(_ wrapped: [UInt8], context: [UInt8]) async throws -> SymmetricKey
    /// What an audit record says of this key: the key it names and the identity that uses it.
    var auditIdentity: (key: String, identity: String) { get }
}

extension KeyWrapper {
    /// The server's own keys are used by the server itself.
    public var auditIdentity: (key: String, identity: String) { (keyID, "coffer-server") }
}
