import Crypto
import Foundation
import Identity
import _CryptoExtras

/// A key's private material and the operations it performs. Private material leaves this type only
/// sealed (for storage), never in a response.
enum KeyMaterial {
    /// The key for encryption and for signatures (swift-crypto), and the same key in the system's OpenSSL when it is
    /// there (private-key decryption, the vault's hot path, runs there: see ``SystemRSAKey``).
    case rsa(_RSA.Encryption.PrivateKey, _RSA.Signing.PrivateKey, SystemRSAKey?)
    case p256(P256.Signing.PrivateKey)
    case p384(P384.Signing.PrivateKey)
    case p521(P521.Signing.PrivateKey)
    case oct(SymmetricKey)

    static func operations(for kty: String) -> [String] {
        switch kty {
        case "EC", "EC-HSM": ["sign", "verify"]
        case "oct", "oct-HSM": ["encrypt", "decrypt", "wrapKey", "unwrapKey"]
        default: ["encrypt", "decrypt", "wrapKey", "unwrapKey", "sign", "verify"]
        }
    }

    static func generate(_ request: CreateKeyRequest) throws -> KeyMaterial {
        switch request.kty {
        case "RSA", "RSA-HSM":
            let size = request.key_size ?? 2048
            guard [2048, 3072, 4096].contains(size) else {
                throw KeyVaultError(.badParameter, "RSA key_size must be 2048, 3072 or 4096")
            }
            if let exponent = request.public_exponent, exponent != 65537 {
                throw KeyVaultError(.badParameter, "only public_exponent 65537 is supported")
            }
            return try rsa(try _RSA.Encryption.PrivateKey(keySize: .init(bitCount: size)))
        case "EC", "EC-HSM":
            switch request.crv ?? "P-256" {
            case "P-256": return .p256(P256.Signing.PrivateKey())
            case "P-384": return .p384(P384.Signing.PrivateKey())
            case "P-521": return .p521(P521.Signing.PrivateKey())
            default: throw KeyVaultError(.badParameter, "curve \(request.crv?.prefix(20) ?? "") is not supported; use P-256, P-384 or P-521")
            }
        case "oct", "oct-HSM":
            let size = request.key_size ?? 256
            guard [128, 192, 256].contains(size) else { throw KeyVaultError(.badParameter, "oct key_size must be 128, 192 or 256") }
            return .oct(SymmetricKey(size: .init(bitCount: size)))
        default:
            throw KeyVaultError(.badParameter, "unknown key type \(request.kty.prefix(40)); use RSA, RSA-HSM, EC, EC-HSM, oct or oct-HSM")
        }
    }

    static func rsa(_ key: _RSA.Encryption.PrivateKey) throws -> KeyMaterial {
        let der = key.derRepresentation
        return .rsa(key, try _RSA.Signing.PrivateKey(derRepresentation: der), SystemRSAKey(der: Array(der)))
    }

    /// The public JWK members (none for a symmetric key).
    func publicKey(kty: String) throws -> JsonWebKey {
        func point(_ x963: Data, crv: String) -> JsonWebKey {
            let coordinates = Array(x963.dropFirst())
            let half = coordinates.count / 2
            return JsonWebKey(kty: kty, crv: crv, x: Base64URL.encode(Array(coordinates[..<half])), y: Base64URL.encode(Array(coordinates[half...])))
        }
        switch self {
        case .rsa(let key, _, _):
            let primitives = try key.publicKey.getKeyPrimitives()
            return JsonWebKey(kty: kty, n: Base64URL.encode(Array(primitives.modulus)), e: Base64URL.encode(Array(primitives.publicExponent)))
        case .p256(let key): return point(key.publicKey.x963Representation, crv: "P-256")
        case .p384(let key): return point(key.publicKey.x963Representation, crv: "P-384")
        case .p521(let key): return point(key.publicKey.x963Representation, crv: "P-521")
        case .oct: return JsonWebKey(kty: kty)
        }
    }

    // MARK: sealing for storage

