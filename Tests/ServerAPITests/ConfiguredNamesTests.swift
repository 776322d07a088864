import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
@testable import CofferServer

/// The names a client is sent to, or whose tokens are accepted, come from configuration: a request's Host only
/// chooses among the configured ones (a proxy may pass any Host through).
@Suite struct ConfiguredNamesTests {
    @Test func theRegistrysChallengeAndTokenAudienceComeFromConfigurationNotTheHost() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let credentials = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: URL(fileURLWithPath: fixture.server.configuration.path("admin-credentials.json"))))
        let basic = "Basic " + Data("coffer-admin:\(try #require(credentials["password"]))".utf8).base64EncodedString()
        @Sendable func challenge(_ client: any TestClientProtocol) async throws -> String? {
            let response = try await client.execute(uri: "/v2/", method: .get)
            #expect(response.status == .unauthorized)
            return response.headers[.wwwAuthenticate]
        }
        @Sendable func token(_ client: any TestClientProtocol, service: String) async throws -> String {
            let response = try await client.execute(uri: "/oauth2/token?service=\(service)", method: .get, headers: [.authorization: basic])
            #expect(response.status == .ok)
            return try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])["token"] as! String
        }
        try await fixture.test(at: "attacker.example:9999") { client in
            #expect(try await challenge(client) == #"Bearer realm="https://localhost:8443/oauth2/token",service="localhost:8443""#)
            // A token whose audience is the foreign Host is refused there; one for the configured name is taken.
            let foreign = try await token(client, service: "attacker.example:9999")
            #expect(try await client.execute(uri: "/v2/", method: .get, headers: [.authorization: "Bearer \(foreign)"]).status == .unauthorized)
            let configured = try await token(client, service: "localhost:8443")
            #expect(try await client.execute(uri: "/v2/", method: .get, headers: [.authorization: "Bearer \(configured)"]).status == .ok)
        }
        let second = try await ControlPlaneFixture.make()
        try await second.test(at: "127.0.0.1:8443") { client in
            // A configured name the client used is kept.
            let named = try await challenge(client)
            #expect(named == #"Bearer realm="https://127.0.0.1:8443/oauth2/token",service="127.0.0.1:8443""#)
        }
        let third = try await ControlPlaneFixture.make()
        try await third.test(at: "coffer.cr.localhost:9999") { client in
            // A login server at a port the server was not configured with is named at its configured port.
            let named = try await challenge(client)
            #expect(named == #"Bearer realm="https://coffer.cr.localhost:8443/oauth2/token",service="coffer.cr.localhost:8443""#)
        }
    }

    @Test func longRunningOperationsArePolledAtAConfiguredAddress() async throws {
        for (authority, base) in [("attacker.example:9999", "https://localhost:8443"), ("127.0.0.1:8443", "https://127.0.0.1:8443")] {
            let fixture = try await ControlPlaneFixture.make()
            let owner = try await fixture.principal("owner", roles: [(.owner, fixture.subscription)])
            let token = try fixture.token(for: owner)
            let group = "\(fixture.subscription)/resourceGroups/polled"
            try await fixture.test(at: authority) { client in
                try await client.armOK(.put, group, token: token, body: #"{"location":"westeurope"}"#)
                let deletion = try await client.arm(.delete, group, token: token)
                #expect(deletion.status == .accepted)
                let location = try #require(deletion.headers[.location])
                #expect(location.hasPrefix("\(base)/subscriptions/"), "\(location)")
            }
        }
    }
}
