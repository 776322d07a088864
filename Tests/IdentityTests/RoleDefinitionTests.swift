import Foundation
import Testing
@testable import Identity

/// The RBAC evaluator against what Azure's documentation says each built-in role may do, written out case by case
/// (not derived from the definitions under test).
@Suite struct RoleDefinitionTests {
    static let vaultWrite = AzureAction.control("Microsoft.KeyVault/vaults/write")
    static let vaultRead = AzureAction.control("Microsoft.KeyVault/vaults/read")
    static let assignmentWrite = AzureAction.control("Microsoft.Authorization/roleAssignments/write")
    static let assignmentRead = AzureAction.control("Microsoft.Authorization/roleAssignments/read")
    static let assignIdentity = AzureAction.control("Microsoft.ManagedIdentity/userAssignedIdentities/assign/action")
    static let readIdentity = AzureAction.control("Microsoft.ManagedIdentity/userAssignedIdentities/read")
    static let listCredentials = AzureAction.control("Microsoft.ContainerRegistry/registries/listCredentials/action")
    static let deploy = AzureAction.control("Microsoft.Resources/deployments/write")
    static let unwrap = AzureAction.data("Microsoft.KeyVault/vaults/keys/unwrap/action")
    static let createKey = AzureAction.data("Microsoft.KeyVault/vaults/keys/create/action")
    static let readKey = AzureAction.data("Microsoft.KeyVault/vaults/keys/read")
    static let readRotationPolicy = AzureAction.data("Microsoft.KeyVault/vaults/keyrotationpolicies/read")

    struct Expectation: CustomStringConvertible {
        let role: BuiltInRole
        let action: AzureAction
        let allowed: Bool
        var description: String { "\(role.rawValue) \(allowed ? "may" : "may not") \(action.name)" }
    }

    static let expectations: [Expectation] = [
        .init(role: .owner, action: vaultWrite, allowed: true),
        .init(role: .owner, action: assignmentWrite, allowed: true),
        .init(role: .owner, action: listCredentials, allowed: true),
        .init(role: .owner, action: unwrap, allowed: false),  // control-plane `*` is not a data action
        .init(role: .owner, action: readKey, allowed: false),
        .init(role: .contributor, action: vaultWrite, allowed: true),
        .init(role: .contributor, action: assignmentWrite, allowed: false),
        .init(role: .contributor, action: .control("microsoft.authorization/roleassignments/DELETE"), allowed: false),
        .init(role: .contributor, action: assignmentRead, allowed: true),
        .init(role: .contributor, action: assignIdentity, allowed: true),
        .init(role: .contributor, action: unwrap, allowed: false),
        .init(role: .reader, action: vaultRead, allowed: true),
        .init(role: .reader, action: vaultWrite, allowed: false),
        .init(role: .reader, action: listCredentials, allowed: false),
        .init(role: .reader, action: RegistryDataAction.pull, allowed: true),
        .init(role: .reader, action: RegistryDataAction.push, allowed: false),
        .init(role: .reader, action: .control("Microsoft.KeyVault/vaults/readers"), allowed: false),
        .init(role: .userAccessAdministrator, action: assignmentWrite, allowed: true),
        .init(role: .userAccessAdministrator, action: vaultRead, allowed: true),
        .init(role: .userAccessAdministrator, action: vaultWrite, allowed: false),
        .init(role: .managedIdentityOperator, action: assignIdentity, allowed: true),
        .init(role: .managedIdentityOperator, action: readIdentity, allowed: true),
        .init(role: .managedIdentityOperator, action: .control("Microsoft.ManagedIdentity/userAssignedIdentities/write"), allowed: false),
        .init(role: .managedIdentityOperator, action: deploy, allowed: true),
        .init(role: .managedIdentityOperator, action: assignmentWrite, allowed: false),
        .init(role: .keyVaultAdministrator, action: createKey, allowed: true),
        .init(role: .keyVaultAdministrator, action: vaultRead, allowed: true),
        .init(role: .keyVaultAdministrator, action: vaultWrite, allowed: false),
        .init(role: .keyVaultCryptoOfficer, action: createKey, allowed: true),
        .init(role: .keyVaultCryptoOfficer, action: .data("Microsoft.KeyVault/vaults/keyrotationpolicies/write"), allowed: true),
        .init(role: .keyVaultCryptoOfficer, action: .data("Microsoft.KeyVault/vaults/secrets/getSecret/action"), allowed: false),
        .init(role: .keyVaultCryptoUser, action: unwrap, allowed: true),
        .init(role: .keyVaultCryptoUser, action: createKey, allowed: false),
        .init(role: .keyVaultCryptoUser, action: .data("Microsoft.KeyVault/vaults/keys/delete"), allowed: false),
        .init(role: .keyVaultCryptoServiceEncryptionUser, action: unwrap, allowed: true),
        .init(role: .keyVaultCryptoServiceEncryptionUser, action: .data("Microsoft.KeyVault/vaults/keys/encrypt/action"), allowed: false),
        .init(role: .keyVaultCryptoServiceEncryptionUser, action: vaultRead, allowed: false),
        .init(role: .keyVaultReader, action: readKey, allowed: true),
        .init(role: .keyVaultReader, action: readRotationPolicy, allowed: true),
        .init(role: .keyVaultReader, action: unwrap, allowed: false),
        .init(role: .acrPull, action: RegistryDataAction.pull, allowed: true),
        .init(role: .acrPull, action: RegistryDataAction.push, allowed: false),
        .init(role: .acrPull, action: .control("Microsoft.ContainerRegistry/registries/read"), allowed: false),
        .init(role: .acrPush, action: RegistryDataAction.push, allowed: true),
        .init(role: .acrPush, action: RegistryDataAction.delete, allowed: false),
        .init(role: .acrDelete, action: RegistryDataAction.delete, allowed: true),
        .init(role: .acrDelete, action: RegistryDataAction.pull, allowed: false),
    ]

