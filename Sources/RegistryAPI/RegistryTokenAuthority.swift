import CofferTelemetry
import Foundation
import Identity

/// Issues and checks the registry's bearer tokens (the Docker token flow).
public struct RegistryTokenAuthority: Sendable {
    public static let issuer = "coffer-registry"

    public let signer: TokenSigner
    private let verifier: TokenVerifier
    /// Who may obtain tokens with a user name and password.
    public let administrator: PasswordCredential
    public let tokenLifetime: Int64

    public init(signer: TokenSigner, administrator: PasswordCredential, tokenLifetime: Int64 = 600) {
        self.signer = signer
        self.verifier = signer.verifier
        self.administrator = administrator
        self.tokenLifetime = tokenLifetime
    }

    /// A token for `service` carrying `grants`.
    public func issue(subject: String, service: String, grants: [AccessGrant], now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> String {
        try signer.sign(TokenClaims(
            iss: Self.issuer, sub: subject, aud: service, exp: now + tokenLifetime, nbf: now, iat: now,
            jti: UUID().uuidString, access: grants
        ))
    }

    public func verify(_ token: String, service: String) throws(TokenError) -> TokenClaims {
        let claims = try verifier.verify(token, issuer: Self.issuer, audience: service)
        RequestRecord.notePrincipal(claims.sub)
        return claims
    }

    /// Refresh tokens (ACR's Entra flow) have their own issuer, so neither kind passes for the other.
    static let refreshIssuer = "coffer-registry-refresh"
    /// How long a refresh token lasts (ACR: three hours).
    static let refreshLifetime: Int64 = 3 * 3600
    /// The user name that says "the password is a refresh token" (`docker login -u 00000000-…`).
    static let refreshTokenUser = "00000000-0000-0000-0000-000000000000"

    func issueRefresh(principalID: String, service: String, now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> String {
        try signer.sign(TokenClaims(iss: Self.refreshIssuer, sub: principalID, aud: service, exp: now + Self.refreshLifetime, nbf: now, iat: now,
                                    jti: UUID().uuidString, access: nil))
    }

    func verifyRefresh(_ token: String, service: String) throws(TokenError) -> TokenClaims {
        try verifier.verify(token, issuer: Self.refreshIssuer, audience: service)
    }

    /// The grants the administrator receives for what it asked: every requested action it may hold.
    func grants(forAdministratorRequesting scopes: [AccessGrant]) -> [AccessGrant] {
        let allowed: Set<String> = ["pull", "push", "delete", "metadata_read", "metadata_write", "*"]
        return scopes.compactMap { scope in
            switch scope.type {
            case "repository":
                let actions = scope.actions.filter(allowed.contains)
                return actions.isEmpty ? nil : AccessGrant(type: "repository", name: scope.name, actions: actions)
            case "registry" where scope.name == "catalog":
                return AccessGrant(type: "registry", name: "catalog", actions: ["*"])
            default:
                return nil
            }
        }
    }
}
