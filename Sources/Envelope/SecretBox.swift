import Crypto
import Foundation

/// Secrets the server must give back later (registry admin passwords), sealed at rest under a key derived
/// from the server master key and bound to what they belong to.
public struct SecretBox: Sendable {
    private let key: SymmetricKey

    public init(serverMasterKey: SymmetricKey) {
        key = HKDF<SHA256>.deriveKey(inputKeyMaterial: serverMasterKey, info: Array("coffer server secrets v1".utf8), outputByteCount: 32)
    }

    /// Base64 of AES-256-GCM over `secret`, authenticated with `context`.
    public func seal(_ secret: String, context: String) throws -> String {
        Data(try AES.GCM.seal(Array(secret.utf8), using: key, authenticating: Array(context.utf8)).combined!).base64EncodedString()
    }

    /// The secret, or nil when the sealed text was altered or belongs to another context.
    public func open(_ sealed: String, context: String) -> String? {
        guard let data = Data(base64Encoded: sealed), let box = try? AES.GCM.SealedBox(combined: data),
              let plain = try? AES.GCM.open(box, using: key, authenticating: Array(context.utf8)) else { return nil }
        return String(decoding: plain, as: UTF8.self)
    }
}
