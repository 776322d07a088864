import Foundation
import HTTPTypes
import HummingbirdTesting
import Identity
import Testing
@testable import CofferServer
@testable import ControlPlane
@testable import ResourceManagerAPI

/// The control plane's authorization matrix, generated from ``ARMOperation/allCases``: every operation, for every kind
/// of caller, against the status that Azure's documented role semantics imply. The expectations are written here as
/// plain predicates over action names (not through the evaluator under test); a new operation is covered the day it
/// is added to the table.
@Suite struct ControlPlaneAuthorizationMatrixTests {
    /// Who calls, and what Azure's documentation says their role allows (nil: the token itself must be refused).
    struct Caller: Sendable {
        let name: String
        /// The scope the role is held at.
        let scope: String?
        let allows: (@Sendable (String) -> Bool)?
        let token: String?
    }

    static func isRead(_ action: String) -> Bool { action.hasSuffix("/read") }
    static func isAuthorization(_ action: String) -> Bool { action.hasPrefix("microsoft.authorization/") }

    @Test func everyOperationForEveryCaller() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let subscription = fixture.subscription
        let group = "\(subscription)/resourceGroups/matrix"
        let otherGroup = "\(subscription)/resourceGroups/elsewhere"
        let admin = try await fixture.principal("admin", roles: [(.owner, subscription)])
        let adminToken = try fixture.token(for: admin)
        let grantee = try await fixture.principal("grantee")
        let existingAssignment = UUID().uuidString.lowercased()

        func caller(_ name: String, _ role: BuiltInRole, at scope: String, allows: @escaping @Sendable (String) -> Bool) async throws -> Caller {
            Caller(name: name, scope: scope, allows: allows, token: try fixture.token(for: try await fixture.principal(name, roles: [(role, scope)])))
        }
        let now = Int64(Date().timeIntervalSince1970)
        let outsider = Principal(objectId: admin.objectId, appId: admin.appId, tenantId: "other-tenant", displayName: "outsider",
                                 kind: .servicePrincipal, credential: nil)
        let forged = Directory(store: fixture.server.metadata, signer: TokenSigner(privateKey: .init()))
        var callers: [Caller] = [
            Caller(name: "no token", scope: nil, allows: nil, token: nil),
            Caller(name: "a malformed token", scope: nil, allows: nil, token: "not.a.token"),
            Caller(name: "an expired token", scope: nil, allows: nil, token: try fixture.token(for: admin, now: now - 7200)),
            Caller(name: "a vault token", scope: nil, allows: nil, token: try fixture.token(for: admin, audience: "https://vault.azure.net")),
            Caller(name: "another tenant's token", scope: nil, allows: nil, token: try fixture.token(for: outsider)),
            Caller(name: "a token signed by another key", scope: nil, allows: nil,
                   token: try forged.issueToken(for: admin, resource: ControlPlaneFixture.audience,
                                                issuer: "\(ControlPlaneFixture.audience)/\(fixture.tenantID)/v2.0").token),
            Caller(name: "a principal without roles", scope: group, allows: { _ in false }, token: try fixture.token(for: try await fixture.principal("stranger"))),
        ]
        callers += [
            try await caller("Owner of the subscription", .owner, at: subscription) { _ in true },
            try await caller("Reader of the subscription", .reader, at: subscription, allows: Self.isRead),
            try await caller("Owner of the group", .owner, at: group) { _ in true },
            try await caller("Contributor of the group", .contributor, at: group) { action in
                !(Self.isAuthorization(action) && (action.hasSuffix("/write") || action.hasSuffix("/delete")))
            },
            try await caller("Reader of the group", .reader, at: group, allows: Self.isRead),
            try await caller("User Access Administrator of the group", .userAccessAdministrator, at: group) { Self.isRead($0) || Self.isAuthorization($0) },
            try await caller("Managed Identity Operator of the group", .managedIdentityOperator, at: group) { action in
                (action.hasPrefix("microsoft.managedidentity/userassignedidentities/") && (Self.isRead(action) || action.hasSuffix("/assign/action")))
                    || (Self.isAuthorization(action) && Self.isRead(action)) || action == "microsoft.resources/subscriptions/resourcegroups/read"
                    || action.hasPrefix("microsoft.resources/deployments/")
            },
            try await caller("Key Vault Crypto Officer of the group", .keyVaultCryptoOfficer, at: group) { action in
                (Self.isAuthorization(action) && Self.isRead(action)) || action == "microsoft.resources/subscriptions/resourcegroups/read"
                    || action.hasPrefix("microsoft.resources/deployments/") || (action.hasPrefix("microsoft.keyvault/") && !action.contains("managedhsms") && Self.isRead(action))
            },
            try await caller("AcrPull of the group", .acrPull, at: group) { _ in false },
            try await caller("Owner of another group", .owner, at: otherGroup) { _ in true },
        ]

