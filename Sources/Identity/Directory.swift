import CofferStorage
import CofferTelemetry
import Crypto
import Foundation
import Synchronization

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

    public static let tenantType = "coffer/tenants"
    static let principalType = "coffer/principals"
    static let subscriptionType = "microsoft.resources/subscriptions"
    static let roleAssignmentType = "microsoft.authorization/roleassignments"

    let store: any DocumentStore
    let signer: TokenSigner
    /// Tokens whose signature was already checked (the signature check is the costly part; the claims are checked every time).
    private let verifiedTokens = VerifiedTokenCache()
    private let verifier: TokenVerifier
    public let tokenLifetime: Int64
    /// Failed sign-ins by user name (``authenticateUser(userPrincipalName:password:tenantID:)``).
    let signInThrottle = SignInThrottle()
    /// When this node last swept expired authorization codes (at most once a minute: a sweep reads them all).
    let lastCodeSweep = Mutex<Int64>(0)

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
        try await principals().first { $0.objectId == objectID.lowercased() }
    }

    func principals() async throws -> [Principal] {
        try await store.documents(type: Self.principalType, name: nil).compactMap { try? JSONDecoder().decode(Principal.self, from: Data($0.body.utf8)) }
    }

    // MARK: managed identities

    /// The managed identity of `resourceID` (a user-assigned identity's own id, or the resource a system-assigned one belongs to),
    /// created on first use; the same identity on every later call.
    public func managedIdentity(resourceID: String, displayName: String) async throws -> Principal {
        if let existing = try await managedIdentity(resourceID: resourceID) { return existing }
        let tenantID = try await store.documents(type: Self.tenantType, name: nil).first?.name ?? ""
        let principal = Principal(
            objectId: UUID().uuidString.lowercased(), appId: UUID().uuidString.lowercased(), tenantId: tenantID, displayName: displayName,
            kind: .managedIdentity, credential: nil, resourceId: resourceID.lowercased()
        )
        try await store.insertDocument(StoredDocument(
            id: "/tenants/\(tenantID)/principals/\(principal.objectId)", type: Self.principalType, name: principal.appId,
            body: String(decoding: try JSONEncoder().encode(principal), as: UTF8.self)
        ))
        return principal
    }

    public func managedIdentity(resourceID: String) async throws -> Principal? {
        try await principals().first { $0.kind == .managedIdentity && $0.resourceId == resourceID.lowercased() }
    }

    /// Finds a managed identity by client id, object (principal) id or resource id.
    public func managedIdentity(clientID: String?, objectID: String?, resourceID: String?) async throws -> Principal? {
        try await principals().first { principal in
            guard principal.kind == .managedIdentity else { return false }
            if let clientID { return principal.appId == clientID.lowercased() }
            if let objectID { return principal.objectId == objectID.lowercased() }
            if let resourceID { return principal.resourceId == resourceID.lowercased() }
            return false
        }
    }

    /// Removes a managed identity (its resource was deleted) and its role assignments.
    public func deleteManagedIdentity(resourceID: String) async throws {
        // Roles granted on the resource go with it: a new resource of the same name must not inherit them.
        for assignment in try await roleAssignments() where Self.scope(assignment.scope, isWithin: resourceID) {
            _ = try await store.deleteDocument(id: assignment.id)
        }
        guard let principal = try await managedIdentity(resourceID: resourceID) else { return }
        _ = try await store.deleteDocument(id: "/tenants/\(principal.tenantId)/principals/\(principal.objectId)")
        for assignment in try await roleAssignments() where assignment.principalID == principal.objectId {
            _ = try await store.deleteDocument(id: assignment.id)
        }
    }

    /// The principal whose client id and secret these are, or nil.
    public func authenticate(tenantID: String, clientID: String, secret: String) async throws -> Principal? {
        for document in try await store.documents(under: "/tenants/\(tenantID.lowercased())/principals/", type: Self.principalType) {
            guard let principal = try? JSONDecoder().decode(Principal.self, from: Data(document.body.utf8)) else { continue }
            if principal.appId == clientID.lowercased() {
                guard principal.hasServicePrincipal != false else { return nil }
                let now = Int64(Date().timeIntervalSince1970)
                let opens = principal.credential?.matches(username: principal.appId, password: secret) == true
                    || (principal.passwords ?? []).contains { $0.endDateTime > now && $0.check.matches(username: principal.appId, password: secret) }
                return opens ? principal : nil
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
        let claims: AccessTokenClaims
        if let known = verifiedTokens.claims(for: token) {
            claims = known
        } else {
            claims = try verifier.decodeVerified(token, as: AccessTokenClaims.self)
            verifiedTokens.remember(token, claims)
        }
        try verifier.checkValidity(exp: claims.exp, nbf: claims.nbf, now: now)
        guard claims.tid == tenantID else { throw TokenError("token was issued for another tenant") }
        guard claims.iss.hasSuffix("/\(tenantID)/v2.0") else { throw TokenError("token issuer is not trusted") }
        let normalized = Set(audiences.map(Self.withoutTrailingSlash))
        guard normalized.contains(Self.withoutTrailingSlash(claims.aud)) else { throw TokenError("token audience is not this service") }
        RequestRecord.notePrincipal(claims.oid)
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

    /// A role assignment as stored.
    public struct RoleAssignment: Sendable, Equatable {
        public let id: String
        public let name: String
        public let principalID: String
        public let scope: String
        public let roleDefinitionID: String
        public let role: BuiltInRole?
    }

    public func roleAssignments() async throws -> [RoleAssignment] {
        try await store.documents(type: Self.roleAssignmentType, name: nil).compactMap { document in
            guard let object = try JSONSerialization.jsonObject(with: Data(document.body.utf8)) as? [String: Any],
                  let properties = object["properties"] as? [String: Any],
                  let principalID = (properties["principalId"] as? String)?.lowercased(),
                  let scope = properties["scope"] as? String,
                  let definition = properties["roleDefinitionId"] as? String else { return nil }
            return RoleAssignment(id: document.id, name: document.name, principalID: principalID, scope: scope,
                                  roleDefinitionID: definition, role: BuiltInRole(definitionID: definition))
        }
    }

    /// Whether `scope` is `ancestor` or lies under it, compared byte for byte: Swift's `==` treats canonically
    /// equivalent strings as equal while the store (and so the resource the scope names) does not, so a group whose
    /// name is another's in a different Unicode form would inherit its roles.
    /// Whether the principal holds any role at `scope`, above it or below it: who holds none may not even learn
    /// whether something exists there.
    public func hasRole(of principalID: String, near scope: String) async throws -> Bool {
        try await roleAssignments().contains { assignment in
            assignment.principalID == principalID.lowercased()
                && (Self.scope(scope, isWithin: assignment.scope) || Self.scope(assignment.scope, isWithin: scope))
        }
    }

    public static func scope(_ scope: String, isWithin ancestor: String) -> Bool {
        let scope = Array(scope.lowercased().utf8), ancestor = Array(ancestor.lowercased().utf8)
        return scope == ancestor || (scope.count > ancestor.count && scope.starts(with: ancestor) && scope[ancestor.count] == UInt8(ascii: "/"))
    }

    public func deleteRoleAssignment(id: String) async throws -> Bool {
        try await store.deleteDocument(id: id)
    }

    /// Roles the principal holds at `scope`, by assignments at that scope or any scope above it.
    public func roles(of principalID: String, at scope: String) async throws -> Set<BuiltInRole> {
        let target = scope.lowercased()
        return Set(try await roleAssignments().compactMap { assignment in
            let assigned = assignment.scope.lowercased()
            guard assignment.principalID == principalID.lowercased(), Self.scope(target, isWithin: assigned) else { return nil }
            return assignment.role
        })
    }

    /// The RBAC evaluator: whether any role the principal holds at `scope` (assigned there or above) allows `action`.
    public func permits(_ principalID: String, _ action: AzureAction, at scope: String) async throws -> Bool {
        try await roles(of: principalID, at: scope).contains { $0.definition.permits(action) }
    }

    /// Which of `actions` the principal's roles at `scope` allow (one lookup of its assignments).
    public func permitted(_ principalID: String, among actions: [AzureAction], at scope: String) async throws -> Set<AzureAction> {
        let definitions = try await roles(of: principalID, at: scope).map(\.definition)
        return Set(actions.filter { action in definitions.contains { $0.permits(action) } })
    }

    private func json(_ object: [String: String]) throws -> String {
        String(decoding: try JSONEncoder().encode(object), as: UTF8.self)
    }
}
