import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Identity

/// The secrets and certificates `coffer serve` runs with, created in the data directory on first start.
struct ServerSecrets: Sendable {
    let masterKey: SymmetricKey
    let tokenSigningKey: P256.Signing.PrivateKey
    let administrator: PasswordCredential
    /// The `X-IDENTITY-HEADER` secret of the managed-identity endpoint.
    let identityHeader: String
    let certificateChainPEM: String
    let privateKeyPEM: String
    /// Files created by this start (to tell the operator where they are).
    let created: [String]
}

/// Creates and reads the data directory: everything Coffer needs to start, owner-only permissions.
enum DataDirectory {
    static let administratorName = "coffer-admin"

    static func prepare(_ configuration: ServerConfiguration) throws -> ServerSecrets {
        // Everything Coffer writes (database, blobs, keys) is for its owner alone.
        umask(0o077)
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true,
                                        attributes: [.posixPermissions: 0o700])
        var created: [String] = []

        let masterKeyPath = configuration.masterKeyFile ?? configuration.path("master.key")
        if configuration.masterKeyFile == nil, !fileManager.fileExists(atPath: masterKeyPath) {
            let key = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
            try writeSecret(key + "\n", to: masterKeyPath)
            created.append(masterKeyPath)
        }
        let masterKey = try readMasterKey(masterKeyPath)

        let signingKeyPath = configuration.path("token-signing-key.pem")
        if !fileManager.fileExists(atPath: signingKeyPath) {
            try writeSecret(P256.Signing.PrivateKey().pemRepresentation, to: signingKeyPath)
        }
        let signingKey = try P256.Signing.PrivateKey(pemRepresentation: try String(contentsOfFile: signingKeyPath, encoding: .utf8))

        let credentialPath = configuration.path("admin-credential.json")
        let plaintextPath = configuration.path("admin-credentials.json")
        if !fileManager.fileExists(atPath: credentialPath) {
            let password = PasswordCredential.generateSecret()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try writeSecret(String(decoding: try encoder.encode(["username": administratorName, "password": password]), as: UTF8.self) + "\n",
                            to: plaintextPath)
            try writeSecret(String(decoding: try encoder.encode(PasswordCredential.create(username: administratorName, password: password)),
                                   as: UTF8.self), to: credentialPath)
            created.append(plaintextPath)
        }
        let administrator = try JSONDecoder().decode(PasswordCredential.self, from: Data(contentsOf: URL(fileURLWithPath: credentialPath)))

        let identityHeaderPath = configuration.path("identity-header")
        if !fileManager.fileExists(atPath: identityHeaderPath) {
            try writeSecret(PasswordCredential.generateSecret() + "\n", to: identityHeaderPath)
        }
        let identityHeader = try String(contentsOfFile: identityHeaderPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)

        let (chain, key) = try tlsIdentity(configuration, created: &created)
        return ServerSecrets(masterKey: masterKey, tokenSigningKey: signingKey, administrator: administrator, identityHeader: identityHeader,
                             certificateChainPEM: chain, privateKeyPEM: key, created: created)
    }

    /// Writes the bootstrap operator's service-principal credentials (owner-only), as azure-identity wants them.
    static func writeOperatorCredentials(_ configuration: ServerConfiguration, bootstrap: Directory.Bootstrap, secret: String) throws -> String {
        let path = configuration.path("operator-credentials.json")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let body = [
            "tenantId": bootstrap.tenantID, "subscriptionId": bootstrap.subscriptionID, "clientId": bootstrap.operatorClientID,
            "clientSecret": secret, "authority": "https://localhost:\(configuration.port)",
        ]
        try writeSecret(String(decoding: try encoder.encode(body), as: UTF8.self) + "\n", to: path)
        return path
    }

    private static func tlsIdentity(_ configuration: ServerConfiguration, created: inout [String]) throws -> (String, String) {
        if let certificateFile = configuration.certificateFile, let privateKeyFile = configuration.privateKeyFile {
            return (try String(contentsOfFile: certificateFile, encoding: .utf8), try String(contentsOfFile: privateKeyFile, encoding: .utf8))
        }
        let caPath = configuration.path("ca.pem")
        let caKeyPath = configuration.path("ca-key.pem")
        let authority: LocalCertificateAuthority.Issued
        if FileManager.default.fileExists(atPath: caPath), FileManager.default.fileExists(atPath: caKeyPath) {
            authority = .init(certificatePEM: try String(contentsOfFile: caPath, encoding: .utf8),
                              privateKeyPEM: try String(contentsOfFile: caKeyPath, encoding: .utf8))
        } else {
            // Name-constrained to the names this server answers to (subdomains included), and loopback.
            authority = try LocalCertificateAuthority.createAuthority(domains: Array(Set([
                "localhost", configuration.registryHostSuffix, configuration.vaultHostSuffix, configuration.graphHost,
            ])).sorted())
            try writeSecret(authority.privateKeyPEM, to: caKeyPath)
            try write(authority.certificatePEM, to: caPath, permissions: 0o644)
            created.append(caPath)
        }
        // The server certificate is reissued at every start, so it always matches the configured names.
        let server = try LocalCertificateAuthority.issueServerCertificate(authority: authority, dnsNames: [
            "localhost", "*.\(configuration.registryHostSuffix)", "*.\(configuration.vaultHostSuffix)", configuration.graphHost,
        ])
        try write(server.certificatePEM, to: configuration.path("server.pem"), permissions: 0o644)
        try writeSecret(server.privateKeyPEM, to: configuration.path("server-key.pem"))
        return (server.certificatePEM, server.privateKeyPEM)
    }

    private static func readMasterKey(_ path: String) throws -> SymmetricKey {
        let text = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = Data(base64Encoded: text), bytes.count == 32 else {
            throw ServerStartError("the server master key file must hold 32 bytes, base64-encoded")
        }
        return SymmetricKey(data: bytes)
    }

    private static func writeSecret(_ text: String, to path: String) throws {
        try write(text, to: path, permissions: 0o600)
    }

    private static func write(_ text: String, to path: String, permissions: Int) throws {
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: permissions]) else {
            throw ServerStartError("cannot write \(path)")
        }
        guard rename(temporary, path) == 0 else { throw ServerStartError("cannot write \(path)") }
    }
}

/// A reason `coffer serve` cannot start.
public struct ServerStartError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
