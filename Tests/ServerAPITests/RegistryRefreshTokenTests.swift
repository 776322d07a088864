import Foundation
import HTTPTypes
import HummingbirdTesting
import Identity
import Testing
@testable import CofferServer

/// ACR's Entra flow: `/oauth2/exchange` turns an Entra access token into a refresh token for one registry service,
/// and `/oauth2/token` (`grant_type=refresh_token`) redeems it. Each refusal here is checked against a positive
/// control that differs from it in one thing only, so a refusal for another reason (a missing parameter) would show.
@Suite struct RegistryRefreshTokenTests {
    static let service = "localhost:8443"

    static func claims(of token: String) throws -> [String: Any] {
        var payload = String(token.split(separator: ".")[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        payload += String(repeating: "=", count: (4 - payload.count % 4) % 4)
        return try JSONSerialization.jsonObject(with: try #require(Data(base64Encoded: payload))) as? [String: Any] ?? [:]
    }

    @Test func onlyAGenuineUnexpiredRefreshTokenForThisServiceIsRedeemed() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let owner = try await fixture.principal("owner", roles: [(.owner, fixture.subscription)])
        let entraToken = try fixture.token(for: owner)
        // Signed with the server's own key: what only the server could issue, with the times this test picks.
        let signer = TokenSigner(privateKey: fixture.server.secrets.tokenSigningKey)
        let now = Int64(Date().timeIntervalSince1970)
        @Sendable func handMade(exp: Int64, issuer: String = "coffer-registry-refresh", audience: String = Self.service) throws -> String {
            try signer.sign(TokenClaims(iss: issuer, sub: owner.objectId, aud: audience, exp: exp, nbf: now - 3600, iat: now - 3600,
                                        jti: UUID().uuidString, access: nil))
        }
        try await fixture.test { client in
            func exchange(service: String) async throws -> String {
                let response = try await client.form("/oauth2/exchange", [("grant_type", "access_token"), ("service", service), ("access_token", entraToken)])
                #expect(response.status == .ok, "\(String(buffer: response.body))")
                return try #require(try IdentityHTTPTests.json(response)["refresh_token"] as? String)
            }
            func redeem(_ refreshToken: String) async throws -> TestResponse {
                try await client.form("/oauth2/token", [("grant_type", "refresh_token"), ("service", Self.service),
                                                        ("scope", "repository:coffer/app:pull"), ("refresh_token", refreshToken)])
            }

            // The positive control: a refresh token from the exchange opens what the owner may do, as the owner.
            let refresh = try await exchange(service: Self.service)
            let redeemed = try await redeem(refresh)
            #expect(redeemed.status == .ok)
            let access = try Self.claims(of: try #require(try IdentityHTTPTests.json(redeemed)["access_token"] as? String))
            #expect(access["sub"] as? String == owner.objectId)
            #expect((access["access"] as? [[String: Any]])?.first?["actions"] as? [String] == ["pull"])
            // A hand-made one with a future expiry is redeemed too: the key and claims below are right but for one thing.
            #expect(try await redeem(try handMade(exp: now + 600)).status == .ok)

            let refused: [(String, String)] = [
                ("garbage", "not-a-token"),
                ("tampered signature", String(refresh.dropLast(4)) + (refresh.hasSuffix("AAAA") ? "BBBB" : "AAAA")),
                ("for another registry service", try await exchange(service: "coffer.cr.localhost:8443")),
                ("expired (beyond the 30 s leeway)", try handMade(exp: now - 120)),
                ("issued as something else", try handMade(exp: now + 600, issuer: "coffer-registry")),
                ("an Entra access token, not a refresh token", entraToken),
            ]
            for (what, token) in refused {
                let response = try await redeem(token)
                #expect(response.status == .unauthorized, "\(what): \(response.status)")
                #expect(try IdentityHTTPTests.json(response)["error"] as? String == "invalid_client", "\(what)")
                #expect(try IdentityHTTPTests.json(response)["access_token"] == nil, "\(what)")
            }
        }
    }
}
