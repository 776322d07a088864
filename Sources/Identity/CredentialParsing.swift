import Foundation

/// Parsing of the credential-bearing parts of token requests, shared by the registry's and the
/// identity service's token endpoints.
public enum CredentialParsing {
    /// `application/x-www-form-urlencoded` pairs; a repeated key keeps every value in order.
    public static func form(_ text: String) -> [String: [String]] {
        var result: [String: [String]] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ value: Substring) -> String { value.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(value) }
            result[decode(parts[0]), default: []].append(parts.count > 1 ? decode(parts[1]) : "")
        }
        return result
    }

    /// User name and password of an HTTP Basic `Authorization` header (each percent-decoded, as OAuth2 clients encode them).
    public static func basic(_ header: String?) -> (user: String, password: String)? {
        guard let header, header.lowercased().hasPrefix("basic "),
              let decoded = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
              let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":") else { return nil }
        let user = String(text[..<colon])
        let password = String(text[text.index(after: colon)...])
        return (user.removingPercentEncoding ?? user, password.removingPercentEncoding ?? password)
    }
}
