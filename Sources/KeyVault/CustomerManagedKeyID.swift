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
