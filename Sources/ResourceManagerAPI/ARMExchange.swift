import ControlPlane
import CofferTelemetry
import AzureHTTP
import CofferStorage
import Foundation
import HTTPTypes
import Hummingbird
import Identity
import JMESPath
import KeyVault

/// One resource manager request: matched to its ``ARMOperation``, authorized for that operation's action, then handled.
struct ARMExchange {
    let api: ResourceManagerAPI
    let request: Request
    let claims: AccessTokenClaims
    /// Path components as sent (case kept for names), without empty ones.
    let path: [String]

    func dispatch() async throws -> Response {
        let route: ARMRouteMatch
        switch ARMRouteMatch.match(method: request.method, path: path) {
        case .success(let match):
            route = match
            RequestRecord.noteRoute("/" + match.operation.route.path)
        case .failure(.methodNotAllowed):
            throw AzureErrorResponse(.methodNotAllowed, code: "MethodNotAllowed",
                                     message: "\(request.method.rawValue) is not supported at \(request.uri.path.prefix(200))")
        case .failure(.noRoute):
            throw AzureErrorResponse(.notFound, code: "NotFound",
                                     message: "no resource manager operation at \(request.method.rawValue) \(request.uri.path.prefix(200))")
        }
        if let subscription = route.values["subscription"], subscription.lowercased() != api.subscriptionID {
            throw AzureErrorResponse(.notFound, code: "SubscriptionNotFound", message: "The subscription '\(subscription.prefix(100))' could not be found.")
        }
        let scope = route.values["subscription"] == nil ? "/subscriptions/\(api.subscriptionID)" : route.scope
        if let group = route.values["group"] { try await requireGroup(group, for: route.operation, scope: scope) }
        if route.operation != .getGroupDeletion {  // its caller is the one who started it, checked by its handler
            try await authorize(route.operation.action, scope: scope)
        }
        return try await perform(route)
    }

