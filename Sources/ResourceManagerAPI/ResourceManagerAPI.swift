import ControlPlane
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
    let registryTokens: RegistryTokens

    static let groupType = ControlPlaneServices.groupType

    /// - Parameter featureApprovalSeconds: how long a preview-feature registration stays `Registering`.
    /// Answers the registry token endpoint for admin users and principals.
    public let registryAccess: RegistryAccess
    /// Registries' firewalls, for the data plane.
    public let registryNetworkRules: RegistryNetworkRules
    /// The managed-identity endpoint's per-identity headers, handed out by `listWorkloadEnvironment`.
    let workloadSecrets: WorkloadIdentitySecrets
    let identityEndpoint: String
    /// Where tokens are issued (`https://localhost:8443`), named in the 401 challenge: configured, never the Host.
    let identityBase: String
    /// Deployments and group deletions in the background; the server runs it in its service group.
    public let jobs = ControlPlaneJobs()
    /// Names this process in the records of the deployments it runs (only it may fail them as interrupted).
    let nodeID: String
    /// The control plane's operations, which the REST handlers and the deployment runner share.
    /// Built once: every request and deployment reaches the providers through it.
    let services: ControlPlaneServices
    var groupDeletion: GroupDeletion { GroupDeletion(plane: services) }

    /// Makes the registry that exists from the first start a resource (in the resource group `coffer`); see
    /// ``Registries/adoptBootstrapRegistry(name:subscriptionID:location:)``.
    @discardableResult
    public func adoptBootstrapRegistry(_ name: String) async throws -> Bool {
        try await services.registries.adoptBootstrapRegistry(name: name, subscriptionID: subscriptionID)
    }

    /// The base URL a `Location` or `Azure-AsyncOperation` header names: the request's own when it is one of this
    /// server's configured addresses, else the advertised one — never a Host the operator did not configure, which a
    /// client following the header would send its token to.
    func baseURL(of request: Request) -> String {
        let requested = "https://" + (request.head.authority ?? "").lowercased()
        return registryAccess.resourceManagerAudiences.contains(requested) ? requested : identityBase
    }

    /// - Parameter secrets: seals what must be given back later (registry admin passwords).
    /// - Parameter registryOfService: the registry a login server (token `service`) belongs to.
    /// - Parameter resourceManagerAudiences: this server's base addresses (the audiences of its ARM tokens).
    public init(directory: Directory, vaults: VaultService, registry: RegistryService, documents: any DocumentStore, tenantID: String,
                subscriptionID: String, featureApprovalSeconds: Int64 = 5, registryKeyWrapperID: String, requirePreviewRegistration: Bool = true,
                secrets: SecretBox, vaultURI: @escaping @Sendable (String) -> String, loginServer: @escaping @Sendable (String) -> String,
                registryOfService: @escaping @Sendable (String) -> String?, resourceManagerAudiences: Set<String>,
                workloadSecrets: WorkloadIdentitySecrets, identityBase: String, identityEndpoint: String, nodeID: String = "local") {
        self.nodeID = nodeID
        self.workloadSecrets = workloadSecrets
        self.identityEndpoint = identityEndpoint
        self.identityBase = identityBase
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
        let registryTokens = RegistryTokens(documents: documents, registries: registries)
        self.registryTokens = registryTokens
        self.registryAccess = RegistryAccess(documents: documents, directory: directory, tenantID: tenantID, credentials: adminCredentials,
                                             tokens: registryTokens, registryOfService: registryOfService,
                                             resourceManagerAudiences: resourceManagerAudiences)
        self.replications = RegistryReplications(documents: documents, registries: registries)
        self.services = ControlPlaneServices(directory: directory, vaults: vaults, documents: documents, tenantID: tenantID,
                                             subscriptionID: subscriptionID, vaultURI: vaultURI, registries: registries,
                                             replications: replications, registryTokens: registryTokens, jobs: jobs)
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
        guard let token = bearerToken(of: request) else {
            throw AzureErrorResponse(.unauthorized, code: "AuthenticationFailed", message: "Authentication failed. The 'Authorization' header is missing.",
                                     headers: [.wwwAuthenticate: "Bearer authorization_uri=\"\(identityBase)/\(tenantID)\", error=\"invalid_token\""])
        }
        return try authenticate(token)
    }

    /// The action the metrics endpoint needs at the subscription (Reader, Contributor, Owner have it).
    public static let metricsAction = AzureAction.control("Microsoft.Insights/metrics/read")

    /// Refuses a caller the subscription's metrics are not open to.
    public func requireMetricsReader(_ claims: AccessTokenClaims) async throws {
        let scope = "/subscriptions/\(subscriptionID)"
        guard try await directory.permits(claims.oid, Self.metricsAction, at: scope) else {
            throw AzureErrorResponse(.forbidden, code: "AuthorizationFailed",
                                     message: "The client '\(claims.appid)' with object id '\(claims.oid)' does not have authorization to perform action '\(Self.metricsAction.name)' over scope '\(scope)'.")
        }
    }

    /// Finishes group deletions a stopped process left under way (run at start).
    public func resumeGroupDeletions() async throws {
        try await groupDeletion.resumeInterrupted()
    }

    /// Verifies an ARM token: this tenant, and an audience of this resource manager. The audiences are configured,
    /// never taken from the request's Host (which the caller chooses).
    private func authenticate(_ token: String) throws -> AccessTokenClaims {
        let audiences = registryAccess.resourceManagerAudiences.union(["https://management.azure.com", "https://management.core.windows.net"])
        let outcome = Result { () throws(TokenError) -> AccessTokenClaims in
            try directory.verify(token, tenantID: tenantID, audiences: audiences)
        }
        switch outcome {
        case .success(let claims): return claims
        case .failure(let error):
            throw AzureErrorResponse(.unauthorized, code: "InvalidAuthenticationToken", message: "The access token is invalid: \(error.message).",
                                     headers: [.wwwAuthenticate: "Bearer authorization_uri=\"\(identityBase)/\(tenantID)\", error=\"invalid_token\""])
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

struct IdentityList: Encodable {
    let value: [IdentityResource]
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

/// Makes a stored JSON document a response.
func jsonResponse(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
    var fields = headers
    fields[.contentType] = "application/json; charset=utf-8"
    fields[.msRequestID] = UUID().uuidString.lowercased()
    return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: JSONText.serialize(value))))
}
