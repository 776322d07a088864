import AzureErrors
import CofferStorage
import Foundation
import Identity
import JMESPath

/// ACR's repository-scoped credentials: `registries/scopeMaps` (which actions on which repositories) and
/// `registries/tokens` (a name, a scope map, up to two passwords), with `generateCredentials`. The registry's token
/// endpoint takes a token's name and password as it takes the admin user's, and grants what its scope map allows;
/// a disabled or deleted token is refused at once, on its next request, not when its access token expires.
package struct RegistryTokens: Sendable {
    package static let scopeMapType = "microsoft.containerregistry/registries/scopemaps"
    package static let tokenType = "microsoft.containerregistry/registries/tokens"
    /// The scope-map actions, and the registry data-plane action each opens.
    package static let actions: [String: String?] = [
        "content/read": "pull", "content/write": "push", "content/delete": "delete", "metadata/read": "metadata_read", "metadata/write": "metadata_write",
    ]
    /// ACR's system-defined scope maps.
    package static let systemScopeMaps: [(name: String, actions: [String], description: String)] = [
        ("_repositories_admin", ["content/read", "content/write", "content/delete", "metadata/read", "metadata/write"],
         "Can perform all read, write and delete operations on the registry"),
        ("_repositories_pull", ["content/read"], "Can pull any repository of the registry"),
        ("_repositories_pull_metadata_read", ["content/read", "metadata/read"], "Can perform all read operations on the registry"),
        ("_repositories_push", ["content/read", "content/write"], "Can push to any repository of the registry"),
        ("_repositories_push_metadata_write", ["content/read", "content/write", "metadata/read", "metadata/write"],
         "Can perform all read and write operations on the registry"),
    ]

    package let documents: any DocumentStore
    package let registries: Registries

    package init(documents: any DocumentStore, registries: Registries) {
        self.documents = documents
        self.registries = registries
    }

    // MARK: scope maps

    package func listScopeMaps(registryID: String) async throws -> [JSONValue] {
        _ = try await registry(registryID)
        let stored = try await documents.documents(under: registryID.lowercased() + "/scopemaps/", type: Self.scopeMapType)
            .map { try ResourceProviders.encode(try Self.stored(ScopeMapResource.self, $0.body)) }
        return try Self.systemScopeMaps.map { try ResourceProviders.encode(systemScopeMap($0, registryID: registryID)) } + stored
    }

    package func scopeMap(id: String) async throws -> JSONValue? {
        try await storedScopeMap(id: id).map(ResourceProviders.encode)
    }

    private func storedScopeMap(id: String) async throws -> ScopeMapResource? {
        let registryID = Self.parent(of: id, child: "scopeMaps")
        if let system = Self.systemScopeMaps.first(where: { id.lowercased().hasSuffix("/scopemaps/" + $0.name) }) {
            return try await registries.get(id: registryID) == nil ? nil : systemScopeMap(system, registryID: registryID)
        }
        return try await documents.document(id: id.lowercased()).map { try Self.stored(ScopeMapResource.self, $0.body) }
    }

    /// Creates or replaces (PUT) or updates (PATCH: the actions and description given) a user-defined scope map.
    package func putScopeMap(id: String, name: String, body: JSONValue, patch: Bool) async throws -> (JSONValue, Bool) {
        let registryID = Self.parent(of: id, child: "scopeMaps")
        try Self.validateName(name, kind: "scope map")
        guard !name.hasPrefix("_") else {
            throw AzureErrorResponse(.badRequest, code: "InvalidResourceName", message: "Names starting with '_' are reserved for system scope maps.")
        }
        _ = try await registry(registryID)
        let existing = try await storedScopeMap(id: id)
        if patch, existing == nil { throw notFound("scope map", name) }
        let requested = try ResourceProviders.decode(ScopeMapRequest.self, from: body).properties
        let actions = requested?.actions ?? (patch ? existing?.properties.actions ?? [] : [])
        guard !actions.isEmpty, actions.count <= 500 else {
            throw AzureErrorResponse(.badRequest, code: "InvalidScopeMapActions", message: "A scope map needs 1 to 500 actions.")
        }
        for action in actions { _ = try Self.parseAction(action) }
        let resource = ScopeMapResource(id: id, name: name, properties: .init(
            description: requested?.description.map { String($0.prefix(256)) } ?? existing?.properties.description ?? "",
            type: "UserDefined", creationDate: existing?.properties.creationDate ?? Self.now(), actions: actions))
        let stored = try ResourceProviders.encode(resource)
        try await documents.putDocument(StoredDocument(id: id.lowercased(), type: Self.scopeMapType, name: name.lowercased(),
                                                       body: JSONText.serialize(stored)))
        return (stored, existing == nil)
    }

    package func deleteScopeMap(id: String) async throws -> Bool {
        if Self.systemScopeMaps.contains(where: { id.lowercased().hasSuffix("/scopemaps/" + $0.name) }) {
            throw AzureErrorResponse(.badRequest, code: "SystemScopeMapCannotBeDeleted", message: "System scope maps cannot be changed or deleted.")
        }
        return try await documents.deleteDocument(id: id.lowercased())
    }

    private func systemScopeMap(_ map: (name: String, actions: [String], description: String), registryID: String) -> ScopeMapResource {
        ScopeMapResource(id: "\(registryID)/scopeMaps/\(map.name)", name: map.name, properties: .init(
            description: map.description, type: "SystemDefined", creationDate: "2020-01-01T00:00:00Z",
            actions: map.actions.map { "repositories/*/\($0)" }))
    }

    /// `repositories/<repository or prefix*>/<content|metadata>/<read|write|delete>`.
    package static func parseAction(_ action: String) throws -> (repository: String, action: String) {
        let parts = action.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard action.utf8.count <= 300 else { throw invalidAction(action) }
        if parts.first?.lowercased() == "gateway" {
            throw AzureErrorResponse(.badRequest, code: "ConnectedRegistryNotSupported",
                                     message: "Gateway actions are for connected registries, which Coffer does not have.")
        }
        guard parts.count >= 4, parts[0].lowercased() == "repositories" else { throw invalidAction(action) }
        let operation = parts.suffix(2).joined(separator: "/").lowercased()
        let repository = parts.dropFirst().dropLast(2).joined(separator: "/")
        guard actions.keys.contains(operation), Self.isRepositoryPattern(repository) else { throw invalidAction(action) }
        return (repository, operation)
    }

    /// A repository name (lowercase letters, digits, `._-` separators, `/` paths), optionally ending in `*`.
    package static func isRepositoryPattern(_ pattern: String) -> Bool {
        let name = pattern.hasSuffix("*") ? String(pattern.dropLast()) : pattern
        guard pattern.count <= 256, pattern == "*" || !name.isEmpty else { return false }
        return name.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || "._-/".contains($0) }
    }

    package static func invalidAction(_ action: String) -> AzureErrorResponse {
        AzureErrorResponse(.badRequest, code: "InvalidScopeMapActions",
                           message: "'\(action.prefix(300))' is not a scope map action: use repositories/<repository>/<content/read|content/write|content/delete|metadata/read|metadata/write>.")
    }

    // MARK: tokens

    package func listTokens(registryID: String) async throws -> [JSONValue] {
        _ = try await registry(registryID)
        return try await documents.documents(under: registryID.lowercased() + "/tokens/", type: Self.tokenType)
            .map { try Self.presented(try Self.stored(TokenResource.self, $0.body)) }
    }

    package func token(id: String) async throws -> JSONValue? {
        try await storedToken(id: id).map(Self.presented)
    }

    /// Creates or replaces (PUT) or updates (PATCH) a token: its scope map, its status, and which of its passwords
    /// remain (az deletes a password by sending the names of the others).
    package func putToken(id: String, name: String, body: JSONValue, patch: Bool) async throws -> (JSONValue, Bool) {
        let registryID = Self.parent(of: id, child: "tokens")
        try Self.validateName(name, kind: "token")
        _ = try await registry(registryID)
        let requested = try ResourceProviders.decode(TokenRequest.self, from: body).properties
        if let scopeMapID = requested?.scopeMapId {
            guard scopeMapID.lowercased().hasPrefix(registryID.lowercased() + "/scopemaps/"), try await storedScopeMap(id: scopeMapID) != nil else {
                throw AzureErrorResponse(.badRequest, code: "ScopeMapNotFound", message: "The scope map '\(scopeMapID.prefix(300))' does not exist in this registry.")
            }
        }
        let status = try requested?.status.map { status in
            guard ["enabled", "disabled"].contains(status.lowercased()) else {
                throw AzureErrorResponse(.badRequest, code: "InvalidRequestContent", message: "status is enabled or disabled.")
            }
            return status.lowercased()
        }
        let (token, created) = try await changeToken(id: id, name: name) { existing in
            if patch, existing == nil { throw notFound("token", name) }
            guard let scopeMapID = requested?.scopeMapId ?? existing?.properties.scopeMapId else {
                throw AzureErrorResponse(.badRequest, code: "InvalidRequestContent", message: "A token needs properties.scopeMapId.")
            }
            var passwords = existing?.properties.credentials.passwords ?? []
            if let kept = requested?.credentials?.passwords {
                let names = Set(kept.compactMap { $0.name?.lowercased() })
                passwords = passwords.filter { names.contains($0.name.lowercased()) }
            }
            return TokenResource(id: id, name: name, properties: .init(
                creationDate: existing?.properties.creationDate ?? Self.now(), scopeMapId: scopeMapID,
                status: status ?? existing?.properties.status ?? "enabled", credentials: .init(passwords: passwords)))
        }
        return (try Self.presented(token), created)
    }

    /// Reads the token, changes it and writes it back only if nobody wrote it in between (else reads again): a change
    /// made on an old read (a password generated while another was deleted) never brings back what was removed.
    private func changeToken(id: String, name: String, _ change: (TokenResource?) async throws -> TokenResource) async throws -> (TokenResource, Bool) {
        for _ in 0..<8 {
            let stored = try await documents.document(id: id.lowercased())
            let changed = try await change(try stored.map { try Self.stored(TokenResource.self, $0.body) })
            let document = StoredDocument(id: id, type: Self.tokenType, name: name, body: JSONText.serialize(try ResourceProviders.encode(changed)))
            if let stored {
                if try await documents.replaceDocument(document, ifBodyIs: stored.body) { return (changed, false) }
            } else {
                do {
                    try await documents.insertDocument(document)
                    return (changed, true)
                } catch let error as StorageError where error.code == .conflict {
                    continue
                }
            }
        }
        throw AzureErrorResponse(.conflict, code: "ConcurrentUpdate", message: "The token was being changed by other requests; retry.")
    }

    package func deleteToken(id: String) async throws -> Bool {
        try await documents.deleteDocument(id: id.lowercased())
    }

    /// `generateCredentials`: new values for `password1`, `password2` or (no name) both; each value is shown once.
    package func generateCredentials(registryID: String, body: JSONValue) async throws -> JSONValue {
        let request = try ResourceProviders.decode(GenerateCredentialsRequest.self, from: body)
        guard let tokenID = request.tokenId, tokenID.lowercased().hasPrefix(registryID.lowercased() + "/tokens/"),
              let tokenName = try await storedToken(id: tokenID)?.name else {
            throw AzureErrorResponse(.badRequest, code: "TokenNotFound", message: "tokenId must name a token of this registry.")
        }
        var names = ["password1", "password2"]
        if let name = request.name {
            guard names.contains(name.lowercased()) else {
                throw AzureErrorResponse(.badRequest, code: "InvalidRequestContent", message: "name is password1 or password2.")
            }
            names = [name.lowercased()]
        }
        let expiry = try request.expiry.map { text in
            guard let date = AzureDates.parse(text), date.timeIntervalSince1970 > Date().timeIntervalSince1970, date.timeIntervalSince1970 < 4e9 else {
                throw AzureErrorResponse(.badRequest, code: "InvalidRequestContent", message: "expiry must be an ISO 8601 date in the future, before 2096.")
            }
            return AzureDates.format(date)
        }
        let created = Self.now()
        var generated: [(password: TokenResource.Password, secret: String)] = []
        for name in names {
            let secret = PasswordCredential.generateSecret()
            let check = PasswordCredential.create(username: tokenName.lowercased(), password: secret)
            generated.append((.init(name: name, creationTime: created, expiry: expiry, check: check), secret))
        }
        _ = try await changeToken(id: tokenID, name: tokenName) { token in
            guard var token else { throw AzureErrorResponse(.badRequest, code: "TokenNotFound", message: "The token was deleted.") }
            var passwords = token.properties.credentials.passwords
            for entry in generated {
                passwords.removeAll { $0.name == entry.password.name }
                passwords.append(entry.password)
            }
            token.properties.credentials.passwords = passwords.sorted { $0.name < $1.name }
            return token
        }
        let shown: [JSONValue] = generated.map { entry in
            .object(JSONObject([("name", .string(entry.password.name)), ("creationTime", .string(created)),
                                ("expiry", expiry.map(JSONValue.string) ?? .null), ("value", .string(entry.secret))]))
        }
        return .object(JSONObject([("username", .string(tokenName)), ("passwords", .array(shown))]))
    }

    // MARK: the data plane

    /// The scope-map actions (repository pattern, registry action) a token's name and password open on the registry,
    /// or nil when they are not an enabled token's unexpired password.
    /// Also names the password that matched (`password1@<creationTime>`), so that its access tokens end with it.
    package func access(registryID: String, tokenName: String, password: String) async throws
        -> (password: String, actions: [(repository: String, action: String)])? {
        guard let token = try await storedToken(id: "\(registryID)/tokens/\(tokenName)"), token.properties.status == "enabled" else { return nil }
        let now = Date()
        let matched = token.properties.credentials.passwords.first { entry in
            entry.isCurrent(now: now) && entry.check?.matches(username: tokenName.lowercased(), password: password) == true
        }
        guard let matched else { return nil }
        return (matched.identity, try await scopeActions(of: token))
    }

    /// Whether the token is still enabled and still has the password its access token was granted for (not deleted,
    /// regenerated or expired since): checked on every data-plane request made with that access token.
    package func isValid(registryID: String, tokenName: String, password: String) async throws -> Bool {
        guard let token = try await storedToken(id: "\(registryID)/tokens/\(tokenName)"), token.properties.status == "enabled" else { return false }
        return token.properties.credentials.passwords.contains { $0.identity == password && $0.isCurrent(now: Date()) }
    }

    private func scopeActions(of token: TokenResource) async throws -> [(repository: String, action: String)] {
        guard let map = try await storedScopeMap(id: token.properties.scopeMapId) else { return [] }
        return map.properties.actions.compactMap { text in
            guard let (repository, operation) = try? Self.parseAction(text), let action = Self.actions[operation] ?? nil else { return nil }
            return (repository, action)
        }
    }

    // MARK: helpers

    private func storedToken(id: String) async throws -> TokenResource? {
        try await documents.document(id: id.lowercased()).map { try Self.stored(TokenResource.self, $0.body) }
    }

    private static func stored<Resource: Decodable>(_ type: Resource.Type, _ body: String) throws -> Resource {
        do {
            return try ResourceProviders.decode(type, from: try JSONText.parse(body))
        } catch {
            throw AzureErrorResponse(.internalServerError, code: "InternalError", message: "A stored token or scope map could not be read.")
        }
    }

    /// A token as ARM shows it: without the checks of its passwords.
    package static func presented(_ token: TokenResource) throws -> JSONValue {
        var shown = token
        for index in shown.properties.credentials.passwords.indices { shown.properties.credentials.passwords[index].check = nil }
        return try ResourceProviders.encode(shown)
    }

    private func registry(_ registryID: String) async throws -> RegistryResource {
        guard let registry = try await registries.get(id: registryID) else { throw notFound("registry", String(registryID.split(separator: "/").last ?? "")) }
        return registry
    }

    /// The registry id from a child's id (`…/registries/r/tokens/t` → `…/registries/r`).
    package static func parent(of id: String, child: String) -> String {
        guard let range = id.range(of: "/\(child)/", options: [.caseInsensitive, .backwards]) else { return id }
        return String(id[..<range.lowerBound])
    }

    /// ACR's rule for token and scope-map names: 5 to 50 letters, digits, `-` and `_`.
    package static func validateName(_ name: String, kind: String) throws {
        guard (5...50).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw AzureErrorResponse(.badRequest, code: "InvalidResourceName", message: "A \(kind) name is 5 to 50 letters, digits, '-' and '_'.")
        }
    }

    private func notFound(_ kind: String, _ name: String) -> AzureErrorResponse {
        AzureErrorResponse(.notFound, code: "ResourceNotFound", message: "The \(kind) '\(name.prefix(100))' was not found.")
    }

    package static func now() -> String { AzureDates.format(Date()) }
}

