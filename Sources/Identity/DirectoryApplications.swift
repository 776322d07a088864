import CofferStorage
import Crypto
import Foundation

/// Applications and their passwords, as Microsoft Graph manages them. In Coffer one principal document holds both
/// Graph objects of a service principal: the application (object id ``Principal/applicationObjectId``, its passwords)
/// and the service principal (object id ``Principal/objectId``), which Graph creates apart.
extension Directory {
    public func allPrincipals() async throws -> [Principal] {
        try await principals()
    }

    /// Whether this is the principal created at first start (its loss would lock the operator out).
    public func isBootstrapOperator(_ principal: Principal) async throws -> Bool {
        try await store.documents(type: Self.principalType, name: "operator").contains { $0.id.hasSuffix("/\(principal.objectId)") }
    }

    /// A new application with no password and no service principal yet (Graph's `POST /applications`).
    public func createApplication(tenantID: String, displayName: String) async throws -> Principal {
        var principal = Principal(objectId: UUID().uuidString.lowercased(), appId: UUID().uuidString.lowercased(), tenantId: tenantID,
                                  displayName: displayName, kind: .servicePrincipal, credential: nil)
        principal.applicationObjectId = UUID().uuidString.lowercased()
        principal.hasServicePrincipal = false
        try await store.insertDocument(StoredDocument(id: Self.documentID(principal), type: Self.principalType, name: principal.appId,
                                                      body: String(decoding: try JSONEncoder().encode(principal), as: UTF8.self)))
        return principal
    }

    /// Stores a changed principal under its document, keeping the document's name (the operator's is `operator`).
    public func save(_ principal: Principal) async throws {
        let id = Self.documentID(principal)
        let name = try await store.document(id: id)?.name ?? principal.appId
        try await store.putDocument(StoredDocument(id: id, type: Self.principalType, name: name,
                                                   body: String(decoding: try JSONEncoder().encode(principal), as: UTF8.self)))
    }

    /// A new generated secret for the application; the secret is returned once and kept only as a check.
    public func addPassword(to principal: Principal, displayName: String?, endDateTime: Int64?,
                            now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> (ApplicationPassword, String) {
        let secret = PasswordCredential.generateSecret()
        let password = ApplicationPassword(keyId: UUID().uuidString.lowercased(), displayName: displayName, hint: String(secret.prefix(3)),
                                           startDateTime: now, endDateTime: endDateTime ?? now + 2 * 365 * 86400,
                                           check: .create(username: principal.appId, password: secret))
        guard try await change(principal, { $0.passwords = ($0.passwords ?? []) + [password]; return true }) else {
            throw StorageError(.notFound, "the application was deleted")
        }
        return (password, secret)
    }

    /// Removes a password by key id; false when the application has none with it.
    public func removePassword(keyID: String, from principal: Principal) async throws -> Bool {
        try await change(principal) { principal in
            if let legacy = principal.credential, Self.keyID(of: legacy) == keyID.lowercased() {
                principal.credential = nil
            } else if let passwords = principal.passwords, passwords.contains(where: { $0.keyId == keyID.lowercased() }) {
                principal.passwords = passwords.filter { $0.keyId != keyID.lowercased() }
            } else {
                return false
            }
            return true
        }
    }

    /// Revokes every workload header of a user-assigned identity handed out so far: the next header differs. Returns
    /// the identity as it now is (nil if it is gone).
    public func regenerateWorkloadSecret(of principal: Principal) async throws -> Principal? {
        _ = try await change(principal) { current in
            let (next, overflow) = (current.workloadSecretGeneration ?? 0).addingReportingOverflow(1)
            current.workloadSecretGeneration = overflow ? 1 : next
            return true
        }
        return try await self.principal(objectID: principal.objectId)
    }

    /// Reads the principal's document afresh, changes it and writes it back only if nobody wrote it in between (else
    /// reads again), so that two password changes at once never undo each other. `change` answers whether it changed
    /// anything; false (or a principal that is gone) writes nothing.
    private func change(_ principal: Principal, _ change: (inout Principal) -> Bool) async throws -> Bool {
        let id = Self.documentID(principal)
        for _ in 0..<8 {
            guard let stored = try await store.document(id: id) else { return false }
            var current = try JSONDecoder().decode(Principal.self, from: Data(stored.body.utf8))
            guard change(&current) else { return false }
            let body = String(decoding: try JSONEncoder().encode(current), as: UTF8.self)
            if try await store.replaceDocument(StoredDocument(id: id, type: Self.principalType, name: stored.name, body: body), ifBodyIs: stored.body) {
                return true
            }
        }
        throw StorageError(.conflict, "the application was being changed by other requests; retry")
    }

    /// Every password of the application, the one it was created with included.
    public func listedPasswords(of principal: Principal) -> [ApplicationPassword] {
        let legacy = principal.credential.map {
            ApplicationPassword(keyId: Self.keyID(of: $0), displayName: nil, hint: "", startDateTime: 0, endDateTime: 4_102_444_800, check: $0)
        }
        return (legacy.map { [$0] } ?? []) + (principal.passwords ?? [])
    }

    /// Removes the principal and every role assigned to it (Graph's delete of an application; a service principal's
    /// delete keeps the application and only removes its sign-in and roles).
    public func delete(_ principal: Principal, keepingApplication: Bool) async throws {
        for assignment in try await roleAssignments() where assignment.principalID == principal.objectId {
            _ = try await store.deleteDocument(id: assignment.id)
        }
        if keepingApplication {
            var principal = principal
            principal.hasServicePrincipal = false
            try await save(principal)
        } else {
            _ = try await store.deleteDocument(id: Self.documentID(principal))
        }
    }

    static func documentID(_ principal: Principal) -> String {
        "/tenants/\(principal.tenantId)/principals/\(principal.objectId)"
    }

    /// A stable key id for the password a principal was created with (derived from its salt, which never changes).
    static func keyID(of credential: PasswordCredential) -> String {
        let bytes = Array(SHA256.hash(data: Array(credential.salt.utf8)))
        let hex = bytes.prefix(16).map { String(format: "%02x", $0) }.joined()
        let parts = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4), hex.dropFirst(20)]
        return parts.map(String.init).joined(separator: "-")
    }
}
