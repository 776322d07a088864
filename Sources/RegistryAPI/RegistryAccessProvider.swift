import Identity

/// Who else, besides the server's administrator, may obtain registry tokens, and for what: a registry's
/// admin user (user name = registry name, one of its two passwords) and principals of the directory by their
/// roles on the registry resource (ACR's Entra flow: `/oauth2/exchange`, then refresh tokens). The resource
/// manager knows registries, roles and credentials, so it answers; the token endpoint only asks.
public protocol RegistryAccessProvider: Sendable {
    /// The grants a registry's admin user gets for `requested` at `service`; nil when `username`/`password` is
    /// not an enabled admin user of a registry.
    func adminGrants(username: String, password: String, service: String, requested: [AccessGrant]) async -> [AccessGrant]?
    /// The object id of the principal an Entra access token speaks for, or nil when the token is not valid here
    /// (wrong tenant, or an audience that is not this server's resource manager or the registry service).
    func principal(fromAccessToken token: String) async -> String?
    /// The grants a principal's roles on the registry of each requested repository allow.
    func grants(principalID: String, service: String, requested: [AccessGrant]) async -> [AccessGrant]
}
