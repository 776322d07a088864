import CofferStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Identity
import JMESPath
import Testing
@testable import CofferServer
@testable import ControlPlane
@testable import ResourceManagerAPI

/// Boundaries a principal with ordinary rights must not cross, found by a review of the control plane: leaving a
/// vault's RBAC mode, reading secure deployment outputs, granting roles in a group being deleted.
@Suite struct PrivilegeBoundaryTests {
    static func json(_ response: TestResponse) throws -> JSONValue { try JSONText.parse(String(buffer: response.body)) }

    @Test func onlyWhoMayGrantRolesMaySwitchAVaultsPermissionModel() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let group = "\(fixture.subscription)/resourceGroups/model"
        let owner = try fixture.token(for: try await fixture.principal("owner", roles: [(.owner, group)]))
        let contributor = try fixture.token(for: try await fixture.principal("contributor", roles: [(.contributor, group)]))
        let vault = "\(group)/providers/Microsoft.KeyVault/vaults/modelvault"
        try await fixture.test { client in
            try await client.armOK(.put, group, token: owner, body: #"{"location":"westeurope"}"#)
            // A Contributor may create an RBAC vault and change other properties of it...
            try await client.armOK(.put, vault, token: contributor, body: """
                {"location":"westeurope","properties":{"tenantId":"\(fixture.tenantID)","sku":{"family":"A","name":"standard"},"enableRbacAuthorization":true}}
                """)
            try await client.armOK(.patch, vault, token: contributor, body: #"{"tags":{"team":"a"}}"#)
            // ...but not leave RBAC mode (and then write itself an access policy), by PATCH or PUT.
            let patched = try await client.arm(.patch, vault, token: contributor, body: #"{"properties":{"enableRbacAuthorization":false}}"#)
            #expect(patched.status == .forbidden)
            #expect(try Self.json(patched)["error"]["code"] == .string("LinkedAuthorizationFailed"))
            let put = try await client.arm(.put, vault, token: contributor, body: """
                {"location":"westeurope","properties":{"tenantId":"\(fixture.tenantID)","sku":{"family":"A","name":"standard"},"enableRbacAuthorization":false}}
                """)
            #expect(put.status == .forbidden)
            let shown = try Self.json(try await client.armOK(.get, vault, token: contributor))
            #expect(shown["properties"]["enableRbacAuthorization"] == .bool(true))
            // The Owner may.
            let switched = try await client.armOK(.patch, vault, token: owner, body: #"{"properties":{"enableRbacAuthorization":false}}"#)
            #expect(try Self.json(switched)["properties"]["enableRbacAuthorization"] == .bool(false))
        }
    }

    @Test func secureOutputsAreNeverShown() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let group = "\(fixture.subscription)/resourceGroups/outputs"
        let contributor = try fixture.token(for: try await fixture.principal("contributor", roles: [(.contributor, group)]))
        let reader = try fixture.token(for: try await fixture.principal("reader", roles: [(.reader, group)]))
        let deployment = "\(group)/providers/Microsoft.Resources/deployments/secrets"
        try await fixture.test { client in
            try await client.armOK(.put, group, token: contributor, body: #"{"location":"westeurope"}"#)
            try await client.armOK(.put, deployment, token: contributor, body: """
                {"properties":{"mode":"Incremental","template":{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                 "contentVersion":"1.0.0.0","resources":[],"outputs":{
                   "secret":{"type":"securestring","value":"[concat('hidden-', 'value')]"},
                   "object":{"type":"secureObject","value":{"password":"[concat('hidden-', 'object')]"}},
                   "plain":{"type":"string","value":"[concat('shown-', 'value')]"}}}}}
                """)
            var record: JSONValue = .null
            for _ in 0..<600 { // up to 30 s: a loaded CI machine is slow
                record = try Self.json(try await client.armOK(.get, deployment, token: reader))
                if record["properties"]["provisioningState"] != .string("Running"), record["properties"]["provisioningState"] != .string("Accepted") { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(record["properties"]["provisioningState"] == .string("Succeeded"), "\(record)")
            #expect(record["properties"]["outputs"]["plain"]["value"] == .string("shown-value"))
            #expect(record["properties"]["outputs"]["secret"]["type"] == .string("securestring"))
            let text = String(describing: record)
            #expect(!text.contains("hidden-"), "a secure output is shown: \(text)")
        }
    }

    @Test func aGroupBeingDeletedTakesNoRoleAssignmentsAndTellsStrangersNothing() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let group = "\(fixture.subscription)/resourceGroups/leaving"
        let ownerPrincipal = try await fixture.principal("owner", roles: [(.owner, group)])
        let owner = try fixture.token(for: ownerPrincipal)
        let acrPull = try fixture.token(for: try await fixture.principal("puller", roles: [(.acrPull, group)]))
        let assignment = "\(group)/providers/Microsoft.Authorization/roleAssignments/\(UUID().uuidString.lowercased())"
        let body = """
            {"properties":{"roleDefinitionId":"\(fixture.subscription)/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
             "principalId":"\(ownerPrincipal.objectId)"}}
            """
        try await fixture.test { client in
            try await client.armOK(.put, group, token: owner, body: #"{"location":"westeurope"}"#)
            // Marked as a deletion in progress marks it (the cascade is what it then races against).
            let id = group.lowercased()
            let document = try #require(try await fixture.api.documents.document(id: id))
            guard case .object(var record) = try JSONText.parse(document.body), case .object(var properties) = record["properties"] else {
                throw SetupError("a group record without properties")
            }
            properties["provisioningState"] = .string("Deleting")
            record["properties"] = .object(properties)
            try await fixture.api.documents.putDocument(StoredDocument(id: document.id, type: document.type, name: document.name,
                                                                       body: JSONText.serialize(.object(record))))

            let granted = try await client.arm(.put, assignment, token: owner, body: body)
            #expect(granted.status == .conflict, "\(String(buffer: granted.body))")
            #expect(try Self.json(granted)["error"]["code"] == .string("ResourceGroupBeingDeleted"))
            // A principal that may not write there learns only that it may not.
            let probed = try await client.arm(.put, "\(group)/providers/Microsoft.ContainerRegistry/registries/probe", token: acrPull,
                                              body: #"{"location":"westeurope","sku":{"name":"Basic"}}"#)
            #expect(probed.status == .forbidden)
        }
    }

    /// A group's deletion marks the group before it looks for running deployments (so a deployment that starts at the
    /// same moment sees the mark); finding one, it answers 409 and takes the mark back, leaving the group usable.
    @Test func aDeletionRefusedForARunningDeploymentLeavesTheGroupAsItWas() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let group = "\(fixture.subscription)/resourceGroups/busy"
        let owner = try fixture.token(for: try await fixture.principal("owner", roles: [(.owner, group)]))
        try await fixture.test { client in
            try await client.armOK(.put, group, token: owner, body: #"{"location":"westeurope"}"#)
            let deployment = "\(group)/providers/Microsoft.Resources/deployments/long"
            try await fixture.api.documents.putDocument(StoredDocument(id: deployment, type: ARMExchange.deploymentType, name: "long",
                body: #"{"id":"\#(deployment)","name":"long","properties":{"provisioningState":"Running"}}"#))
            let refused = try await client.arm(.delete, group, token: owner)
            #expect(refused.status == .conflict)
            #expect(try Self.json(refused)["error"]["code"] == .string("DeploymentActive"))
            let shown = try Self.json(try await client.armOK(.get, group, token: owner))
            #expect(shown["properties"]["provisioningState"] == .string("Succeeded"), "\(shown)")
            // Still open for work: a write into it is not refused as "being deleted".
            try await client.armOK(.put, "\(group)/providers/Microsoft.ManagedIdentity/userAssignedIdentities/stillhere", token: owner,
                                   body: #"{"location":"westeurope"}"#)
        }
    }
}
