import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite struct AuthTests {
    @Test func baseEndpointChallengesThenAcceptsToken() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let anonymous = try await client.send(.get, "/v2/", token: nil)
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.headers[.wwwAuthenticate] == "Bearer realm=\"https://localhost:8443/oauth2/token\",service=\"localhost:8443\"")
            #expect(errorCode(anonymous) == "UNAUTHORIZED")
            let token = try await client.token(fixture, scopes: [])
            let authorized = try await client.send(.get, "/v2/", token: token)
            #expect(authorized.status == .ok)
            #expect(authorized.headers[HTTPField.Name("Docker-Distribution-API-Version")!] == "registry/2.0")
            let garbage = try await client.send(.get, "/v2/", token: token + "x")
            #expect(garbage.status == .unauthorized)
            #expect(garbage.headers[.wwwAuthenticate]?.contains("error=\"invalid_token\"") == true)
        }
    }

    @Test func tokenEndpointRefusesWrongCredentials() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let wrong = "Basic " + Data("coffer-admin:wrong".utf8).base64EncodedString()
            let refused = try await client.send(.get, "/oauth2/token?service=localhost", token: nil, headers: [.authorization: wrong])
            #expect(refused.status == .unauthorized)
            let missing = try await client.send(.get, "/oauth2/token?service=localhost", token: nil)
            #expect(missing.status == .unauthorized)
            let noService = try await client.send(.get, "/oauth2/token", token: nil, headers: [.authorization: fixture.basicAuthorization])
            #expect(noService.status == .badRequest)
        }
    }

    @Test func oauth2PasswordGrantIssuesTokens() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let form = "grant_type=password&service=localhost%3A8443&scope=repository%3Acoffer%2Fapp%3Apull&username=coffer-admin&password=\(fixture.password)"
            let response = try await client.send(.post, "/oauth2/token", token: nil,
                                                 headers: [.contentType: "application/x-www-form-urlencoded"], body: Array(form.utf8))
            #expect(response.status == .ok)
            // The token is the administrator's, for exactly what was asked, and it opens that.
            let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any] ?? [:]
            let token = try #require(body["access_token"] as? String)
            var payload = String(token.split(separator: ".")[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            payload += String(repeating: "=", count: (4 - payload.count % 4) % 4)
            let claims = try JSONSerialization.jsonObject(with: try #require(Data(base64Encoded: payload))) as? [String: Any] ?? [:]
            #expect(claims["sub"] as? String == "coffer-admin")
            let access = try #require(claims["access"] as? [[String: Any]])
            #expect(access.count == 1 && access[0]["name"] as? String == "coffer/app" && access[0]["actions"] as? [String] == ["pull"])
            #expect(try await client.send(.get, "/v2/coffer/app/tags/list", token: token).status == .notFound)  // allowed; nothing pushed yet
            #expect(try await client.send(.post, "/v2/coffer/app/blobs/uploads/", token: token).status == .forbidden)
            // The same form with a wrong password: refused, and no token.
            let wrong = form.replacingOccurrences(of: "password=\(fixture.password)", with: "password=\(fixture.password)x")
            #expect(wrong != form)
            let refused = try await client.send(.post, "/oauth2/token", token: nil,
                                                headers: [.contentType: "application/x-www-form-urlencoded"], body: Array(wrong.utf8))
            #expect(refused.status == .unauthorized)
            #expect(!String(buffer: refused.body).contains("token\""))
        }
    }

    @Test func scopesAreEnforcedPerRepositoryAndAction() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let pullOnly = try await client.token(fixture, scopes: ["repository:coffer/app:pull"])
            let push = try await client.send(.post, "/v2/coffer/app/blobs/uploads/", token: pullOnly)
            #expect(push.status == .forbidden)
            #expect(errorCode(push) == "DENIED")
            #expect(push.headers[.wwwAuthenticate]?.contains("scope=\"repository:coffer/app:push\"") == true)
            #expect(push.headers[.wwwAuthenticate]?.contains("insufficient_scope") == true)
            let otherRepository = try await client.send(.get, "/v2/coffer/other/tags/list", token: pullOnly)
            #expect(otherRepository.status == .forbidden)
            let deleteRefused = try await client.send(.delete, "/v2/coffer/app/manifests/latest", token: pullOnly)
            #expect(deleteRefused.status == .forbidden)
            let catalogRefused = try await client.send(.get, "/v2/_catalog", token: pullOnly)
            #expect(catalogRefused.status == .forbidden)
        }
    }
}

/// The two cases a public conformance suite for the distribution spec failed on (issue 13), each checked the way
/// the suite and distribution behave.
@Suite struct ConformanceGapTests {
    /// A client that follows the challenge fetches exactly the scopes it names: for a mount, the first challenge must
    /// name pull on `from` as well as push on the target, or the retried mount is refused.
    @Test func aMountsFirstChallengeNamesEveryScopeItNeeds() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let blob = randomBytes(300)
            let digest = sha256(blob)
            let seed = try await client.token(fixture, scopes: ["repository:coffer/source:pull,push"])
            #expect(try await client.send(.post, "/v2/coffer/source/blobs/uploads/?digest=\(digest)", token: seed, body: blob).status == .created)

            let path = "/v2/coffer/target/blobs/uploads/?mount=\(digest)&from=coffer/source"
            let anonymous = try await client.send(.post, path, token: nil)
            #expect(anonymous.status == .unauthorized)
            let challenge = try #require(anonymous.headers[.wwwAuthenticate])
            #expect(challenge.contains("scope=\"repository:coffer/target:push repository:coffer/source:pull\""), "\(challenge)")
            // Exactly what the challenge names, as such a client asks for it (its scopes split at the spaces).
            let scopes = try #require(challenge.split(separator: "scope=\"").last?.split(separator: "\"").first).split(separator: " ").map(String.init)
            let token = try await client.token(fixture, scopes: scopes)
            let mounted = try await client.send(.post, path, token: token)
            #expect(mounted.status == .created)
            #expect(mounted.headers[.location] == "/v2/coffer/target/blobs/\(digest)")
            // A `from` that is no repository name is never written into the header.
            let odd = try await client.send(.post, "/v2/coffer/target/blobs/uploads/?mount=\(digest)&from=a%22b", token: nil)
            #expect(odd.headers[.wwwAuthenticate]?.contains("a\"b") == false)
        }
    }

    /// A reference that is not even a valid tag names no manifest: reads and deletes answer `404 MANIFEST_UNKNOWN`
    /// (distribution does; this was a 400). A PUT under it is still refused as invalid.
    @Test func aReferenceThatIsNoTagNamesNoManifest() async throws {
        let fixture = try await Fixture.make()
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: ["repository:coffer/app:pull,push,delete"])
            for method in [HTTPRequest.Method.get, .head, .delete] {
                let response = try await client.send(method, "/v2/coffer/app/manifests/.INVALID_MANIFEST_NAME", token: token)
                #expect(response.status == .notFound, "\(method)")
                if method != .head { #expect(errorCode(response) == "MANIFEST_UNKNOWN", "\(method)") }
            }
            let put = try await client.send(.put, "/v2/coffer/app/manifests/.INVALID_MANIFEST_NAME", token: token,
                                            headers: [.contentType: "application/vnd.oci.image.manifest.v1+json"], body: Array("{}".utf8))
            #expect(put.status == .badRequest)
            #expect(errorCode(put) == "MANIFEST_INVALID")
        }
    }
}