    /// Runs an operation whose action was already checked.
    private func perform(_ route: ARMRouteMatch) async throws -> Response {
        let group = route["group"]
        let subscriptionScope = "/subscriptions/\(api.subscriptionID)"
        switch route.operation {
        case .listSubscriptions: return try AzureJSON.response(["value": [subscription()]])
        case .getSubscription: return try AzureJSON.response(subscription())
        case .listSubscriptionResources: return try await listResources(under: subscriptionScope)
        case .listGroups:
            let groups = try await api.documents.documents(under: subscriptionScope + "/resourcegroups/", type: ResourceManagerAPI.groupType)
            return try AzureJSON.response(GroupList(value: groups.compactMap { try? JSONDecoder().decode(ResourceGroup.self, from: Data($0.body.utf8)) }))
        case .getGroup, .headGroup: return try await getGroup(group)
        case .putGroup: return try await putGroup(group)
        case .deleteGroup: return try await deleteGroup(group)
        case .getGroupDeletion: return try await groupDeletionStatus(route["operation"])
        case .listGroupResources: return try await listResources(under: groupID(group))
        case .listFeatures: return try AzureJSON.response(FeatureList(value: try await api.features.list(namespace: nil)))
        case .listProviderFeatures: return try AzureJSON.response(FeatureList(value: try await api.features.list(namespace: route["namespace"])))
        case .getFeature: return try AzureJSON.response(try await api.features.show(namespace: route["namespace"], name: route["feature"]))
        case .registerFeature: return try AzureJSON.response(try await api.features.register(namespace: route["namespace"], name: route["feature"]))
        case .unregisterFeature:
            return try AzureJSON.response(try await api.features.unregister(namespace: route["namespace"], name: route["feature"]))
        case .listProviders: return jsonResponse(ProviderCatalog.list(subscriptionID: api.subscriptionID))
        case .getProvider, .registerProvider: return jsonResponse(try ProviderCatalog.show(route["namespace"], subscriptionID: api.subscriptionID))
        case .unregisterProvider: try ProviderCatalog.unregister(route["namespace"], subscriptionID: api.subscriptionID)
        case .listDeletedVaults:
            return try AzureJSON.response(DeletedVaultList(value: try await api.vaults.deletedVaults().map(\.withoutRecoveryData)))
        case .getDeletedVault:
            guard let deleted = try await api.vaults.deletedVault(named: route["vault"]) else {
                throw AzureErrorResponse(.notFound, code: "ResourceNotFound", message: "The deleted vault \(route["vault"].prefix(100)) was not found.")
            }
            return try AzureJSON.response(deleted.withoutRecoveryData)
        case .purgeDeletedVault:
            try await api.vaults.purgeDeletedVault(named: route["vault"])
            return AzureJSON.empty(.ok)
        case .listSubscriptionVaults: return try AzureJSON.response(VaultList(value: try await api.vaults.vaults(under: subscriptionScope)))
        case .listSubscriptionRegistries:
            return jsonResponse(.object(JSONObject([("value", .array(try await api.registries.listPresented(under: subscriptionScope)))])))
        case .listVaults: return try AzureJSON.response(VaultList(value: try await api.vaults.vaults(under: groupID(group))))
        case .listSubscriptionManagedHSMs, .listManagedHSMs, .listDeletedManagedHSMs:
            return jsonResponse(.object(JSONObject([("value", .array([]))])))
        case .getVault:
            guard let vault = try await api.vaults.vault(id: route.scope) else { throw vaultNotFound(route["vault"], group: group) }
            return try AzureJSON.response(vault)
        case .putVault: return try await put("Microsoft.KeyVault/vaults", id: route.scope, name: route["vault"], body: try await Self.jsonBody(request))
        case .patchVault: return try await patchVault(id: route.scope, name: route["vault"], group: group)
        case .deleteVault: return try await delete("Microsoft.KeyVault/vaults", id: route.scope, name: route["vault"])
        case .updateAccessPolicies:
            let kind = route["operationKind"]
            let (state, _) = try await providers.put(type: "Microsoft.KeyVault/vaults/accessPolicies", id: "\(vaultID(group, route["vault"]))/accessPolicies/\(kind)",
                                                     name: "\(route["vault"])/\(kind)", body: try await Self.jsonBody(request))
            return jsonResponse(state)
        case .listRegistries:
            return jsonResponse(.object(JSONObject([("value", .array(try await api.registries.listPresented(under: groupID(group))))])))
        case .getRegistry:
            guard let registry = try await api.registries.get(id: route.scope) else { throw registryNotFound(route["registry"], group: group) }
            return jsonResponse(try await api.registries.presented(registry))
        case .putRegistry, .patchRegistry: return try await putRegistry(id: route.scope, name: route["registry"], group: group)
        case .deleteRegistry: return try await delete(Registries.type, id: route.scope, name: route["registry"])
        case .listCredentials: return jsonResponse(try await api.registries.listCredentials(id: route.scope))
        case .listUsages: return jsonResponse(try await api.registries.listUsages(id: route.scope))
        case .importImage:
            try await api.registries.importImage(targetID: route.scope, body: try await Self.jsonBody(request)) { source in
                try await authorizeLinked(RegistryDataAction.pull, source)
            }
            return AzureJSON.empty(.ok)
        case .regenerateCredential:
            guard case .string(let passwordName) = try await Self.jsonBody(request)["name"] else {
                throw AzureErrorResponse(.badRequest, code: "InvalidRequestContent", message: "The body must name the password: {\"name\": \"password\"}.")
            }
            return jsonResponse(try await api.registries.regenerateCredential(id: route.scope, passwordName: passwordName))
        case .listReplications:
            return jsonResponse(.object(JSONObject([("value", .array(try await api.replications.list(registryID: route.scope)))])))
        case .getReplication:
            guard let replication = try await api.replications.get(id: route.scope) else {
                throw AzureErrorResponse(.notFound, code: "ResourceNotFound", message: "The replication \(route["replication"].prefix(100)) was not found.")
            }
            return jsonResponse(replication)
        case .putReplication:
            return try await put(RegistryReplications.type, id: route.scope, name: "\(route["registry"])/\(route["replication"])", body: try await Self.jsonBody(request))
        case .deleteReplication: return try await delete(RegistryReplications.type, id: route.scope, name: route["replication"])
        case .listScopeMaps:
            return jsonResponse(.object(JSONObject([("value", .array(try await api.registryTokens.listScopeMaps(registryID: registryID(group, route["registry"]))))])))
        case .getScopeMap:
            guard let map = try await api.registryTokens.scopeMap(id: route.scope) else {
                throw AzureErrorResponse(.notFound, code: "ResourceNotFound", message: "The scope map \(route["scopeMap"].prefix(100)) was not found.")
            }
            return jsonResponse(map)
        case .putScopeMap:
            return try await put(RegistryTokens.scopeMapType, id: route.scope, name: "\(route["registry"])/\(route["scopeMap"])", body: try await Self.jsonBody(request))
        case .patchScopeMap:
            let (map, _) = try await api.registryTokens.putScopeMap(id: route.scope, name: route["scopeMap"], body: try await Self.jsonBody(request), patch: true)
            return jsonResponse(map)
        case .deleteScopeMap: return try await delete(RegistryTokens.scopeMapType, id: route.scope, name: route["scopeMap"])
        case .listTokens:
            return jsonResponse(.object(JSONObject([("value", .array(try await api.registryTokens.listTokens(registryID: registryID(group, route["registry"]))))])))
        case .getToken:
            guard let token = try await api.registryTokens.token(id: route.scope) else {
                throw AzureErrorResponse(.notFound, code: "ResourceNotFound", message: "The token \(route["token"].prefix(100)) was not found.")
            }
            return jsonResponse(token)
        case .putToken:
            return try await put(RegistryTokens.tokenType, id: route.scope, name: "\(route["registry"])/\(route["token"])", body: try await Self.jsonBody(request))
        case .patchToken:
            let (token, _) = try await api.registryTokens.putToken(id: route.scope, name: route["token"], body: try await Self.jsonBody(request), patch: true)
            return jsonResponse(token)
        case .deleteToken: return try await delete(RegistryTokens.tokenType, id: route.scope, name: route["token"])
        case .generateCredentials:
            return jsonResponse(try await api.registryTokens.generateCredentials(registryID: route.scope, body: try await Self.jsonBody(request)))
        case .listIdentities: return try await listIdentities(under: groupID(group))
        case .listSubscriptionIdentities: return try await listIdentities(under: subscriptionScope)
        case .getIdentity:
            guard let document = try await api.documents.document(id: route.scope) else { throw identityNotFound(route["identity"], group: group) }
            return try AzureJSON.response(try await present(identity: document))
        case .putIdentity, .patchIdentity:
            return try await put(Self.identityType, id: route.scope, name: route["identity"], body: try await Self.jsonBody(request))
        case .deleteIdentity: return try await delete(Self.identityType, id: route.scope, name: route["identity"])
        case .listWorkloadEnvironment: return try await workloadEnvironment(identityID: identityID(group, route["identity"]), name: route["identity"], group: group)
        case .regenerateWorkloadEnvironment:
            return try await workloadEnvironment(identityID: identityID(group, route["identity"]), name: route["identity"], group: group, regenerate: true)
        case .listRoleAssignments:
            let filter = try AuthorizationFilter.parse(request.uri.queryParameters.get("$filter"))
            let assignments = try await api.directory.roleAssignments().filter { filter.shows($0, listedAt: route["scope"]) }
            return try AzureJSON.response(RoleAssignmentList(value: assignments.map(RoleAssignmentResource.init)))
        case .listRoleDefinitions:
            let filter = try AuthorizationFilter.parse(request.uri.queryParameters.get("$filter"))
            let roles = BuiltInRole.allCases.filter(filter.shows)
            return try AzureJSON.response(RoleDefinitionList(value: roles.map { RoleDefinitionResource($0, scope: route["scope"]) }))
        case .getRoleDefinition:
            guard let role = BuiltInRole(definitionID: route["definition"]) else {
                throw AzureErrorResponse(.notFound, code: "RoleDefinitionDoesNotExist",
                                         message: "The role definition '\(route["definition"].prefix(100))' does not exist.")
            }
            return try AzureJSON.response(RoleDefinitionResource(role, scope: route["scope"]))
        case .getRoleAssignment:
            guard let assignment = try await providers.roleAssignment(route.scope) else {
                throw AzureErrorResponse(.notFound, code: "RoleAssignmentNotFound", message: "The role assignment '\(route["assignment"].prefix(100))' is not found.")
            }
            return try AzureJSON.response(RoleAssignmentResource(assignment))
        case .putRoleAssignment:
            return try await put("Microsoft.Authorization/roleAssignments", id: route.scope, name: route["assignment"], body: try await Self.jsonBody(request))
        case .deleteRoleAssignment:
            guard let assignment = try await providers.roleAssignment(route.scope) else { return AzureJSON.empty(.noContent) }
            _ = try await providers.delete(type: "Microsoft.Authorization/roleAssignments", id: route.scope, name: route["assignment"])
            return try AzureJSON.response(RoleAssignmentResource(assignment))
        case .listDeployments: return try await listDeployments(group: group)
        case .getDeployment: return try await getDeployment(id: route.scope, name: route["deployment"])
        case .putDeployment: return try await putDeployment(group: group, name: route["deployment"])
        case .deleteDeployment: return try await deleteDeployment(id: route.scope, name: route["deployment"])
        case .validateDeployment: return try await validateDeployment(group: group, name: route["deployment"])
        case .getDeploymentStatus: return try await deploymentStatus(id: deploymentID(group, route["deployment"]), operation: route["operation"])
        case .listDeploymentOperations: return try await listDeploymentOperations(id: route.scope)
        case .getDeploymentOperation: return try await deploymentOperation(id: route.scope, operation: route["operation"])
        }
    }

