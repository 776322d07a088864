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
    /// The scope-map actions, and the registry data-plane action each opens (metadata/write opens nothing here:
    /// Coffer has no repository attributes to write).
    package static let actions: [String: String?] = [
        "content/read": "pull", "content/write": "push", "content/delete": "delete", "metadata/read": "metadata_read", "metadata/write": nil,
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
        let stored = try await documents.documents(under: registryID.lowercased() + "/scopemaps/", type: Self.scopeMapType).map { try JSONText.parse($0.body) }
        return Self.systemScopeMaps.map { systemScopeMap($0, registryID: registryID) } + stored
    }

    package func scopeMap(id: String) async throws -> JSONValue? {
        let registryID = Self.parent(of: id, child: "scopeMaps")
        if let system = Self.systemScopeMaps.first(where: { id.lowercased().hasSuffix("/scopemaps/" + $0.name) }) {
            return try await registries.get(id: registryID) == nil ? nil : systemScopeMap(system, registryID: registryID)
        }
        return try await documents.document(id: id.lowercased()).map { try JSONText.parse($0.body) }
    }

    /// Creates or replaces (PUT) or updates (PATCH: the actions and description given) a user-defined scope map.
    package func putScopeMap(id: String, name: String, body: JSONValue, patch: Bool) async throws -> (JSONValue, Bool) {
        let registryID = Self.parent(of: id, child: "scopeMaps")
        try Self.validateName(name, kind: "scope map")
        guard !name.hasPrefix("_") else {
            throw AzureErrorResponse(.badRequest, code: "InvalidResourceName", message: "Names starting with '_' are reserved for system scope maps.")
        }
        _ = try await registry(registryID)
        let existing = try await scopeMap(id: id)
        if patch, existing == nil { throw notFound("scope map", name) }
        var actions: [String] = []
        if case .array(let items) = body["properties"]["actions"] {
            actions = try items.map { item in
                guard case .string(let action) = item else { throw Self.invalidAction("\(item)") }
                _ = try Self.parseAction(action)
                return action
            }
        } else if patch, case .array(let old) = existing?["properties"]["actions"] ?? .null {
            actions = old.compactMap { if case .string(let action) = $0 { action } else { nil } }
        }
        guard !actions.isEmpty, actions.count <= 500 else {
            throw AzureErrorResponse(.badRequest, code: "InvalidScopeMapActions", message: "A scope map needs 1 to 500 actions.")
        }
        var description = existing?["properties"]["description"] ?? .string("")
        if case .string(let text) = body["properties"]["description"] { description = .string(String(text.prefix(256))) }
        let created = existing?["properties"]["creationDate"] ?? .string(Self.now())
        let resource = JSONObject([
            ("id", .string(id)), ("name", .string(name)), ("type", .string("Microsoft.ContainerRegistry/registries/scopeMaps")),
            ("properties", .object(JSONObject([
                ("description", description), ("type", .string("UserDefined")), ("creationDate", created),
                ("provisioningState", .string("Succeeded")), ("actions", .array(actions.map(JSONValue.string))),
            ]))),
        ])
        try await documents.putDocument(StoredDocument(id: id.lowercased(), type: Self.scopeMapType, name: name.lowercased(),
                                                       body: JSONText.serialize(.object(resource))))
        return (.object(resource), existing == nil)
    }

    package func deleteScopeMap(id: String) async throws -> Bool {
        if Self.systemScopeMaps.contains(where: { id.lowercased().hasSuffix("/scopemaps/" + $0.name) }) {
            throw AzureErrorResponse(.badRequest, code: "SystemScopeMapCannotBeDeleted", message: "System scope maps cannot be changed or deleted.")
        }
        return try await documents.deleteDocument(id: id.lowercased())
    }

    private func systemScopeMap(_ map: (name: String, actions: [String], description: String), registryID: String) -> JSONValue {
        .object(JSONObject([
            ("id", .string("\(registryID)/scopeMaps/\(map.name)")), ("name", .string(map.name)),
            ("type", .string("Microsoft.ContainerRegistry/registries/scopeMaps")),
            ("properties", .object(JSONObject([
                ("description", .string(map.description)), ("type", .string("SystemDefined")), ("creationDate", .string("2020-01-01T00:00:00Z")),
                ("provisioningState", .string("Succeeded")), ("actions", .array(map.actions.map { .string("repositories/*/\($0)") })),
            ]))),
        ]))
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
        return try await documents.documents(under: registryID.lowercased() + "/tokens/", type: Self.tokenType).map { Self.presented(try JSONText.parse($0.body)) }
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
        var requestedMap: JSONValue = .null
        if case .string(let requested) = body["properties"]["scopeMapId"] {
            guard requested.lowercased().hasPrefix(registryID.lowercased() + "/scopemaps/"), try await scopeMap(id: requested) != nil else {
                throw AzureErrorResponse(.badRequest, code: "ScopeMapNotFound", message: "The scope map '\(requested.prefix(300))' does not exist in this registry.")
            }
            requestedMap = .string(requested)
        }
        var status: JSONValue = .null
        if case .string(let requested) = body["properties"]["status"] {
            guard ["enabled", "disabled"].contains(requested.lowercased()) else {
                throw AzureErrorResponse(.badRequest, code: "InvalidRequestContent", message: "status is enabled or disabled.")
            }
            status = .string(requested.lowercased())
        }
        let (token, created) = try await changeToken(id: id, name: name) { existing in
            if patch, existing == nil { throw notFound("token", name) }
            let scopeMapID = requestedMap.isNull ? existing?["properties"]["scopeMapId"] ?? .null : requestedMap
            guard case .string = scopeMapID else {
                throw AzureErrorResponse(.badRequest, code: "InvalidRequestContent", message: "A token needs properties.scopeMapId.")
            }
            var passwords: [JSONValue] = { if case .array(let old) = existing?["properties"]["credentials"]["passwords"] ?? .null { old } else { [] } }()
            if case .array(let kept) = body["properties"]["credentials"]["passwords"] {
                let names = Set(kept.compactMap { if case .string(let name) = $0["name"] { name.lowercased() } else { nil } })
                passwords = passwords.filter { if case .string(let name) = $0["name"] { names.contains(name.lowercased()) } else { false } }
            }
            return .object(JSONObject([
                ("id", .string(id)), ("name", .string(name)), ("type", .string("Microsoft.ContainerRegistry/registries/tokens")),
                ("properties", .object(JSONObject([
                    ("creationDate", existing?["properties"]["creationDate"] ?? .string(Self.now())), ("provisioningState", .string("Succeeded")),
                    ("scopeMapId", scopeMapID), ("status", status.isNull ? existing?["properties"]["status"] ?? .string("enabled") : status),
                    ("credentials", .object(JSONObject([("certificates", .array([])), ("passwords", .array(passwords))]))),
                ]))),
            ]))
        }
        return (Self.presented(token), created)
    }

    /// Reads the token, changes it and writes it back only if nobody wrote it in between (else reads again): a change
    /// made on an old read (a password generated while another was deleted) never brings back what was removed.
    private func changeToken(id: String, name: String, _ change: (JSONValue?) async throws -> JSONValue) async throws -> (JSONValue, Bool) {
        for _ in 0..<8 {
            let stored = try await documents.document(id: id.lowercased())
            let changed = try await change(try stored.map { try JSONText.parse($0.body) })
            let document = StoredDocument(id: id, type: Self.tokenType, name: name, body: JSONText.serialize(changed))
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
        guard case .string(let tokenID) = body["tokenId"], tokenID.lowercased().hasPrefix(registryID.lowercased() + "/tokens/"),
              let found = try await storedToken(id: tokenID), case .string(let tokenName) = found["name"] else {
            throw AzureErrorResponse(.badRequest, code: "TokenNotFound", message: "tokenId must name a token of this registry.")
        }
        var names = ["password1", "password2"]
        if case .string(let name) = body["name"] {
            guard names.contains(name.lowercased()) else {
                throw AzureErrorResponse(.badRequest, code: "InvalidRequestContent", message: "name is password1 or password2.")
            }
            names = [name.lowercased()]
        }
        var expiry: JSONValue = .null
        if case .string(let text) = body["expiry"] {
            guard let date = AzureDates.parse(text), date.timeIntervalSince1970 > Date().timeIntervalSince1970, date.timeIntervalSince1970 < 4e9 else {
                throw AzureErrorResponse(.badRequest, code: "InvalidRequestContent", message: "expiry must be an ISO 8601 date in the future, before 2096.")
            }
            expiry = .string(AzureDates.format(date))
        }
        var generated: [(name: String, secret: String, check: JSONValue)] = []
        for name in names {
            let secret = PasswordCredential.generateSecret()
            let check = try JSONText.parse(String(decoding: try JSONEncoder().encode(PasswordCredential.create(username: tokenName.lowercased(), password: secret)),
                                                  as: UTF8.self))
            generated.append((name, secret, check))
        }
        let created = JSONValue.string(Self.now())
        _ = try await changeToken(id: tokenID, name: tokenName) { token in
            guard case .object(var object)? = token, case .object(var properties) = object["properties"] ?? .null,
                  case .object(var credentials) = properties["credentials"] ?? .null else {
                throw AzureErrorResponse(.badRequest, code: "TokenNotFound", message: "The token was deleted.")
            }
            var passwords: [JSONValue] = { if case .array(let old) = credentials["passwords"] ?? .null { old } else { [] } }()
            for entry in generated {
                passwords.removeAll { $0["name"] == .string(entry.name) }
                passwords.append(.object(JSONObject([("name", .string(entry.name)), ("creationTime", created), ("expiry", expiry), ("check", entry.check)])))
            }
            passwords.sort { JSONText.serialize($0["name"]) < JSONText.serialize($1["name"]) }
            credentials["passwords"] = .array(passwords)
            properties["credentials"] = .object(credentials)
            object["properties"] = .object(properties)
            return .object(object)
        }
        let shown: [JSONValue] = generated.map { entry in
            .object(JSONObject([("name", .string(entry.name)), ("creationTime", created), ("expiry", expiry), ("value", .string(entry.secret))]))
        }
        return .object(JSONObject([("username", .string(tokenName)), ("passwords", .array(shown))]))
    }

    // MARK: the data plane

    /// The scope-map actions (repository pattern, registry action) a token's name and password open on the registry,
    /// or nil when they are not an enabled token's unexpired password.
    /// Also names the password that matched (`password1@<creationTime>`), so that its access tokens end with it.
    package func access(registryID: String, tokenName: String, password: String) async throws
        -> (password: String, actions: [(repository: String, action: String)])? {
        guard let token = try await storedToken(id: "\(registryID)/tokens/\(tokenName)"), token["properties"]["status"] == .string("enabled"),
              case .array(let passwords) = token["properties"]["credentials"]["passwords"] else { return nil }
        let now = Date()
        let matched = passwords.first { entry in
            guard Self.isCurrent(entry, now: now),
                  let check = try? JSONDecoder().decode(PasswordCredential.self, from: Data(JSONText.serialize(entry["check"]).utf8)) else { return false }
            return check.matches(username: tokenName.lowercased(), password: password)
        }
        guard let matched, let identity = Self.identity(of: matched) else { return nil }
        return (identity, try await scopeActions(of: token))
    }

    /// Whether the token is still enabled and still has the password its access token was granted for (not deleted,
    /// regenerated or expired since): checked on every data-plane request made with that access token.
    package func isValid(registryID: String, tokenName: String, password: String) async throws -> Bool {
        guard let token = try await storedToken(id: "\(registryID)/tokens/\(tokenName)"), token["properties"]["status"] == .string("enabled"),
              case .array(let passwords) = token["properties"]["credentials"]["passwords"] else { return false }
        return passwords.contains { Self.identity(of: $0) == password && Self.isCurrent($0, now: Date()) }
    }

    private static func identity(of password: JSONValue) -> String? {
        guard case .string(let name) = password["name"], case .string(let created) = password["creationTime"] else { return nil }
        return "\(name)@\(created)"
    }

    private static func isCurrent(_ password: JSONValue, now: Date) -> Bool {
        if case .string(let expiry) = password["expiry"], let date = AzureDates.parse(expiry), date <= now { return false }
        return true
    }

    private func scopeActions(of token: JSONValue) async throws -> [(repository: String, action: String)] {
        guard case .string(let mapID) = token["properties"]["scopeMapId"], let map = try await scopeMap(id: mapID),
              case .array(let actions) = map["properties"]["actions"] else { return [] }
        return actions.compactMap { item in
            guard case .string(let text) = item, let (repository, operation) = try? Self.parseAction(text),
                  let action = Self.actions[operation] ?? nil else { return nil }
            return (repository, action)
        }
    }

    // MARK: helpers

    private func storedToken(id: String) async throws -> JSONValue? {
        try await documents.document(id: id.lowercased()).map { try JSONText.parse($0.body) }
    }

    /// A token as ARM shows it: without the checks of its passwords.
    package static func presented(_ token: JSONValue) -> JSONValue {
        guard case .object(var object) = token, case .object(var properties) = object["properties"] ?? .null,
              case .object(var credentials) = properties["credentials"] ?? .null, case .array(let passwords) = credentials["passwords"] ?? .null else { return token }
        credentials["passwords"] = .array(passwords.map { entry in
            guard case .object(var fields) = entry else { return entry }
            fields["check"] = nil
            return .object(fields)
        })
        properties["credentials"] = .object(credentials)
        object["properties"] = .object(properties)
        return .object(object)
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
