import Foundation
import HummingbirdTesting
import JMESPath
import Testing
@testable import CofferServer

/// Azure's change of default: a vault created with API version 2026-02-01 or later that names no permission model
/// uses RBAC; older versions keep access policies; an update never changes the model by itself.
@Suite struct VaultPermissionModelDefaultTests {
    @Test func newVaultsDefaultToRBACFromAPIVersion20260201() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let group = "\(fixture.subscription)/resourceGroups/defaults"
        let owner = try fixture.token(for: try await fixture.principal("owner", roles: [(.owner, fixture.subscription)]))
        let body = """
            {"location":"westeurope","properties":{"tenantId":"\(fixture.tenantID)","sku":{"family":"A","name":"standard"}}}
            """
        try await fixture.test { client in
            try await client.armOK(.put, group, token: owner, body: #"{"location":"westeurope"}"#)
            func model(_ name: String, _ version: String) async throws -> JSONValue {
                let response = try await client.arm(.put, "\(group)/providers/Microsoft.KeyVault/vaults/\(name)", token: owner, body: body, apiVersion: version)
                #expect((200..<300).contains(response.status.code), "\(String(buffer: response.body))")
                return try JSONText.parse(String(buffer: response.body))["properties"]["enableRbacAuthorization"]
            }
            #expect(try await model("newmodel", "2026-02-01") == .bool(true))
            #expect(try await model("oldmodel", "2023-07-01") == .bool(false))
            // Updating the old vault with the new version keeps access policies.
            #expect(try await model("oldmodel", "2026-02-01") == .bool(false))
        }
    }
}
