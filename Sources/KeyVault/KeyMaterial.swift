import Crypto
import Foundation
import Identity
import _CryptoExtras

/// A key's private material and the operations it performs. Private material leaves this type only
/// sealed (for storage), never in a response.
enum KeyMaterial {
    case rsa(_RSA.Encryption.PrivateKey)

    static let rsaOperations = ["encrypt", "decrypt", "wrapKey", "unwrapKey", "sign", "verify"]

    static func generate(_ request: CreateKeyRequest) throws -> (KeyMaterial, String) {
        switch request.kty {
        case "RSA", "RSA-HSM":
            let size = request.key_size ?? 2048
            guard [2048, 3072, 4096].contains(size) else {
                throw KeyVaultError(.badParameter, "RSA key_size must be 2048, 3072 or 4096")
            }
            if let exponent = request.public_exponent, exponent != 65537 {
                throw KeyVaultError(.badParameter, "only public_exponent 65537 is supported")
            }
            return (.rsa(try _RSA.Encryption.PrivateKey(keySize: .init(bitCount: size))), request.kty)
        case "EC", "EC-HSM", "oct", "oct-HSM":
            throw KeyVaultError(.badParameter, "key type \(request.kty) is not supported yet; use RSA or RSA-HSM")
        default:
            throw KeyVaultError(.badParameter, "unknown key type \(request.kty.prefix(40))")
        }
    }

    /// The public JWK members.
    func publicKey(kty: String) throws -> JsonWebKey {
        switch self {
        case .rsa(let key):
            let primitives = try key.publicKey.getKeyPrimitives()
            return JsonWebKey(kid: nil, kty: kty, key_ops: nil, n: Base64URL.encode(Array(primitives.modulus)),
                              e: Base64URL.encode(Array(primitives.publicExponent)))
        }
    }

    // MARK: sealing for storage

    func sealed(under key: SymmetricKey, context: String) throws -> String {
        let plaintext: Data
        switch self {
        case .rsa(let rsa): plaintext = Data("rsa:".utf8) + rsa.derRepresentation
        }
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: Array(context.utf8))
        return box.combined!.base64EncodedString()
    }

    static func unseal(_ sealed: String, under key: SymmetricKey, context: String) throws -> KeyMaterial {
        guard let combined = Data(base64Encoded: sealed) else { throw KeyVaultError(.conflict, "stored key material is malformed") }
        let plaintext = try AES.GCM.open(AES.GCM.SealedBox(combined: combined), using: key, authenticating: Array(context.utf8))
        guard plaintext.starts(with: Data("rsa:".utf8)) else { throw KeyVaultError(.conflict, "stored key material is of an unknown kind") }
        return .rsa(try _RSA.Encryption.PrivateKey(derRepresentation: plaintext.dropFirst(4)))
    }

    // MARK: operations

    private static func padding(_ algorithm: String) throws -> _RSA.Encryption.Padding {
        switch algorithm {
        case "RSA-OAEP": return .PKCS1_OAEP
        case "RSA-OAEP-256": return .PKCS1_OAEP_SHA256
        case "RSA1_5":
            throw KeyVaultError(.badParameter, "algorithm RSA1_5 is refused: PKCS#1 v1.5 encryption is insecure; use RSA-OAEP-256")
        default:
            throw KeyVaultError(.badParameter, "algorithm \(algorithm.prefix(40)) is not valid for an RSA key; use RSA-OAEP or RSA-OAEP-256")
        }
    }

    func encrypt(_ plaintext: [UInt8], algorithm: String) throws -> [UInt8] {
        switch self {
        case .rsa(let key):
            let padding = try Self.padding(algorithm)
            guard plaintext.count <= key.publicKey.maximumEncryptSize(with: padding) else {
                throw KeyVaultError(.badParameter, "value is too long for \(algorithm) with this key")
            }
            return Array(try key.publicKey.encrypt(plaintext, padding: padding))
        }
    }

    func decrypt(_ ciphertext: [UInt8], algorithm: String) throws -> [UInt8] {
        switch self {
        case .rsa(let key):
            let padding = try Self.padding(algorithm)
            do {
                return Array(try key.decrypt(ciphertext, padding: padding))
            } catch {
                throw KeyVaultError(.badParameter, "the value could not be decrypted with this key and algorithm")
            }
        }
    }
}
