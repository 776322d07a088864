import HTTPTypes
import Identity

/// Every resource-manager operation, with its method, its path and the Azure action it needs: the control plane's
/// authorization table. ``ARMExchange`` finds the operation of a request here, checks its action at the target's
/// scope with the one RBAC evaluator (``Directory/permits(_:_:at:)``), and only then runs its handler; a handler
/// cannot forget the check, an operation without an action does not compile, and the authorization matrix test
/// walks this table, so a new operation is covered the day it is added.
package enum ARMOperation: CaseIterable, Sendable {
    case listSubscriptions, getSubscription, listSubscriptionResources
    case listGroups, getGroup, headGroup, putGroup, deleteGroup, getGroupDeletion, listGroupResources
    case listFeatures, listProviderFeatures, getFeature, registerFeature, unregisterFeature
    case listProviders, getProvider, registerProvider, unregisterProvider
    case listDeletedVaults, getDeletedVault, purgeDeletedVault, listSubscriptionVaults, listSubscriptionRegistries
    case listVaults, getVault, putVault, patchVault, deleteVault, updateAccessPolicies
    /// Managed HSMs: there are none here, but az lists them beside vaults (`az keyvault list|list-deleted`).
    case listSubscriptionManagedHSMs, listManagedHSMs, listDeletedManagedHSMs
    case listRegistries, getRegistry, putRegistry, patchRegistry, deleteRegistry, listCredentials, regenerateCredential, listUsages, importImage
    case listReplications, getReplication, putReplication, deleteReplication
    case listScopeMaps, getScopeMap, putScopeMap, patchScopeMap, deleteScopeMap
    case listTokens, getToken, putToken, patchToken, deleteToken, generateCredentials
    case listSubscriptionIdentities, listIdentities, getIdentity, putIdentity, patchIdentity, deleteIdentity, listWorkloadEnvironment, regenerateWorkloadEnvironment
    case listRoleAssignments, getRoleAssignment, putRoleAssignment, deleteRoleAssignment, listRoleDefinitions, getRoleDefinition
    case listDeployments, getDeployment, putDeployment, deleteDeployment, validateDeployment
    case getDeploymentStatus, listDeploymentOperations, getDeploymentOperation

    /// The path, its literal segments matched case-insensitively. `{name}` captures one segment; `{scope…}` (only
    /// first) captures the scope a role assignment or definition is read or made at: `subscriptions/{subscription}`
    /// and anything below.
    package var route: (method: HTTPRequest.Method, path: String) {
        let subscription = "subscriptions/{subscription}"
        let group = subscription + "/resourceGroups/{group}"
        let vault = group + "/providers/Microsoft.KeyVault/vaults/{vault}"
        let registry = group + "/providers/Microsoft.ContainerRegistry/registries/{registry}"
        let identity = group + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{identity}"
        let deployment = group + "/providers/Microsoft.Resources/deployments/{deployment}"
        let features = subscription + "/providers/Microsoft.Features/providers/{namespace}/features"
        let deletedVault = subscription + "/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/{vault}"
        let assignments = "{scope…}/providers/Microsoft.Authorization/roleAssignments"
        let definitions = "{scope…}/providers/Microsoft.Authorization/roleDefinitions"
        return switch self {
        case .listSubscriptions: (.get, "subscriptions")
        case .getSubscription: (.get, subscription)
        case .listSubscriptionResources: (.get, subscription + "/resources")
        case .listGroups: (.get, subscription + "/resourceGroups")
        case .getGroup: (.get, group)
        case .headGroup: (.head, group)
        case .putGroup: (.put, group)
        case .deleteGroup: (.delete, group)
        case .getGroupDeletion: (.get, subscription + "/operationresults/{operation}")
        case .listGroupResources: (.get, group + "/resources")
        case .listFeatures: (.get, subscription + "/providers/Microsoft.Features/features")
        case .listProviderFeatures: (.get, features)
        case .getFeature: (.get, features + "/{feature}")
        case .registerFeature: (.post, features + "/{feature}/register")
        case .unregisterFeature: (.post, features + "/{feature}/unregister")
        case .listProviders: (.get, subscription + "/providers")
        case .getProvider: (.get, subscription + "/providers/{namespace}")
        case .registerProvider: (.post, subscription + "/providers/{namespace}/register")
        case .unregisterProvider: (.post, subscription + "/providers/{namespace}/unregister")
        case .listDeletedVaults: (.get, subscription + "/providers/Microsoft.KeyVault/deletedVaults")
        case .getDeletedVault: (.get, deletedVault)
        case .purgeDeletedVault: (.post, deletedVault + "/purge")
        case .listSubscriptionVaults: (.get, subscription + "/providers/Microsoft.KeyVault/vaults")
        case .listSubscriptionRegistries: (.get, subscription + "/providers/Microsoft.ContainerRegistry/registries")
        case .listVaults: (.get, group + "/providers/Microsoft.KeyVault/vaults")
        case .getVault: (.get, vault)
        case .putVault: (.put, vault)
        case .patchVault: (.patch, vault)
        case .deleteVault: (.delete, vault)
        case .updateAccessPolicies: (.put, vault + "/accessPolicies/{operationKind}")
        case .listSubscriptionManagedHSMs: (.get, subscription + "/providers/Microsoft.KeyVault/managedHSMs")
        case .listManagedHSMs: (.get, group + "/providers/Microsoft.KeyVault/managedHSMs")
        case .listDeletedManagedHSMs: (.get, subscription + "/providers/Microsoft.KeyVault/deletedManagedHSMs")
        case .listRegistries: (.get, group + "/providers/Microsoft.ContainerRegistry/registries")
        case .getRegistry: (.get, registry)
        case .putRegistry: (.put, registry)
        case .patchRegistry: (.patch, registry)
        case .deleteRegistry: (.delete, registry)
        case .listCredentials: (.post, registry + "/listCredentials")
        case .regenerateCredential: (.post, registry + "/regenerateCredential")
        case .listUsages: (.get, registry + "/listUsages")
        case .importImage: (.post, registry + "/importImage")
        case .listReplications: (.get, registry + "/replications")
        case .getReplication: (.get, registry + "/replications/{replication}")
        case .putReplication: (.put, registry + "/replications/{replication}")
        case .deleteReplication: (.delete, registry + "/replications/{replication}")
        case .listScopeMaps: (.get, registry + "/scopeMaps")
        case .getScopeMap: (.get, registry + "/scopeMaps/{scopeMap}")
        case .putScopeMap: (.put, registry + "/scopeMaps/{scopeMap}")
        case .patchScopeMap: (.patch, registry + "/scopeMaps/{scopeMap}")
        case .deleteScopeMap: (.delete, registry + "/scopeMaps/{scopeMap}")
        case .listTokens: (.get, registry + "/tokens")
        case .getToken: (.get, registry + "/tokens/{token}")
        case .putToken: (.put, registry + "/tokens/{token}")
        case .patchToken: (.patch, registry + "/tokens/{token}")
        case .deleteToken: (.delete, registry + "/tokens/{token}")
        case .generateCredentials: (.post, registry + "/generateCredentials")
        case .listSubscriptionIdentities: (.get, subscription + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities")
        case .listIdentities: (.get, group + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities")
        case .getIdentity: (.get, identity)
        case .putIdentity: (.put, identity)
        case .patchIdentity: (.patch, identity)
        case .deleteIdentity: (.delete, identity)
        case .listWorkloadEnvironment: (.post, identity + "/listWorkloadEnvironment")
        case .regenerateWorkloadEnvironment: (.post, identity + "/regenerateWorkloadEnvironment")
        case .listRoleAssignments: (.get, assignments)
        case .getRoleAssignment: (.get, assignments + "/{assignment}")
        case .putRoleAssignment: (.put, assignments + "/{assignment}")
        case .deleteRoleAssignment: (.delete, assignments + "/{assignment}")
        case .listRoleDefinitions: (.get, definitions)
        case .getRoleDefinition: (.get, definitions + "/{definition}")
        case .listDeployments: (.get, group + "/providers/Microsoft.Resources/deployments")
        case .getDeployment: (.get, deployment)
        case .putDeployment: (.put, deployment)
        case .deleteDeployment: (.delete, deployment)
        case .validateDeployment: (.post, deployment + "/validate")
        case .getDeploymentStatus: (.get, deployment + "/operationStatuses/{operation}")
        case .listDeploymentOperations: (.get, deployment + "/operations")
        case .getDeploymentOperation: (.get, deployment + "/operations/{operation}")
        }
    }

    /// The Azure action the caller needs at the operation's scope (the path up to its last named segment).
    package var action: AzureAction {
        let name = switch self {
        case .listSubscriptions, .getSubscription: "Microsoft.Resources/subscriptions/read"
        case .listSubscriptionResources: "Microsoft.Resources/subscriptions/resources/read"
        case .listGroups, .getGroup, .headGroup: "Microsoft.Resources/subscriptions/resourceGroups/read"
        case .putGroup: "Microsoft.Resources/subscriptions/resourceGroups/write"
        case .deleteGroup: "Microsoft.Resources/subscriptions/resourceGroups/delete"
        case .getGroupDeletion: "Microsoft.Resources/subscriptions/operationresults/read"
        case .listGroupResources: "Microsoft.Resources/subscriptions/resourceGroups/resources/read"
        case .listFeatures: "Microsoft.Features/features/read"
        case .listProviderFeatures, .getFeature: "Microsoft.Features/providers/features/read"
        case .registerFeature: "Microsoft.Features/providers/features/register/action"
        case .unregisterFeature: "Microsoft.Features/providers/features/unregister/action"
        case .listProviders, .getProvider: "Microsoft.Resources/subscriptions/providers/read"
        // Azure names it per provider (`<namespace>/register/action`); one name here, held by Owner and Contributor alike.
        case .registerProvider, .unregisterProvider: "Microsoft.Resources/subscriptions/providers/register/action"
        case .listDeletedVaults: "Microsoft.KeyVault/deletedVaults/read"
        case .getDeletedVault: "Microsoft.KeyVault/locations/deletedVaults/read"
        case .purgeDeletedVault: "Microsoft.KeyVault/locations/deletedVaults/purge/action"
        case .listSubscriptionVaults, .listVaults, .getVault: "Microsoft.KeyVault/vaults/read"
        case .putVault, .patchVault: "Microsoft.KeyVault/vaults/write"
        case .deleteVault: "Microsoft.KeyVault/vaults/delete"
        case .updateAccessPolicies: "Microsoft.KeyVault/vaults/accessPolicies/write"
        case .listSubscriptionManagedHSMs, .listManagedHSMs: "Microsoft.KeyVault/managedHSMs/read"
        case .listDeletedManagedHSMs: "Microsoft.KeyVault/deletedManagedHSMs/read"
        case .listSubscriptionRegistries, .listRegistries, .getRegistry: "Microsoft.ContainerRegistry/registries/read"
        case .listUsages: "Microsoft.ContainerRegistry/registries/listUsages/read"
        case .importImage: "Microsoft.ContainerRegistry/registries/importImage/action"
        case .putRegistry, .patchRegistry: "Microsoft.ContainerRegistry/registries/write"
        case .deleteRegistry: "Microsoft.ContainerRegistry/registries/delete"
        case .listCredentials: "Microsoft.ContainerRegistry/registries/listCredentials/action"
        case .regenerateCredential: "Microsoft.ContainerRegistry/registries/regenerateCredential/action"
        case .listReplications, .getReplication: "Microsoft.ContainerRegistry/registries/replications/read"
        case .putReplication: "Microsoft.ContainerRegistry/registries/replications/write"
        case .deleteReplication: "Microsoft.ContainerRegistry/registries/replications/delete"
        case .listScopeMaps, .getScopeMap: "Microsoft.ContainerRegistry/registries/scopeMaps/read"
        case .putScopeMap, .patchScopeMap: "Microsoft.ContainerRegistry/registries/scopeMaps/write"
        case .deleteScopeMap: "Microsoft.ContainerRegistry/registries/scopeMaps/delete"
        case .listTokens, .getToken: "Microsoft.ContainerRegistry/registries/tokens/read"
        case .putToken, .patchToken: "Microsoft.ContainerRegistry/registries/tokens/write"
        case .deleteToken: "Microsoft.ContainerRegistry/registries/tokens/delete"
        case .generateCredentials: "Microsoft.ContainerRegistry/registries/generateCredentials/action"
        case .listSubscriptionIdentities, .listIdentities, .getIdentity: "Microsoft.ManagedIdentity/userAssignedIdentities/read"
        case .putIdentity, .patchIdentity: "Microsoft.ManagedIdentity/userAssignedIdentities/write"
        case .deleteIdentity: "Microsoft.ManagedIdentity/userAssignedIdentities/delete"
        // Handing a workload an identity's credentials is attaching the identity to it.
        case .listWorkloadEnvironment: "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"
        // Revoking what workloads hold disrupts them: it takes the right to change the identity.
        case .regenerateWorkloadEnvironment: "Microsoft.ManagedIdentity/userAssignedIdentities/write"
        case .listRoleAssignments, .getRoleAssignment: "Microsoft.Authorization/roleAssignments/read"
        case .putRoleAssignment: "Microsoft.Authorization/roleAssignments/write"
        case .deleteRoleAssignment: "Microsoft.Authorization/roleAssignments/delete"
        case .listRoleDefinitions, .getRoleDefinition: "Microsoft.Authorization/roleDefinitions/read"
        case .listDeployments, .getDeployment: "Microsoft.Resources/deployments/read"
        case .putDeployment: "Microsoft.Resources/deployments/write"
        case .deleteDeployment: "Microsoft.Resources/deployments/delete"
        case .validateDeployment: "Microsoft.Resources/deployments/validate/action"
        case .getDeploymentStatus: "Microsoft.Resources/deployments/operationstatuses/read"
        case .listDeploymentOperations, .getDeploymentOperation: "Microsoft.Resources/deployments/operations/read"
        }
        return .control(name)
    }

    /// Every operation's path template split in segments, computed once.
    package static let templates: [(operation: ARMOperation, segments: [String])] = allCases.map { operation in
        (operation, operation.route.path.split(separator: "/").map(String.init))
    }
}

/// A request matched to its operation: the captured path values and the scope its action is checked at.
package struct ARMRouteMatch {
    package let operation: ARMOperation
    /// Captured segments by name (`group`, `vault`, …), as sent.
    package let values: [String: String]
    /// The target's id: the path up to the template's last named segment (`/subscriptions/{id}` when it has none).
    package let scope: String

    package subscript(_ name: String) -> String { values[name] ?? "" }

    package enum Failure: Error {
        case noRoute
        /// The path names an operation, but not with this method.
        case methodNotAllowed
    }

    /// The operation of `method` and `path` (components without empty ones), with deployments also addressed
    /// without their provider segment (`resourceGroups/{group}/deployments/…`), as the REST API allows.
    package static func match(method: HTTPRequest.Method, path: [String]) -> Result<ARMRouteMatch, Failure> {
        var path = path
        if path.count >= 6, path[2].lowercased() == "resourcegroups", path[4].lowercased() == "deployments" {
            path.insert(contentsOf: ["providers", "Microsoft.Resources"], at: 4)
        }
        var pathMatched = false
        for (operation, template) in ARMOperation.templates {
            guard let (values, scope) = match(template, path) else { continue }
            guard operation.route.method == method else {
                pathMatched = true
                continue
            }
            return .success(ARMRouteMatch(operation: operation, values: values, scope: scope))
        }
        return .failure(pathMatched ? .methodNotAllowed : .noRoute)
    }

    private static func match(_ template: [String], _ path: [String]) -> (values: [String: String], scope: String)? {
        var template = template
        var path = path
        var values: [String: String] = [:]
        var consumed: [String] = []
        if template.first == "{scope…}", template.count >= 4 {
            // The scope: everything before the first `providers/Microsoft.Authorization/<the template's collection>`.
            let lower = path.map { $0.lowercased() }
            let collection = template[1...3].map { $0.lowercased() }
            guard let index = lower.indices.dropLast(2).first(where: { Array(lower[$0...($0 + 2)]) == collection }),
                  index >= 2, lower[0] == "subscriptions" else { return nil }
            values["subscription"] = path[1]
            values["scope"] = "/" + path[..<index].joined(separator: "/")
            // At or below a group, the group's gate applies (a deleting group takes no new assignments).
            if index >= 4, lower[2] == "resourcegroups" { values["group"] = path[3] }
            consumed = Array(path[..<index])
            template.removeFirst()
            path.removeFirst(index)
        }
        guard template.count == path.count else { return nil }
        var lastNamed = consumed.count
        for (offset, (pattern, segment)) in zip(template, path).enumerated() {
            if pattern.hasPrefix("{") {
                values[String(pattern.dropFirst().dropLast())] = segment
                lastNamed = consumed.count + offset + 1
            } else if pattern.lowercased() != segment.lowercased() {
                return nil
            }
        }
        let all = consumed + path
        let scopeSegments = lastNamed > 0 ? Array(all[..<lastNamed]) : Array(all.prefix(1)) + [values["subscription"] ?? ""]
        return (values, "/" + scopeSegments.joined(separator: "/"))
    }
}
