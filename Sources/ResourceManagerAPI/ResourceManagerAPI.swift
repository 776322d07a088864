import AzureHTTP
import CofferStorage
import Envelope
import Foundation
import HTTPTypes
import Hummingbird
import Identity
import JMESPath
import KeyVault
import RegistryService

/// The part of the Azure Resource Manager REST API the vault and identity services need:
/// subscriptions, resource groups, `Microsoft.KeyVault/vaults` and their access policies.
/// Paths are case-insensitive and a leading `//` is tolerated, as ARM does.
public struct ResourceManagerAPI: Sendable {
    let directory: Directory
    let vaults: VaultService
    let documents: any DocumentStore
    let tenantID: String
    let subscriptionID: String
    /// The URI of a vault by name (`https://<name>.vault.localhost:8443/`).
    let vaultURI: @Sendable (String) -> String
    let features: FeatureRegistrations
    let registries: Registries
    let replications: RegistryReplications

    static let groupType = "microsoft.resources/resourcegroups"

    /// - Parameter featureApprovalSeconds: how long a preview-feature registration stays `Registering`.
    /// Answers the registry token endpoint for admin users and principals.
    public let registryAccess: RegistryAccess
    /// Registries' firewalls, for the data plane.
    public let registryNetworkRules: RegistryNetworkRules
    /// The managed-identity endpoint's per-identity headers, handed out by `listWorkloadEnvironment`.
    let workloadSecrets: WorkloadIdentitySecrets
    let identityEndpoint: String

    /// - Parameter secrets: seals what must be given back later (registry admin passwords).
    /// - Parameter registryOfService: the registry a login server (token `service`) belongs to.
    /// - Parameter resourceManagerAudiences: this server's base addresses (the audiences of its ARM tokens).
    public init(directory: Directory, vaults: VaultService, registry: RegistryService, documents: any DocumentStore, tenantID: String,
                subscriptionID: String, featureApprovalSeconds: Int64 = 5, registryKeyWrapperID: String, requirePreviewRegistration: Bool = true,
                secrets: SecretBox, vaultURI: @escaping @Sendable (String) -> String, loginServer: @escaping @Sendable (String) -> String,
                registryOfService: @escaping @Sendable (String) -> String?, resourceManagerAudiences: Set<String>,
                workloadSecrets: WorkloadIdentitySecrets, identityEndpoint: String) {
        self.workloadSecrets = workloadSecrets
        self.identityEndpoint = identityEndpoint
        self.directory = directory
        self.vaults = vaults
        self.documents = documents
        self.tenantID = tenantID
        self.subscriptionID = subscriptionID
        self.vaultURI = vaultURI
        self.features = FeatureRegistrations(documents: documents, subscriptionID: subscriptionID, approvalDelay: featureApprovalSeconds)
        let adminCredentials = RegistryAdminCredentials(documents: documents, secrets: secrets)
        let networkRules = RegistryNetworkRules(documents: documents)
        self.registryNetworkRules = networkRules
        self.registries = Registries(documents: documents, directory: directory, registry: registry, vaults: vaults, features: features,
                                     adminCredentials: adminCredentials, networkRules: networkRules, tenantID: tenantID, loginServer: loginServer,
                                     keyWrapperID: registryKeyWrapperID, requirePreviewRegistration: requirePreviewRegistration)
        self.registryAccess = RegistryAccess(documents: documents, directory: directory, tenantID: tenantID, credentials: adminCredentials,
                                             registryOfService: registryOfService, resourceManagerAudiences: resourceManagerAudiences)
        self.replications = RegistryReplications(documents: documents, registries: registries)
    }

    /// Registries with versionless customer-managed keys follow their key's newest version (run periodically).
    @discardableResult
    public func followLatestKeyVersions() async throws -> [String] {
        try await registries.followLatestKeyVersions()
    }

    /// Registries with an enabled retention policy lose their untagged manifests older than its days (run
    /// periodically). A registry that fails (its key unavailable, say) is logged and skipped; the others go on.
    public func applyRetentionPolicies(now: Int64 = Int64(Date().timeIntervalSince1970)) async {
        await registries.applyRetentionPolicies(now: now)
    }

    public func handles(path: String) -> Bool {
        path.lowercased().drop { $0 == "/" }.hasPrefix("subscriptions")
    }

    public func respond(to request: Request, context: some RequestContext) async throws -> Response {
        let claims = try authenticate(request)
        guard request.uri.queryParameters.get("api-version") != nil else {
            throw AzureErrorResponse(.badRequest, code: "MissingApiVersionParameter", message: "The api-version query parameter (?api-version=) is required for all requests.")
        }
        let path = request.uri.path.split(separator: "/").map(String.init)
        let exchange = ARMExchange(api: self, request: request, claims: claims, path: path)
        do {
            return try await exchange.dispatch()
        } catch let error as KeyVaultError {
            throw Self.wire(error)
        }
    }

    /// The caller of a request that carries an ARM token, or Azure's 401.
    public func authenticate(_ request: Request) throws -> AccessTokenClaims {
        let base = baseURL(of: request)
        guard let token = bearerToken(of: request) else {
            throw AzureErrorResponse(.unauthorized, code: "AuthenticationFailed", message: "Authentication failed. The 'Authorization' header is missing.",
                                     headers: [.wwwAuthenticate: "Bearer authorization_uri=\"\(base)/\(tenantID)\", error=\"invalid_token\""])
        }
        return try authenticate(token, base: base)
    }

