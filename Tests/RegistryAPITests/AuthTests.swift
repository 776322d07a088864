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
            let form = "grant_type=password&service=localhost&scope=repository%3Acoffer%2Fapp%3Apull&username=coffer-admin&password=\(fixture.password)"
            let response = try await client.send(.post, "/oauth2/token", token: nil,
                                                 headers: [.contentType: "application/x-www-form-urlencoded"], body: Array(form.utf8))
            #expect(response.status == .ok)
            let refresh = try await client.send(.post, "/oauth2/token", token: nil, body: Array("grant_type=refresh_token&refresh_token=x".utf8))
            #expect(refresh.status == .badRequest)
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
