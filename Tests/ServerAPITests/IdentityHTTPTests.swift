import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Identity
import NIOCore
import Testing
@testable import CofferServer

extension TestClientProtocol {
    func form(_ path: String, _ fields: [(String, String)]) async throws -> TestResponse {
        let body = fields.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
        return try await execute(uri: path, method: .post, headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: body))
    }
}

/// The identity service's HTTP API in-process: the client-credentials grant and its refusals in Microsoft identity
/// platform's shape, and managed-identity tokens that only an identity's own header opens.
@Suite struct IdentityHTTPTests {
    static func json(_ response: TestResponse) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any] ?? [:]
    }

    @Test func clientCredentialsIssueATokenForTheScopeAndRefuseEverythingElse() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let (principal, secret) = try await fixture.directory.createServicePrincipal(tenantID: fixture.tenantID, displayName: "app")
        let tokenPath = "/\(fixture.tenantID)/oauth2/v2.0/token"
        let scope = "https://localhost:8443/.default"
        try await fixture.test { client in
            let issued = try await client.form(tokenPath, [("grant_type", "client_credentials"), ("client_id", principal.appId),
                                                           ("client_secret", secret), ("scope", scope)])
            #expect(issued.status == .ok)
            #expect(issued.headers[.cacheControl] == "no-store")
            let token = try #require(try Self.json(issued)["access_token"] as? String)
            let claims = try fixture.directory.verify(token, tenantID: fixture.tenantID, audiences: ["https://localhost:8443"])
            #expect(claims.oid == principal.objectId)
            // A token for another audience does not open this one.
            #expect(throws: TokenError.self) { try fixture.directory.verify(token, tenantID: fixture.tenantID, audiences: ["https://vault.localhost:8443"]) }

            // A wrong secret and an unknown client get the same answer: no way to tell which client ids exist.
            let wrongSecret = try await client.form(tokenPath, [("grant_type", "client_credentials"), ("client_id", principal.appId),
                                                                ("client_secret", secret + "x"), ("scope", scope)])
            let unknownClient = try await client.form(tokenPath, [("grant_type", "client_credentials"), ("client_id", UUID().uuidString.lowercased()),
                                                                  ("client_secret", secret), ("scope", scope)])
            for response in [wrongSecret, unknownClient] {
                #expect(response.status == .unauthorized)
                #expect(try Self.json(response)["error"] as? String == "invalid_client")
                #expect(try Self.json(response)["error_codes"] as? [Int] == [7000215])
                #expect(try Self.json(response)["access_token"] == nil)
            }

            let refusals: [([(String, String)], String)] = [
                ([("grant_type", "password"), ("username", principal.appId), ("password", secret)], "unauthorized_client"),
                ([("grant_type", "implicit")], "unsupported_grant_type"),
                ([("grant_type", "client_credentials"), ("client_id", principal.appId), ("client_secret", secret), ("scope", "https://localhost:8443/")],
                 "invalid_scope"),
                ([("grant_type", "client_credentials"), ("client_id", principal.appId), ("scope", scope)], "invalid_request"),
            ]
            for (fields, error) in refusals {
                let response = try await client.form(tokenPath, fields)
                #expect(response.status == .badRequest)
                #expect(try Self.json(response)["error"] as? String == error, "\(String(buffer: response.body))")
            }
        }
    }

    @Test func theIssuerAndTheDiscoveryDocumentComeFromConfigurationNotTheHost() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let (principal, secret) = try await fixture.directory.createServicePrincipal(tenantID: fixture.tenantID, displayName: "app")
        let configured = "https://localhost:8443/\(fixture.tenantID)"
        try await fixture.test(at: "attacker.example:9999") { client in
            let issued = try await client.form("/\(fixture.tenantID)/oauth2/v2.0/token", [
                ("grant_type", "client_credentials"), ("client_id", principal.appId), ("client_secret", secret),
                ("scope", "https://localhost:8443/.default")])
            #expect(issued.status == .ok, "\(String(buffer: issued.body))")
            let token = try #require(try Self.json(issued)["access_token"] as? String)
            let claims = try fixture.directory.verify(token, tenantID: fixture.tenantID, audiences: ["https://localhost:8443"])
            #expect(claims.iss == "\(configured)/v2.0")
            let discovery = try Self.json(try await client.execute(uri: "/\(fixture.tenantID)/v2.0/.well-known/openid-configuration", method: .get))
            #expect(discovery["issuer"] as? String == "\(configured)/v2.0")
            #expect(discovery["token_endpoint"] as? String == "\(configured)/oauth2/v2.0/token")
            #expect(discovery["jwks_uri"] as? String == "\(configured)/discovery/v2.0/keys")
            // The resource manager's challenge names the configured identity service too.
            let challenge = try await client.execute(uri: "/subscriptions?api-version=2022-12-01", method: .get)
            #expect(challenge.status == .unauthorized)
            #expect(challenge.headers[.wwwAuthenticate]?.contains("authorization_uri=\"\(configured)\"") == true,
                    "\(challenge.headers[.wwwAuthenticate] ?? "")")
        }
    }

    @Test func aManagedIdentityTokenNeedsThatIdentitysOwnHeader() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let admin = try await fixture.principal("admin", roles: [(.owner, fixture.subscription)])
        let armToken = try fixture.token(for: admin)
        let group = "\(fixture.subscription)/resourceGroups/identity-http"
        let hostSecret = try String(contentsOfFile: fixture.server.configuration.path("identity-header"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try await fixture.test { client in
            try await client.armOK(.put, group, token: armToken, body: #"{"location":"westeurope"}"#)
            var environments: [String: [String: Any]] = [:]
            for name in ["first", "second"] {
                let identity = "\(group)/providers/Microsoft.ManagedIdentity/userAssignedIdentities/\(name)"
                try await client.armOK(.put, identity, token: armToken, body: #"{"location":"westeurope"}"#)
                let listed = try await client.armOK(.post, identity + "/listWorkloadEnvironment", token: armToken)
                environments[name] = try Self.json(listed)
            }
            let first = try #require(environments["first"]), second = try #require(environments["second"])
            let firstHeader = try #require(first["IDENTITY_HEADER"] as? String)
            let firstClientID = try #require(first["clientId"] as? String)
            let secondClientID = try #require(second["clientId"] as? String)
            #expect(firstHeader != second["IDENTITY_HEADER"] as? String)

            func ask(_ clientID: String, header: String?) async throws -> TestResponse {
                var headers: HTTPFields = [:]
                if let header { headers[HTTPField.Name("X-IDENTITY-HEADER")!] = header }
                return try await client.execute(uri: "/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fvault.localhost%3A8443&client_id=\(clientID)",
                                                method: .get, headers: headers, body: nil)
            }
            // Its own header: a token for that identity.
            let granted = try await ask(firstClientID, header: firstHeader)
            #expect(granted.status == .ok, "\(String(buffer: granted.body))")
            let token = try #require(try Self.json(granted)["access_token"] as? String)
            let claims = try fixture.directory.verify(token, tenantID: fixture.tenantID, audiences: ["https://vault.localhost:8443"])
            #expect(claims.appid == firstClientID)
            // Another identity's header, the host secret, no header, an unknown identity: refused alike.
            #expect(try await ask(secondClientID, header: firstHeader).status == .unauthorized)
            #expect(try await ask(firstClientID, header: hostSecret).status == .unauthorized)
            #expect(try await ask(firstClientID, header: nil).status == .unauthorized)
            #expect(try await ask(UUID().uuidString.lowercased(), header: firstHeader).status == .unauthorized)
        }
    }

    @Test func regeneratingAWorkloadHeaderRevokesTheOldOneAndTakesWriteAccess() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let admin = try await fixture.principal("admin", roles: [(.owner, fixture.subscription)])
        let group = "\(fixture.subscription)/resourceGroups/identity-regen"
        let operatorOnly = try await fixture.principal("operator", roles: [(.managedIdentityOperator, group)])
        let armToken = try fixture.token(for: admin)
        let operatorToken = try fixture.token(for: operatorOnly)
        try await fixture.test { client in
            try await client.armOK(.put, group, token: armToken, body: #"{"location":"westeurope"}"#)
            let identity = "\(group)/providers/Microsoft.ManagedIdentity/userAssignedIdentities/worker"
            try await client.armOK(.put, identity, token: armToken, body: #"{"location":"westeurope"}"#)
            // The operator may hand the identity to a workload, but not revoke what other workloads hold.
            let listed = try Self.json(try await client.armOK(.post, identity + "/listWorkloadEnvironment", token: operatorToken))
            let old = try #require(listed["IDENTITY_HEADER"] as? String)
            let clientID = try #require(listed["clientId"] as? String)
            let refused = try await client.arm(.post, identity + "/regenerateWorkloadEnvironment", token: operatorToken)
            #expect(refused.status == .forbidden, "\(String(buffer: refused.body))")

            func ask(header: String) async throws -> HTTPResponse.Status {
                try await client.execute(uri: "/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fvault.localhost%3A8443&client_id=\(clientID)",
                                         method: .get, headers: [HTTPField.Name("X-IDENTITY-HEADER")!: header], body: nil).status
            }
            #expect(try await ask(header: old) == .ok)
            let regenerated = try Self.json(try await client.armOK(.post, identity + "/regenerateWorkloadEnvironment", token: armToken))
            let new = try #require(regenerated["IDENTITY_HEADER"] as? String)
            #expect(new != old)
            #expect(try await ask(header: old) == .unauthorized)
            #expect(try await ask(header: new) == .ok)
            // What is listed afterwards is the new header.
            let relisted = try Self.json(try await client.armOK(.post, identity + "/listWorkloadEnvironment", token: operatorToken))
            #expect(relisted["IDENTITY_HEADER"] as? String == new)
        }
    }
}