    /// Refuses a caller without at least Reader on the subscription (monitoring endpoints).
    public func requireSubscriptionReader(_ claims: AccessTokenClaims) async throws {
        let scope = "/subscriptions/\(subscriptionID)"
        guard !(try await directory.roles(of: claims.oid, at: scope)).isDisjoint(with: [.owner, .contributor, .reader]) else {
            throw AzureErrorResponse(.forbidden, code: "AuthorizationFailed",
                                     message: "The client '\(claims.appid)' with object id '\(claims.oid)' does not have authorization to perform action 'read' over scope '\(scope)'.")
        }
    }

    /// Verifies an ARM token: this tenant, and an audience of this resource manager. The audiences are configured,
    /// never taken from the request's Host (which the caller chooses).
    private func authenticate(_ token: String, base: String) throws -> AccessTokenClaims {
        let audiences = registryAccess.resourceManagerAudiences.union(["https://management.azure.com", "https://management.core.windows.net"])
        let outcome = Result { () throws(TokenError) -> AccessTokenClaims in
            try directory.verify(token, tenantID: tenantID, audiences: audiences)
        }
        switch outcome {
        case .success(let claims): return claims
        case .failure(let error):
            throw AzureErrorResponse(.unauthorized, code: "InvalidAuthenticationToken", message: "The access token is invalid: \(error.message).",
                                     headers: [.wwwAuthenticate: "Bearer authorization_uri=\"\(base)/\(tenantID)\", error=\"invalid_token\""])
        }
    }

    static func wire(_ error: KeyVaultError) -> AzureErrorResponse {
        switch error.code {
        case .vaultNotFound, .keyNotFound: AzureErrorResponse(.notFound, code: "ResourceNotFound", message: error.message)
        case .vaultNameTaken: AzureErrorResponse(.conflict, code: "VaultAlreadyExists", message: error.message)
        case .conflict: AzureErrorResponse(.conflict, code: "Conflict", message: error.message)
        case .forbidden: AzureErrorResponse(.forbidden, code: "AuthorizationFailed", message: error.message)
        default: AzureErrorResponse(.badRequest, code: "BadRequest", message: error.message)
        }
    }
}

/// One resource manager request.
struct ARMExchange {
    let api: ResourceManagerAPI
    let request: Request
    let claims: AccessTokenClaims
    /// Path components as sent (case kept for names), without empty ones.
    let path: [String]

    private var lower: [String] { path.map { $0.lowercased() } }