    /// The resource providers, acting with this caller's rights for the checks they make themselves.
    var providers: ResourceProviders { ResourceProviders(plane: api.services, authorizeLinked: authorizeLinked) }

    private func put(_ type: String, id: String, name: String, body: JSONValue) async throws -> Response {
        let (state, created) = try await providers.put(type: type, id: id, name: name, body: body, apiVersion: apiVersion)
        return jsonResponse(state, status: created ? .created : .ok)
    }

    private func delete(_ type: String, id: String, name: String) async throws -> Response {
        AzureJSON.empty(try await providers.delete(type: type, id: id, name: name) ? .ok : .noContent)
    }

    private func listResources(under scope: String) async throws -> Response {
        let resources = try await ResourceListing(documents: api.documents).list(under: scope, filter: formQueryValue(of: request, "$filter"))
        return jsonResponse(.object(JSONObject([("value", .array(resources))])))
    }

    // MARK: authorization

    /// The request's caller, with the one authorization check the REST handlers and the deployment runner share.
    var caller: Caller { Caller(claims: claims, directory: api.directory) }

    /// The one authorization check: the caller's roles at `scope` (or above) must allow `action`.
    func authorize(_ action: AzureAction, scope: String) async throws { try await caller.authorize(action, scope: scope) }

    func authorizationFailed(_ action: String, scope: String) -> AzureErrorResponse { caller.authorizationFailed(action, scope: scope) }

