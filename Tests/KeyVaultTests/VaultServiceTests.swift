import CofferStorage
import Crypto
import Foundation
import Identity
import SQLMetadataStore
import Testing
@testable import KeyVault

/// A vault service on a fresh SQLite store, with a caller who holds an access policy.
struct VaultFixture {
    let service: VaultService
    let store: SQLMetadataStore
    let tenant: String
    let caller: AccessTokenClaims
    static let base = "https://vault1.vault.localhost:8443"

    static func make() async throws -> VaultFixture {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-kv-\(UUID().uuidString).sqlite").path
        let store = try await SQLMetadataStore(sessions: try await SQLiteSessions.open(path: path))
        let directory = Directory(store: store, signer: TokenSigner(privateKey: P256.Signing.PrivateKey()))
        let boot = try await directory.bootstrap()
        let service = VaultService(documents: store, keys: store, directory: directory, serverMasterKey: SymmetricKey(size: .bits256))
        let caller = AccessTokenClaims(aud: "a", iss: "i", iat: 0, nbf: 0, exp: 0, tid: boot.tenantID, oid: "caller", appid: "app",
                                       sub: "caller", ver: "2.0", idtyp: "app")
        return VaultFixture(service: service, store: store, tenant: boot.tenantID, caller: caller)
    }

    func vault(_ name: String = "vault1", purgeProtection: Bool = true, policies: [String] = ["all"], rbac: Bool = false) async throws -> VaultResource {
        var properties = VaultProperties()
        properties.enablePurgeProtection = purgeProtection
        properties.enableRbacAuthorization = rbac
        properties.softDeleteRetentionInDays = 7
        properties.accessPolicies = [AccessPolicyEntry(tenantId: tenant, objectId: "caller", permissions: .init(keys: policies))]
        let (vault, _) = try await service.putVault(
            id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/\(name)", name: name,
            body: VaultResource(id: nil, name: nil, type: nil, location: "here", tags: nil, properties: properties),
            vaultURI: "https://\(name).vault.localhost:8443/", tenantID: tenant
        )
        return vault
    }
}

extension VaultProperties {
    init() {
        self.init(tenantId: nil, sku: nil, accessPolicies: nil, vaultUri: nil, enabledForDeployment: nil, enabledForDiskEncryption: nil,
                  enabledForTemplateDeployment: nil, enableSoftDelete: nil, softDeleteRetentionInDays: nil, enableRbacAuthorization: nil,
                  enablePurgeProtection: nil, provisioningState: nil, publicNetworkAccess: nil, createMode: nil)
    }
}

func rsaRequest(_ operations: [String]? = nil) -> CreateKeyRequest {
    CreateKeyRequest(kty: "RSA", key_size: 2048, public_exponent: nil, key_ops: operations, attributes: nil, tags: nil, crv: nil)
}

@Suite struct VaultRulesTests {
    /// Two groups whose names differ only in Unicode normal form are two groups in the store; a vault name taken in one
    /// must stay taken for the other (Swift's `==` calls the two ids equal).
    @Test func aVaultNameIsTakenAcrossLookAlikeGroups() async throws {
        let fixture = try await VaultFixture.make()
        defer { Task { try await fixture.store.close() } }
        let composed = "\u{D55C}"            // 한, one scalar
        let decomposed = "\u{1112}\u{1161}\u{11AB}"  // the same syllable in three jamo
        #expect(composed == decomposed && !composed.utf8.elementsEqual(decomposed.utf8))
        func put(group: String) async throws {
            var properties = VaultProperties()
            properties.accessPolicies = []
            _ = try await fixture.service.putVault(
                id: "/subscriptions/s/resourceGroups/\(group)/providers/Microsoft.KeyVault/vaults/twin", name: "twin",
                body: VaultResource(id: nil, name: nil, type: nil, location: "here", tags: nil, properties: properties),
                vaultURI: "https://twin.vault.localhost:8443/", tenantID: fixture.tenant)
        }
        try await put(group: composed)
        try await put(group: composed)  // the positive control: its own group may update it
        await #expect(throws: KeyVaultError.self) { try await put(group: decomposed) }
    }

