import CofferStorage
import Foundation

/// A person in the directory: signs in with a user principal name and a password (the web console, `az login -u`),
/// and holds roles by its object id like any principal.
public struct DirectoryUser: Codable, Sendable, Equatable {
    public var objectId: String
    public var tenantId: String
    /// `alice@coffer.localhost`: the sign-in name, unique in the tenant (compared without case).
    public var userPrincipalName: String
    public var displayName: String
    public var password: UserPasswordHash
    public var createdDateTime: Int64
    public var accountEnabled: Bool
}

/// Why a user could not be created.
public struct UserCreationError: Error, Sendable {
    public enum Code: Sendable { case invalid, nameTaken }
    public let code: Code
    public let message: String
}

extension Directory {
    static let userType = "coffer/users"
    static let userNameType = "coffer/usernames"

    /// Passwords shorter than this are refused (Entra ID asks for 8 and complexity; length is what resists guessing).
    public static let minimumPasswordLength = 12
    public static let maximumPasswordLength = 256

    /// A new user. The name is `local@domain` (letters, digits, `.`, `-`, `_`), 3 to 113 characters, unique in the tenant.
    public func createUser(tenantID: String, userPrincipalName: String, displayName: String, password: String,
                           now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> DirectoryUser {
        let name = userPrincipalName.lowercased()
        guard Self.isValidUserPrincipalName(name) else {
            throw UserCreationError(code: .invalid, message: "userPrincipalName must be name@domain (letters, digits, '.', '-', '_'; at most 113 characters).")
        }
        guard !displayName.isEmpty, displayName.utf8.count <= 256 else {
            throw UserCreationError(code: .invalid, message: "displayName (1 to 256 characters) is required.")
        }
        guard password.count >= Self.minimumPasswordLength, password.utf8.count <= Self.maximumPasswordLength else {
            throw UserCreationError(code: .invalid, message: "The password must have \(Self.minimumPasswordLength) to \(Self.maximumPasswordLength) characters.")
        }
        let user = DirectoryUser(objectId: UUID().uuidString.lowercased(), tenantId: tenantID, userPrincipalName: name,
                                 displayName: displayName, password: try await UserPasswordHash.create(password: password),
                                 createdDateTime: now, accountEnabled: true)
        // The name's own document makes it unique: two creations of one name race on one insert, and one loses.
        do {
            try await store.insertDocument(StoredDocument(id: "/tenants/\(tenantID)/usernames/\(name)", type: Self.userNameType, name: name,
                                                          body: "{\"objectId\":\"\(user.objectId)\"}"))
        } catch let error as StorageError where error.code == .conflict {
            throw UserCreationError(code: .nameTaken, message: "Another object with the same value for property userPrincipalName already exists.")
        }
        try await store.insertDocument(StoredDocument(id: Self.documentID(user), type: Self.userType, name: name,
                                                      body: String(decoding: try JSONEncoder().encode(user), as: UTF8.self)))
        return user
    }

    public func users() async throws -> [DirectoryUser] {
        try await store.documents(type: Self.userType, name: nil).compactMap { try? JSONDecoder().decode(DirectoryUser.self, from: Data($0.body.utf8)) }
            .sorted { $0.userPrincipalName < $1.userPrincipalName }
    }

    /// A user by object id or user principal name (one indexed read each).
    public func user(_ idOrName: String, tenantID: String) async throws -> DirectoryUser? {
        let key = idOrName.lowercased()
        if key.contains("@") {
            return try await store.documents(type: Self.userType, name: key).first
                .flatMap { try? JSONDecoder().decode(DirectoryUser.self, from: Data($0.body.utf8)) }
        }
        return try await user(objectID: key, tenantID: tenantID)
    }

    /// A user by object id only: never by a name that a role assignment or token could carry instead of an id.
    public func user(objectID: String, tenantID: String) async throws -> DirectoryUser? {
        let key = objectID.lowercased()
        guard !key.contains("/"), let document = try await store.document(id: "/tenants/\(tenantID.lowercased())/users/\(key)") else { return nil }
        return try? JSONDecoder().decode(DirectoryUser.self, from: Data(document.body.utf8))
    }

    /// Removes the user, its name and every role assigned to it; false when there is no such user.
    public func deleteUser(_ user: DirectoryUser) async throws -> Bool {
        for assignment in try await roleAssignments() where assignment.principalID == user.objectId {
            _ = try await store.deleteDocument(id: assignment.id)
        }
        let removed = try await store.deleteDocument(id: Self.documentID(user))
        _ = try await store.deleteDocument(id: "/tenants/\(user.tenantId)/usernames/\(user.userPrincipalName)")
        return removed
    }

    /// The enabled user with this name and password, or nil. An unknown name costs the same hash as a wrong password;
    /// a name with too many recent failures is refused without a check (``SignInThrottle``).
    public func authenticateUser(userPrincipalName: String, password: String, tenantID: String) async throws -> DirectoryUser? {
        let name = userPrincipalName.lowercased()
        try signInThrottle.admit(name)
        guard name.contains("@"), let user = try await user(name, tenantID: tenantID), user.accountEnabled else {
            _ = try await UserPasswordHash.decoy.matches(password)
            signInThrottle.failed(name)
            return nil
        }
        guard try await user.password.matches(password) else {
            signInThrottle.failed(name)
            return nil
        }
        signInThrottle.succeeded(name)
        return user
    }

    /// An access token for a signed-in user, for `resource`, obtained through the public client `clientID`.
    public func issueToken(for user: DirectoryUser, clientID: String, resource: String, issuer: String,
                           now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> IssuedToken {
        let claims = AccessTokenClaims(aud: resource, iss: issuer, iat: now, nbf: now, exp: now + tokenLifetime, tid: user.tenantId,
                                       oid: user.objectId, appid: clientID, sub: user.objectId, ver: "2.0", idtyp: "user",
                                       upn: user.userPrincipalName, name: user.displayName, scp: "user_impersonation")
        return IssuedToken(token: try signer.sign(claims), expiresIn: tokenLifetime)
    }

    /// An OpenID Connect ID token for the user, for the client `clientID`.
    public func issueIDToken(for user: DirectoryUser, clientID: String, issuer: String, nonce: String?,
                             now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> String {
        struct IDTokenClaims: Encodable {
            let aud, iss, sub, oid, tid, name, preferred_username, ver: String
            let iat, nbf, exp: Int64
            let nonce: String?
        }
        return try signer.sign(IDTokenClaims(aud: clientID, iss: issuer, sub: user.objectId, oid: user.objectId, tid: user.tenantId,
                                             name: user.displayName, preferred_username: user.userPrincipalName, ver: "2.0",
                                             iat: now, nbf: now, exp: now + tokenLifetime, nonce: nonce))
    }

    /// The audience of refresh tokens: no API answers to it, so a refresh token is never an access token.
    static let refreshAudience = "urn:coffer:refresh-token"
    public static let refreshTokenLifetime: Int64 = 24 * 3600

    /// A refresh token for the user and client (signed, a day long; redeemed only while the user exists and is enabled).
    public func issueRefreshToken(for user: DirectoryUser, clientID: String, issuer: String, now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> String {
        try signer.sign(AccessTokenClaims(aud: Self.refreshAudience, iss: issuer, iat: now, nbf: now, exp: now + Self.refreshTokenLifetime,
                                          tid: user.tenantId, oid: user.objectId, appid: clientID, sub: user.objectId, ver: "2.0", idtyp: "refresh"))
    }

    /// The user and client of a valid refresh token of this tenant; nil for anything else.
    public func redeemRefreshToken(_ token: String, tenantID: String, clientID: String) async throws -> DirectoryUser? {
        guard let claims = try? verify(token, tenantID: tenantID, audiences: [Self.refreshAudience]), claims.idtyp == "refresh",
              claims.appid == clientID.lowercased(), let user = try await user(objectID: claims.oid, tenantID: tenantID), user.accountEnabled else { return nil }
        return user
    }

    static func documentID(_ user: DirectoryUser) -> String {
        "/tenants/\(user.tenantId)/users/\(user.objectId)"
    }

    static func isValidUserPrincipalName(_ name: String) -> Bool {
        let parts = name.split(separator: "@", omittingEmptySubsequences: false)
        guard name.utf8.count >= 3, name.utf8.count <= 113, parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return false }
        return name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || [UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "@")].contains(byte)
        }
    }
}