        let everyCaller = callers
        try await fixture.test { client in
            let callers = everyCaller
            // What the operations act on.
            for name in ["matrix", "elsewhere"] {
                try await client.armOK(.put, "\(subscription)/resourceGroups/\(name)", token: adminToken, body: #"{"location":"westeurope"}"#)
            }
            try await client.armOK(.put, "\(group)/providers/Microsoft.KeyVault/vaults/matrixvault", token: adminToken, body: """
                {"location":"westeurope","properties":{"tenantId":"\(fixture.tenantID)","sku":{"family":"A","name":"standard"},"accessPolicies":[]}}
                """)
            try await client.armOK(.put, "\(group)/providers/Microsoft.ContainerRegistry/registries/matrixreg", token: adminToken,
                                   body: #"{"location":"westeurope","sku":{"name":"Premium"},"properties":{"adminUserEnabled":true}}"#)
            try await client.armOK(.put, "\(group)/providers/Microsoft.ContainerRegistry/registries/matrixreg/replications/eastus",
                                   token: adminToken, body: #"{"location":"eastus"}"#)
            try await client.armOK(.put, "\(group)/providers/Microsoft.ManagedIdentity/userAssignedIdentities/matrixid", token: adminToken,
                                   body: #"{"location":"westeurope"}"#)
            try await client.armOK(.put, "\(group)/providers/Microsoft.Authorization/roleAssignments/\(existingAssignment)", token: adminToken, body: """
                {"properties":{"principalId":"\(grantee.objectId)","roleDefinitionId":"\(subscription)/providers/Microsoft.Authorization/roleDefinitions/\(BuiltInRole.reader.definitionID)"}}
                """)
            try await client.armOK(.put, "\(group)/providers/Microsoft.Resources/deployments/matrixdeploy", token: adminToken,
                                   body: #"{"properties":{"mode":"Incremental","template":{"contentVersion":"1.0.0.0","resources":[]}}}"#)
            await fixture.api.jobs.drain()

            var checked = 0
            for operation in ARMOperation.allCases {
                let (method, template) = operation.route
                let action = operation.action.name.lowercased()
                // A read is a GET and a GET is a read: what Reader may do follows from the method.
                #expect((method == .get || method == .head) == Self.isRead(action), "\(operation): \(method) declares \(action)")
                let destructive = method == .delete
                let path = Self.path(template, subscription: subscription, existingAssignment: existingAssignment, destructive: destructive,
                                     groupName: operation == .deleteGroup ? "absent" : "matrix")
                let scope = Self.scope(of: operation, path: path, subscription: subscription)
                for caller in callers {
                    let response = try await client.arm(method, path, token: caller.token, body: destructive || method == .get || method == .head ? nil : "{}")
                    let status = response.status.code
                    let context = "\(caller.name): \(method) \(path) (\(action)) answered \(status) \(String(buffer: response.body).prefix(300))"
                    if let allows = caller.allows, let held = caller.scope {
                        let allowed = Directory.scope(scope, isWithin: held) && allows(action)
                        if allowed {
                            #expect(status != 401 && status != 403 && status < 500, "\(context)")
                        } else {
                            #expect(status == 403, "\(context)")
                        }
                    } else {
                        #expect(status == 401, "\(context)")
                    }
                    checked += 1
                }
            }
            #expect(checked == ARMOperation.allCases.count * callers.count)
            #expect(checked > 900)
            print("control-plane authorization matrix: \(ARMOperation.allCases.count) operations x \(callers.count) callers = \(checked) checks")

            // Paths that name no operation, or not with this method.
            #expect(try await client.arm(.patch, "\(group)/providers/Microsoft.KeyVault/vaults", token: adminToken, body: "{}").status == .methodNotAllowed)
            #expect(try await client.arm(.get, "\(group)/providers/Microsoft.KeyVault/vaults/matrixvault/secrets", token: adminToken).status == .notFound)
            #expect(try await client.arm(.get, "\(group)/providers/Microsoft.Unknown/things", token: adminToken).status == .notFound)
        }
    }

    /// A concrete path for a template: existing resources for reads and writes, absent names for deletions (so that an
    /// allowed deletion removes nothing the rest of the matrix needs).
    static func path(_ template: String, subscription: String, existingAssignment: String, destructive: Bool, groupName: String) -> String {
        let values: [String: String] = [
            "{subscription}": String(subscription.dropFirst("/subscriptions/".count)), "{group}": groupName,
            "{vault}": destructive ? "absentvault" : "matrixvault", "{registry}": destructive ? "absentreg" : "matrixreg",
            "{replication}": destructive ? "absent" : "eastus", "{identity}": destructive ? "absentid" : "matrixid",
            "{deployment}": destructive ? "absent" : "matrixdeploy", "{operation}": "absent-operation",
            "{assignment}": destructive ? UUID().uuidString.lowercased() : existingAssignment,
            "{scope…}": "\(subscription.dropFirst())/resourceGroups/matrix", "{namespace}": "Microsoft.ContainerRegistry", "{feature}": "MatrixFeature",
            "{location}": "westeurope", "{operationKind}": "add", "{definition}": BuiltInRole.acrPull.definitionID,
        ]
        return "/" + template.split(separator: "/").map { values[String($0)] ?? String($0) }.joined(separator: "/")
    }

    /// The scope the operation's action applies at, by Azure's rule: the target resource (the path up to its last
    /// named segment), the subscription for subscription-level collections.
    static func scope(of operation: ARMOperation, path: String, subscription: String) -> String {
        let template = operation.route.path.split(separator: "/")
        let segments = path.split(separator: "/")
        if template.first == "{scope…}" {
            // Role assignments and definitions: the scope they are made or read at, then the assignment itself.
            let named = template.last?.hasPrefix("{") == true ? 0 : 3
            return "/" + segments.dropLast(named).joined(separator: "/")
        }
        guard let last = template.lastIndex(where: { $0.hasPrefix("{") }) else { return subscription }
        let offset = segments.count - template.count
        return "/" + segments.prefix(last + 1 + offset).joined(separator: "/")
    }
}
