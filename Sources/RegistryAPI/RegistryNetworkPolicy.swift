/// Which client addresses may reach a registry's data (ACR's firewall: `networkRuleSet` and
/// `publicNetworkAccess`). The resource manager knows the rules; the data plane asks before every call.
public protocol RegistryNetworkPolicy: Sendable {
    /// Nil when `address` may reach `registry`; otherwise why not (the refusal's message). Throws when the rules
    /// cannot be read (the request then fails as storage being unavailable, never as allowed).
    func refusal(registry: String, address: String?) async throws -> String?
}