    @Test func vaultSettingsThatCannotBeUndone() async throws {
        let fixture = try await VaultFixture.make()
        defer { Task { try await fixture.store.close() } }
        let vault = try await fixture.vault()
        #expect(vault.properties.enableSoftDelete == true && vault.properties.vaultUri == "https://vault1.vault.localhost:8443/")
        var off = vault
        off.properties.enablePurgeProtection = false
        await #expect(throws: KeyVaultError.self) {
            _ = try await fixture.service.putVault(id: vault.id!, name: "vault1", body: off, vaultURI: "u", tenantID: fixture.tenant)
        }
        var noSoftDelete = vault
        noSoftDelete.properties.enableSoftDelete = false
        await #expect(throws: KeyVaultError.self) {
            _ = try await fixture.service.putVault(id: vault.id!, name: "vault1", body: noSoftDelete, vaultURI: "u", tenantID: fixture.tenant)
        }
        var badRetention = vault
        badRetention.properties.softDeleteRetentionInDays = 91
        await #expect(throws: KeyVaultError.self) {
            _ = try await fixture.service.putVault(id: vault.id!, name: "vault1", body: badRetention, vaultURI: "u", tenantID: fixture.tenant)
        }
        // Names are global: the same name in another group is taken.
        await #expect(throws: KeyVaultError.self) {
            _ = try await fixture.service.putVault(id: "/subscriptions/s/resourceGroups/other/providers/Microsoft.KeyVault/vaults/vault1", name: "vault1",
                                                   body: vault, vaultURI: "u", tenantID: fixture.tenant)
        }
        for bad in ["ab", "1abc", "a--b", "abc-", String(repeating: "a", count: 25), "a_b"] {
            #expect(throws: KeyVaultError.self) { try VaultService.validateName(bad) }
        }
    }

    @Test func accessPolicyOperationsMergeAndSubtract() async throws {
        let fixture = try await VaultFixture.make()
        defer { Task { try await fixture.store.close() } }
        let vault = try await fixture.vault(policies: ["get"])
        let entry = { (keys: [String]) in AccessPolicyEntry(tenantId: fixture.tenant, objectId: "caller", permissions: .init(keys: keys)) }
        var updated = try await fixture.service.updateAccessPolicies(vaultID: vault.id!, operation: .add, entries: [entry(["WrapKey", "get"])])
        #expect(updated.properties.accessPolicies?.first?.permissions.keys == ["get", "WrapKey"])
        updated = try await fixture.service.updateAccessPolicies(vaultID: vault.id!, operation: .remove, entries: [entry(["get"])])
        #expect(updated.properties.accessPolicies?.first?.permissions.keys == ["WrapKey"])
        updated = try await fixture.service.updateAccessPolicies(vaultID: vault.id!, operation: .remove, entries: [entry(["wrapkey"])])
        #expect(updated.properties.accessPolicies?.isEmpty == true)
        updated = try await fixture.service.updateAccessPolicies(vaultID: vault.id!, operation: .replace, entries: [entry(["list"])])
        #expect(updated.properties.accessPolicies?.count == 1)
    }

    @Test func authorizationByPolicyAndByRole() async throws {
        let fixture = try await VaultFixture.make()
        defer { Task { try await fixture.store.close() } }
        let vault = try await fixture.vault(policies: ["get", "wrapKey"])
        try await fixture.service.authorize(fixture.caller, vault: vault, permission: .wrapKey)
        await #expect(throws: KeyVaultError.self) { try await fixture.service.authorize(fixture.caller, vault: vault, permission: .unwrapKey) }
        var stranger = fixture.caller
        stranger.oid = "stranger"
        await #expect(throws: KeyVaultError.self) { try await fixture.service.authorize(stranger, vault: vault, permission: .get) }
        var otherTenant = fixture.caller
        otherTenant.tid = "other"
        await #expect(throws: KeyVaultError.self) { try await fixture.service.authorize(otherTenant, vault: vault, permission: .get) }

        let rbacVault = try await fixture.vault("vault2", rbac: true)
        // Under RBAC, access policies are ignored.
        await #expect(throws: KeyVaultError.self) { try await fixture.service.authorize(fixture.caller, vault: rbacVault, permission: .get) }
        try await fixture.service.directory.assignRole(.keyVaultCryptoServiceEncryptionUser, to: "caller", scope: rbacVault.id!)
        try await fixture.service.authorize(fixture.caller, vault: rbacVault, permission: .unwrapKey)
        await #expect(throws: KeyVaultError.self) { try await fixture.service.authorize(fixture.caller, vault: rbacVault, permission: .delete) }
        // Owner's control-plane `*` opens no key: data actions come only from data roles.
        try await fixture.service.directory.assignRole(.owner, to: "caller", scope: rbacVault.id!)
        await #expect(throws: KeyVaultError.self) { try await fixture.service.authorize(fixture.caller, vault: rbacVault, permission: .delete) }
        try await fixture.service.directory.assignRole(.keyVaultAdministrator, to: "caller", scope: rbacVault.id!)
        for permission in KeyPermission.allCases { try await fixture.service.authorize(fixture.caller, vault: rbacVault, permission: permission) }
    }
}

