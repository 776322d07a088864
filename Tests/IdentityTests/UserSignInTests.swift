import CofferStorage
import Foundation
import Testing
@testable import Identity

/// People in the directory and the authorization-code flow's codes.
@Suite struct UserSignInTests {
    @Test func usersSignInWithTheirPasswordOnlyAndNamesAreUnique() async throws {
        let (directory, store) = try await DirectoryTests.make()
        let user = try await directory.createUser(tenantID: "t", userPrincipalName: "Alice@Example.test", displayName: "Alice", password: "a long pass phrase")
        #expect(user.userPrincipalName == "alice@example.test")
        #expect(try await directory.authenticateUser(userPrincipalName: "alice@example.test", password: "a long pass phrase", tenantID: "t")?.objectId == user.objectId)
        #expect(try await directory.authenticateUser(userPrincipalName: "alice@example.test", password: "a long pass phrasE", tenantID: "t") == nil)
        #expect(try await directory.authenticateUser(userPrincipalName: "nobody@example.test", password: "a long pass phrase", tenantID: "t") == nil)
        // The store holds a scrypt hash, never the password.
        let stored = try await store.documents(type: Directory.userType, name: nil)
        #expect(stored.count == 1 && !stored[0].body.contains("a long pass phrase") && stored[0].body.contains("scrypt"))
        await #expect(throws: UserCreationError.self) {
            try await directory.createUser(tenantID: "t", userPrincipalName: "ALICE@example.test", displayName: "Other", password: "another long one")
        }
        await #expect(throws: UserCreationError.self) {
            try await directory.createUser(tenantID: "t", userPrincipalName: "bob@example.test", displayName: "Bob", password: "short")
        }
        await #expect(throws: UserCreationError.self) {
            try await directory.createUser(tenantID: "t", userPrincipalName: "<script>@x", displayName: "Bob", password: "a long pass phrase")
        }
        #expect(try await directory.deleteUser(user))
        #expect(try await directory.authenticateUser(userPrincipalName: "alice@example.test", password: "a long pass phrase", tenantID: "t") == nil)
        try await store.close()
    }

    @Test func repeatedFailuresLockANameForAWhile() async throws {
        let throttle = SignInThrottle()
        for _ in 0..<9 { throttle.failed("alice", now: 1000) }
        try throttle.admit("alice", now: 1000)
        throttle.failed("alice", now: 1000)
        #expect(throws: SignInLocked.self) { try throttle.admit("alice", now: 1030) }
        try throttle.admit("bob", now: 1030)
        try throttle.admit("alice", now: 1061)
        // Each further failure doubles the lock.
        throttle.failed("alice", now: 1061)
        #expect(throws: SignInLocked.self) { try throttle.admit("alice", now: 1061 + 119) }
        try throttle.admit("alice", now: 1061 + 121)
        throttle.succeeded("alice")
        try throttle.admit("alice", now: 1061)

        // A locked name is refused before its password is checked, the right one included.
        let (directory, store) = try await DirectoryTests.make()
        _ = try await directory.createUser(tenantID: "t", userPrincipalName: "carol@example.test", displayName: "Carol", password: "a long pass phrase")
        for _ in 0..<10 { directory.signInThrottle.failed("carol@example.test") }
        await #expect(throws: SignInLocked.self) {
            try await directory.authenticateUser(userPrincipalName: "Carol@example.test", password: "a long pass phrase", tenantID: "t")
        }
        try await store.close()
    }

    @Test func aCodeIsRedeemedOnceByItsClientRedirectAndVerifier() async throws {
        let (directory, store) = try await DirectoryTests.make()
        let verifier = String(repeating: "v", count: 43)
        func issue(expires: Int64 = Int64(Date().timeIntervalSince1970) + 60) async throws -> String {
            try await directory.issueAuthorizationCode(Directory.CodeGrant(
                clientID: "client", redirectURI: "https://localhost:8443/console/callback", codeChallenge: Directory.challenge(of: verifier),
                scope: "openid", nonce: nil, userObjectID: "user", expires: expires))
        }
        let code = try await issue()
        #expect(try await directory.redeemAuthorizationCode(code, clientID: "client", redirectURI: "https://localhost:8443/console/callback",
                                                            verifier: verifier)?.userObjectID == "user")
        // Spent: a second redemption gets nothing.
        #expect(try await directory.redeemAuthorizationCode(code, clientID: "client", redirectURI: "https://localhost:8443/console/callback",
                                                            verifier: verifier) == nil)
        let refusals: [(String, String, String)] = [
            ("other", "https://localhost:8443/console/callback", verifier),
            ("client", "https://evil.example/callback", verifier),
            ("client", "https://localhost:8443/console/callback", String(repeating: "w", count: 43)),
        ]
        for (client, redirect, presented) in refusals {
            let code = try await issue()
            #expect(try await directory.redeemAuthorizationCode(code, clientID: client, redirectURI: redirect, verifier: presented) == nil)
            // A failed attempt spends the code too.
            #expect(try await directory.redeemAuthorizationCode(code, clientID: "client", redirectURI: "https://localhost:8443/console/callback",
                                                                verifier: verifier) == nil)
        }
        let expired = try await issue(expires: Int64(Date().timeIntervalSince1970) - 1)
        #expect(try await directory.redeemAuthorizationCode(expired, clientID: "client", redirectURI: "https://localhost:8443/console/callback",
                                                            verifier: verifier) == nil)
        try await store.close()
    }

    @Test func publicClientsAreSentOnlyToTheirRedirectURIs() {
        let console = PublicClient(clientID: "c", displayName: "Console", redirectURIs: ["https://localhost:8443/console/callback"], loopbackRedirects: false)
        #expect(console.allows(redirectURI: "https://localhost:8443/console/callback"))
        #expect(!console.allows(redirectURI: "https://localhost:8443/console/callback/x"))
        #expect(!console.allows(redirectURI: "http://localhost:1234"))
        let cli = PublicClient(clientID: "a", displayName: "Azure CLI", redirectURIs: [], loopbackRedirects: true)
        #expect(cli.allows(redirectURI: "http://localhost:41234"))
        #expect(!cli.allows(redirectURI: "http://localhost.evil.example:41234"))
        #expect(!cli.allows(redirectURI: "https://evil.example"))
        #expect(!cli.allows(redirectURI: "http://user@localhost:1"))
    }
}