    func dispatch() async throws -> Response {
        let lower = self.lower
        if let index = lower.indices.dropLast(2).first(where: {
            lower[$0] == "providers" && lower[$0 + 1] == "microsoft.authorization" && lower[$0 + 2] == "roleassignments"
        }) {
            guard lower.count > 1, lower[1] == api.subscriptionID else {
                throw AzureErrorResponse(.notFound, code: "SubscriptionNotFound", message: "The subscription could not be found.")
            }
            let scope = "/" + path[..<index].joined(separator: "/")
            return try await roleAssignmentRequest(scope: scope, rest: Array(path[(index + 3)...]))
        }
        switch (request.method, lower.count) {
        case (.get, 1) where lower == ["subscriptions"]:
            try await authorize(scope: "/subscriptions/\(api.subscriptionID)", write: false)
            return try AzureJSON.response(["value": [try subscription()]])
        case (_, 2...) where lower[1] != api.subscriptionID:
            throw AzureErrorResponse(.notFound, code: "SubscriptionNotFound", message: "The subscription '\(path[1])' could not be found.")
        case (.get, 2):
            try await authorize(scope: "/subscriptions/\(api.subscriptionID)", write: false)
            return try AzureJSON.response(try subscription())
        case (.get, 3) where lower[2] == "resources":
            let scope = "/subscriptions/\(api.subscriptionID)"
            try await authorize(scope: scope, write: false)
            return try await listResources(under: scope)
        case (.get, 5) where lower[2] == "resourcegroups" && lower[4] == "resources":
            try await requireGroup(path[3])
            try await authorize(scope: groupID(path[3]), write: false)
            return try await listResources(under: groupID(path[3]))
        case (_, 3) where lower[2] == "resourcegroups" && request.method == .get:
            try await authorize(scope: "/subscriptions/\(api.subscriptionID)", write: false)
            let groups = try await api.documents.documents(under: "/subscriptions/\(api.subscriptionID)/resourcegroups/", type: ResourceManagerAPI.groupType)
            return try AzureJSON.response(GroupList(value: groups.compactMap { try? JSONDecoder().decode(ResourceGroup.self, from: Data($0.body.utf8)) }))
        case (_, 4) where lower[2] == "resourcegroups":
            return try await resourceGroup(name: path[3])
        case (_, 5...) where lower[2] == "providers" && lower[3] == "microsoft.features":
            return try await featureRequest(Array(path.dropFirst(4)))
        case (.get, 5) where lower[2] == "providers" && lower[3] == "microsoft.keyvault" && lower[4] == "deletedvaults":
            try await authorize(scope: "/subscriptions/\(api.subscriptionID)", write: false)
            return try AzureJSON.response(DeletedVaultList(value: try await api.vaults.deletedVaults().map(\.withoutRecoveryData)))
        case (_, 8...) where lower[2] == "providers" && lower[3] == "microsoft.keyvault" && lower[4] == "locations" && lower[6] == "deletedvaults":
            let name = path[7]
            switch (request.method, lower.count) {
            case (.get, 8):
                try await authorize(scope: "/subscriptions/\(api.subscriptionID)", write: false)
                guard let deleted = try await api.vaults.deletedVault(named: name) else {
                    throw AzureErrorResponse(.notFound, code: "ResourceNotFound", message: "The deleted vault \(name) was not found.")
                }
                return try AzureJSON.response(deleted.withoutRecoveryData)
            case (.post, 9) where lower[8] == "purge":
                try await authorize(scope: "/subscriptions/\(api.subscriptionID)", write: true)
                try await api.vaults.purgeDeletedVault(named: name)
                return AzureJSON.empty(.ok)
            default:
                throw AzureErrorResponse(.notFound, code: "NotFound", message: "no deleted-vault operation at \(request.uri.path.prefix(200))")
            }
        case (_, 5) where lower[2] == "providers" && lower[3] == "microsoft.keyvault" && lower[4] == "vaults" && request.method == .get:
            try await authorize(scope: "/subscriptions/\(api.subscriptionID)", write: false)
            return try AzureJSON.response(VaultList(value: try await api.vaults.vaults(under: "/subscriptions/\(api.subscriptionID)")))
        case (.get, 5) where lower[2] == "providers" && lower[3] == "microsoft.containerregistry" && lower[4] == "registries":
            try await authorize(scope: "/subscriptions/\(api.subscriptionID)", write: false)
            return jsonResponse(.object(JSONObject([("value", .array(try await api.registries.listPresented(under: "/subscriptions/\(api.subscriptionID)")))])))
        case (_, 7...) where lower[2] == "resourcegroups" && lower[4] == "providers" && lower[5] == "microsoft.resources"
            && lower[6] == "deployments":
            try await requireGroup(path[3])
            return try await deploymentRequest(group: path[3], rest: Array(path.dropFirst(7)))
        case (.get, 6...) where lower[2] == "resourcegroups" && lower[4] == "deployments":
            // Deployment operations are addressed without the provider segment in the REST API.
            try await requireGroup(path[3])
            return try await deploymentRequest(group: path[3], rest: Array(path.dropFirst(5)))
        case (_, 7...) where lower[2] == "resourcegroups" && lower[4] == "providers" && lower[5] == "microsoft.containerregistry"
            && lower[6] == "registries":
            try await requireGroup(path[3])
            return try await registryRequest(group: path[3], rest: Array(path.dropFirst(7)))
        case (_, 7...) where lower[2] == "resourcegroups" && lower[4] == "providers" && lower[5] == "microsoft.managedidentity"
            && lower[6] == "userassignedidentities":
            try await requireGroup(path[3])
            return try await identityRequest(group: path[3], rest: Array(path.dropFirst(7)))
        case (_, 7...) where lower[2] == "resourcegroups" && lower[4] == "providers" && lower[5] == "microsoft.keyvault" && lower[6] == "vaults":
            try await requireGroup(path[3])
            return try await vaultRequest(group: path[3], rest: Array(path.dropFirst(7)))
        default:
            throw AzureErrorResponse(.notFound, code: "NotFound", message: "no resource manager operation at \(request.method.rawValue) \(request.uri.path.prefix(200))")
        }
    }

    // MARK: features

    /// `…/providers/Microsoft.Features/features`, `…/providers/{ns}/features[/{name}[/register|unregister]]`.
    private func featureRequest(_ rest: [String]) async throws -> Response {
        let scope = "/subscriptions/\(api.subscriptionID)"
        let lowered = rest.map { $0.lowercased() }
        switch (request.method, lowered.count) {
        case (.get, 1) where lowered[0] == "features":
            try await authorize(scope: scope, write: false)
            return try AzureJSON.response(FeatureList(value: try await api.features.list(namespace: nil)))
        case (.get, 3) where lowered[0] == "providers" && lowered[2] == "features":
            try await authorize(scope: scope, write: false)
            return try AzureJSON.response(FeatureList(value: try await api.features.list(namespace: rest[1])))
        case (.get, 4) where lowered[0] == "providers" && lowered[2] == "features":
            try await authorize(scope: scope, write: false)
            return try AzureJSON.response(try await api.features.show(namespace: rest[1], name: rest[3]))
        case (.post, 5) where lowered[0] == "providers" && lowered[2] == "features" && lowered[4] == "register":
            try await authorize(scope: scope, write: true)
            return try AzureJSON.response(try await api.features.register(namespace: rest[1], name: rest[3]))
        case (.post, 5) where lowered[0] == "providers" && lowered[2] == "features" && lowered[4] == "unregister":
            try await authorize(scope: scope, write: true)
            return try AzureJSON.response(try await api.features.unregister(namespace: rest[1], name: rest[3]))
        default:
            throw AzureErrorResponse(.notFound, code: "NotFound", message: "no Microsoft.Features operation at \(request.uri.path.prefix(200))")
        }
    }

