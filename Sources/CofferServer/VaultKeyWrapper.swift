import Envelope
import Foundation
import Identity
import KeyVault
import Tracing
import Crypto

/// Customer-managed key wrapping: the registry's master key is wrapped and unwrapped by the vault's
/// wrapKey/unwrapKey, as the registry's identity, authorised by the vault's access policies or roles
/// exactly as an outside caller would be. Key ids read `cmk|<identity object id>|<key identifier>`.
struct VaultKeyWrapperProvider: KeyWrapperProvider {
    let vaults: VaultService
    let directory: Directory
    let vaultBaseURL: @Sendable (String) -> String

    func wrapper(for keyID: String) -> (any KeyWrapper)? {
        guard let (principalID, identifier) = CustomerManagedKeyID.parse(keyID), let key = VaultKeyReference(identifier) else { return nil }
        return VaultKeyWrapper(keyID: keyID, principalID: principalID, key: key, vaults: vaults, directory: directory, vaultBaseURL: vaultBaseURL)
    }
}

struct VaultKeyWrapper: KeyWrapper {
    let keyID: String
    let principalID: String
    let key: VaultKeyReference
    let vaults: VaultService
    let directory: Directory
    let vaultBaseURL: @Sendable (String) -> String

    var auditIdentity: (key: String, identity: String) {
        (CustomerManagedKeyID.parse(keyID)?.keyIdentifier ?? keyID, principalID)
    }

    /// The identity calls as itself: its own claims, checked by the vault like anyone's.
    private func caller() async throws -> AccessTokenClaims {
        guard let principal = try await directory.principal(objectID: principalID) else {
            throw EnvelopeError(.keyUnavailable, "the identity \(principalID) no longer exists")
        }
        return principal.callerClaims
    }

    private func vault() async throws -> VaultResource {
        guard let vault = try await vaults.vault(named: key.vault) else {
            throw EnvelopeError(.keyUnavailable, "the key vault \(key.vault) does not exist or is deleted")
        }
        return vault
    }

    /// Tells a key that is away (recoverable: 503, retry later) from one purged for good, whose wrapped data
    /// can never be opened again (crypto-shredded).
    private func failure(_ message: String, version: String) async -> EnvelopeError {
        if (try? await vaults.existence(vault: key.vault, name: key.name, version: version)) == .purged {
            return EnvelopeError(.keyPurged, "the customer-managed key \(key.vault)/\(key.name) (version \(version)) was purged: "
                                 + "data encrypted under it can never be decrypted again")
        }
        return EnvelopeError(.keyUnavailable, "the customer-managed key \(key.vault)/\(key.name) is inaccessible: \(message)")
    }

    /// Wrapped bytes carry the key version that wrapped them, so a versionless key can rotate underneath.
    func wrap(_ secret: SymmetricKey, context: [UInt8]) async throws -> [UInt8] {
        try await traced("wrapKey") { try await wrapUntraced(secret) }
    }

    func unwrap(_ wrapped: [UInt8], context: [UInt8]) async throws -> SymmetricKey {
        try await traced("unwrapKey") { try await unwrapUntraced(wrapped) }
    }

    /// A span for the vault call (the key named, never its material).
    private func traced<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        guard ServerTracing.isEnabled else { return try await body() }
        return try await withSpan("vault \(operation)", ofKind: .client) { span in
            if span.isRecording {
                span.attributes["coffer.vault"] = key.vault
                span.attributes["coffer.key"] = key.name
            }
            return try await body()
        }
    }

    private func wrapUntraced(_ secret: SymmetricKey) async throws -> [UInt8] {
        do {
            let vault = try await vault()
            try await vaults.authorize(try await caller(), vault: vault, permission: .wrapKey)
            let value = secret.withUnsafeBytes { Base64URL.encode(Array($0)) }
            let result = try await vaults.perform(.wrapKey, vault: vault, name: key.name, version: key.version,
                                                  request: KeyOperationRequest(alg: "RSA-OAEP-256", value: value), baseURL: vaultBaseURL(key.vault))
            let version = Array((result.kid.split(separator: "/").last.map(String.init) ?? "").utf8)
            guard let wrapped = Base64URL.decode(result.value), version.count < 256 else { throw EnvelopeError(.formatInvalid, "unexpected wrap result") }
            return [UInt8(version.count)] + version + wrapped
        } catch let error as EnvelopeError {
            throw error
        } catch let error as KeyVaultError {
            throw EnvelopeError(.keyUnavailable, "the customer-managed key \(key.vault)/\(key.name) is inaccessible: \(error.message)")
        }
    }

    private func unwrapUntraced(_ wrapped: [UInt8]) async throws -> SymmetricKey {
        guard let count = wrapped.first.map(Int.init), wrapped.count > 1 + count else {
            throw EnvelopeError(.formatInvalid, "the wrapped master key is malformed")
        }
        let version = String(decoding: wrapped[1..<(1 + count)], as: UTF8.self)
        do {
            let vault = try await vault()
            try await vaults.authorize(try await caller(), vault: vault, permission: .unwrapKey)
            let result = try await vaults.perform(.unwrapKey, vault: vault, name: key.name, version: version,
                                                  request: KeyOperationRequest(alg: "RSA-OAEP-256", value: Base64URL.encode(Array(wrapped[(1 + count)...]))),
                                                  baseURL: vaultBaseURL(key.vault))
            guard let bytes = Base64URL.decode(result.value) else { throw EnvelopeError(.formatInvalid, "unexpected unwrap result") }
            return SymmetricKey(data: bytes)
        } catch let error as EnvelopeError where error.code == .keyUnavailable {
            throw await failure(error.message, version: version)
        } catch let error as KeyVaultError {
            throw await failure(error.message, version: version)
        }
    }
}
