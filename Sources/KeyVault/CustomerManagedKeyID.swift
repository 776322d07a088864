/// How a registry names its customer-managed key-encryption key: the identity that reaches the
/// vault, and the key identifier (`cmk|<identity object id>|<key identifier>`).
public enum CustomerManagedKeyID {
    public static let prefix = "cmk|"

    public static func make(principalID: String, keyIdentifier: String) -> String {
        "\(prefix)\(principalID.lowercased())|\(keyIdentifier)"
    }

    public static func parse(_ keyID: String) -> (principalID: String, keyIdentifier: String)? {
        guard keyID.hasPrefix(prefix) else { return nil }
        let parts = keyID.dropFirst(prefix.count).split(separator: "|", maxSplits: 1).map(String.init)
        return parts.count == 2 ? (parts[0], parts[1]) : nil
    }
}

/// A key identifier, `https://<vault>.<suffix>[:port]/keys/<name>[/<version>]`, taken apart.
public struct VaultKeyReference: Sendable, Equatable {
    public let vault: String
    public let name: String
    /// Nil for a versionless identifier (which follows the key's newest version).
    public let version: String?
    /// `https://<vault>.<suffix>[:port]`, the vault's own address (key ids are written against it).
    public let baseURL: String

    public init?(_ identifier: String) {
        let parts = identifier.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 5, parts[0].lowercased() == "https:", parts[1].isEmpty, parts[3].lowercased() == "keys", !parts[4].isEmpty,
              let vault = parts[2].split(separator: ".").first else { return nil }
        self.vault = String(vault)
        self.name = parts[4]
        self.version = parts.count > 5 && !parts[5].isEmpty ? parts[5] : nil
        self.baseURL = "https://\(parts[2])"
    }
}