@Suite struct KeyOperationTests {
    @Test func wrapUnwrapAndTheRulesOfUse() async throws {
        let fixture = try await VaultFixture.make()
        defer { Task { try await fixture.store.close() } }
        let vault = try await fixture.vault()
        let key = try await fixture.service.createKey(vault: vault, name: "Kek", request: rsaRequest(["wrapKey", "unwrapKey"]), baseURL: VaultFixture.base)
        #expect(key.key.kid?.hasPrefix("\(VaultFixture.base)/keys/Kek/") == true)
        #expect(key.key.n != nil && key.attributes.recoveryLevel == "CustomizedRecoverable")
        let secret = Array(repeating: UInt8(7), count: 32)
        let wrapped = try await fixture.service.perform(.wrapKey, vault: vault, name: "kek", version: nil,
                                                        request: KeyOperationRequest(alg: "RSA-OAEP-256", value: Base64URL.encode(secret)), baseURL: VaultFixture.base)
        let unwrapped = try await fixture.service.perform(.unwrapKey, vault: vault, name: "kek", version: nil,
                                                          request: KeyOperationRequest(alg: "RSA-OAEP-256", value: wrapped.value), baseURL: VaultFixture.base)
        #expect(Base64URL.decode(unwrapped.value) == secret)
        // key_ops are enforced; RSA1_5 and unknown algorithms are refused with a clear error.
        await #expect(throws: KeyVaultError.self) {
            _ = try await fixture.service.perform(.encrypt, vault: vault, name: "kek", version: nil,
                                                  request: KeyOperationRequest(alg: "RSA-OAEP-256", value: "AAAA"), baseURL: VaultFixture.base)
        }
        for algorithm in ["RSA1_5", "A256KW", "nonsense"] {
            await #expect(throws: KeyVaultError.self) {
                _ = try await fixture.service.perform(.wrapKey, vault: vault, name: "kek", version: nil,
                                                      request: KeyOperationRequest(alg: algorithm, value: "AAAA"), baseURL: VaultFixture.base)
            }
        }
        // Disabled, expired and not-yet-valid keys refuse operations.
        for attributes in [KeyAttributes(enabled: false), KeyAttributes(enabled: true, exp: 1), KeyAttributes(enabled: true, nbf: 4_000_000_000)] {
            _ = try await fixture.service.updateKey(vault: vault, name: "kek", version: nil,
                                                    request: UpdateKeyRequest(key_ops: nil, attributes: attributes, tags: nil), baseURL: VaultFixture.base)
            await #expect(throws: KeyVaultError.self) {
                _ = try await fixture.service.perform(.unwrapKey, vault: vault, name: "kek", version: nil,
                                                      request: KeyOperationRequest(alg: "RSA-OAEP-256", value: wrapped.value), baseURL: VaultFixture.base)
            }
            _ = try await fixture.service.updateKey(vault: vault, name: "kek", version: nil, request: UpdateKeyRequest(
                key_ops: nil, attributes: KeyAttributes(enabled: true, nbf: 0, exp: 4_000_000_000), tags: nil), baseURL: VaultFixture.base)
        }
    }

    @Test func softDeleteAndPurgeProtection() async throws {
        let fixture = try await VaultFixture.make()
        defer { Task { try await fixture.store.close() } }
        let vault = try await fixture.vault()
        _ = try await fixture.service.createKey(vault: vault, name: "k", request: rsaRequest(), baseURL: VaultFixture.base)
        let deleted = try await fixture.service.deleteKey(vault: vault, name: "k", baseURL: VaultFixture.base)
        #expect(deleted.recoveryId == "\(VaultFixture.base)/deletedkeys/k")
        #expect(deleted.scheduledPurgeDate == deleted.deletedDate.map { $0 + 7 * 86400 })
        await #expect(throws: KeyVaultError.self) { _ = try await fixture.service.getKey(vault: vault, name: "k", version: nil, baseURL: VaultFixture.base) }
        await #expect(throws: KeyVaultError.self) { _ = try await fixture.service.createKey(vault: vault, name: "k", request: rsaRequest(), baseURL: VaultFixture.base) }
        await #expect(throws: KeyVaultError.self) { try await fixture.service.purgeKey(vault: vault, name: "k") }
        _ = try await fixture.service.recoverKey(vault: vault, name: "k", baseURL: VaultFixture.base)
        _ = try await fixture.service.getKey(vault: vault, name: "k", version: nil, baseURL: VaultFixture.base)
    }

    @Test func keyMaterialIsSealedAndBoundToItsVersion() async throws {
        let fixture = try await VaultFixture.make()
        defer { Task { try await fixture.store.close() } }
        let vault = try await fixture.vault()
        let first = try await fixture.service.createKey(vault: vault, name: "a", request: rsaRequest(), baseURL: VaultFixture.base)
        _ = try await fixture.service.createKey(vault: vault, name: "b", request: rsaRequest(), baseURL: VaultFixture.base)
        let a = try #require(try await fixture.store.keyVersions(vault: "vault1", name: "a").first)
        let b = try #require(try await fixture.store.keyVersions(vault: "vault1", name: "b").first)
        #expect(!a.bundle.contains("\"d\"") && !a.sealedMaterial.isEmpty)
        // Each key's material opens under its own context (the control), and b's moved to a does not: AES-GCM refuses
        // it for the authenticated context (a CryptoKitError, whose case differs by platform), before any parsing.
        _ = try KeyMaterial.unseal(a.sealedMaterial, under: fixture.service.materialKey, context: VaultService.materialContext(a))
        _ = try KeyMaterial.unseal(b.sealedMaterial, under: fixture.service.materialKey, context: VaultService.materialContext(b))
        #expect(VaultService.materialContext(a) != VaultService.materialContext(b))
        #expect(throws: CryptoKitError.self) {
            _ = try KeyMaterial.unseal(b.sealedMaterial, under: fixture.service.materialKey, context: VaultService.materialContext(a))
        }
        #expect(first.key.kid?.contains(a.version) == true)
    }
}

