extension VaultService {
    /// Whether a key version still exists somewhere in the vault service, for telling a key that is
    /// away (recoverable) from one that is gone for good (purged: whatever it wrapped is unreadable).
    public enum KeyVersionExistence: Sendable, Equatable {
        /// Live in a live vault (it may still be disabled, expired or denied to a caller).
        case live
        /// The key or its vault is soft-deleted: recoverable until its scheduled purge date.
        case softDeleted
        /// Neither live nor soft-deleted: the key material no longer exists.
        case purged
    }

    /// The existence of `vault/name/version`, without authorisation (the caller has already been refused
    /// or served; this only says which). No private-key operation is performed.
    public func existence(vault: String, name: String, version: String) async throws -> KeyVersionExistence {
        let vaultIsLive = try await self.vault(named: vault) != nil
        if !vaultIsLive, try await deletedVault(named: vault) == nil { return .purged }
        guard let state = try await keys.keyName(vault: vault, name: name),
              try await keys.keyVersion(vault: vault, name: name, version: version) != nil else { return .purged }
        return vaultIsLive && state.deletedAt == nil ? .live : .softDeleted
    }
}
