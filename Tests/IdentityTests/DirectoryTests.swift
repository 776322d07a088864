import CofferStorage
import Crypto
import Foundation
import SQLMetadataStore
import Testing
@testable import Identity

@Suite struct DirectoryTests {
    static func make() async throws -> (Directory, SQLMetadataStore) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-dir-\(UUID().uuidString).sqlite").path
        let store = try await SQLMetadataStore(sessions: try await SQLiteSessions.open(path: path))
        return (Directory(store: store, signer: TokenSigner(privateKey: P256.Signing.PrivateKey())), store)
    }

    @Test func bootstrapHappensOnceAndTheOperatorAuthenticates() async throws {
        let (directory, store) = try await Self.make()
        defer { Task { try await store.close() } }
        let first = try await directory.bootstrap()
        let secret = try #require(first.operatorSecret)
        let second = try await directory.bootstrap()
        #expect(second.tenantID == first.tenantID && second.subscriptionID == first.subscriptionID && second.operatorSecret == nil)
        let principal = try #require(try await directory.authenticate(tenantID: first.tenantID, clientID: first.operatorClientID, secret: secret))
        #expect(try await directory.authenticate(tenantID: first.tenantID, clientID: first.operatorClientID, secret: secret + "x") == nil)
        #expect(try await directory.authenticate(tenantID: "other", clientID: first.operatorClientID, secret: secret) == nil)
        #expect(try await directory.roles(of: principal.objectId, at: "/subscriptions/\(first.subscriptionID)/resourceGroups/rg") == [.owner])
    }

    @Test func tokenValidationMatrix() async throws {
        let (directory, store) = try await Self.make()
        defer { Task { try await store.close() } }
        let boot = try await directory.bootstrap()
        let principal = Principal(objectId: "o", appId: "a", tenantId: boot.tenantID, displayName: "p", kind: .servicePrincipal, credential: nil)
        let issuer = "https://localhost:8443/\(boot.tenantID)/v2.0"
        let now: Int64 = 1_800_000_000
        let token = try directory.issueToken(for: principal, resource: "https://vault.localhost:8443", issuer: issuer, now: now).token
        let claims = try directory.verify(token, tenantID: boot.tenantID, audiences: ["https://vault.localhost:8443/"], now: now + 10)
        #expect(claims.oid == "o" && claims.appid == "a" && claims.tid == boot.tenantID)
        #expect(throws: TokenError.self) { try directory.verify(token, tenantID: boot.tenantID, audiences: ["https://other"], now: now) }
        #expect(throws: TokenError.self) { try directory.verify(token, tenantID: "another-tenant", audiences: ["https://vault.localhost:8443"], now: now) }
        #expect(throws: TokenError.self) { try directory.verify(token, tenantID: boot.tenantID, audiences: ["https://vault.localhost:8443"], now: now + 7200) }
        let foreign = Directory(store: store, signer: TokenSigner(privateKey: P256.Signing.PrivateKey()))
        let forged = try foreign.issueToken(for: principal, resource: "https://vault.localhost:8443", issuer: issuer, now: now).token
        #expect(throws: TokenError.self) { try directory.verify(forged, tenantID: boot.tenantID, audiences: ["https://vault.localhost:8443"], now: now) }
        let otherIssuer = try directory.issueToken(for: principal, resource: "https://vault.localhost:8443", issuer: "https://evil/x/v2.0", now: now).token
        #expect(throws: TokenError.self) { try directory.verify(otherIssuer, tenantID: boot.tenantID, audiences: ["https://vault.localhost:8443"], now: now) }
    }

    @Test func rolesInheritDownScopesOnly() async throws {
        let (directory, store) = try await Self.make()
        defer { Task { try await store.close() } }
        try await directory.assignRole(.reader, to: "p1", scope: "/subscriptions/s/resourceGroups/rg1")
        #expect(try await directory.roles(of: "P1", at: "/subscriptions/s/resourcegroups/RG1/providers/x/vaults/v") == [.reader])
        #expect(try await directory.roles(of: "p1", at: "/subscriptions/s/resourceGroups/rg10").isEmpty)
        #expect(try await directory.roles(of: "p1", at: "/subscriptions/s").isEmpty)
        #expect(try await directory.roles(of: "p2", at: "/subscriptions/s/resourceGroups/rg1").isEmpty)
    }
}

/// Found by review: scopes were compared with Swift's `==` and `hasPrefix`, which treat canonically equivalent
/// strings as equal while the store compares bytes, so a group named in another Unicode form inherited roles.
@Suite struct ScopeComparisonTests {
    @Test func scopesCompareByteForByte() {
        let precomposed = "/subscriptions/s/resourceGroups/\u{AC00}"
        let decomposed = "/subscriptions/s/resourceGroups/\u{1100}\u{1161}"
        #expect(precomposed == decomposed)  // Swift's equality, the trap
        #expect(!Directory.scope(decomposed, isWithin: precomposed))
        #expect(!Directory.scope(decomposed + "/providers/x", isWithin: precomposed))
        #expect(Directory.scope(precomposed + "/providers/x", isWithin: precomposed))
        #expect(Directory.scope("/Subscriptions/S/resourceGroups/G", isWithin: "/subscriptions/s"))
        #expect(!Directory.scope("/subscriptions/s/resourceGroups/gg", isWithin: "/subscriptions/s/resourceGroups/g"))
    }
}
