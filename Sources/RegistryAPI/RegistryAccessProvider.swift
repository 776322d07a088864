import Identity

/// Who else, besides the server's administrator, may obtain registry tokens, and for what: a registry's
/// admin user (user name = registry name, one of its two passwords) and principals of the directory by their
/// roles on the registry resource (ACR's Entra flow: `/oauth2/exchange`, then refresh tokens). The resource
/// manager knows registries, roles and credentials, so it answers; the token endpoint only asks.
public protocol RegistryAccessProvider: Sendable {
    /// The subject and grants a registry's admin user, or one of its tokens (ACR's repository-scoped credentials), gets
    /// for `requested` at `service`; nil when `username`/`password` is neither.
    func passwordGrants(username: String, password: String, service: String, requested: [AccessGrant]) async -> (subject: String, grants: [AccessGrant])?
    /// Whether an access token's subject may still use it: false for a registry token disabled or deleted, or whose
    /// password was removed, regenerated or expired, since its access token was issued.
    func isActive(subject: String) async -> Bool
    /// The object id of the principal an Entra access token speaks for, or nil when the token is not valid here
    /// (wrong tenant, or an audience that is not this server's resource manager or the registry service).
    func principal(fromAccessToken token: String) async -> String?
    /// The grants a principal's roles on the registry of each requested repository allow.
    func grants(principalID: String, service: String, requested: [AccessGrant]) async -> [AccessGrant]
}
