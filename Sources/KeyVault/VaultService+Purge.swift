import Foundation

extension VaultService {
    /// Purges soft-deleted keys and vaults whose scheduled purge date has passed (as Key Vault does
    /// by itself). Returns what was purged (`vault` or `vault/key`). Run periodically by the server.
    @discardableResult
    public func purgeExpired(now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> [String] {
        var purged: [String] = []
        for vault in try await documents.documents(type: Self.vaultType, name: nil).map(Self.decode) {
            guard let name = vault.name else { continue }
            for state in try await keys.keyNames(vault: name, deleted: true) {
                guard let purgeAt = state.scheduledPurgeAt, now >= purgeAt else { continue }
                try await keys.purgeKey(vault: name, name: state.name)
                materialCache.forget(prefix: "coffer key material\u{0}\(name.lowercased())\u{0}\(state.name)\u{0}")
                logger.info("deleted key purged on schedule", metadata: ["coffer.vault": .string(name), "coffer.key": .string(state.name)])
                purged.append("\(name)/\(state.name)")
            }
        }
        for deleted in try await deletedVaults() {
            guard let purgeAt = Self.parseTimestamp(deleted.properties.scheduledPurgeDate), now >= purgeAt else { continue }
            try await purgeDeletedVault(named: deleted.name, now: now)
            purged.append(deleted.name)
        }
        return purged
    }
}
