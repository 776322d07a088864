import Crypto
import Foundation

/// A stored password check: salted SHA-256 of a high-entropy generated secret.
/// (Coffer only ever checks secrets it generated itself, 256 bits each, so a slow hash adds nothing.)
public struct PasswordCredential: Codable, Sendable, Equatable {
    public var username: String
    public var salt: String
    public var hash: String

    public static func create(username: String, password: String) -> PasswordCredential {
        let salt = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        return PasswordCredential(username: username, salt: salt, hash: digest(salt: salt, password: password))
    }

    public func matches(username: String, password: String) -> Bool {
        let candidate = Array(Self.digest(salt: salt, password: password).utf8)
        let expected = Array(hash.utf8)
        // Constant-time comparison of equal-length digests.
        guard candidate.count == expected.count else { return false }
        let difference = zip(candidate, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) }
        return difference == 0 && username == self.username
    }

    private static func digest(salt: String, password: String) -> String {
        Data(SHA256.hash(data: Array((salt + "\u{0}" + password).utf8))).base64EncodedString()
    }

    /// A new random secret, URL-safe.
    public static func generateSecret() -> String {
        Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255) })
    }
}