    private func listResources(under scope: String) async throws -> Response {
        let resources = try await ResourceListing(documents: api.documents).list(under: scope, filter: formQueryValue(of: request, "$filter"))
        return jsonResponse(.object(JSONObject([("value", .array(resources))])))
    }

    // MARK: authorization

    /// Owner or Contributor may write; Reader may also read.
    func authorize(scope: String, write: Bool) async throws {
        let roles = try await api.directory.roles(of: claims.oid, at: scope)
        let allowed = write ? !roles.isDisjoint(with: [.owner, .contributor]) : !roles.isDisjoint(with: [.owner, .contributor, .reader])
        guard allowed else { throw authorizationFailed(write ? "write" : "read", scope: scope) }
    }

    func authorizationFailed(_ action: String, scope: String) -> AzureErrorResponse {
        AzureErrorResponse(.forbidden, code: "AuthorizationFailed",
                           message: "The client '\(claims.appid)' with object id '\(claims.oid)' does not have authorization to perform action '\(action)' over scope '\(scope)' or the scope is invalid.")
    }

    // MARK: subscriptions and groups

    private func subscription() throws -> [String: String] {
        ["id": "/subscriptions/\(api.subscriptionID)", "subscriptionId": api.subscriptionID, "tenantId": api.tenantID,
         "displayName": "Coffer subscription", "state": "Enabled"]
    }

    func groupID(_ name: String) -> String { "/subscriptions/\(api.subscriptionID)/resourceGroups/\(name)" }

    /// The gate of every path under a group. A caller with no role at, above or below the group learns nothing of it
    /// (403 whether it exists or not, before any route answers 404 or 405); a missing group is a 404 only to callers
    /// who may read where it would be; a group being deleted takes no writes.
    private func requireGroup(_ name: String) async throws {
        let id = groupID(name)
        guard try await api.directory.hasRole(of: claims.oid, near: id) else { throw authorizationFailed("read", scope: id) }
        guard let document = try await api.documents.document(id: id) else {
            try await authorize(scope: id, write: false)
            throw AzureErrorResponse(.notFound, code: "ResourceGroupNotFound", message: "Resource group '\(name)' could not be found.")
        }
        if request.method != .get, request.method != .head, Self.isBeingDeleted(document) {
            throw AzureErrorResponse(.conflict, code: "ResourceGroupBeingDeleted", message: "The resource group '\(name)' is being deleted.")
        }
    }

    static func isBeingDeleted(_ group: StoredDocument) -> Bool {
        (try? JSONDecoder().decode(ResourceGroup.self, from: Data(group.body.utf8)))?.properties["provisioningState"] == "Deleting"
    }

    private func resourceGroup(name: String) async throws -> Response {
        let id = groupID(name)
        switch request.method {
        case .get, .head:
            try await authorize(scope: id, write: false)
            guard let document = try await api.documents.document(id: id) else {
                if request.method == .head { return AzureJSON.empty(.notFound) }
                throw AzureErrorResponse(.notFound, code: "ResourceGroupNotFound", message: "Resource group '\(name)' could not be found.")
            }
            return request.method == .head ? AzureJSON.empty(.noContent) : jsonResponse(try JSONText.parse(document.body))
        case .put:
            try await authorize(scope: id, write: true)
            if let existing = try await api.documents.document(id: id), Self.isBeingDeleted(existing) {
                throw AzureErrorResponse(.conflict, code: "ResourceGroupBeingDeleted", message: "The resource group '\(name)' is being deleted.")
            }
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
        case .delete:
            try await authorize(scope: id, write: true)
            guard let document = try await api.documents.document(id: id) else { return AzureJSON.empty(.noContent) }
            // Marked first, so nothing new is created in it while its contents go (and a retry finishes the job).
            if var group = try? JSONDecoder().decode(ResourceGroup.self, from: Data(document.body.utf8)), !Self.isBeingDeleted(document) {
                try await refuseWhileDeploying(groupID: id)
                group.properties["provisioningState"] = "Deleting"
                try await api.documents.putDocument(StoredDocument(id: id, type: ResourceManagerAPI.groupType, name: name,
                                                                   body: String(decoding: try JSONEncoder().encode(group), as: UTF8.self)))
            }
            try await deleteContents(ofGroup: id)
            // The group goes last: a deletion cut short is finished by the next DELETE.
            _ = try await api.documents.deleteDocument(id: id)
            return AzureJSON.empty(.ok)
        default:
            throw AzureErrorResponse(.methodNotAllowed, code: "MethodNotAllowed", message: "\(request.method.rawValue) is not supported on resource groups")
        }
    }

