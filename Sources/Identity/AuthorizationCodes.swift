import CofferStorage
import Crypto
import Foundation

/// The public clients that may use the authorization-code flow, and where each may be sent back to. A redirect URI
/// is never taken from a request unless it is one of these: a code sent elsewhere is a stolen sign-in.
public struct PublicClient: Sendable, Equatable {
    public let clientID: String
    public let displayName: String
    /// Exact redirect URIs.
    public let redirectURIs: Set<String>
    /// Whether `http://localhost:<any port>[/path]` is allowed (RFC 8252 §7.3: native apps listen on a loopback port).
    public let loopbackRedirects: Bool

    public init(clientID: String, displayName: String, redirectURIs: Set<String>, loopbackRedirects: Bool) {
        self.clientID = clientID
        self.displayName = displayName
        self.redirectURIs = redirectURIs
        self.loopbackRedirects = loopbackRedirects
    }

    /// The Azure CLI's well-known client id (`az login`).
    public static let azureCLIClientID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
    /// The web console's client id.
    public static let consoleClientID = "c0ffee00-c0a5-4e1e-9c5a-000000000001"

    public func allows(redirectURI: String) -> Bool {
        if redirectURIs.contains(redirectURI) { return true }
        guard loopbackRedirects, let components = URLComponents(string: redirectURI), components.scheme == "http",
              components.host == "localhost" || components.host == "127.0.0.1", components.user == nil, components.query == nil,
              components.fragment == nil else { return false }
        return true
    }
}

/// Codes of the authorization-code flow (RFC 6749 §4.1) with PKCE (RFC 7636, S256 only): issued once a user signed
/// in, redeemed once, within two minutes, by the client and redirect URI they were issued for, with the verifier of
/// the challenge they were issued with. Kept in the document store (by their hash), so any node of a cluster redeems
/// a code any node issued.
extension Directory {
    static let codeType = "coffer/authorizationcodes"
    public static let codeLifetime: Int64 = 120

    public struct CodeGrant: Codable, Sendable {
        public let clientID: String
        public let redirectURI: String
        public let codeChallenge: String
        public let scope: String
        public let nonce: String?
        public let userObjectID: String
        public let expires: Int64

        public init(clientID: String, redirectURI: String, codeChallenge: String, scope: String, nonce: String?, userObjectID: String, expires: Int64) {
            self.clientID = clientID
            self.redirectURI = redirectURI
            self.codeChallenge = codeChallenge
            self.scope = scope
            self.nonce = nonce
            self.userObjectID = userObjectID
            self.expires = expires
        }
    }

    public func issueAuthorizationCode(_ grant: CodeGrant, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> String {
        // Codes nobody redeemed go when a later one is issued, at most once a minute.
        let sweep = lastCodeSweep.withLock { last in
            guard now - last >= 60 else { return false }
            last = now
            return true
        }
        for document in sweep ? try await store.documents(type: Self.codeType, name: nil) : [] {
            if let old = try? JSONDecoder().decode(CodeGrant.self, from: Data(document.body.utf8)), old.expires < now {
                _ = try await store.deleteDocument(id: document.id)
            }
        }
        let code = Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255) })
        try await store.insertDocument(StoredDocument(id: Self.codeDocumentID(code), type: Self.codeType, name: "code",
                                                      body: String(decoding: try JSONEncoder().encode(grant), as: UTF8.self)))
        return code
    }

    /// The grant of `code` if it is redeemed for the first time, in time, by its client and redirect URI, with the
    /// right verifier; nil otherwise. The code is spent whatever the outcome (a wrong verifier does not get a retry).
    public func redeemAuthorizationCode(_ code: String, clientID: String, redirectURI: String, verifier: String,
                                        now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> CodeGrant? {
        guard code.utf8.count <= 128, let document = try await store.document(id: Self.codeDocumentID(code)),
              try await store.deleteDocument(id: document.id),
              let grant = try? JSONDecoder().decode(CodeGrant.self, from: Data(document.body.utf8)) else { return nil }
        guard grant.expires >= now, grant.clientID == clientID.lowercased(), grant.redirectURI == redirectURI,
              Self.isValidVerifier(verifier), Self.challenge(of: verifier) == grant.codeChallenge else { return nil }
        return grant
    }

    /// The S256 challenge of a verifier: base64url(SHA-256(verifier)).
    public static func challenge(of verifier: String) -> String {
        Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8))))
    }

    /// RFC 7636 §4.1: 43 to 128 characters of `A-Z a-z 0-9 - . _ ~`.
    public static func isValidVerifier(_ verifier: String) -> Bool {
        (43...128).contains(verifier.utf8.count) && verifier.utf8.allSatisfy { byte in
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || [UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~")].contains(byte)
        }
    }

    static func codeDocumentID(_ code: String) -> String {
        "/authorizationcodes/" + SHA256.hash(data: Array(code.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