    @Test(arguments: expectations)
    func builtInRolesAllowWhatAzureSays(_ expectation: Expectation) {
        #expect(expectation.role.definition.permits(expectation.action) == expectation.allowed)
    }

    @Test func everyBuiltInRoleIsExercised() {
        #expect(Set(Self.expectations.map(\.role)) == Set(BuiltInRole.allCases))
    }

    @Test func wildcardsMatchAsAzureDoes() {
        #expect(RoleDefinition.pattern("*", matches: "a/b/c"))
        #expect(RoleDefinition.pattern("a/*/c", matches: "a/b/x/c"))
        #expect(RoleDefinition.pattern("a/*/c", matches: "a/c"))
        #expect(!RoleDefinition.pattern("a/*/c", matches: "a/bc"))
        #expect(RoleDefinition.pattern("*/read", matches: "x/y/read"))
        #expect(!RoleDefinition.pattern("*/read", matches: "x/y/reader"))
        #expect(!RoleDefinition.pattern("a/b", matches: "a/b/c"))
        #expect(RoleDefinition.pattern("A/B", matches: "a/b"))
        #expect(!RoleDefinition.pattern("", matches: "a"))
        // Many stars over a long action stay cheap (no exponential backtracking).
        #expect(!RoleDefinition.pattern(String(repeating: "*a", count: 200) + "b", matches: String(repeating: "a", count: 2000)))
    }

    @Test func theEvaluatorUsesRolesAtTheScopeAndAbove() async throws {
        let (directory, store) = try await DirectoryTests.make()
        defer { Task { try await store.close() } }
        let group = "/subscriptions/s/resourceGroups/rg"
        try await directory.assignRole(.contributor, to: "p", scope: group)
        try await directory.assignRole(.userAccessAdministrator, to: "p", scope: group + "/providers/Microsoft.KeyVault/vaults/v")
        #expect(try await directory.permits("p", Self.vaultWrite, at: group + "/providers/Microsoft.KeyVault/vaults/v"))
        #expect(try await directory.permits("p", Self.assignmentWrite, at: group + "/providers/Microsoft.KeyVault/vaults/v"))
        #expect(!(try await directory.permits("p", Self.assignmentWrite, at: group)))
        #expect(!(try await directory.permits("p", Self.vaultWrite, at: "/subscriptions/s/resourceGroups/rg2")))
        #expect(!(try await directory.permits("p", Self.vaultWrite, at: "/subscriptions/s/resourceGroups/rgx")))
        #expect(try await directory.permitted("p", among: [Self.vaultRead, Self.assignmentWrite, Self.unwrap], at: group) == [Self.vaultRead])
    }
}