    /// Everything a group holds goes with it, as in Azure, so that nothing keeps serving and a new group of the same
    /// name inherits nothing: registries (their master keys destroyed, so their data is unreadable; admin passwords
    /// and firewall rules with them), vaults (soft-deleted, recoverable for their retention), user-assigned
    /// identities, role assignments at the group or below, and deployment records. Refused while a deployment runs.
    private func refuseWhileDeploying(groupID: String) async throws {
        for deployment in try await api.documents.documents(under: groupID.lowercased() + "/providers/microsoft.resources/deployments/",
                                                            type: Self.deploymentType) {
            if case .string(let state) = try JSONText.parse(deployment.body)["properties"]["provisioningState"], ["Accepted", "Running"].contains(state) {
                throw AzureErrorResponse(.conflict, code: "DeploymentActive",
                                         message: "The deployment '\(deployment.name)' is still running in this resource group; wait for it to end, then delete the group.")
            }
        }
    }

    private func deleteContents(ofGroup groupID: String) async throws {
        let prefix = groupID.lowercased() + "/"
        for registry in try await api.documents.documents(under: prefix + "providers/microsoft.containerregistry/registries/", type: Registries.type) {
            _ = try await api.registries.delete(id: registry.id, name: registry.name)
        }
        for vault in try await api.vaults.vaults(under: groupID) {
            _ = try await api.vaults.deleteVault(id: vault.id ?? "", subscriptionID: api.subscriptionID)
        }
        for identity in try await api.documents.documents(under: prefix + "providers/microsoft.managedidentity/userassignedidentities/",
                                                           type: Self.identityType) {
            try await api.directory.deleteManagedIdentity(resourceID: identity.id)
            _ = try await api.documents.deleteDocument(id: identity.id)
        }
        for assignment in try await api.directory.roleAssignments() {
            if Directory.scope(assignment.scope, isWithin: groupID) { _ = try await api.directory.deleteRoleAssignment(id: assignment.id) }
        }
        // What remains under the group (deployment records and their operations, replications): records only.
        for document in try await api.documents.documents(under: prefix, type: nil) {
            _ = try await api.documents.deleteDocument(id: document.id)
        }
    }

