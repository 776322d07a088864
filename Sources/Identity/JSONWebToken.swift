import Crypto
import Foundation

/// Claims of the tokens Coffer issues.
public struct TokenClaims: Codable, Sendable, Equatable {
    public var iss: String
    public var sub: String
    public var aud: String
    public var exp: Int64
    public var nbf: Int64
    public var iat: Int64
    public var jti: String
    /// Registry grants, Docker token format: `[{"type":"repository","name":"…","actions":["pull"]}]`.
    public var access: [AccessGrant]?

    public init(iss: String, sub: String, aud: String, exp: Int64, nbf: Int64, iat: Int64, jti: String, access: [AccessGrant]?) {
        self.iss = iss
        self.sub = sub
        self.aud = aud
        self.exp = exp
        self.nbf = nbf
        self.iat = iat
        self.jti = jti
        self.access = access
    }
}

/// Why a token was refused. The message is safe to return to the client; it never contains the token.
public struct TokenError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Signs tokens with an ECDSA P-256 key (JWS `ES256`).
public struct TokenSigner: Sendable {
    public let privateKey: P256.Signing.PrivateKey
    public let keyID: String

    public init(privateKey: P256.Signing.PrivateKey) {
        self.privateKey = privateKey
        let thumbprint = SHA256.hash(data: privateKey.publicKey.x963Representation)
        keyID = Base64URL.encode(Array(thumbprint.prefix(16)))
    }

    public func sign(_ claims: some Encodable) throws -> String {
        let header = ["alg": "ES256", "typ": "JWT", "kid": keyID]
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let signingInput = Base64URL.encode(Array(try encoder.encode(header))) + "." + Base64URL.encode(Array(try encoder.encode(claims)))
        let signature = try privateKey.signature(for: Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(Array(signature.rawRepresentation))
    }

    public var verifier: TokenVerifier { TokenVerifier(publicKey: privateKey.publicKey) }
}

/// Verifies signature, issuer, audience and validity period, in that order of trust.
public struct TokenVerifier: Sendable {
    public let publicKey: P256.Signing.PublicKey
    /// Tolerated clock difference.
    public var leeway: Int64 = 30

    public init(publicKey: P256.Signing.PublicKey) {
        self.publicKey = publicKey
    }

    public func verify(_ token: String, issuer: String, audience: String, now: Int64 = Int64(Date().timeIntervalSince1970)) throws(TokenError) -> TokenClaims {
        let claims = try decodeVerified(token, as: TokenClaims.self)
        guard claims.iss == issuer else { throw TokenError("token issuer is not trusted") }
        guard claims.aud == audience else { throw TokenError("token audience is not this service") }
        try checkValidity(exp: claims.exp, nbf: claims.nbf, now: now)
        return claims
    }

    /// Checks the token's form, algorithm and signature, then decodes its claims. The caller checks the claims.
    public func decodeVerified<Claims: Decodable>(_ token: String, as type: Claims.Type) throws(TokenError) -> Claims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(parts[0]), let claimBytes = Base64URL.decode(parts[1]),
              let signatureBytes = Base64URL.decode(parts[2]) else {
            throw TokenError("token is not a well-formed JWT")
        }
        guard let header = try? JSONDecoder().decode([String: String].self, from: Data(headerBytes)), header["alg"] == "ES256" else {
            throw TokenError("token algorithm is not accepted")
        }
        guard let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signatureBytes),
              publicKey.isValidSignature(signature, for: Array((parts[0] + "." + parts[1]).utf8)) else {
            throw TokenError("token signature is invalid")
        }
        guard let claims = try? JSONDecoder().decode(Claims.self, from: Data(claimBytes)) else {
            throw TokenError("token claims are malformed")
        }
        return claims
    }

    public func checkValidity(exp: Int64, nbf: Int64, now: Int64) throws(TokenError) {
        // Compared without arithmetic on the claims (an `exp` near Int64.max would overflow `exp + leeway`).
        guard exp > now - leeway else { throw TokenError("token has expired") }
        guard nbf <= now + leeway else { throw TokenError("token is not yet valid") }
    }
}

public enum Base64URL {
    public static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).map(Array.init)
    }
}