@Suite struct SignatureAndSymmetricTests {
    @Test func rsaAndEcSignaturesVerifyIndependently() async throws {
        let fixture = try await VaultFixture.make()
        defer { Task { try await fixture.store.close() } }
        let vault = try await fixture.vault()
        let message = Array("the message".utf8)
        let digest = Array(SHA256.hash(data: message))
        let rsa = try await fixture.service.createKey(vault: vault, name: "rsa", request: rsaRequest(), baseURL: VaultFixture.base)
        let ec = try await fixture.service.createKey(vault: vault, name: "ec", request: CreateKeyRequest(
            kty: "EC", key_size: nil, public_exponent: nil, key_ops: nil, attributes: nil, tags: nil, crv: "P-256"), baseURL: VaultFixture.base)
        #expect(ec.key.crv == "P-256" && ec.key.x != nil && ec.key.key_ops == ["sign", "verify"])

        for (name, algorithm) in [("rsa", "RS256"), ("rsa", "PS256"), ("ec", "ES256")] {
            let signed = try await fixture.service.perform(.sign, vault: vault, name: name, version: nil,
                                                           request: KeyOperationRequest(alg: algorithm, value: Base64URL.encode(digest)), baseURL: VaultFixture.base)
            let good = try await fixture.service.verify(vault: vault, name: name, version: nil, request: VerifyRequest(
                alg: algorithm, digest: Base64URL.encode(digest), value: signed.value), baseURL: VaultFixture.base)
            #expect(good.value, "\(algorithm)")
            var otherDigest = digest
            otherDigest[0] ^= 1
            let bad = try await fixture.service.verify(vault: vault, name: name, version: nil, request: VerifyRequest(
                alg: algorithm, digest: Base64URL.encode(otherDigest), value: signed.value), baseURL: VaultFixture.base)
            #expect(!bad.value, "\(algorithm)")
        }
        // An RS256 signature from the vault checks out with swift-crypto hashing the message itself.
        let signed = try await fixture.service.perform(.sign, vault: vault, name: "rsa", version: nil,
                                                       request: KeyOperationRequest(alg: "RS256", value: Base64URL.encode(digest)), baseURL: VaultFixture.base)
        let publicKey = try _RSA.Signing.PublicKey(n: Base64URL.decode(rsa.key.n!)!, e: Base64URL.decode(rsa.key.e!)!)
        #expect(publicKey.isValidSignature(.init(rawRepresentation: Base64URL.decode(signed.value)!), for: message, padding: .insecurePKCS1v1_5))
        // ES256 the same way.
        let ecSigned = try await fixture.service.perform(.sign, vault: vault, name: "ec", version: nil,
                                                         request: KeyOperationRequest(alg: "ES256", value: Base64URL.encode(digest)), baseURL: VaultFixture.base)
        let point = [UInt8(4)] + Base64URL.decode(ec.key.x!)! + Base64URL.decode(ec.key.y!)!
        let ecKey = try P256.Signing.PublicKey(x963Representation: point)
        #expect(ecKey.isValidSignature(try P256.Signing.ECDSASignature(rawRepresentation: Base64URL.decode(ecSigned.value)!), for: message))
        // Wrong algorithm for the key, and a digest of the wrong length, are refused.
        await #expect(throws: KeyVaultError.self) {
            _ = try await fixture.service.perform(.sign, vault: vault, name: "ec", version: nil,
                                                  request: KeyOperationRequest(alg: "RS256", value: Base64URL.encode(digest)), baseURL: VaultFixture.base)
        }
        await #expect(throws: KeyVaultError.self) {
            _ = try await fixture.service.perform(.sign, vault: vault, name: "rsa", version: nil,
                                                  request: KeyOperationRequest(alg: "RS256", value: Base64URL.encode([1, 2, 3])), baseURL: VaultFixture.base)
        }
    }

    @Test func symmetricKeysWrapAndEncrypt() async throws {
        let fixture = try await VaultFixture.make()
        defer { Task { try await fixture.store.close() } }
        let vault = try await fixture.vault()
        let oct = try await fixture.service.createKey(vault: vault, name: "aes", request: CreateKeyRequest(
            kty: "oct-HSM", key_size: 256, public_exponent: nil, key_ops: nil, attributes: nil, tags: nil, crv: nil), baseURL: VaultFixture.base)
        #expect(oct.key.kty == "oct-HSM" && oct.key.n == nil)
        let secret = Array(repeating: UInt8(9), count: 32)
        let wrapped = try await fixture.service.perform(.wrapKey, vault: vault, name: "aes", version: nil,
                                                        request: KeyOperationRequest(alg: "A256KW", value: Base64URL.encode(secret)), baseURL: VaultFixture.base)
        #expect(Base64URL.decode(wrapped.value)?.count == 40)
        let unwrapped = try await fixture.service.perform(.unwrapKey, vault: vault, name: "aes", version: nil,
                                                          request: KeyOperationRequest(alg: "A256KW", value: wrapped.value), baseURL: VaultFixture.base)
        #expect(Base64URL.decode(unwrapped.value) == secret)
        await #expect(throws: KeyVaultError.self) {
            _ = try await fixture.service.perform(.wrapKey, vault: vault, name: "aes", version: nil,
                                                  request: KeyOperationRequest(alg: "A128KW", value: Base64URL.encode(secret)), baseURL: VaultFixture.base)
        }
        let encrypted = try await fixture.service.perform(.encrypt, vault: vault, name: "aes", version: nil, request: KeyOperationRequest(
            alg: "A256GCM", value: Base64URL.encode(Array("hello".utf8)), iv: nil, aad: Base64URL.encode([1, 2]), tag: nil), baseURL: VaultFixture.base)
        let decrypted = try await fixture.service.perform(.decrypt, vault: vault, name: "aes", version: nil, request: KeyOperationRequest(
            alg: "A256GCM", value: encrypted.value, iv: encrypted.iv, aad: Base64URL.encode([1, 2]), tag: encrypted.tag), baseURL: VaultFixture.base)
        #expect(Base64URL.decode(decrypted.value) == Array("hello".utf8))
        await #expect(throws: KeyVaultError.self) {
            _ = try await fixture.service.perform(.decrypt, vault: vault, name: "aes", version: nil, request: KeyOperationRequest(
                alg: "A256GCM", value: encrypted.value, iv: encrypted.iv, aad: Base64URL.encode([9]), tag: encrypted.tag), baseURL: VaultFixture.base)
        }
        // The nonce is the service's: a caller may not choose one (reusing another caller's would recover its
        // plaintext and forge tags), and two encryptions of the same text never share one.
        let chosen = await #expect(throws: KeyVaultError.self) {
            _ = try await fixture.service.perform(.encrypt, vault: vault, name: "aes", version: nil, request: KeyOperationRequest(
                alg: "A256GCM", value: Base64URL.encode(Array("hello".utf8)), iv: encrypted.iv, aad: nil, tag: nil), baseURL: VaultFixture.base)
        }
        #expect(chosen?.code == .badParameter)
        let again = try await fixture.service.perform(.encrypt, vault: vault, name: "aes", version: nil, request: KeyOperationRequest(
            alg: "A256GCM", value: Base64URL.encode(Array("hello".utf8)), iv: nil, aad: Base64URL.encode([1, 2]), tag: nil), baseURL: VaultFixture.base)
        #expect(again.iv != nil && again.iv != encrypted.iv && again.value != encrypted.value)
    }
}

