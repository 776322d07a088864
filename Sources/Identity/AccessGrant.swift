/// A grant on one resource, as in Docker's token spec: `repository:<name>:<action>,<action>`.
public struct AccessGrant: Codable, Sendable, Equatable {
    public var type: String
    public var name: String
    public var actions: [String]

    public init(type: String, name: String, actions: [String]) {
        self.type = type
        self.name = name
        self.actions = actions
    }

    /// Parses a `scope` parameter value (one scope). Returns nil when it is malformed.
    /// The name may itself contain `:` only in `type(class)` forms, which we do not grant.
    public init?(scope: some StringProtocol) {
        let parts = String(scope).split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 3 else { return nil }
        let type = String(parts[0])
        let actions = parts[parts.count - 1].split(separator: ",").map(String.init)
        let name = parts[1..<(parts.count - 1)].joined(separator: ":")
        guard !type.isEmpty, !name.isEmpty else { return nil }
        self.init(type: type, name: name, actions: actions)
    }

    public var scope: String { "\(type):\(name):\(actions.joined(separator: ","))" }
}

extension [AccessGrant] {
    /// Whether these grants allow `action` on repository `name` (`*` grants every action).
    public func allows(repository name: String, action: String) -> Bool {
        contains { grant in
            grant.type == "repository" && grant.name == name && (grant.actions.contains(action) || grant.actions.contains("*"))
        }
    }

    /// Whether these grants allow listing the registry's catalog.
    public var allowsCatalog: Bool {
        contains { $0.type == "registry" && $0.name == "catalog" && $0.actions.contains("*") }
    }
}
