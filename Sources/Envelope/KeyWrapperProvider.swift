/// Finds the key wrapper for a key-encryption-key id that is not one of the fixed ones
/// (customer-managed keys: the vault supplies them, reached as the registry's identity).
public protocol KeyWrapperProvider: Sendable {
    /// The wrapper for `keyID`, or nil when the id is not of this provider's kind.
    func wrapper(for keyID: String) -> (any KeyWrapper)?
}