import _CryptoExtras

@Suite struct RotationAndTransferTests {
    func policy(rotateAfter: String?, expiry: String? = nil) -> KeyRotationPolicy {
        KeyRotationPolicy(id: nil, lifetimeActions: rotateAfter.map {
            [.init(trigger: .init(timeAfterCreate: $0, timeBeforeExpiry: nil), action: .init(type: "Rotate"))]
        }, attributes: .init(expiryTime: expiry, created: nil, updated: nil))
    }

    @Test func durationsParse() {
        #expect(ISODuration("P90D")?.seconds == Int64(90 * 86400))
        #expect(ISODuration("P1Y2M")?.seconds == Int64((365 + 60) * 86400))
        #expect(ISODuration("PT1H30M")?.seconds == Int64(5400))
        #expect(ISODuration("P2W")?.seconds == Int64(14 * 86400))
        for bad in ["", "P", "90D", "PD", "P1H", "PT", "P1DT", "P1.5D"] { #expect(ISODuration(bad) == nil, "\(bad)") }
    }

    /// A rotation policy's durations come from a request: an overflowing one crashed the server (issue 11), and one
    /// that fits but overflows later date arithmetic crashed the maintenance pass at every start.
    @Test func hugeDurationsAreRefusedNotTrapped() {
        for hostile in ["P999999999999999999D", "P9223372036854775807Y", "PT99999999999999999999S", "P1001Y", "P999999999999D",
                        "P1000Y1D", "P\u{0663}D"] {
            #expect(ISODuration(hostile) == nil, "\(hostile)")
        }
        #expect(ISODuration("P1000Y")?.seconds == ISODuration.maximumSeconds)
    }

    @Test func policyRotatesWhenDueAndSetsExpiry() async throws {
        let fixture = try await VaultFixture.make()
        defer { Task { try await fixture.store.close() } }
        let vault = try await fixture.vault()
        let key = try await fixture.service.createKey(vault: vault, name: "auto", request: rsaRequest(), baseURL: VaultFixture.base)
        let defaults = try await fixture.service.rotationPolicy(vault: vault, name: "auto", baseURL: VaultFixture.base)
        #expect(defaults.lifetimeActions?.first?.action.type == "Notify")
        await #expect(throws: KeyVaultError.self) {
            _ = try await fixture.service.setRotationPolicy(vault: vault, name: "auto", policy: policy(rotateAfter: "P1D"), baseURL: VaultFixture.base)
        }
        let set = try await fixture.service.setRotationPolicy(vault: vault, name: "auto", policy: policy(rotateAfter: "P30D", expiry: "P90D"),
                                                              baseURL: VaultFixture.base)
        #expect(set.id == "\(VaultFixture.base)/keys/auto/rotationpolicy" && set.attributes?.expiryTime == "P90D")
        let created = key.attributes.created!
        let base: (String) -> String = { "https://\($0).vault.localhost:8443" }
        #expect(try await fixture.service.rotateDueKeys(now: created + 29 * 86400, baseURL: base).isEmpty)
        #expect(try await fixture.service.rotateDueKeys(now: created + 30 * 86400, baseURL: base) == ["vault1/auto"])
        let versions = try await fixture.store.keyVersions(vault: "vault1", name: "auto")
        #expect(versions.count == 2)
        let latest = try await fixture.service.getKey(vault: vault, name: "auto", version: nil, baseURL: VaultFixture.base)
        #expect(latest.attributes.exp == created + 30 * 86400 + 90 * 86400)
        // The new version is due only 30 days after its own creation.
        #expect(try await fixture.service.rotateDueKeys(now: created + 31 * 86400, baseURL: base).isEmpty)
    }

