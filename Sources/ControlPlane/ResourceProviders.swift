import AzureErrors
import CofferStorage
import Foundation
import Identity
import JMESPath
import KeyVault

/// Creates, updates and deletes resources by type: the one way to do it, which the REST handlers and the template
/// deployer both call, so that a rule (a vault's required location, a role assignment's known principal, the
/// identity-attachment check) holds on both paths. The caller has already authorized the operation itself.
package struct ResourceProviders: Sendable {
    package let plane: ControlPlaneServices
    /// Checks that the caller may perform an action on a scope a request reaches beyond its target (an identity a
    /// resource is given, a vault's permission model).
    package let authorizeLinked: @Sendable (AzureAction, String) async throws -> Void

    package init(plane: ControlPlaneServices, authorizeLinked: @escaping @Sendable (AzureAction, String) async throws -> Void) {
        self.plane = plane
        self.authorizeLinked = authorizeLinked
    }

    /// The caller's `userAssignedIdentities/*/assign/action` check on an identity a resource is given.
    package func authorizeAssignment(_ identityID: String) async throws {
        try await authorizeLinked(ARMOperation.listWorkloadEnvironment.action, identityID)
    }

    /// The scope a role assignment's id grants at: everything before `/providers/Microsoft.Authorization/roleAssignments/`.
    package static func roleAssignmentScope(of id: String) -> String {
        String(id[..<(id.range(of: "/providers/Microsoft.Authorization/roleAssignments/", options: .caseInsensitive)?.lowerBound ?? id.endIndex)])
    }

    /// The resource type an id names: the provider namespace and every type segment after the last `providers`
    /// (`Microsoft.ContainerRegistry/registries`, `Microsoft.ContainerRegistry/registries/replications`).
    package static func resourceType(of id: String) -> String {
        let parts = id.split(separator: "/").map(String.init)
        guard let providers = parts.lastIndex(where: { $0.lowercased() == "providers" }), providers + 1 < parts.count else { return "" }
        let namespace = parts[providers + 1]
        let types = stride(from: providers + 2, to: parts.count, by: 2).map { parts[$0] }
        return ([namespace] + types).joined(separator: "/")
    }

    /// Creates or updates one resource from its (evaluated) definition; returns its state as a GET would show it, and
    /// whether it was created. `apiVersion` is the one the request or template resource names, where defaults depend on it.
    package func put(type: String, id: String, name: String, body: JSONValue, apiVersion: String? = nil) async throws -> (state: JSONValue, created: Bool) {
        switch type.lowercased() {
        case ControlPlaneServices.identityType:
            let existed = try await plane.documents.document(id: id) != nil
            return (try await putIdentity(id: id, name: name, body: body), !existed)
        case "microsoft.keyvault/vaults":
            var resource = try Self.decode(VaultResource.self, from: body)
            try AccessPolicyRules.check(resource.properties.accessPolicies ?? [])
            guard resource.location?.isEmpty == false else {
                throw AzureErrorResponse(.badRequest, code: "LocationRequired", message: "The location property is required for this definition.")
            }
            // Switching a vault between access policies and RBAC changes who may use its keys: as in Azure, that takes
            // the right to grant roles (Owner, User Access Administrator), not just vaults/write — otherwise a
            // Contributor could leave RBAC mode and write itself an access policy.
            let existing = try await plane.vaults.vault(id: id)
            if let existing, let requested = resource.properties.enableRbacAuthorization,
               requested != (existing.properties.enableRbacAuthorization ?? false) {
                try await authorizeLinked(ARMOperation.putRoleAssignment.action, id)
            }
            // From API version 2026-02-01 a new vault that names no permission model uses RBAC (an update keeps its model).
            if existing == nil, resource.properties.enableRbacAuthorization == nil, let apiVersion, apiVersion.prefix(10) >= "2026-02-01" {
                resource.properties.enableRbacAuthorization = true
            }
            let (vault, created) = try await plane.vaults.putVault(id: id, name: name, body: resource, vaultURI: plane.vaultURI(name), tenantID: plane.tenantID)
            return (try Self.encode(vault), created)
        case "microsoft.keyvault/vaults/accesspolicies":
            let parts = name.split(separator: "/").map(String.init)
            guard parts.count == 2, let operation = VaultService.AccessPolicyOperation(rawValue: parts[1].lowercased()) else {
                throw AzureErrorResponse(.badRequest, code: "InvalidRequestContent",
                                         message: "access policy resources are named '<vault>/add', '/replace' or '/remove'")
            }
            let entries = try Self.decode([AccessPolicyEntry].self, from: body["properties"]["accessPolicies"])
            try AccessPolicyRules.check(entries)
            let vaultID = String(id.dropLast("/accessPolicies/\(parts[1])".count))
            let vault = try await plane.vaults.updateAccessPolicies(vaultID: vaultID, operation: operation, entries: entries)
            let policies = try Self.encode(vault.properties.accessPolicies ?? [])
            return (.object(JSONObject([("id", .string("\(vaultID)/accessPolicies/\(operation.rawValue)")),
                                        ("type", .string("Microsoft.KeyVault/vaults/accessPolicies")),
                                        ("properties", .object(JSONObject([("accessPolicies", policies)])))])), false)
        case Registries.type:
            return try await plane.registries.put(id: id, name: name, body: body, authorizeAssignment: { try await authorizeAssignment($0) })
        case RegistryReplications.type:
            let parts = name.split(separator: "/").map(String.init)
            guard parts.count == 2 else {
                throw AzureErrorResponse(.badRequest, code: "InvalidRequestContent", message: "replication resources are named '<registry>/<replication>'")
            }
            return try await plane.replications.put(registryID: String(id.dropLast("/replications/\(parts[1])".count)), name: parts[1], body: body)
        case RegistryTokens.scopeMapType:
            return try await plane.registryTokens.putScopeMap(id: id, name: Self.childName(name), body: body, patch: false)
        case RegistryTokens.tokenType:
            return try await plane.registryTokens.putToken(id: id, name: Self.childName(name), body: body, patch: false)
        case "microsoft.authorization/roleassignments":
            return try await putRoleAssignment(id: id, name: name, body: body)
        default:
            throw AzureErrorResponse(.badRequest, code: "NoRegisteredProviderFound", message: "The resource type '\(type.prefix(200))' cannot be deployed here.")
        }
    }

    /// The last part of a child resource's name (`registry/token` → `token`).
    package static func childName(_ name: String) -> String {
        name.split(separator: "/").last.map(String.init) ?? name
    }

    /// A role assignment of a built-in role to a principal of the directory, at the scope its id names.
    private func putRoleAssignment(id: String, name: String, body: JSONValue) async throws -> (state: JSONValue, created: Bool) {
        guard case .string(let definition) = body["properties"]["roleDefinitionId"], case .string(let principalID) = body["properties"]["principalId"] else {
            throw AzureErrorResponse(.badRequest, code: "InvalidRequestContent", message: "A role assignment needs properties.roleDefinitionId and properties.principalId.")
        }
        guard let role = BuiltInRole(definitionID: definition) else {
            throw AzureErrorResponse(.badRequest, code: "RoleDefinitionDoesNotExist",
                                     message: "The specified role definition with ID '\(definition.split(separator: "/").last?.prefix(100) ?? "")' does not exist.")
        }
        let isPrincipal = try await plane.directory.principal(objectID: principalID) != nil
        let isUser = try await plane.directory.user(objectID: principalID, tenantID: plane.tenantID) != nil
        guard isPrincipal || isUser else {
            throw AzureErrorResponse(.badRequest, code: "PrincipalNotFound", message: "Principal \(principalID.prefix(100)) does not exist in the directory \(plane.tenantID).")
        }
        let existed = try await roleAssignment(id) != nil
        let name = name.split(separator: "/").last.map(String.init)?.lowercased() ?? name.lowercased()
        try await plane.directory.assignRole(role, to: principalID, scope: Self.roleAssignmentScope(of: id), name: name)
        guard let assignment = try await roleAssignment(id) else {
            throw AzureErrorResponse(.conflict, code: "Conflict", message: "The role assignment '\(name.prefix(100))' was deleted while it was being created.")
        }
        return (try Self.encode(RoleAssignmentResource(assignment)), !existed)
    }

    package func roleAssignment(_ id: String) async throws -> Directory.RoleAssignment? {
        // Bytes, not Swift's ==, which takes canonically equivalent ids (a look-alike group's) as one.
        try await plane.directory.roleAssignments().first { $0.id.utf8.elementsEqual(id.lowercased().utf8) }
    }

    package static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(JSONText.serialize(value).utf8))
        } catch {
            throw AzureErrorResponse(.badRequest, code: "InvalidRequestContent", message: "The request content was invalid and could not be deserialized: \(Self.describe(error)).")
        }
    }

    package static func encode(_ value: some Encodable) throws -> JSONValue {
        try JSONText.parse(String(decoding: try JSONEncoder().encode(value), as: UTF8.self))
    }

    /// A decoding error without the echo of values: the path of the field and what was wrong.
    private static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription.prefix(200))"
        case .keyNotFound(let key, let context):
            "\((context.codingPath + [key]).map(\.stringValue).joined(separator: ".")) is required"
        default: "malformed JSON"
        }
    }

    /// Deletes a resource (vaults soft-deleted, as in Azure); false when there was none.
    package func delete(type: String, id: String, name: String) async throws -> Bool {
        switch type.lowercased() {
        case ControlPlaneServices.identityType:
            guard try await plane.documents.document(id: id) != nil else { return false }
            // The principal first: a deletion cut short leaves a record that a retry removes, never a live identity.
            try await plane.directory.deleteManagedIdentity(resourceID: id)
            _ = try await plane.documents.deleteDocument(id: id)
            return true
        case "microsoft.keyvault/vaults":
            return try await plane.vaults.deleteVault(id: id, subscriptionID: plane.subscriptionID)
        case Registries.type:
            return try await plane.registries.delete(id: id, name: name)
        case RegistryReplications.type:
            return try await plane.replications.delete(id: id)
        case RegistryTokens.scopeMapType:
            return try await plane.registryTokens.deleteScopeMap(id: id)
        case RegistryTokens.tokenType:
            return try await plane.registryTokens.deleteToken(id: id)
        case "microsoft.authorization/roleassignments":
            guard let assignment = try await roleAssignment(id) else { return false }
            return try await plane.directory.deleteRoleAssignment(id: assignment.id)
        default:
            throw AzureErrorResponse(.badRequest, code: "NoRegisteredProviderFound", message: "The resource type '\(type.prefix(200))' cannot be deleted here.")
        }
    }

    package func putIdentity(id: String, name: String, body: JSONValue) async throws -> JSONValue {
        guard (3...128).contains(name.count), name.first?.isLetter == true || name.first?.isNumber == true,
              name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw AzureErrorResponse(.badRequest, code: "InvalidResourceName",
                                     message: "Identity names are 3-128 letters, digits, '-' and '_', starting with a letter or digit.")
        }
        let existing = try await plane.documents.document(id: id).flatMap { try? JSONDecoder().decode(IdentityResource.self, from: Data($0.body.utf8)) }
        guard case .string(let location) = body["location"] == .null ? .string(existing?.location ?? "") : body["location"], !location.isEmpty else {
            throw AzureErrorResponse(.badRequest, code: "LocationRequired", message: "The location property is required for this definition.")
        }
        var tags: [String: String] = existing?.tags ?? [:]
        if case .object(let given) = body["tags"] {
            tags = [:]
            for key in given.keys { if case .string(let value) = given[key]! { tags[key] = value } }
        }
        let resource = IdentityResource(id: id, name: name, type: "Microsoft.ManagedIdentity/userAssignedIdentities", location: location,
                                        tags: tags, properties: nil)
        try await plane.documents.putDocument(StoredDocument(id: id, type: "microsoft.managedidentity/userassignedidentities", name: name,
                                                           body: String(decoding: try JSONEncoder().encode(resource), as: UTF8.self)))
        let principal = try await plane.directory.managedIdentity(resourceID: id, displayName: name)
        var presented = resource
        presented.properties = .init(tenantId: principal.tenantId, principalId: principal.objectId, clientId: principal.appId)
        return try JSONText.parse(String(decoding: try JSONEncoder().encode(presented), as: UTF8.self))
    }
}
