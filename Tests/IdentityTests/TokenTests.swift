import Crypto
import Foundation
import Testing
@testable import Identity

@Suite struct TokenTests {
    let signer = TokenSigner(privateKey: P256.Signing.PrivateKey())
    let now: Int64 = 1_800_000_000

    func claims(aud: String = "svc", exp: Int64? = nil, nbf: Int64? = nil, iss: String = "coffer") -> TokenClaims {
        TokenClaims(iss: iss, sub: "admin", aud: aud, exp: exp ?? now + 300, nbf: nbf ?? now, iat: now, jti: "j",
                    access: [AccessGrant(type: "repository", name: "coffer/app", actions: ["pull", "push"])])
    }

    @Test func validTokenVerifies() throws {
        let token = try signer.sign(claims())
        let verified = try signer.verifier.verify(token, issuer: "coffer", audience: "svc", now: now)
        #expect(verified == claims())
        #expect(verified.access?.allows(repository: "coffer/app", action: "push") == true)
        #expect(verified.access?.allows(repository: "coffer/app", action: "delete") == false)
        #expect(verified.access?.allows(repository: "coffer/other", action: "pull") == false)
    }

    @Test func refusesExpiredNotYetValidWrongAudienceAndIssuer() throws {
        let verifier = signer.verifier
        #expect(throws: TokenError.self) { try verifier.verify(try signer.sign(claims(exp: now - 100)), issuer: "coffer", audience: "svc", now: now) }
        #expect(throws: TokenError.self) { try verifier.verify(try signer.sign(claims(nbf: now + 100)), issuer: "coffer", audience: "svc", now: now) }
        #expect(throws: TokenError.self) { try verifier.verify(try signer.sign(claims(aud: "other")), issuer: "coffer", audience: "svc", now: now) }
        #expect(throws: TokenError.self) { try verifier.verify(try signer.sign(claims(iss: "evil")), issuer: "coffer", audience: "svc", now: now) }
    }

    @Test func refusesTamperedForeignAndMalformedTokens() throws {
        let token = try signer.sign(claims())
        var parts = token.split(separator: ".").map(String.init)
        var payload = claims()
        payload.access = [AccessGrant(type: "repository", name: "coffer/app", actions: ["*"])]
        parts[1] = Base64URL.encode(Array(try JSONEncoder().encode(payload)))
        #expect(throws: TokenError.self) { try signer.verifier.verify(parts.joined(separator: "."), issuer: "coffer", audience: "svc", now: now) }
        let foreign = TokenSigner(privateKey: P256.Signing.PrivateKey())
        #expect(throws: TokenError.self) { try signer.verifier.verify(try foreign.sign(claims()), issuer: "coffer", audience: "svc", now: now) }
        for garbage in ["", "a.b", "a.b.c", "...", token + "x"] {
            #expect(throws: TokenError.self) { try signer.verifier.verify(garbage, issuer: "coffer", audience: "svc", now: now) }
        }
        let unsigned = Base64URL.encode(Array("{\"alg\":\"none\"}".utf8)) + "." + parts[1] + "."
        #expect(throws: TokenError.self) { try signer.verifier.verify(unsigned, issuer: "coffer", audience: "svc", now: now) }
    }

    @Test func scopesParse() {
        #expect(AccessGrant(scope: "repository:coffer/app:pull,push") == AccessGrant(type: "repository", name: "coffer/app", actions: ["pull", "push"]))
        #expect(AccessGrant(scope: "repository:host:5000/app:pull")?.name == "host:5000/app")
        #expect(AccessGrant(scope: "registry:catalog:*")?.actions == ["*"])
        #expect(AccessGrant(scope: "nonsense") == nil)
        #expect(AccessGrant(scope: "repository::pull") == nil)
    }

    @Test func passwordsMatchOnlyExactly() {
        let credential = PasswordCredential.create(username: "admin", password: "s3cret")
        #expect(credential.matches(username: "admin", password: "s3cret"))
        #expect(!credential.matches(username: "admin", password: "s3cret "))
        #expect(!credential.matches(username: "root", password: "s3cret"))
        #expect(PasswordCredential.generateSecret() != PasswordCredential.generateSecret())
    }
}