    @Test func importBackupAndRestore() async throws {
        let fixture = try await VaultFixture.make()
        defer { Task { try await fixture.store.close() } }
        let vault = try await fixture.vault()
        let other = try await fixture.vault("vault2")
        let ec = P256.Signing.PrivateKey()
        let point = Array(ec.publicKey.x963Representation.dropFirst())
        let imported = try await fixture.service.importKey(vault: vault, name: "imported", request: ImportKeyRequest(
            key: .init(kty: "EC", crv: "P-256", x: Base64URL.encode(Array(point[..<32])), y: Base64URL.encode(Array(point[32...])),
                       d: Base64URL.encode(Array(ec.rawRepresentation))), hsm: true, attributes: nil, tags: ["from": "outside"]),
            baseURL: VaultFixture.base)
        #expect(imported.key.kty == "EC-HSM" && imported.key.x == Base64URL.encode(Array(point[..<32])))
        await #expect(throws: KeyVaultError.self) {
            _ = try await fixture.service.importKey(vault: vault, name: "bad", request: ImportKeyRequest(
                key: .init(kty: "EC", crv: "P-256", x: Base64URL.encode(Array(point[..<32])), y: Base64URL.encode(Array(point[..<32])),
                           d: Base64URL.encode(Array(ec.rawRepresentation))), hsm: nil, attributes: nil, tags: nil), baseURL: VaultFixture.base)
        }
        let blob = try await fixture.service.backupKey(vault: vault, name: "imported")
        await #expect(throws: KeyVaultError.self) { _ = try await fixture.service.restoreKey(vault: vault, blob: blob, baseURL: VaultFixture.base) }
        let restored = try await fixture.service.restoreKey(vault: other, blob: blob, baseURL: "https://vault2.vault.localhost:8443")
        #expect(restored.key.x == imported.key.x && restored.tags == ["from": "outside"])
        // The restored key signs, and its signature verifies with the original public key.
        let digest = Array(SHA256.hash(data: Array("m".utf8)))
        let signed = try await fixture.service.perform(.sign, vault: other, name: "imported", version: nil,
                                                       request: KeyOperationRequest(alg: "ES256", value: Base64URL.encode(digest)), baseURL: VaultFixture.base)
        #expect(ec.publicKey.isValidSignature(try P256.Signing.ECDSASignature(rawRepresentation: Base64URL.decode(signed.value)!),
                                              for: Array("m".utf8)))
        var tampered = Array(Base64URL.decode(blob)!)
        tampered[20] ^= 1
        await #expect(throws: KeyVaultError.self) {
            _ = try await fixture.service.restoreKey(vault: other, blob: Base64URL.encode(tampered), baseURL: VaultFixture.base)
        }
    }
}

