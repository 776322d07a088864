/// A key as the Key Vault data plane returns it: the public JWK, attributes and tags.
public struct KeyBundle: Codable, Sendable, Equatable {
    public var key: JsonWebKey
    public var attributes: KeyAttributes
    public var tags: [String: String]?
    public var managed: Bool?
    /// Deleted-key fields.
    public var recoveryId: String?
    public var deletedDate: Int64?
    public var scheduledPurgeDate: Int64?
}

/// The public part of a key (JWK, RFC 7517, as Key Vault writes it). Private members never appear.
public struct JsonWebKey: Codable, Sendable, Equatable {
    public var kid: String?
    public var kty: String
    public var key_ops: [String]?
    public var n: String?
    public var e: String?
    public var crv: String?
    public var x: String?
    public var y: String?

    public init(kid: String? = nil, kty: String, key_ops: [String]? = nil, n: String? = nil, e: String? = nil,
                crv: String? = nil, x: String? = nil, y: String? = nil) {
        self.kid = kid
        self.kty = kty
        self.key_ops = key_ops
        self.n = n
        self.e = e
        self.crv = crv
        self.x = x
        self.y = y
    }
}

public struct KeyAttributes: Codable, Sendable, Equatable {
    public var enabled: Bool?
    public var nbf: Int64?
    public var exp: Int64?
    public var created: Int64?
    public var updated: Int64?
    public var recoveryLevel: String?
    public var recoverableDays: Int?
    public var exportable: Bool?
}

/// The body of a create-key request.
public struct CreateKeyRequest: Codable, Sendable {
    public var kty: String
    public var key_size: Int?
    public var public_exponent: Int?
    public var key_ops: [String]?
    public var attributes: KeyAttributes?
    public var tags: [String: String]?
    public var crv: String?
}

/// The body of an update-key request.
public struct UpdateKeyRequest: Codable, Sendable {
    public var key_ops: [String]?
    public var attributes: KeyAttributes?
    public var tags: [String: String]?
}

/// The body and result of key operations (`wrapKey`, `unwrapKey`, `encrypt`, `decrypt`, `sign`).
public struct KeyOperationRequest: Codable, Sendable {
    public var alg: String
    public var value: String
    public var iv: String?
    public var aad: String?
    public var tag: String?

    public init(alg: String, value: String, iv: String? = nil, aad: String? = nil, tag: String? = nil) {
        self.alg = alg
        self.value = value
        self.iv = iv
        self.aad = aad
        self.tag = tag
    }
}

public struct KeyOperationResult: Codable, Sendable, Equatable {
    public var kid: String
    public var value: String
    public var iv: String?
    public var tag: String?
    public var aad: String?
}

/// The body of a verify request: the digest and the signature to check.
public struct VerifyRequest: Codable, Sendable {
    public var alg: String
    public var digest: String
    public var value: String
}

public struct VerifyResult: Codable, Sendable, Equatable {
    public var value: Bool
}