    /// A right a request needs beyond its own action, on another scope: `…/userAssignedIdentities/*/assign/action` on
    /// the identity a resource is given (a resource given an identity acts as it: Owner, Contributor, Managed Identity
    /// Operator), `roleAssignments/write` to switch a vault's permission model.
    func authorizeLinked(_ action: AzureAction, _ scope: String) async throws { try await caller.authorizeLinked(action, scope) }

    // MARK: ids

    func groupID(_ name: String) -> String { "/subscriptions/\(api.subscriptionID)/resourceGroups/\(name)" }
    func vaultID(_ group: String, _ name: String) -> String { "\(groupID(group))/providers/Microsoft.KeyVault/vaults/\(name)" }
    func registryID(_ group: String, _ name: String) -> String { "\(groupID(group))/providers/Microsoft.ContainerRegistry/registries/\(name)" }
    func identityID(_ group: String, _ name: String) -> String { "\(groupID(group))/providers/Microsoft.ManagedIdentity/userAssignedIdentities/\(name)" }
    func deploymentID(_ group: String, _ name: String) -> String { "\(groupID(group))/providers/Microsoft.Resources/deployments/\(name)" }

    // MARK: subscriptions and groups

    private func subscription() -> [String: String] {
        ["id": "/subscriptions/\(api.subscriptionID)", "subscriptionId": api.subscriptionID, "tenantId": api.tenantID,
         "displayName": "Coffer subscription", "state": "Enabled"]
    }