@Suite struct DeletedVaultTests {
    @Test func deleteRecoverAndPurge() async throws {
        let fixture = try await VaultFixture.make()
        defer { Task { try await fixture.store.close() } }
        let vault = try await fixture.vault(purgeProtection: false)
        _ = try await fixture.service.createKey(vault: vault, name: "k", request: rsaRequest(), baseURL: VaultFixture.base)
        #expect(try await fixture.service.deleteVault(id: vault.id!, subscriptionID: "s", now: 1000))
        #expect(try await fixture.service.vault(named: "vault1") == nil)
        let deleted = try #require(try await fixture.service.deletedVault(named: "vault1"))
        #expect(deleted.properties.scheduledPurgeDate == VaultService.timestamp(1000 + 7 * 86400))
        // Same name, default create mode: refused while deleted.
        await #expect(throws: KeyVaultError.self) { _ = try await fixture.vault() }
        var recover = vault
        recover.properties.createMode = "recover"
        // Recovery only into the original id.
        await #expect(throws: KeyVaultError.self) {
            _ = try await fixture.service.putVault(id: "/subscriptions/s/resourceGroups/elsewhere/providers/Microsoft.KeyVault/vaults/vault1",
                                                   name: "vault1", body: recover, vaultURI: "u", tenantID: fixture.tenant)
        }
        let (back, _) = try await fixture.service.putVault(id: vault.id!, name: "vault1", body: recover, vaultURI: "u", tenantID: fixture.tenant)
        _ = try await fixture.service.getKey(vault: back, name: "k", version: nil, baseURL: VaultFixture.base)
        _ = try await fixture.service.deleteVault(id: vault.id!, subscriptionID: "s")
        try await fixture.service.purgeDeletedVault(named: "vault1")
        #expect(try await fixture.store.keyVersions(vault: "vault1", name: "k").isEmpty)
        _ = try await fixture.vault()
    }

    @Test func purgeProtectionHoldsDeletedVaults() async throws {
        let fixture = try await VaultFixture.make()
        defer { Task { try await fixture.store.close() } }
        let vault = try await fixture.vault(purgeProtection: true)
        _ = try await fixture.service.createKey(vault: vault, name: "held", request: rsaRequest(), baseURL: VaultFixture.base)
        _ = try await fixture.service.deleteVault(id: vault.id!, subscriptionID: "s", now: 1000)
        await #expect(throws: KeyVaultError.self) { try await fixture.service.purgeDeletedVault(named: "vault1", now: 1000 + 86400) }
        // Refused: the deleted vault and its keys are all still there.
        #expect(try await fixture.service.deletedVault(named: "vault1") != nil)
        #expect(try await fixture.store.keyVersions(vault: "vault1", name: "held").count == 1)
        // Once its retention is over the purge goes through: vault and keys gone, the name free again.
        try await fixture.service.purgeDeletedVault(named: "vault1", now: 1000 + 7 * 86400)
        #expect(try await fixture.service.deletedVault(named: "vault1") == nil)
        #expect(try await fixture.store.keyVersions(vault: "vault1", name: "held").isEmpty)
        _ = try await fixture.vault()
    }
}