/// A user-defined or system scope map: which actions on which repositories.
package struct ScopeMapResource: Codable, Sendable {
    package var id: String
    package var name: String
    package var type = "Microsoft.ContainerRegistry/registries/scopeMaps"
    package var properties: Properties

    package struct Properties: Codable, Sendable {
        package var description: String
        package var type: String
        package var creationDate: String
        package var provisioningState = "Succeeded"
        package var actions: [String]
    }
}

/// A registry token: its scope map, its status and its (at most two) passwords, stored as checks.
package struct TokenResource: Codable, Sendable {
    package var id: String
    package var name: String
    package var type = "Microsoft.ContainerRegistry/registries/tokens"
    package var properties: Properties

    package struct Properties: Codable, Sendable {
        package var creationDate: String
        package var provisioningState = "Succeeded"
        package var scopeMapId: String
        package var status: String
        package var credentials: Credentials
    }

    package struct Credentials: Codable, Sendable {
        package var certificates: [String] = []
        package var passwords: [Password]
    }

    package struct Password: Codable, Sendable {
        package var name: String
        package var creationTime: String
        package var expiry: String?
        /// The salted check of the value (never shown).
        package var check: PasswordCredential?

        /// `password1@<creationTime>`: what the access tokens granted with this value stand for.
        var identity: String { "\(name)@\(creationTime)" }

        func isCurrent(now: Date) -> Bool {
            guard let expiry, let date = AzureDates.parse(expiry) else { return true }
            return date > now
        }
    }
}

private struct ScopeMapRequest: Decodable {
    var properties: Properties?
    struct Properties: Decodable {
        var actions: [String]?
        var description: String?
    }
}

private struct TokenRequest: Decodable {
    var properties: Properties?
    struct Properties: Decodable {
        var scopeMapId: String?
        var status: String?
        var credentials: Credentials?
    }
    struct Credentials: Decodable {
        var passwords: [Password]?
    }
    struct Password: Decodable {
        var name: String?
    }
}

private struct GenerateCredentialsRequest: Decodable {
    var tokenId: String?
    var name: String?
    var expiry: String?
}