    /// The gate of every path under a group. A caller with no role at, above or below the group learns nothing of it
    /// (403 whether it exists or not); a missing group is a 404 only to callers the operation is allowed to (authorization
    /// before existence); a group being deleted takes no writes but its own deletion.
    private func requireGroup(_ name: String, for operation: ARMOperation, scope: String) async throws {
        let id = groupID(name)
        guard try await api.directory.hasRole(of: claims.oid, near: id) else { throw authorizationFailed(operation.action.name, scope: scope) }
        guard let document = try await api.documents.document(id: id) else {
            // PUT creates the group; HEAD answers 404 without a body.
            if operation == .putGroup || operation == .headGroup { return }
            try await authorize(operation.action, scope: scope)
            throw AzureErrorResponse(.notFound, code: "ResourceGroupNotFound", message: "Resource group '\(name.prefix(100))' could not be found.")
        }
        if request.method != .get, request.method != .head, operation != .deleteGroup, Self.isBeingDeleted(document) {
            try await authorize(operation.action, scope: scope)  // the group's state is for those who may act there
            throw AzureErrorResponse(.conflict, code: "ResourceGroupBeingDeleted", message: "The resource group '\(name.prefix(100))' is being deleted.")
        }
    }

    static func isBeingDeleted(_ group: StoredDocument) -> Bool { ControlPlaneServices.isBeingDeleted(group) }

    private func getGroup(_ name: String) async throws -> Response {
        guard let document = try await api.documents.document(id: groupID(name)) else {
            if request.method == .head { return AzureJSON.empty(.notFound) }
            throw AzureErrorResponse(.notFound, code: "ResourceGroupNotFound", message: "Resource group '\(name.prefix(100))' could not be found.")
        }
        return request.method == .head ? AzureJSON.empty(.noContent) : jsonResponse(try JSONText.parse(document.body))
    }

    private func putGroup(_ name: String) async throws -> Response {
        let id = groupID(name)
        struct Body: Decodable { let location: String?; let tags: [String: String]? }
        let body = try await AzureJSON.decode(Body.self, from: request, code: "InvalidRequestContent")
        guard let location = body.location, !location.isEmpty else {
            throw AzureErrorResponse(.badRequest, code: "LocationRequired", message: "The location property is required for this definition.")
        }
        try Self.validateGroupName(name)
        let existing = try await api.documents.document(id: id)
        let group = ResourceGroup(id: existing.flatMap { try? JSONDecoder().decode(ResourceGroup.self, from: Data($0.body.utf8)).id } ?? id,
                                  name: name, type: "Microsoft.Resources/resourceGroups", location: location, tags: body.tags ?? [:],
                                  properties: ["provisioningState": "Succeeded"])
        let encoded = String(decoding: try JSONEncoder().encode(group), as: UTF8.self)
        try await api.documents.putDocument(StoredDocument(id: id, type: ResourceManagerAPI.groupType, name: name, body: encoded))
        return jsonResponse(try JSONText.parse(encoded), status: existing == nil ? .created : .ok)
    }