@Suite struct ScheduledPurgeTests {
    @Test func expiredDeletionsArePurgedAndOthersKept() async throws {
        let fixture = try await VaultFixture.make()
        defer { Task { try await fixture.store.close() } }
        let vault = try await fixture.vault(purgeProtection: true)
        _ = try await fixture.service.createKey(vault: vault, name: "old", request: rsaRequest(), baseURL: VaultFixture.base)
        _ = try await fixture.service.createKey(vault: vault, name: "live", request: rsaRequest(), baseURL: VaultFixture.base)
        let deleted = try await fixture.service.deleteKey(vault: vault, name: "old", baseURL: VaultFixture.base)
        let purgeAt = try #require(deleted.scheduledPurgeDate)
        #expect(try await fixture.service.purgeExpired(now: purgeAt - 1).isEmpty)
        #expect(try await fixture.service.purgeExpired(now: purgeAt) == ["vault1/old"])
        #expect(try await fixture.store.keyName(vault: "vault1", name: "old") == nil)
        #expect(try await fixture.store.keyName(vault: "vault1", name: "live") != nil)

        let other = try await fixture.vault("vault2", purgeProtection: true)
        _ = try await fixture.service.deleteVault(id: other.id!, subscriptionID: "s", now: 5000)
        #expect(try await fixture.service.purgeExpired(now: 5000 + 7 * 86400 - 1).isEmpty)
        #expect(try await fixture.service.purgeExpired(now: 5000 + 7 * 86400) == ["vault2"])
        #expect(try await fixture.service.deletedVault(named: "vault2") == nil)
    }
}

@Suite struct KeyExistenceTests {
    /// What a registry needs to tell "away" from "gone": live → soft-deleted (key, then vault) → purged.
    @Test func liveSoftDeletedAndPurged() async throws {
        let fixture = try await VaultFixture.make()
        defer { Task { try await fixture.store.close() } }
        let vault = try await fixture.vault(purgeProtection: false)
        let created = try await fixture.service.createKey(vault: vault, name: "k", request: rsaRequest(), baseURL: VaultFixture.base)
        let version = try #require(created.key.kid?.split(separator: "/").last.map(String.init))
        #expect(try await fixture.service.existence(vault: "vault1", name: "k", version: version) == .live)
        #expect(try await fixture.service.existence(vault: "vault1", name: "k", version: "0123456789abcdef") == .purged)
        #expect(try await fixture.service.existence(vault: "vault1", name: "other", version: version) == .purged)
        _ = try await fixture.service.deleteKey(vault: vault, name: "k", baseURL: VaultFixture.base)
        #expect(try await fixture.service.existence(vault: "vault1", name: "k", version: version) == .softDeleted)
        _ = try await fixture.service.recoverKey(vault: vault, name: "k", baseURL: VaultFixture.base)
        _ = try await fixture.service.deleteVault(id: vault.id!, subscriptionID: "s")
        #expect(try await fixture.service.existence(vault: "vault1", name: "k", version: version) == .softDeleted)
        try await fixture.service.purgeDeletedVault(named: "vault1")
        #expect(try await fixture.service.existence(vault: "vault1", name: "k", version: version) == .purged)
        #expect(try await fixture.service.existence(vault: "novault", name: "k", version: version) == .purged)
    }
}
