import CofferStorage
import Foundation
import Identity
import JMESPath

/// Answers the registry token endpoint for admin users and for principals, from the registry resources,
/// their admin credentials and role assignments (the server plugs it in as the registry API's access provider).
public struct RegistryAccess: Sendable {
    package let documents: any DocumentStore
    package let directory: Directory
    package let tenantID: String
    package let credentials: RegistryAdminCredentials
    package let tokens: RegistryTokens
    /// The registry a service (a login server, `<name>.cr.localhost:8443`) belongs to; nil for the base address,
    /// where repository names start with the registry's name.
    package let registryOfService: @Sendable (String) -> String?
    /// The audiences of this server's resource-manager tokens (its base addresses), which the exchange accepts
    /// besides Azure's management and registry audiences.
    package let resourceManagerAudiences: Set<String>

    package init(documents: any DocumentStore, directory: Directory, tenantID: String, credentials: RegistryAdminCredentials, tokens: RegistryTokens, registryOfService: @escaping @Sendable (String) -> String?, resourceManagerAudiences: Set<String>) {
        self.documents = documents
        self.directory = directory
        self.tenantID = tenantID
        self.credentials = credentials
        self.tokens = tokens
        self.registryOfService = registryOfService
        self.resourceManagerAudiences = resourceManagerAudiences
    }

    /// The registry data plane's actions and the RBAC actions that allow them (AcrPull, AcrPush, AcrDelete; Owner and
    /// Contributor through `*`, Reader through `*/read`).
    package static let dataActions: [(action: String, rbac: AzureAction)] = [
        ("pull", RegistryDataAction.pull), ("push", RegistryDataAction.push), ("delete", RegistryDataAction.delete),
        ("metadata_write", RegistryDataAction.metadataWrite),
    ]

    /// A requested action, or for `*` the actions it stands for that `allowed` holds — never `*` itself, which the
    /// token would then carry and which would open actions added later (`metadata_write`) to whoever held the others.
    static func granted(_ requested: [String], allowed: Set<String>) -> [String] {
        var result: [String] = []
        for action in requested {
            let expanded = action == "*" ? ["pull", "push", "delete", "metadata_read", "metadata_write"].filter(allowed.contains) : [action]
            for action in expanded where allowed.contains(action) && !result.contains(action) { result.append(action) }
        }
        return result
    }

    public func passwordGrants(username: String, password: String, service: String,
                               requested: [AccessGrant]) async -> (subject: String, grants: [AccessGrant])? {
        if let registry = try? await registryResource(named: username), registry.properties.adminUserEnabled == true,
           (try? await credentials.matches(registryID: registry.id, password: password)) == true {
            return (username, grants(service: service, requested: requested) { name in
                name.lowercased() == username.lowercased() ? ["pull", "push", "delete", "metadata_read", "metadata_write"] : []
            })
        }
        return await tokenGrants(username: username, password: password, service: service, requested: requested)
    }

    /// A registry token's grants: its scope map's actions on the requested repositories of its own registry. A token
    /// belongs to one registry, so on the base address it needs the registry named first in the repository.
    private func tokenGrants(username: String, password: String, service: String, requested: [AccessGrant]) async -> (subject: String, grants: [AccessGrant])? {
        let registries = Set(requested.compactMap { registryName(of: $0, service: service) })
        let tokenRegistry = registryOfService(service)?.lowercased() ?? (registries.count == 1 ? registries.first : nil)
        guard let tokenRegistry, let registry = try? await registryResource(named: tokenRegistry),
              let access = try? await tokens.access(registryID: registry.id, tokenName: username, password: password) else { return nil }
        let (password, actions) = access
        let granted: [AccessGrant] = requested.compactMap { scope in
            guard scope.type == "repository", registryName(of: scope, service: service) == tokenRegistry else { return nil }
            let repository = registryOfService(service) == nil ? String(scope.name.drop { $0 != "/" }.dropFirst()) : scope.name
            let allowed = Set(actions.filter { Self.pattern($0.repository, matches: repository) }.map(\.action))
            let actions = Self.granted(scope.actions, allowed: allowed)
            return actions.isEmpty ? nil : AccessGrant(type: "repository", name: scope.name, actions: actions)
        }
        // The catalog names every repository: only a token that may read metadata of all of them lists it, and only at
        // its registry's login server (the base address's catalog lists every registry).
        let catalog = registryOfService(service) != nil && requested.contains { $0.type == "registry" && $0.name == "catalog" }
            && actions.contains { $0.repository == "*" && $0.action == "metadata_read" }
        return (Self.tokenSubject(registry: tokenRegistry, token: username, password: password),
                granted + (catalog ? [AccessGrant(type: "registry", name: "catalog", actions: ["*"])] : []))
    }