    /// A long-running operation, as in Azure: the group is marked `Deleting` (it takes no more writes), its contents
    /// go in the background (``GroupDeletion``), and the answer is `202` with a `Location` to poll.
    private func deleteGroup(_ name: String) async throws -> Response {
        let id = groupID(name)
        guard try await api.documents.document(id: id) != nil else { return AzureJSON.empty(.noContent) }
        let operation = try await api.groupDeletion.start(groupID: id, name: name, startedBy: claims.oid)
        let location = "\(api.baseURL(of: request))/subscriptions/\(api.subscriptionID)/operationresults/\(operation)?api-version=\(apiVersion)"
        return AzureJSON.empty(.accepted, headers: [.location: location, .retryAfter: "1"])
    }

    /// `GET /subscriptions/{id}/operationresults/{operation}`: `202` while the deletion runs, `200` once it is done.
    /// Readable by the principal that started it (whose roles may have gone with the group) or a reader of the subscription.
    private func groupDeletionStatus(_ operation: String) async throws -> Response {
        guard let status = try await api.groupDeletion.status(operation: operation) else {
            try await authorize(ARMOperation.getGroupDeletion.action, scope: "/subscriptions/\(api.subscriptionID)")
            throw AzureErrorResponse(.notFound, code: "NotFound", message: "The operation '\(operation.prefix(100))' could not be found.")
        }
        if status.startedBy != claims.oid {
            try await authorize(ARMOperation.getGroupDeletion.action, scope: "/subscriptions/\(api.subscriptionID)")
        }
        switch status.state {
        case .running: return AzureJSON.empty(.accepted, headers: [.location: api.baseURL(of: request) + request.uri.description, .retryAfter: "1"])
        case .succeeded: return AzureJSON.empty(.ok)
        case .failed(let message): throw AzureErrorResponse(.internalServerError, code: "ResourceGroupDeletionFailed", message: message)
        }
    }

    var apiVersion: String { request.uri.queryParameters.get("api-version").map { String($0) } ?? "2021-04-01" }

