import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Identity
import JMESPath
import Testing
@testable import CofferServer

/// Microsoft Graph as an attacker with an ordinary token would try it: another principal's password is that
/// principal's rights, so only who may grant roles at the subscription may add one; tokens for other services are
/// not Graph tokens; malformed input is a 4xx.
@Suite struct GraphBoundaryTests {
    static let graph = "https://graph.localhost:8443"

    static func json(_ response: TestResponse) throws -> JSONValue { try JSONText.parse(String(buffer: response.body)) }

    @Test func onlyWhoMayGrantRolesMayManageApplications() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let group = "\(fixture.subscription)/resourceGroups/graph"
        var found: Principal?
        for principal in try await fixture.directory.allPrincipals() where try await fixture.directory.isBootstrapOperator(principal) {
            found = principal
        }
        let operatorPrincipal = try #require(found)
        let contributor = try await fixture.principal("contributor", roles: [(.contributor, group)])
        let contributorToken = try fixture.token(for: contributor, audience: Self.graph)
        let operatorToken = try fixture.token(for: operatorPrincipal, audience: Self.graph)
        let outsiderPrincipal = try await fixture.principal("outsider")
        let outsider = try fixture.token(for: outsiderPrincipal, audience: Self.graph)
        let groupOwnerToken = try fixture.token(for: try await fixture.principal("groupowner", roles: [(.owner, group)]), audience: Self.graph)
        let operatorApplication = operatorPrincipal.applicationObjectId ?? operatorPrincipal.appId
        try await fixture.test(at: "graph.localhost:8443") { client in
            func send(_ method: HTTPRequest.Method, _ path: String, _ token: String?, _ body: String? = nil) async throws -> TestResponse {
                var headers: HTTPFields = [:]
                if let token { headers[.authorization] = "Bearer \(token)" }
                return try await client.execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
            }
            // Who may grant roles somewhere (an Owner of a group) reads the directory; a Contributor sees only itself.
            let byAppID = "/v1.0/servicePrincipals?$filter=appId%20eq%20'\(operatorPrincipal.appId)'"
            guard case .array(let found) = try Self.json(try await send(.get, byAppID, groupOwnerToken))["value"],
                  case .array(let hidden) = try Self.json(try await send(.get, byAppID, contributorToken))["value"],
                  case .array(let own) = try Self.json(try await send(.get, "/v1.0/servicePrincipals", contributorToken))["value"] else {
                throw SetupError("no value array")
            }
            #expect(found.count == 1 && found.first?["id"] == .string(operatorPrincipal.objectId))
            #expect(hidden.isEmpty)
            #expect(own.count == 1 && own.first?["id"] == .string(contributor.objectId))
            // Nor give itself the operator's rights through a new password.
            let stolen = try await send(.post, "/v1.0/applications/\(operatorApplication)/addPassword", contributorToken, "{}")
            #expect(stolen.status == .forbidden)
            #expect(try Self.json(stolen)["error"]["code"] == .string("Authorization_RequestDenied"))
            let viaServicePrincipal = try await send(.post, "/v1.0/servicePrincipals/\(operatorPrincipal.objectId)/addPassword", contributorToken, "{}")
            #expect(viaServicePrincipal.status == .forbidden)
            #expect(try await send(.post, "/v1.0/applications", contributorToken, #"{"displayName":"mine"}"#).status == .forbidden)
            // Without any role only one's own principal is readable.
            guard case .array(let alone) = try Self.json(try await send(.get, "/v1.0/servicePrincipals", outsider))["value"] else {
                throw SetupError("no value array")
            }
            #expect(alone.count == 1 && alone.first?["id"] == .string(outsiderPrincipal.objectId))
            #expect(try await send(.get, "/v1.0/servicePrincipals/\(operatorPrincipal.objectId)", outsider).status == .forbidden)
            #expect(try await send(.get, "/v1.0/servicePrincipals/\(contributor.objectId)", contributorToken).status == .ok)
            // A token for the resource manager is not a Graph token; no token at all is a 401.
            let armToken = try fixture.token(for: operatorPrincipal)
            #expect(try await send(.get, "/v1.0/servicePrincipals", armToken).status == .unauthorized)
            #expect(try await send(.get, "/v1.0/servicePrincipals", nil).status == .unauthorized)
            // Service principals have no /me, as in Graph.
            let me = try await send(.get, "/v1.0/me", operatorToken)
            #expect(me.status == .badRequest)
            // Unsupported filters and malformed bodies are clear 4xx answers.
            let filter = try await send(.get, "/v1.0/servicePrincipals?$filter=accountEnabled%20eq%20true", operatorToken)
            #expect(filter.status == .badRequest)
            #expect(try Self.json(filter)["error"]["code"] == .string("Request_UnsupportedQuery"))
            let deep = String(repeating: "[", count: 50_000)
            #expect(try await send(.post, "/v1.0/applications", operatorToken, deep).status == .badRequest)
            let late = try await send(.post, "/v1.0/applications/\(operatorApplication)/addPassword", operatorToken,
                                      #"{"passwordCredential":{"endDateTime":"9999999-01-01T00:00:00Z"}}"#)
            #expect(late.status == .badRequest)
            // The operator keeps at least one password and cannot be deleted, so no one is locked out.
            let passwords = try Self.json(try await send(.get, "/v1.0/applications/\(operatorApplication)", operatorToken))["passwordCredentials"]
            guard case .array(let credentials) = passwords, credentials.count == 1, case .string(let keyID) = credentials[0]["keyId"] else {
                throw SetupError("the operator should have one password")
            }
            let removed = try await send(.post, "/v1.0/applications/\(operatorApplication)/removePassword", operatorToken, #"{"keyId":"\#(keyID)"}"#)
            #expect(removed.status == .badRequest)
            #expect(try await send(.delete, "/v1.0/servicePrincipals/\(operatorPrincipal.objectId)", operatorToken).status == .forbidden)
        }
    }

    @Test func graphTokensDoNotOpenTheResourceManager() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let owner = try await fixture.principal("owner", roles: [(.owner, fixture.subscription)])
        let graphToken = try fixture.token(for: owner, audience: Self.graph)
        let armToken = try fixture.token(for: owner)
        let subscription = fixture.subscription
        try await fixture.test { client in
            let refused = try await client.arm(.get, "\(subscription)/resourcegroups", token: graphToken)
            let accepted = try await client.arm(.get, "\(subscription)/resourcegroups", token: armToken)
            #expect(refused.status == .unauthorized)
            #expect(accepted.status == .ok)
        }
    }
}
