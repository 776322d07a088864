import Foundation
import JMESPath

/// Who the CLI signs in as, and where: a service principal's id and secret, its tenant, the server's address and
/// the CA that server's certificate chains to. From the operator credentials of a data directory, or from the
/// profile `coffer login --service-principal` writes.
struct ClientCredentials {
    var authority: String
    var tenantID: String
    var subscriptionID: String
    var clientID: String
    var clientSecret: String
    /// A PEM file of CA certificates to trust (nil: the system's).
    var caFile: String?

    /// The operator's credentials in a server's data directory.
    static func operatorCredentials(dataDirectory: String) throws -> ClientCredentials {
        let path = dataDirectory + "/operator-credentials.json"
        guard let data = FileManager.default.contents(atPath: path),
              case .object(let credentials) = try? JSONText.parse(String(decoding: data, as: UTF8.self)),
              case .string(let authority)? = credentials["authority"], case .string(let tenant)? = credentials["tenantId"],
              case .string(let subscription)? = credentials["subscriptionId"], case .string(let clientID)? = credentials["clientId"],
              case .string(let secret)? = credentials["clientSecret"] else {
            throw CLIError("cannot read the operator credentials at \(path); is this the data directory of a running `coffer serve`? (--data-dir)")
        }
        let ca = dataDirectory + "/ca.pem"
        return ClientCredentials(authority: authority, tenantID: tenant, subscriptionID: subscription, clientID: clientID, clientSecret: secret,
                                 caFile: FileManager.default.fileExists(atPath: ca) ? ca : nil)
    }

    /// Where `coffer login` keeps the signed-in profile: `$COFFER_CONFIG_DIR/profile.json`, else `~/.coffer/profile.json`.
    static var profilePath: String {
        let directory = ProcessInfo.processInfo.environment["COFFER_CONFIG_DIR"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".coffer").path
        return directory + "/profile.json"
    }

    static func profile() throws -> ClientCredentials? {
        guard let data = FileManager.default.contents(atPath: profilePath) else { return nil }
        guard case .object(let profile) = try? JSONText.parse(String(decoding: data, as: UTF8.self)),
              case .string(let authority)? = profile["authority"], case .string(let tenant)? = profile["tenantId"],
              case .string(let subscription)? = profile["subscriptionId"], case .string(let clientID)? = profile["clientId"],
              case .string(let secret)? = profile["clientSecret"] else {
            throw CLIError("the profile \(profilePath) is damaged; run `coffer logout`, then `coffer login` again")
        }
        let ca: String? = if case .string(let path)? = profile["caFile"] { path } else { nil }
        return ClientCredentials(authority: authority, tenantID: tenant, subscriptionID: subscription, clientID: clientID, clientSecret: secret, caFile: ca)
    }

    /// Writes the profile, readable by its owner only (it holds a secret).
    func saveAsProfile() throws {
        var profile = JSONObject([
            ("authority", .string(authority)), ("tenantId", .string(tenantID)), ("subscriptionId", .string(subscriptionID)),
            ("clientId", .string(clientID)), ("clientSecret", .string(clientSecret)),
        ])
        if let caFile { profile["caFile"] = .string(caFile) }
        let path = Self.profilePath
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        guard FileManager.default.createFile(atPath: path, contents: Data(JSONText.serialize(.object(profile)).utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw CLIError("cannot write the profile \(path)")
        }
    }
}