    static func validateGroupName(_ name: String) throws {
        let allowed = name.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil || "-_.()".unicodeScalars.contains($0) }
        guard (1...90).contains(name.count), allowed, !name.hasSuffix(".") else {
            throw AzureErrorResponse(.badRequest, code: "InvalidResourceGroupName",
                                     message: "Resource group names are 1-90 letters, digits, '-', '_', '.', '(' and ')', not ending in '.'.")
        }
    }

    // MARK: vaults

    private func patchVault(id: String, name: String, group: String) async throws -> Response {
        guard var existing = try await api.vaults.vault(id: id) else { throw vaultNotFound(name, group: group) }
        let patch = try await AzureJSON.decode(VaultPatch.self, from: request, code: "InvalidRequestContent")
        existing.properties.merge(patch.properties)
        if let tags = patch.tags { existing.tags = tags }
        let (state, _) = try await providers.put(type: "Microsoft.KeyVault/vaults", id: id, name: name, body: try ResourceProviders.encode(existing))
        return jsonResponse(state)
    }

    private func vaultNotFound(_ name: String, group: String) -> AzureErrorResponse {
        AzureErrorResponse(.notFound, code: "ResourceNotFound",
                           message: "The Resource 'Microsoft.KeyVault/vaults/\(name.prefix(100))' under resource group '\(group.prefix(100))' was not found.")
    }

    // MARK: container registries

    private func putRegistry(id: String, name: String, group: String) async throws -> Response {
        var body = try await Self.jsonBody(request)
        if request.method == .patch {
            guard let existing = try await api.registries.get(id: id) else { throw registryNotFound(name, group: group) }
            if case .object(var merged) = body, merged["location"] == nil {
                merged["location"] = .string(existing.location)
                body = .object(merged)
            }
        }
        return try await put(Registries.type, id: id, name: name, body: body)
    }

    private func registryNotFound(_ name: String, group: String) -> AzureErrorResponse {
        AzureErrorResponse(.notFound, code: "ResourceNotFound",
                           message: "The Resource 'Microsoft.ContainerRegistry/registries/\(name.prefix(100))' under resource group '\(group.prefix(100))' was not found.")
    }

    /// The request's body, read as Azure Resource Manager reads JSON (see ``JSONText/Syntax/lenient``).
    static func jsonBody(_ request: Request) async throws -> JSONValue {
        var request = request
        let buffer = try await request.collectBody(upTo: 1 << 20)
        do {
            return try JSONText.parse(String(buffer: buffer), syntax: .lenient)
        } catch {
            throw AzureErrorResponse(.badRequest, code: "InvalidRequestContent", message: "The request content was invalid and could not be deserialized: \(error.description).")
        }
    }

    // MARK: user-assigned identities

    static let identityType = ControlPlaneServices.identityType

    private func listIdentities(under scope: String) async throws -> Response {
        var identities: [IdentityResource] = []
        for document in try await api.documents.documents(under: scope.lowercased() + "/", type: Self.identityType) {
            identities.append(try await present(identity: document))
        }
        return try AzureJSON.response(IdentityList(value: identities))
    }

    private func identityNotFound(_ name: String, group: String) -> AzureErrorResponse {
        AzureErrorResponse(.notFound, code: "ResourceNotFound",
                           message: "The Resource 'Microsoft.ManagedIdentity/userAssignedIdentities/\(name.prefix(100))' under resource group '\(group.prefix(100))' was not found.")
    }

    /// `POST …/userAssignedIdentities/{name}/listWorkloadEnvironment` (Coffer's own action): what a workload sets to act
    /// as this identity, `IDENTITY_ENDPOINT` and its `IDENTITY_HEADER`. Handing an identity to a workload is attaching
    /// it, so the operation needs the assign action on it, as attaching it to a registry does.
    /// `regenerate` (`…/regenerateWorkloadEnvironment`) first revokes every header handed out before.
    private func workloadEnvironment(identityID: String, name: String, group: String, regenerate: Bool = false) async throws -> Response {
        guard try await api.documents.document(id: identityID) != nil, var principal = try await api.directory.managedIdentity(resourceID: identityID) else {
            throw identityNotFound(name, group: group)
        }
        if regenerate {
            // It hands out the new header too, which takes what handing one out always takes.
            try await authorize(ARMOperation.listWorkloadEnvironment.action, scope: identityID)
            guard let regenerated = try await api.directory.regenerateWorkloadSecret(of: principal) else { throw identityNotFound(name, group: group) }
            principal = regenerated
        }
        return try AzureJSON.response([
            "IDENTITY_ENDPOINT": api.identityEndpoint, "IDENTITY_HEADER": api.workloadSecrets.header(for: principal), "clientId": principal.appId,
        ], headers: [.cacheControl: "no-store"])
    }

    private func present(identity document: StoredDocument) async throws -> IdentityResource {
        var resource = try JSONDecoder().decode(IdentityResource.self, from: Data(document.body.utf8))
        let principal = try await api.directory.managedIdentity(resourceID: resource.id, displayName: resource.name)
        resource.properties = .init(tenantId: principal.tenantId, principalId: principal.objectId, clientId: principal.appId)
        return resource
    }
}
