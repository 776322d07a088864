import CofferStorage
import Crypto
import Foundation

/// The tenant, its subscription, principals and role assignments; issues and verifies access tokens.
///
/// One tenant and one subscription exist, created on first start with a bootstrap operator service
/// principal that holds Owner on the subscription.
public final class Directory: Sendable {
    public struct Bootstrap: Sendable {
        public let tenantID: String
        public let subscriptionID: String
        public let operatorClientID: String
        /// The operator's secret, present only on the start that created it.
        public let operatorSecret: String?
    }

    public struct IssuedToken: Sendable {
        public let token: String
        public let expiresIn: Int64
    }

    static let tenantType = "coffer/tenants"
    static let principalType = "coffer/principals"
    static let subscriptionType = "microsoft.resources/subscriptions"
    static let roleAssignmentType = "microsoft.authorization/roleassignments"

    let store: any DocumentStore
    let signer: TokenSigner
    private let verifier: TokenVerifier
    public let tokenLifetime: Int64

    public init(store: any DocumentStore, signer: TokenSigner, tokenLifetime: Int64 = 3600) {
        self.store = store
        self.signer = signer
        self.verifier = signer.verifier
        self.tokenLifetime = tokenLifetime
    }

    /// Creates the tenant, subscription and operator on first start; reads them afterwards.
    public func bootstrap() async throws -> Bootstrap {
        if let tenant = try await store.documents(type: Self.tenantType, name: nil).first,
           let subscription = try await store.documents(type: Self.subscriptionType, name: nil).first,
           let operatorDocument = try await store.documents(type: Self.principalType, name: "operator").first {
            let principal = try JSONDecoder().decode(Principal.self, from: Data(operatorDocument.body.utf8))
            return Bootstrap(tenantID: tenant.name, subscriptionID: subscription.name, operatorClientID: principal.appId, operatorSecret: nil)
        }
        let tenantID = UUID().uuidString.lowercased()
        let subscriptionID = UUID().uuidString.lowercased()
        try await store.putDocument(StoredDocument(id: "/tenants/\(tenantID)", type: Self.tenantType, name: tenantID,
                                                   body: try json(["tenantId": tenantID, "displayName": "Coffer"])))
        try await store.putDocument(StoredDocument(
            id: "/subscriptions/\(subscriptionID)", type: Self.subscriptionType, name: subscriptionID,
            body: try json(["subscriptionId": subscriptionID, "tenantId": tenantID, "displayName": "Coffer subscription", "state": "Enabled"])
        ))
        let (principal, secret) = try await createServicePrincipal(tenantID: tenantID, displayName: "coffer-operator", documentName: "operator")
        try await assignRole(.owner, to: principal.objectId, scope: "/subscriptions/\(subscriptionID)")
        return Bootstrap(tenantID: tenantID, subscriptionID: subscriptionID, operatorClientID: principal.appId, operatorSecret: secret)
    }

    /// A new service principal with a generated secret (returned once, stored only as a check).
    public func createServicePrincipal(tenantID: String, displayName: String, documentName: String? = nil) async throws -> (Principal, String) {
        let appID = UUID().uuidString.lowercased()
        let secret = PasswordCredential.generateSecret()
        let principal = Principal(
            objectId: UUID().uuidString.lowercased(), appId: appID, tenantId: tenantID, displayName: displayName,
            kind: .servicePrincipal, credential: .create(username: appID, password: secret)
        )
        try await store.insertDocument(StoredDocument(
            id: "/tenants/\(tenantID)/principals/\(principal.objectId)", type: Self.principalType, name: documentName ?? appID,
            body: String(decoding: try JSONEncoder().encode(principal), as: UTF8.self)
        ))
        return (principal, secret)
    }

    public func principal(objectID: String) async throws -> Principal? {
        try await store.documents(type: Self.principalType, name: nil)
            .lazy.compactMap { try? JSONDecoder().decode(Principal.self, from: Data($0.body.utf8)) }
            .first { $0.objectId == objectID.lowercased() }
    }

