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
        constantTimeEqual(Self.digest(salt: salt, password: password), hash) && username == self.username
    }

    private static func digest(salt: String, password: String) -> String {
        Data(SHA256.hash(data: Array((salt + "\u{0}" + password).utf8))).base64EncodedString()
    }

    /// A new random secret, URL-safe.
    public static func generateSecret() -> String {
        // Never with a leading `-`: command lines read it as an option (`az login -p -x…` fails).
        while true {
            let secret = Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255) })
            if !secret.hasPrefix("-") { return secret }
        }
    }
}

/// Whether two secrets are equal, in time that depends on their length only (not on where they first differ).
func constantTimeEqual(_ lhs: String, _ rhs: String) -> Bool {
    let lhs = Array(lhs.utf8), rhs = Array(rhs.utf8)
    return lhs.count == rhs.count && zip(lhs, rhs).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
}
