import AzureHTTP
import CofferStorage
import Foundation
import Identity
import JMESPath
import KeyVault

/// Creates or updates resources by type, for template deployments: the same work the REST handlers do.
struct ResourceDeployer: Sendable {
    let api: ResourceManagerAPI
    /// The deploying principal's `userAssignedIdentities/*/assign/action` check, as the REST call makes it.
    let authorizeAssignment: @Sendable (String) async throws -> Void

    /// The scope a role assignment's id grants at: everything before `/providers/Microsoft.Authorization/roleAssignments/`.
    static func roleAssignmentScope(of id: String) -> String {
        String(id[..<(id.range(of: "/providers/Microsoft.Authorization/roleAssignments/", options: .caseInsensitive)?.lowerBound ?? id.endIndex)])
    }

    /// Deploys one evaluated resource; returns its state as a GET would show it.
    func put(type: String, id: String, name: String, body: JSONValue) async throws -> JSONValue {
        switch type.lowercased() {
        case "microsoft.managedidentity/userassignedidentities":
            return try await putIdentity(id: id, name: name, body: body)
        case "microsoft.keyvault/vaults":
            let resource = try JSONDecoder().decode(VaultResource.self, from: Data(JSONText.serialize(body).utf8))
            let (vault, _) = try await api.vaults.putVault(id: id, name: name, body: resource, vaultURI: api.vaultURI(name), tenantID: api.tenantID)
            return try JSONText.parse(String(decoding: try JSONEncoder().encode(vault), as: UTF8.self))
        case "microsoft.keyvault/vaults/accesspolicies":
            let parts = name.split(separator: "/").map(String.init)
            guard parts.count == 2, let operation = VaultService.AccessPolicyOperation(rawValue: parts[1].lowercased()) else {
                throw AzureErrorResponse(.badRequest, code: "InvalidTemplate", message: "access policy resources are named '<vault>/add', '/replace' or '/remove'")
            }
            let entries = try JSONDecoder().decode([AccessPolicyEntry].self, from: Data(JSONText.serialize(body["properties"]["accessPolicies"]).utf8))
            let vaultID = String(id.dropLast("/accessPolicies/\(parts[1])".count))
            let vault = try await api.vaults.updateAccessPolicies(vaultID: vaultID, operation: operation, entries: entries)
            let policies = try JSONText.parse(String(decoding: try JSONEncoder().encode(vault.properties.accessPolicies ?? []), as: UTF8.self))
            return .object(JSONObject([("id", .string(id)), ("type", .string("Microsoft.KeyVault/vaults/accessPolicies")),
                                       ("properties", .object(JSONObject([("accessPolicies", policies)])))]))
        case "microsoft.containerregistry/registries":
            return try await api.registries.put(id: id, name: name, body: body, authorizeAssignment: authorizeAssignment).0
        case RegistryReplications.type:
            let parts = name.split(separator: "/").map(String.init)
            guard parts.count == 2 else {
                throw AzureErrorResponse(.badRequest, code: "InvalidTemplate", message: "replication resources are named '<registry>/<replication>'")
            }
            return try await api.replications.put(registryID: String(id.dropLast("/replications/\(parts[1])".count)), name: parts[1], body: body).0
        case "microsoft.authorization/roleassignments":
            guard case .string(let definition) = body["properties"]["roleDefinitionId"], let role = BuiltInRole(definitionID: definition),
                  case .string(let principal) = body["properties"]["principalId"] else {
                throw AzureErrorResponse(.badRequest, code: "RoleDefinitionDoesNotExist", message: "the role assignment names no known built-in role or no principal")
            }
            try await api.directory.assignRole(role, to: principal, scope: Self.roleAssignmentScope(of: id), name: name.lowercased())
            return .object(JSONObject([("id", .string(id)), ("name", .string(name)), ("type", .string("Microsoft.Authorization/roleAssignments")),
                                       ("properties", body["properties"])]))
        default:
            throw AzureErrorResponse(.badRequest, code: "NoRegisteredProviderFound", message: "The resource type '\(type)' cannot be deployed here.")
        }
    }

    /// Deletes a resource of a listed type (Complete mode's removal of what the template no longer has).
    /// Vaults are soft-deleted, as a DELETE of the vault does.
    func delete(type: String, id: String, name: String) async throws {
        switch type.lowercased() {
        case "microsoft.managedidentity/userassignedidentities":
            try await api.directory.deleteManagedIdentity(resourceID: id)
            _ = try await api.documents.deleteDocument(id: id)
        case "microsoft.keyvault/vaults":
            _ = try await api.vaults.deleteVault(id: id, subscriptionID: api.subscriptionID)
        case "microsoft.containerregistry/registries":
            _ = try await api.registries.delete(id: id, name: name)
        case RegistryReplications.type:
            _ = try await api.replications.delete(id: id)
        default:
            throw AzureErrorResponse(.badRequest, code: "NoRegisteredProviderFound", message: "The resource type '\(type)' cannot be deleted here.")
        }
    }

    func putIdentity(id: String, name: String, body: JSONValue) async throws -> JSONValue {
        guard (3...128).contains(name.count), name.first?.isLetter == true || name.first?.isNumber == true,
              name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw AzureErrorResponse(.badRequest, code: "InvalidResourceName",
                                     message: "Identity names are 3-128 letters, digits, '-' and '_', starting with a letter or digit.")
        }
        let existing = try await api.documents.document(id: id).flatMap { try? JSONDecoder().decode(IdentityResource.self, from: Data($0.body.utf8)) }
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
        try await api.documents.putDocument(StoredDocument(id: id, type: "microsoft.managedidentity/userassignedidentities", name: name,
                                                           body: String(decoding: try JSONEncoder().encode(resource), as: UTF8.self)))
        let principal = try await api.directory.managedIdentity(resourceID: id, displayName: name)
        var presented = resource
        presented.properties = .init(tenantId: principal.tenantId, principalId: principal.objectId, clientId: principal.appId)
        return try JSONText.parse(String(decoding: try JSONEncoder().encode(presented), as: UTF8.self))
    }
}