    static func validateGroupName(_ name: String) throws {
        let allowed = name.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil || "-_.()".unicodeScalars.contains($0) }
        guard (1...90).contains(name.count), allowed, !name.hasSuffix(".") else {
            throw AzureErrorResponse(.badRequest, code: "InvalidResourceGroupName",
                                     message: "Resource group names are 1-90 letters, digits, '-', '_', '.', '(' and ')', not ending in '.'.")
        }
    }

    // MARK: vaults

    private func vaultRequest(group: String, rest: [String]) async throws -> Response {
        let groupScope = groupID(group)
        if rest.isEmpty, request.method == .get {
            try await authorize(scope: groupScope, write: false)
            return try AzureJSON.response(VaultList(value: try await api.vaults.vaults(under: groupScope)))
        }
        guard let name = rest.first else {
            throw AzureErrorResponse(.methodNotAllowed, code: "MethodNotAllowed", message: "\(request.method.rawValue) is not supported on a collection")
        }
        let id = "\(groupScope)/providers/Microsoft.KeyVault/vaults/\(name)"
        switch (request.method, rest.count) {
        case (.get, 1):
            try await authorize(scope: id, write: false)
            guard let vault = try await api.vaults.vault(id: id) else { throw vaultNotFound(name, group: group) }
            return try AzureJSON.response(vault)
        case (.put, 1):
            try await authorize(scope: id, write: true)
            let body = try await AzureJSON.decode(VaultResource.self, from: request, code: "InvalidRequestContent")
            guard body.location?.isEmpty == false else {
                throw AzureErrorResponse(.badRequest, code: "LocationRequired", message: "The location property is required for this definition.")
            }
            let (vault, created) = try await api.vaults.putVault(id: id, name: name, body: body, vaultURI: api.vaultURI(name), tenantID: api.tenantID)
            return try AzureJSON.response(vault, status: created ? .created : .ok)
        case (.patch, 1):
            try await authorize(scope: id, write: true)
            guard var existing = try await api.vaults.vault(id: id) else { throw vaultNotFound(name, group: group) }
            let patch = try await AzureJSON.decode(VaultPatch.self, from: request, code: "InvalidRequestContent")
            existing.properties.merge(patch.properties)
            if let tags = patch.tags { existing.tags = tags }
            let (vault, _) = try await api.vaults.putVault(id: id, name: name, body: existing, vaultURI: api.vaultURI(name), tenantID: api.tenantID)
            return try AzureJSON.response(vault)
        case (.delete, 1):
            try await authorize(scope: id, write: true)
            return AzureJSON.empty(try await api.vaults.deleteVault(id: id, subscriptionID: api.subscriptionID) ? .ok : .noContent)
        case (.put, 3) where rest[1].lowercased() == "accesspolicies":
            try await authorize(scope: id, write: true)
            guard let operation = VaultService.AccessPolicyOperation(rawValue: rest[2].lowercased()) else {
                throw AzureErrorResponse(.badRequest, code: "InvalidRequestContent", message: "access policy operations are add, replace and remove")
            }
            let body = try await AzureJSON.decode(AccessPolicyUpdate.self, from: request, code: "InvalidRequestContent")
            let vault = try await api.vaults.updateAccessPolicies(vaultID: id, operation: operation, entries: body.properties.accessPolicies)
            return try AzureJSON.response(AccessPolicyUpdate(
                id: "\(id)/accessPolicies/\(operation.rawValue)", type: "Microsoft.KeyVault/vaults/accessPolicies",
                properties: .init(accessPolicies: vault.properties.accessPolicies ?? [])
            ))
        default:
            throw AzureErrorResponse(.notFound, code: "NotFound", message: "no vault operation at \(request.method.rawValue) \(request.uri.path.prefix(200))")
        }
    }

    // MARK: container registries

    private func registryRequest(group: String, rest: [String]) async throws -> Response {
        let groupScope = groupID(group)
        if rest.isEmpty, request.method == .get {
            try await authorize(scope: groupScope, write: false)
            return jsonResponse(.object(JSONObject([("value", .array(try await api.registries.listPresented(under: groupScope)))])))
        }
        guard let name = rest.first else {
            throw AzureErrorResponse(.methodNotAllowed, code: "MethodNotAllowed", message: "\(request.method.rawValue) is not supported on a collection")
        }
        let id = "\(groupScope)/providers/Microsoft.ContainerRegistry/registries/\(name)"
        switch (request.method, rest.count) {
        case (.get, 1):
            try await authorize(scope: id, write: false)
            guard let registry = try await api.registries.get(id: id) else {
                throw AzureErrorResponse(.notFound, code: "ResourceNotFound",
                                         message: "The Resource 'Microsoft.ContainerRegistry/registries/\(name)' under resource group '\(group)' was not found.")
            }
            return jsonResponse(await api.registries.presented(registry))
        case (.put, 1), (.patch, 1):
            try await authorize(scope: id, write: true)
            var body = try await Self.jsonBody(request)
            if request.method == .patch {
                guard let existing = try await api.registries.get(id: id) else {
                    throw AzureErrorResponse(.notFound, code: "ResourceNotFound", message: "The registry \(name) was not found.")
                }
                if case .object(var merged) = body, merged["location"] == nil {
                    merged["location"] = existing["location"]
                    body = .object(merged)
                }
            }
            let (registry, created) = try await api.registries.put(id: id, name: name, body: body,
                                                                   authorizeAssignment: authorizeIdentityAssignment)
            return jsonResponse(registry, status: created ? .created : .ok)
        case (.delete, 1):
            try await authorize(scope: id, write: true)
            return AzureJSON.empty(try await api.registries.delete(id: id, name: name) ? .ok : .noContent)
        case (.post, 2) where rest[1].lowercased() == "listcredentials":
            try await authorize(scope: id, write: true)
            return jsonResponse(try await api.registries.listCredentials(id: id))
        case (.post, 2) where rest[1].lowercased() == "regeneratecredential":
            try await authorize(scope: id, write: true)
            guard case .string(let passwordName) = try await Self.jsonBody(request)["name"] else {
                throw AzureErrorResponse(.badRequest, code: "InvalidRequestContent", message: "The body must name the password: {\"name\": \"password\"}.")
            }
            return jsonResponse(try await api.registries.regenerateCredential(id: id, passwordName: passwordName))
        case (_, 2...3) where rest[1].lowercased() == "replications":
            return try await replicationRequest(registryID: id, rest: Array(rest.dropFirst(2)))
        default:
            throw AzureErrorResponse(.notFound, code: "NotFound", message: "no registry operation at \(request.method.rawValue) \(request.uri.path.prefix(200))")
        }
    }

    private func replicationRequest(registryID: String, rest: [String]) async throws -> Response {
        switch (request.method, rest.count) {
        case (.get, 0):
            try await authorize(scope: registryID, write: false)
            return jsonResponse(.object(JSONObject([("value", .array(try await api.replications.list(registryID: registryID)))])))
        case (.get, 1):
            try await authorize(scope: registryID, write: false)
            guard let replication = try await api.replications.get(id: "\(registryID)/replications/\(rest[0])") else {
                throw AzureErrorResponse(.notFound, code: "ResourceNotFound", message: "The replication \(rest[0]) was not found.")
            }
            return jsonResponse(replication)
        case (.put, 1):
            try await authorize(scope: registryID, write: true)
            let (replication, created) = try await api.replications.put(registryID: registryID, name: rest[0], body: try await Self.jsonBody(request))
            return jsonResponse(replication, status: created ? .created : .ok)
        case (.delete, 1):
            try await authorize(scope: registryID, write: true)
            return AzureJSON.empty(try await api.replications.delete(id: "\(registryID)/replications/\(rest[0])") ? .ok : .noContent)
        default:
            throw AzureErrorResponse(.notFound, code: "NotFound", message: "no replication operation at \(request.method.rawValue) \(request.uri.path.prefix(200))")
        }
    }

    static func jsonBody(_ request: Request) async throws -> JSONValue {
        var request = request
        let buffer = try await request.collectBody(upTo: 1 << 20)
        do {
            return try JSONText.parse(String(buffer: buffer))
        } catch {
            throw AzureErrorResponse(.badRequest, code: "InvalidRequestContent", message: "The request content was invalid and could not be deserialized: \(error.description).")
        }
    }

    // MARK: user-assigned identities

    static let identityType = "microsoft.managedidentity/userassignedidentities"

    private func identityRequest(group: String, rest: [String]) async throws -> Response {
        let groupScope = groupID(group)
        if rest.isEmpty, request.method == .get {
            try await authorize(scope: groupScope, write: false)
            var identities: [IdentityResource] = []
            for document in try await api.documents.documents(under: groupScope.lowercased() + "/", type: Self.identityType) {
                identities.append(try await present(identity: document))
            }
            return try AzureJSON.response(IdentityList(value: identities))
        }
        guard rest.count == 1 || (rest.count == 2 && rest[1].lowercased() == "listworkloadenvironment" && request.method == .post) else {
            throw AzureErrorResponse(.notFound, code: "NotFound", message: "no identity operation at \(request.uri.path.prefix(200))")
        }
        guard let name = rest.first else {
            throw AzureErrorResponse(.methodNotAllowed, code: "MethodNotAllowed", message: "\(request.method.rawValue) is not supported on a collection")
        }
        let id = "\(groupScope)/providers/Microsoft.ManagedIdentity/userAssignedIdentities/\(name)"
        if rest.count == 2 { return try await workloadEnvironment(identityID: id, name: name, group: group) }
        switch request.method {
        case .get:
            try await authorize(scope: id, write: false)
            guard let document = try await api.documents.document(id: id) else {
                throw AzureErrorResponse(.notFound, code: "ResourceNotFound",
                                         message: "The Resource 'Microsoft.ManagedIdentity/userAssignedIdentities/\(name)' under resource group '\(group)' was not found.")
            }
            return try AzureJSON.response(try await present(identity: document))
        case .put, .patch:
            try await authorize(scope: id, write: true)
            let existed = try await api.documents.document(id: id) != nil
            let state = try await ResourceDeployer(api: api, authorizeAssignment: authorizeIdentityAssignment).putIdentity(id: id, name: name, body: try await Self.jsonBody(request))
            return jsonResponse(state, status: existed ? .ok : .created)
        case .delete:
            try await authorize(scope: id, write: true)
            guard try await api.documents.document(id: id) != nil else { return AzureJSON.empty(.noContent) }
            // The principal first: a deletion cut short leaves a record that a retry removes, never a live identity.
            try await api.directory.deleteManagedIdentity(resourceID: id)
            _ = try await api.documents.deleteDocument(id: id)
            return AzureJSON.empty(.ok)
        default:
            throw AzureErrorResponse(.methodNotAllowed, code: "MethodNotAllowed", message: "\(request.method.rawValue) is not supported on identities")
        }
    }

    /// `POST …/userAssignedIdentities/{name}/listWorkloadEnvironment` (Coffer's own action): what a workload sets to act
    /// as this identity, `IDENTITY_ENDPOINT` and its `IDENTITY_HEADER`. Handing an identity to a workload is attaching
    /// it, so the caller needs the assign action on it (Owner or Contributor), as for attaching it to a registry.
    private func workloadEnvironment(identityID: String, name: String, group: String) async throws -> Response {
        try await authorizeIdentityAssignment(identityID)
        guard try await api.documents.document(id: identityID) != nil, let principal = try await api.directory.managedIdentity(resourceID: identityID) else {
            throw AzureErrorResponse(.notFound, code: "ResourceNotFound",
                                     message: "The Resource 'Microsoft.ManagedIdentity/userAssignedIdentities/\(name)' under resource group '\(group)' was not found.")
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

    // MARK: role assignments

    private func roleAssignmentRequest(scope: String, rest: [String]) async throws -> Response {
        if rest.isEmpty, request.method == .get {
            try await authorize(scope: scope, write: false)
            let assignments = try await api.directory.roleAssignments().filter { Directory.scope(scope, isWithin: $0.scope) }
            return try AzureJSON.response(RoleAssignmentList(value: assignments.map(RoleAssignmentResource.init)))
        }
        guard rest.count == 1 else {
            throw AzureErrorResponse(.notFound, code: "NotFound", message: "no role assignment operation at \(request.uri.path.prefix(200))")
        }
        let name = rest[0].lowercased()
        let id = "\(scope)/providers/Microsoft.Authorization/roleAssignments/\(name)"
        switch request.method {
        case .get:
            try await authorize(scope: scope, write: false)
            guard let assignment = try await api.directory.roleAssignments().first(where: { $0.id == id.lowercased() }) else {
                throw AzureErrorResponse(.notFound, code: "RoleAssignmentNotFound", message: "The role assignment '\(name)' is not found.")
            }
            return try AzureJSON.response(RoleAssignmentResource(assignment))
        case .put:
            try await authorizeOwner(scope: scope)
            struct Body: Decodable {
                struct Properties: Decodable { let roleDefinitionId: String; let principalId: String }
                let properties: Properties
            }
            let body = try await AzureJSON.decode(Body.self, from: request, code: "InvalidRequestContent")
            guard let role = BuiltInRole(definitionID: body.properties.roleDefinitionId) else {
                throw AzureErrorResponse(.badRequest, code: "RoleDefinitionDoesNotExist",
                                         message: "The specified role definition with ID '\(body.properties.roleDefinitionId.split(separator: "/").last ?? "")' does not exist.")
            }
            guard try await api.directory.principal(objectID: body.properties.principalId) != nil else {
                throw AzureErrorResponse(.badRequest, code: "PrincipalNotFound",
                                         message: "Principal \(body.properties.principalId) does not exist in the directory \(api.tenantID).")
            }
            try await api.directory.assignRole(role, to: body.properties.principalId, scope: scope, name: name)
            guard let assignment = try await api.directory.roleAssignments().first(where: { $0.id == id.lowercased() }) else {
                throw AzureErrorResponse(.conflict, code: "Conflict", message: "The role assignment '\(name)' was deleted while it was being created.")
            }
            return try AzureJSON.response(RoleAssignmentResource(assignment), status: .created)
        case .delete:
            try await authorizeOwner(scope: scope)
            guard let assignment = try await api.directory.roleAssignments().first(where: { $0.id == id.lowercased() }) else {
                return AzureJSON.empty(.noContent)
            }
            _ = try await api.directory.deleteRoleAssignment(id: assignment.id)
            return try AzureJSON.response(RoleAssignmentResource(assignment))
        default:
            throw AzureErrorResponse(.methodNotAllowed, code: "MethodNotAllowed", message: "\(request.method.rawValue) is not supported on role assignments")
        }
    }

    /// `Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action`: a resource given an identity acts as it, so
    /// attaching one needs Owner or Contributor on the identity, whatever the caller may do to the resource itself.
    func authorizeIdentityAssignment(_ identityID: String) async throws {
        guard !(try await api.directory.roles(of: claims.oid, at: identityID)).isDisjoint(with: [.owner, .contributor]) else {
            throw AzureErrorResponse(.forbidden, code: "LinkedAuthorizationFailed",
                                     message: "The client '\(claims.appid)' with object id '\(claims.oid)' does not have permission to perform action "
                                         + "'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' on the linked scope '\(identityID.prefix(300))'.")
        }
    }

    /// Granting access needs Owner (Contributor may not).
    func authorizeOwner(scope: String) async throws {
        guard try await api.directory.roles(of: claims.oid, at: scope).contains(.owner) else {
            throw AzureErrorResponse(.forbidden, code: "AuthorizationFailed",
                                     message: "The client '\(claims.appid)' with object id '\(claims.oid)' does not have authorization to perform action 'Microsoft.Authorization/roleAssignments/write' over scope '\(scope)'.")
        }
    }

    private func vaultNotFound(_ name: String, group: String) -> AzureErrorResponse {
        AzureErrorResponse(.notFound, code: "ResourceNotFound",
                           message: "The Resource 'Microsoft.KeyVault/vaults/\(name)' under resource group '\(group)' was not found.")
    }

}

struct ResourceGroup: Codable {
    let id: String
    let name: String
    let type: String
    let location: String
    let tags: [String: String]
    var properties: [String: String]
}

struct VaultList: Encodable {
    let value: [VaultResource]
}

struct GroupList: Encodable {
    let value: [ResourceGroup]
}

struct VaultPatch: Decodable {
    let tags: [String: String]?
    let properties: VaultProperties?
}

extension VaultProperties {
    /// Applies the properties a PATCH sets.
    mutating func merge(_ patch: VaultProperties?) {
        guard let patch else { return }
        if let value = patch.accessPolicies { accessPolicies = value }
        if let value = patch.enableSoftDelete { enableSoftDelete = value }
        if let value = patch.softDeleteRetentionInDays { softDeleteRetentionInDays = value }
        if let value = patch.enableRbacAuthorization { enableRbacAuthorization = value }
        if let value = patch.enablePurgeProtection { enablePurgeProtection = value }
        if let value = patch.sku { sku = value }
        if let value = patch.publicNetworkAccess { publicNetworkAccess = value }
        if let value = patch.enabledForDeployment { enabledForDeployment = value }
        if let value = patch.enabledForDiskEncryption { enabledForDiskEncryption = value }
        if let value = patch.enabledForTemplateDeployment { enabledForTemplateDeployment = value }
    }
}

struct AccessPolicyUpdate: Codable {
    struct Properties: Codable { let accessPolicies: [AccessPolicyEntry] }
    var id: String?
    var type: String?
    let properties: Properties
}

struct IdentityResource: Codable {
    struct Properties: Codable {
        let tenantId: String
        let principalId: String
        let clientId: String
    }
    let id: String
    let name: String
    let type: String
    let location: String
    let tags: [String: String]
    var properties: Properties?
}

struct IdentityList: Encodable {
    let value: [IdentityResource]
}

struct RoleAssignmentResource: Encodable {
    struct Properties: Encodable {
        let roleDefinitionId: String
        let principalId: String
        let scope: String
        let principalType = "ServicePrincipal"
    }
    let id: String
    let name: String
    let type = "Microsoft.Authorization/roleAssignments"
    let properties: Properties

    init(_ assignment: Directory.RoleAssignment) {
        id = assignment.id
        name = assignment.name
        properties = Properties(roleDefinitionId: assignment.roleDefinitionID, principalId: assignment.principalID, scope: assignment.scope)
    }
}

struct RoleAssignmentList: Encodable {
    let value: [RoleAssignmentResource]
}

struct DeletedVaultList: Encodable {
    let value: [DeletedVaultResource]
}

extension DeletedVaultResource {
    /// The resource as Azure shows it, without the copy kept for recovery.
    var withoutRecoveryData: DeletedVaultResource {
        var copy = self
        copy.vault = nil
        return copy
    }
}