    /// The principal whose client id and secret these are, or nil.
    public func authenticate(tenantID: String, clientID: String, secret: String) async throws -> Principal? {
        for document in try await store.documents(under: "/tenants/\(tenantID.lowercased())/principals/", type: Self.principalType) {
            guard let principal = try? JSONDecoder().decode(Principal.self, from: Data(document.body.utf8)) else { continue }
            if principal.appId == clientID.lowercased() {
                return principal.credential?.matches(username: principal.appId, password: secret) == true ? principal : nil
            }
        }
        return nil
    }

    /// An access token for `resource` (its audience), issued by `issuer`.
    public func issueToken(for principal: Principal, resource: String, issuer: String,
                           now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> IssuedToken {
        let claims = AccessTokenClaims(
            aud: resource, iss: issuer, iat: now, nbf: now, exp: now + tokenLifetime, tid: principal.tenantId,
            oid: principal.objectId, appid: principal.appId, sub: principal.objectId, ver: "2.0", idtyp: "app"
        )
        return IssuedToken(token: try signer.sign(claims), expiresIn: tokenLifetime)
    }

    /// Verifies signature, validity, tenant and audience.
    /// - Parameter audiences: the audiences this service answers to (a trailing `/` is ignored on both sides).
    public func verify(_ token: String, tenantID: String, audiences: Set<String>,
                       now: Int64 = Int64(Date().timeIntervalSince1970)) throws(TokenError) -> AccessTokenClaims {
        let claims = try verifier.decodeVerified(token, as: AccessTokenClaims.self)
        try verifier.checkValidity(exp: claims.exp, nbf: claims.nbf, now: now)
        guard claims.tid == tenantID else { throw TokenError("token was issued for another tenant") }
        guard claims.iss.hasSuffix("/\(tenantID)/v2.0") else { throw TokenError("token issuer is not trusted") }
        let normalized = Set(audiences.map(Self.withoutTrailingSlash))
        guard normalized.contains(Self.withoutTrailingSlash(claims.aud)) else { throw TokenError("token audience is not this service") }
        return claims
    }

    private static func withoutTrailingSlash(_ text: String) -> String {
        text.hasSuffix("/") ? String(text.dropLast()).lowercased() : text.lowercased()
    }

    /// The public key tokens are signed with, for JWKS.
    public var signingPublicKey: P256.Signing.PublicKey { signer.privateKey.publicKey }
    public var signingKeyID: String { signer.keyID }

    // MARK: role assignments

    public func assignRole(_ role: BuiltInRole, to principalID: String, scope: String, name: String = UUID().uuidString.lowercased()) async throws {
        let id = "\(scope)/providers/Microsoft.Authorization/roleAssignments/\(name)"
        let body: [String: Any] = [
            "id": id, "name": name, "type": "Microsoft.Authorization/roleAssignments",
            "properties": [
                "roleDefinitionId": "\(scope)/providers/Microsoft.Authorization/roleDefinitions/\(role.definitionID)",
                "principalId": principalID.lowercased(), "scope": scope,
            ],
        ]
        try await store.putDocument(StoredDocument(id: id, type: Self.roleAssignmentType, name: name,
                                                   body: String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)))
    }

    /// Roles the principal holds at `scope`, by assignments at that scope or any scope above it.
    public func roles(of principalID: String, at scope: String) async throws -> Set<BuiltInRole> {
        let target = scope.lowercased()
        var roles: Set<BuiltInRole> = []
        for document in try await store.documents(type: Self.roleAssignmentType, name: nil) {
            guard let object = try JSONSerialization.jsonObject(with: Data(document.body.utf8)) as? [String: Any],
                  let properties = object["properties"] as? [String: Any],
                  (properties["principalId"] as? String)?.lowercased() == principalID.lowercased(),
                  let assignedScope = (properties["scope"] as? String)?.lowercased(),
                  target == assignedScope || target.hasPrefix(assignedScope + "/"),
                  let role = (properties["roleDefinitionId"] as? String).flatMap(BuiltInRole.init(definitionID:)) else { continue }
            roles.insert(role)
        }
        return roles
    }

    private func json(_ object: [String: String]) throws -> String {
        String(decoding: try JSONEncoder().encode(object), as: UTF8.self)
    }
}
