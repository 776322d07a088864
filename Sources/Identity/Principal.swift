/// Someone who can hold a token: a service principal (client id and secret) or a managed identity.
public struct Principal: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case servicePrincipal = "ServicePrincipal"
        case managedIdentity = "ManagedIdentity"
    }

    public var objectId: String
    /// The client (application) id.
    public var appId: String
    public var tenantId: String
    public var displayName: String
    public var kind: Kind
    /// The client secret's check, for service principals.
    public var credential: PasswordCredential?
    /// For managed identities: the resource id of the identity (user-assigned) or of the resource it belongs to (system-assigned).
    public var resourceId: String?
    /// Microsoft Graph's application object id; principals made before Graph existed here have none, and their
    /// `appId` stands in for it.
    public var applicationObjectId: String?
    /// Passwords added through Microsoft Graph (`addPassword`), besides ``credential``.
    public var passwords: [ApplicationPassword]?
    /// False for an application whose service principal Graph has not created yet (the two are created apart); it
    /// cannot sign in.
    public var hasServicePrincipal: Bool?
    /// For user-assigned identities: how many times their workload header was regenerated (nil: never). It is part of
    /// the header, so regenerating revokes every header handed out before.
    public var workloadSecretGeneration: Int?

    public init(objectId: String, appId: String, tenantId: String, displayName: String, kind: Kind, credential: PasswordCredential?,
                resourceId: String? = nil) {
        self.objectId = objectId
        self.appId = appId
        self.tenantId = tenantId
        self.displayName = displayName
        self.kind = kind
        self.credential = credential
        self.resourceId = resourceId
    }
}

/// A client secret of an application, as Microsoft Graph lists it (the secret itself is kept only as a check).
public struct ApplicationPassword: Codable, Sendable, Equatable {
    public var keyId: String
    public var displayName: String?
    /// The secret's first three characters, as Graph shows them.
    public var hint: String
    public var startDateTime: Int64
    public var endDateTime: Int64
    public var check: PasswordCredential

    public init(keyId: String, displayName: String?, hint: String, startDateTime: Int64, endDateTime: Int64, check: PasswordCredential) {
        self.keyId = keyId
        self.displayName = displayName
        self.hint = hint
        self.startDateTime = startDateTime
        self.endDateTime = endDateTime
        self.check = check
    }
}

extension Principal {
    /// The claims this principal calls with when Coffer acts as it in-process (a registry reaching its
    /// vault as its identity): checked by the vault like the claims of any token.
    public var callerClaims: AccessTokenClaims {
        AccessTokenClaims(aud: "in-process", iss: "coffer", iat: 0, nbf: 0, exp: 0, tid: tenantId, oid: objectId, appid: appId,
                          sub: objectId, ver: "2.0", idtyp: "app")
    }
}

/// Claims of the access tokens the identity service issues (the subset of Entra ID's v2 tokens that clients and services read).
public struct AccessTokenClaims: Codable, Sendable, Equatable {
    public var aud: String
    public var iss: String
    public var iat: Int64
    public var nbf: Int64
    public var exp: Int64
    public var tid: String
    public var oid: String
    public var appid: String
    public var sub: String
    public var ver: String
    public var idtyp: String
    /// A signed-in user's name, display name and delegated scope (absent from application tokens).
    public var upn: String?
    public var name: String?
    public var scp: String?

    public init(aud: String, iss: String, iat: Int64, nbf: Int64, exp: Int64, tid: String, oid: String, appid: String,
                sub: String, ver: String, idtyp: String, upn: String? = nil, name: String? = nil, scp: String? = nil) {
        self.upn = upn
        self.name = name
        self.scp = scp
        self.aud = aud
        self.iss = iss
        self.iat = iat
        self.nbf = nbf
        self.exp = exp
        self.tid = tid
        self.oid = oid
        self.appid = appid
        self.sub = sub
        self.ver = ver
        self.idtyp = idtyp
    }
}

/// Built-in roles by Azure's well-known definition ids; what each allows is its ``definition``.
public enum BuiltInRole: String, CaseIterable, Sendable {
    case owner = "Owner"
    case contributor = "Contributor"
    case reader = "Reader"
    case userAccessAdministrator = "User Access Administrator"
    case managedIdentityOperator = "Managed Identity Operator"
    case keyVaultAdministrator = "Key Vault Administrator"
    case keyVaultCryptoOfficer = "Key Vault Crypto Officer"
    case keyVaultCryptoUser = "Key Vault Crypto User"
    case keyVaultCryptoServiceEncryptionUser = "Key Vault Crypto Service Encryption User"
    case keyVaultReader = "Key Vault Reader"
    case acrPull = "AcrPull"
    case acrPush = "AcrPush"
    case acrDelete = "AcrDelete"

    public var definitionID: String {
        switch self {
        case .owner: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
        case .contributor: "b24988ac-6180-42a0-ab88-20f7382dd24c"
        case .reader: "acdd72a7-3385-48ef-bd42-f606fba81ae7"
        case .userAccessAdministrator: "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
        case .managedIdentityOperator: "f1a07417-d97a-45cb-824c-7a7467783830"
        case .keyVaultAdministrator: "00482a5a-887f-4fb3-b363-3b7fe8e74483"
        case .keyVaultCryptoOfficer: "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
        case .keyVaultCryptoUser: "12338af0-0e69-4776-bea7-57ae8d297424"
        case .keyVaultCryptoServiceEncryptionUser: "e147488a-f6f5-4113-8e2d-b22465e65bf6"
        case .keyVaultReader: "21090545-7ca7-4776-b22c-e363652d74d2"
        case .acrPull: "7f951dda-4ed3-4680-a7ca-43fe172d538d"
        case .acrPush: "8311e382-0749-4cb8-b61a-304f252e45ec"
        case .acrDelete: "c2f4ef07-c644-48eb-af81-4b1b4947fb11"
        }
    }

    public init?(definitionID: String) {
        let id = definitionID.split(separator: "/").last.map { String($0).lowercased() } ?? ""
        guard let role = Self.allCases.first(where: { $0.definitionID == id }) else { return nil }
        self = role
    }
}