    public func isActive(subject: String) async -> Bool {
        guard subject.hasPrefix(Self.tokenSubjectPrefix) else { return true }
        let parts = subject.dropFirst(Self.tokenSubjectPrefix.count).split(separator: "/", maxSplits: 2).map(String.init)
        guard parts.count == 3, let registry = try? await registryResource(named: parts[0]) else { return false }
        return (try? await tokens.isValid(registryID: registry.id, tokenName: parts[1], password: parts[2])) == true
    }

    package static let tokenSubjectPrefix = "token:"

    /// `token:<registry>/<token>/<password>@<its creation time>`: what an access token of a registry token stands for.
    package static func tokenSubject(registry: String, token: String, password: String) -> String {
        "\(tokenSubjectPrefix)\(registry)/\(token.lowercased())/\(password)"
    }

    /// A scope map's repository pattern: a name, or a prefix ending in `*`.
    package static func pattern(_ pattern: String, matches repository: String) -> Bool {
        pattern.hasSuffix("*") ? repository.hasPrefix(pattern.dropLast()) : pattern == repository
    }

    /// Audiences come from configuration only: a token for any other service (a vault, say) is refused whatever
    /// host the request names.
    public func principal(fromAccessToken token: String) async -> String? {
        let audiences = resourceManagerAudiences.union(["https://management.azure.com", "https://management.core.windows.net",
                                                        "https://containerregistry.azure.net"])
        return try? directory.verify(token, tenantID: tenantID, audiences: audiences).oid
    }

    public func grants(principalID: String, service: String, requested: [AccessGrant]) async -> [AccessGrant] {
        var allowedByRegistry: [String: Set<String>] = [:]
        for name in Set(requested.compactMap { registryName(of: $0, service: service) }) {
            guard let registry = try? await registryResource(named: name),
                  let permitted = try? await directory.permitted(principalID, among: Self.dataActions.map(\.rbac), at: registry.id) else { continue }
            var actions = Set(Self.dataActions.filter { permitted.contains($0.rbac) }.map(\.action))
            // Who may pull may read the metadata ACR's API shows (AcrPull's `…/repositories/metadata/read`).
            if actions.contains("pull") { actions.insert("metadata_read") }
            allowedByRegistry[name] = actions
        }
        return grants(service: service, requested: requested) { allowedByRegistry[$0] ?? [] }
    }

    /// The requested scopes narrowed to what `allowed(registry)` permits; the catalog of a login server
    /// to anyone who may pull from that registry.
    private func grants(service: String, requested: [AccessGrant], allowed: (String) -> Set<String>) -> [AccessGrant] {
        requested.compactMap { scope in
            guard let registry = registryName(of: scope, service: service) else { return nil }
            switch scope.type {
            case "repository":
                let actions = Self.granted(scope.actions, allowed: allowed(registry))
                return actions.isEmpty ? nil : AccessGrant(type: "repository", name: scope.name, actions: actions)
            case "registry" where scope.name == "catalog" && allowed(registry).contains("pull"):
                return AccessGrant(type: "registry", name: "catalog", actions: ["*"])
            default:
                return nil
            }
        }
    }

    /// Which registry a scope is about: the login server's, or the first part of a repository name on the base address.
    private func registryName(of scope: AccessGrant, service: String) -> String? {
        if let registry = registryOfService(service) { return registry.lowercased() }
        guard scope.type == "repository", let first = scope.name.split(separator: "/").first, scope.name.contains("/") else { return nil }
        return first.lowercased()
    }

    private func registryResource(named name: String) async throws -> RegistryResource? {
        try await documents.documents(type: Registries.type, name: name.lowercased()).first.map { try RegistryResource.stored($0.body) }
    }
}
