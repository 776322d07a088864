import CofferStorage
import Crypto
import Foundation
import Identity
import _CryptoExtras

/// The body of an import-key request: a JWK with its private members.
public struct ImportKeyRequest: Codable, Sendable {
    public struct PrivateJWK: Codable, Sendable {
        public var kty: String
        public var key_ops: [String]?
        public var n, e, d, p, q, dp, dq, qi: String?
        public var crv, x, y: String?
        public var k: String?

        public init(kty: String, key_ops: [String]? = nil, n: String? = nil, e: String? = nil, crv: String? = nil, x: String? = nil,
                    y: String? = nil, d: String? = nil, p: String? = nil, q: String? = nil, k: String? = nil) {
            self.kty = kty
            self.key_ops = key_ops
            self.n = n
            self.e = e
            self.d = d
            self.p = p
            self.q = q
            self.crv = crv
            self.x = x
            self.y = y
            self.k = k
        }
    }
    public var key: PrivateJWK
    public var hsm: Bool?
    public var attributes: KeyAttributes?
    public var tags: [String: String]?

    public init(key: PrivateJWK, hsm: Bool?, attributes: KeyAttributes?, tags: [String: String]?) {
        self.key = key
        self.hsm = hsm
        self.attributes = attributes
        self.tags = tags
    }
}

/// A key backup blob's content, before it is encrypted as a whole.
private struct KeyBackup: Codable {
    struct Version: Codable {
        var version: String
        var createdAt: Int64
        var bundle: String
        /// The private material, sealed under the backup key (not the vault's context).
        var material: String
    }
    var displayName: String
    var versions: [Version]
}

extension VaultService {
    private var backupKey: SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: materialKey, info: Array("coffer key backup v1".utf8), outputByteCount: 32)
    }

    /// Imports a key from a JWK with private members, as a new version of `name`.
    public func importKey(vault: VaultResource, name: String, request: ImportKeyRequest, baseURL: String) async throws -> KeyBundle {
        try Self.validateKeyName(name)
        let jwk = request.key
        func bytes(_ value: String?, _ member: String) throws -> Data {
            guard let value, let decoded = Base64URL.decode(value) else { throw KeyVaultError(.badParameter, "the JWK lacks its \(member) member") }
            return Data(decoded)
        }
        var kty = jwk.kty
        let material: KeyMaterial
        do {
            switch jwk.kty {
            case "RSA", "RSA-HSM":
                let key = try _RSA.Encryption.PrivateKey(n: try bytes(jwk.n, "n"), e: try bytes(jwk.e, "e"), d: try bytes(jwk.d, "d"),
                                                         p: try bytes(jwk.p, "p"), q: try bytes(jwk.q, "q"))
                material = try .rsa(key)
            case "EC", "EC-HSM":
                let d = try bytes(jwk.d, "d")
                switch jwk.crv {
                case "P-256": material = .p256(try P256.Signing.PrivateKey(rawRepresentation: d))
                case "P-384": material = .p384(try P384.Signing.PrivateKey(rawRepresentation: d))
                case "P-521": material = .p521(try P521.Signing.PrivateKey(rawRepresentation: d))
                default: throw KeyVaultError(.badParameter, "curve \(jwk.crv?.prefix(20) ?? "none") is not supported")
                }
                let derived = try material.publicKey(kty: kty)
                if let x = jwk.x, let y = jwk.y, derived.x != x || derived.y != y {
                    throw KeyVaultError(.badParameter, "the JWK's x and y do not match its d")
                }
            case "oct", "oct-HSM":
                let secret = try bytes(jwk.k, "k")
                guard [16, 24, 32].contains(secret.count) else { throw KeyVaultError(.badParameter, "oct keys are 128, 192 or 256 bits") }
                material = .oct(SymmetricKey(data: secret))
            default:
                throw KeyVaultError(.badParameter, "unknown key type \(jwk.kty.prefix(40))")
            }
        } catch let error as KeyVaultError {
            throw error
        } catch {
            throw KeyVaultError(.badParameter, "the JWK is not a valid private key")
        }
        if request.hsm == true, !kty.hasSuffix("-HSM") { kty += "-HSM" }
        if let state = try await keys.keyName(vault: vault.name ?? "", name: name), state.deletedAt != nil {
            throw KeyVaultError(.conflict, "Key \(name) is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged.")
        }
        let displayName = try await keys.keyName(vault: vault.name ?? "", name: name)?.displayName ?? name
        return try await storeVersion(vault: vault, name: name, displayName: displayName, material: material, kty: kty,
                                      keyOps: jwk.key_ops, attributes: request.attributes, tags: request.tags, baseURL: baseURL)
    }

    /// Every version of a key, encrypted under a key only this Coffer (its server master key) can open.
    public func backupKey(vault: VaultResource, name: String) async throws -> String {
        guard let state = try await keys.keyName(vault: vault.name ?? "", name: name), state.deletedAt == nil else {
            throw KeyVaultError(.keyNotFound, "A key with (name/id) \(name) was not found in this key vault.")
        }
        var backup = KeyBackup(displayName: state.displayName, versions: [])
        for record in try await keys.keyVersions(vault: vault.name ?? "", name: name) {
            let material = try KeyMaterial.unseal(record.sealedMaterial, under: materialKey, context: Self.materialContext(record))
            backup.versions.append(.init(version: record.version, createdAt: record.createdAt, bundle: record.bundle,
                                         material: try material.sealed(under: backupKey, context: "backup\u{0}\(record.version)")))
        }
        let box = try AES.GCM.seal(try JSONEncoder().encode(backup), using: backupKey, authenticating: Array("coffer key backup v1".utf8))
        return Base64URL.encode(Array(box.combined!))
    }

    /// Restores a backup into this vault under its original name; the name must be free.
    public func restoreKey(vault: VaultResource, blob: String, baseURL: String) async throws -> KeyBundle {
        let backup: KeyBackup
        do {
            guard let bytes = Base64URL.decode(blob) else { throw KeyVaultError(.badParameter, "the backup blob is not base64url") }
            let plaintext = try AES.GCM.open(AES.GCM.SealedBox(combined: bytes), using: backupKey, authenticating: Array("coffer key backup v1".utf8))
            backup = try JSONDecoder().decode(KeyBackup.self, from: plaintext)
        } catch {
            throw KeyVaultError(.badParameter, "the backup blob is corrupt or was not made by this Coffer")
        }
        let name = backup.displayName
        if try await keys.keyName(vault: vault.name ?? "", name: name) != nil {
            throw KeyVaultError(.conflict, "A key named \(name) already exists in this vault (possibly deleted); restore needs a free name.")
        }
        for version in backup.versions {
            let material = try KeyMaterial.unseal(version.material, under: backupKey, context: "backup\u{0}\(version.version)")
            var record = KeyVersionRecord(vault: vault.name ?? "", name: name, version: version.version, createdAt: version.createdAt,
                                          bundle: version.bundle, sealedMaterial: "")
            record.sealedMaterial = try material.sealed(under: materialKey, context: Self.materialContext(record))
            try await keys.insertKeyVersion(record, displayName: name)
        }
        return try await getKey(vault: vault, name: name, version: nil, baseURL: baseURL)
    }
}
