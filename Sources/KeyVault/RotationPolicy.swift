import CofferStorage
import Foundation

/// A key's rotation policy (Key Vault 7.3+): when to rotate or notify, and how long new versions live.
public struct KeyRotationPolicy: Codable, Sendable, Equatable {
    public struct LifetimeAction: Codable, Sendable, Equatable {
        public struct Trigger: Codable, Sendable, Equatable {
            public var timeAfterCreate: String?
            public var timeBeforeExpiry: String?
        }
        public struct Action: Codable, Sendable, Equatable {
            public var type: String
        }
        public var trigger: Trigger
        public var action: Action
    }
    public struct Attributes: Codable, Sendable, Equatable {
        public var expiryTime: String?
        public var created: Int64?
        public var updated: Int64?
    }

    public var id: String?
    public var lifetimeActions: [LifetimeAction]?
    public var attributes: Attributes?

    /// Key Vault's default: notify 30 days before expiry, no automatic rotation.
    static func defaultPolicy(id: String) -> KeyRotationPolicy {
        KeyRotationPolicy(id: id, lifetimeActions: [.init(trigger: .init(timeBeforeExpiry: "P30D"), action: .init(type: "Notify"))],
                          attributes: .init())
    }

    /// Checks the policy's durations and actions; rotation triggers must be at least 7 days, as Key Vault requires.
    func validated() throws -> KeyRotationPolicy {
        for action in lifetimeActions ?? [] {
            guard ["rotate", "notify"].contains(action.action.type.lowercased()) else {
                throw KeyVaultError(.badParameter, "lifetime action type must be Rotate or Notify")
            }
            let triggers = [action.trigger.timeAfterCreate, action.trigger.timeBeforeExpiry].compactMap { $0 }
            guard triggers.count == 1, let duration = ISODuration(triggers[0]) else {
                throw KeyVaultError(.badParameter, "each lifetime action needs exactly one trigger, an ISO 8601 duration such as P90D")
            }
            if action.action.type.lowercased() == "rotate", action.trigger.timeAfterCreate != nil, duration.seconds < 7 * 86400 {
                throw KeyVaultError(.badParameter, "timeAfterCreate must be at least 7 days (P7D)")
            }
            if action.trigger.timeBeforeExpiry != nil, attributes?.expiryTime == nil {
                throw KeyVaultError(.badParameter, "a timeBeforeExpiry trigger needs attributes.expiryTime")
            }
        }
        if let expiry = attributes?.expiryTime, (ISODuration(expiry)?.seconds ?? 0) < 28 * 86400 {
            throw KeyVaultError(.badParameter, "expiryTime must be an ISO 8601 duration of at least 28 days (P28D)")
        }
        return self
    }
}

extension VaultService {
    static let rotationPolicyType = "coffer/keyrotationpolicies"

    private func policyDocumentID(vault: String, name: String) -> String { "/vaults/\(vault.lowercased())/keys/\(name.lowercased())/rotationpolicy" }

    public func rotationPolicy(vault: VaultResource, name: String, baseURL: String) async throws -> KeyRotationPolicy {
        let state = try await keys.keyName(vault: vault.name ?? "", name: name)
        guard let state, state.deletedAt == nil else { throw KeyVaultError(.keyNotFound, "A key with (name/id) \(name) was not found in this key vault.") }
        let id = "\(baseURL)/keys/\(state.displayName)/rotationpolicy"
        guard let document = try await documents.document(id: policyDocumentID(vault: vault.name ?? "", name: name)) else {
            return .defaultPolicy(id: id)
        }
        var policy = try JSONDecoder().decode(KeyRotationPolicy.self, from: Data(document.body.utf8))
        policy.id = id
        return policy
    }

    public func setRotationPolicy(vault: VaultResource, name: String, policy: KeyRotationPolicy, baseURL: String) async throws -> KeyRotationPolicy {
        var policy = try policy.validated()
        let existing = try await rotationPolicy(vault: vault, name: name, baseURL: baseURL)
        let now = Self.now()
        policy.attributes = .init(expiryTime: policy.attributes?.expiryTime, created: existing.attributes?.created ?? now, updated: now)
        policy.id = existing.id
        try await documents.putDocument(StoredDocument(id: policyDocumentID(vault: vault.name ?? "", name: name), type: Self.rotationPolicyType,
                                                       name: "\(vault.name ?? "")/\(name)", body: String(decoding: try JSONEncoder().encode(policy), as: UTF8.self)))
        return policy
    }

    /// Rotates every key whose policy says it is due at `now`. Returns the keys rotated (`vault/name`).
    /// Run periodically by ``KeyRotationService``.
    @discardableResult
    public func rotateDueKeys(now: Int64 = Int64(Date().timeIntervalSince1970), baseURL: (String) -> String) async throws -> [String] {
        var rotated: [String] = []
        for document in try await documents.documents(type: Self.rotationPolicyType, name: nil) {
            let parts = document.name.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2, let vault = try await vault(named: parts[0]),
                  let state = try await keys.keyName(vault: parts[0], name: parts[1]), state.deletedAt == nil,
                  let latest = try await keys.keyVersions(vault: parts[0], name: parts[1]).last,
                  let policy = try? JSONDecoder().decode(KeyRotationPolicy.self, from: Data(document.body.utf8)) else { continue }
            let bundle = try Self.bundle(latest)
            let created = bundle.attributes.created ?? latest.createdAt / 1_000_000
            let due = (policy.lifetimeActions ?? []).contains { action in
                guard action.action.type.lowercased() == "rotate" else { return false }
                if let after = action.trigger.timeAfterCreate.flatMap(ISODuration.init) { return now >= created + after.seconds }
                if let before = action.trigger.timeBeforeExpiry.flatMap(ISODuration.init), let expires = bundle.attributes.exp {
                    return now >= expires - before.seconds
                }
                return false
            }
            guard due else { continue }
            _ = try await rotateKey(vault: vault, name: parts[1], baseURL: baseURL(parts[0]), now: now)
            logger.info("key rotated by policy", metadata: ["coffer.vault": .string(parts[0]), "coffer.key": .string(parts[1])])
            rotated.append(document.name)
        }
        return rotated
    }

    /// The expiry a new version gets from the key's policy, if the policy sets one.
    func policyExpiry(vault: String, name: String, now: Int64) async throws -> Int64? {
        guard let document = try await documents.document(id: policyDocumentID(vault: vault, name: name)),
              let policy = try? JSONDecoder().decode(KeyRotationPolicy.self, from: Data(document.body.utf8)),
              let expiry = policy.attributes?.expiryTime.flatMap(ISODuration.init) else { return nil }
        return now + expiry.seconds
    }
}