    func sealed(under key: SymmetricKey, context: String) throws -> String {
        let plaintext: Data
        switch self {
        case .rsa(let rsa, _, _): plaintext = Data("rsa:".utf8) + rsa.derRepresentation
        case .p256(let ec): plaintext = Data("p256:".utf8) + ec.rawRepresentation
        case .p384(let ec): plaintext = Data("p384:".utf8) + ec.rawRepresentation
        case .p521(let ec): plaintext = Data("p521:".utf8) + ec.rawRepresentation
        case .oct(let secret): plaintext = Data("oct:".utf8) + secret.withUnsafeBytes { Data($0) }
        }
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: Array(context.utf8))
        return box.combined!.base64EncodedString()
    }

    static func unseal(_ sealed: String, under key: SymmetricKey, context: String) throws -> KeyMaterial {
        guard let combined = Data(base64Encoded: sealed) else { throw KeyVaultError(.conflict, "stored key material is malformed") }
        let plaintext = try AES.GCM.open(AES.GCM.SealedBox(combined: combined), using: key, authenticating: Array(context.utf8))
        guard let colon = plaintext.firstIndex(of: UInt8(ascii: ":")) else { throw KeyVaultError(.conflict, "stored key material is malformed") }
        let body = plaintext[(colon + 1)...]
        switch String(decoding: plaintext[..<colon], as: UTF8.self) {
        case "rsa": return try rsa(try _RSA.Encryption.PrivateKey(derRepresentation: body))
        case "p256": return .p256(try P256.Signing.PrivateKey(rawRepresentation: body))
        case "p384": return .p384(try P384.Signing.PrivateKey(rawRepresentation: body))
        case "p521": return .p521(try P521.Signing.PrivateKey(rawRepresentation: body))
        case "oct": return .oct(SymmetricKey(data: body))
        default: throw KeyVaultError(.conflict, "stored key material is of an unknown kind")
        }
    }

    // MARK: encryption and key wrapping

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

    /// The AES algorithm family and the key size it names (`A256KW` → (KW, 256)).
    private static func aes(_ algorithm: String) -> (family: String, bits: Int)? {
        for family in ["KW", "GCM", "CBC", "CBCPAD"] {
            for bits in [128, 192, 256] where algorithm == "A\(bits)\(family)" { return (family, bits) }
        }
        return nil
    }

    private func checkOct(_ secret: SymmetricKey, algorithm: String, families: Set<String>) throws -> String {
        guard let (family, bits) = Self.aes(algorithm), families.contains(family) else {
            throw KeyVaultError(.badParameter, "algorithm \(algorithm.prefix(40)) is not valid for this operation on a symmetric key")
        }
        guard bits == secret.bitCount else {
            throw KeyVaultError(.badParameter, "algorithm \(algorithm) needs a \(bits)-bit key; this key has \(secret.bitCount) bits")
        }
        return family
    }

    func encrypt(_ plaintext: [UInt8], algorithm: String, iv: [UInt8]?, aad: [UInt8]?) throws -> (value: [UInt8], iv: [UInt8]?, tag: [UInt8]?) {
        switch self {
        case .rsa(let key, _, _):
            let padding = try Self.padding(algorithm)
            guard plaintext.count <= key.publicKey.maximumEncryptSize(with: padding) else {
                throw KeyVaultError(.badParameter, "value is too long for \(algorithm) with this key")
            }
            return (Array(try key.publicKey.encrypt(plaintext, padding: padding)), nil, nil)
        case .oct(let secret):
            _ = try checkOct(secret, algorithm: algorithm, families: ["GCM"])
            // The service chooses every GCM nonce, as Azure does: a caller who could choose one could repeat another
            // caller's, and with the two ciphertexts recover plaintext and forge tags.
            guard iv == nil else {
                throw KeyVaultError(.badParameter, "\(algorithm) encryption generates its own iv; do not send one")
            }
            let nonce = AES.GCM.Nonce()
            let box = try AES.GCM.seal(plaintext, using: secret, nonce: nonce, authenticating: aad ?? [])
            return (Array(box.ciphertext), Array(nonce), Array(box.tag))
        case .p256, .p384, .p521:
            throw KeyVaultError(.badParameter, "EC keys only sign and verify")
        }
    }

    func decrypt(_ ciphertext: [UInt8], algorithm: String, iv: [UInt8]?, aad: [UInt8]?, tag: [UInt8]?) throws -> [UInt8] {
        switch self {
        case .rsa(let key, _, let system):
            let padding = try Self.padding(algorithm)
            let failure = KeyVaultError(.badParameter, "the value could not be decrypted with this key and algorithm")
            if let system {
                guard let plaintext = system.decryptOAEP(ciphertext, sha256: algorithm == "RSA-OAEP-256") else { throw failure }
                return plaintext
            }
            do { return Array(try key.decrypt(ciphertext, padding: padding)) } catch { throw failure }
        case .oct(let secret):
            _ = try checkOct(secret, algorithm: algorithm, families: ["GCM"])
            guard let iv, let tag else { throw KeyVaultError(.badParameter, "\(algorithm) decryption needs iv and tag") }
            do {
                let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: iv), ciphertext: ciphertext, tag: tag)
                return Array(try AES.GCM.open(box, using: secret, authenticating: aad ?? []))
            } catch {
                throw KeyVaultError(.badParameter, "the value could not be decrypted: authentication failed")
            }
        case .p256, .p384, .p521:
            throw KeyVaultError(.badParameter, "EC keys only sign and verify")
        }
    }

    func wrap(_ key: [UInt8], algorithm: String) throws -> [UInt8] {
        if case .oct(let secret) = self {
            _ = try checkOct(secret, algorithm: algorithm, families: ["KW"])
            guard key.count >= 16, key.count % 8 == 0 else { throw KeyVaultError(.badParameter, "AES key wrap takes a multiple of 8 bytes, at least 16") }
            return Array(try AES.KeyWrap.wrap(SymmetricKey(data: key), using: secret))
        }
        return try encrypt(key, algorithm: algorithm, iv: nil, aad: nil).value
    }

    func unwrap(_ wrapped: [UInt8], algorithm: String) throws -> [UInt8] {
        if case .oct(let secret) = self {
            _ = try checkOct(secret, algorithm: algorithm, families: ["KW"])
            do {
                return try AES.KeyWrap.unwrap(wrapped, using: secret).withUnsafeBytes { Array($0) }
            } catch {
                throw KeyVaultError(.badParameter, "the value could not be unwrapped: integrity check failed")
            }
        }
        return try decrypt(wrapped, algorithm: algorithm, iv: nil, aad: nil, tag: nil)
    }

    // MARK: signatures (over a digest the client computed)

    func sign(digest: [UInt8], algorithm: String) throws -> [UInt8] {
        switch (self, algorithm) {
        case (.rsa(_, let key, _), "RS256"), (.rsa(_, let key, _), "PS256"):
            return Array(try key.signature(for: try PrecomputedDigest.sha256(digest), padding: Self.rsaPadding(algorithm)).rawRepresentation)
        case (.rsa(_, let key, _), "RS384"), (.rsa(_, let key, _), "PS384"):
            return Array(try key.signature(for: try PrecomputedDigest.sha384(digest), padding: Self.rsaPadding(algorithm)).rawRepresentation)
        case (.rsa(_, let key, _), "RS512"), (.rsa(_, let key, _), "PS512"):
            return Array(try key.signature(for: try PrecomputedDigest.sha512(digest), padding: Self.rsaPadding(algorithm)).rawRepresentation)
        case (.p256(let key), "ES256"): return Array(try key.signature(for: try PrecomputedDigest.sha256(digest)).rawRepresentation)
        case (.p384(let key), "ES384"): return Array(try key.signature(for: try PrecomputedDigest.sha384(digest)).rawRepresentation)
        case (.p521(let key), "ES512"): return Array(try key.signature(for: try PrecomputedDigest.sha512(digest)).rawRepresentation)
        default:
            throw KeyVaultError(.badParameter, "algorithm \(algorithm.prefix(40)) cannot sign with this key (RS*/PS* for RSA, ES256/384/512 for P-256/384/521)")
        }
    }

    func verify(digest: [UInt8], signature: [UInt8], algorithm: String) throws -> Bool {
        switch (self, algorithm) {
        case (.rsa(_, let key, _), "RS256"), (.rsa(_, let key, _), "PS256"):
            return key.publicKey.isValidSignature(.init(rawRepresentation: signature), for: try PrecomputedDigest.sha256(digest), padding: try Self.rsaPadding(algorithm))
        case (.rsa(_, let key, _), "RS384"), (.rsa(_, let key, _), "PS384"):
            return key.publicKey.isValidSignature(.init(rawRepresentation: signature), for: try PrecomputedDigest.sha384(digest), padding: try Self.rsaPadding(algorithm))
        case (.rsa(_, let key, _), "RS512"), (.rsa(_, let key, _), "PS512"):
            return key.publicKey.isValidSignature(.init(rawRepresentation: signature), for: try PrecomputedDigest.sha512(digest), padding: try Self.rsaPadding(algorithm))
        case (.p256(let key), "ES256"):
            guard let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.publicKey.isValidSignature(parsed, for: try PrecomputedDigest.sha256(digest))
        case (.p384(let key), "ES384"):
            guard let parsed = try? P384.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.publicKey.isValidSignature(parsed, for: try PrecomputedDigest.sha384(digest))
        case (.p521(let key), "ES512"):
            guard let parsed = try? P521.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.publicKey.isValidSignature(parsed, for: try PrecomputedDigest.sha512(digest))
        default:
            throw KeyVaultError(.badParameter, "algorithm \(algorithm.prefix(40)) cannot verify with this key")
        }
    }

    private static func rsaPadding(_ algorithm: String) throws -> _RSA.Signing.Padding {
        algorithm.hasPrefix("PS") ? .PSS : .insecurePKCS1v1_5
    }
}

/// Digests computed by the client. Key Vault's sign and verify take a digest, not a message, and
/// swift-crypto signs only its own digest types; these are plain values of the digest bytes
/// (trivial structs of 64-bit words), so loading the bytes as one is exact.
enum PrecomputedDigest {
    static func sha256(_ bytes: [UInt8]) throws -> SHA256Digest { try load(bytes, as: SHA256Digest.self, size: 32) }
    static func sha384(_ bytes: [UInt8]) throws -> SHA384Digest { try load(bytes, as: SHA384Digest.self, size: 48) }
    static func sha512(_ bytes: [UInt8]) throws -> SHA512Digest { try load(bytes, as: SHA512Digest.self, size: 64) }

    private static func load<D: Digest>(_ bytes: [UInt8], as type: D.Type, size: Int) throws -> D {
        guard bytes.count == size, MemoryLayout<D>.size == size, D.byteCount == size else {
            throw KeyVaultError(.badParameter, "the digest must be \(size) bytes for this algorithm")
        }
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: D.self) }
    }
}
