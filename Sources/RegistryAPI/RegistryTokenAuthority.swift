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
        try verifier.verify(token, issuer: Self.issuer, audience: service)
    }

    /// The grants the administrator receives for what it asked: every requested action it may hold.
    func grants(forAdministratorRequesting scopes: [AccessGrant]) -> [AccessGrant] {
        let allowed: Set<String> = ["pull", "push", "delete", "*"]
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
