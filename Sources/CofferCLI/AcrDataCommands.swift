import ArgumentParser
import Foundation
import JMESPath
import NIOHTTP1

/// `acr update`, `acr credential`, `acr login` and `acr repository`: a registry's settings, admin user, and
/// its content, as az has them.
extension AcrCommand {
    /// The login server of a registry found by name.
    static func loginServer(_ client: CofferClient, _ name: String) async throws -> String {
        guard case .string(let server) = try await find(client, name, group: nil)["properties"]["loginServer"] else {
            throw CLIError("the registry \(name) has no login server")
        }
        return server
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Update a registry's settings.")
        @Option(name: [.short, .long], help: "The registry's name.") var name: String
        @Option(help: "true or false: enable or disable the admin user.") var adminEnabled: Bool?
        @Option(help: "Basic, Standard or Premium.") var sku: String?
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                guard case .string(let id) = try await AcrCommand.find(client, name, group: nil)["id"] else { throw CLIError("the registry \(name) has no id") }
                var body = JSONObject()
                if let adminEnabled { body["properties"] = .from([("adminUserEnabled", .bool(adminEnabled))]) }
                if let sku { body["sku"] = .from([("name", .string(sku))]) }
                return AzureOutputShape.flattened(try await client.arm(.PATCH, id, apiVersion: AcrCommand.apiVersion, body: .object(body)))
            }
        }
    }

    struct Credential: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The admin user's credentials.", subcommands: [Show.self, Renew.self])

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Show the admin user's name and two passwords.")
            @Option(name: [.short, .long], help: "The registry's name.") var name: String
            @OptionGroup var common: CommonOptions

            func run() async throws {
                try await runClient(common) { client in
                    guard case .string(let id) = try await AcrCommand.find(client, name, group: nil)["id"] else { return nil }
                    return try await client.arm(.POST, id + "/listCredentials", apiVersion: AcrCommand.apiVersion)
                }
            }
        }

        struct Renew: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Regenerate one of the two admin passwords.")
            @Option(name: [.short, .long], help: "The registry's name.") var name: String
            @Option(help: "password or password2.") var passwordName: String
            @OptionGroup var common: CommonOptions

            func run() async throws {
                try await runClient(common) { client in
                    guard case .string(let id) = try await AcrCommand.find(client, name, group: nil)["id"] else { return nil }
                    return try await client.arm(.POST, id + "/regenerateCredential", apiVersion: AcrCommand.apiVersion,
                                                body: .from([("name", .string(passwordName))]))
                }
            }
        }
    }

    struct Login: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Log in to a registry with the signed-in identity.",
            discussion: """
                Writes a registry token (valid 3 hours) to the containers auth file skopeo, podman and buildah read \
                (--auth-file, else $REGISTRY_AUTH_FILE, else ~/.docker/config.json). With --expose-token it prints the \
                token instead: log in with user name 00000000-0000-0000-0000-000000000000 and the token as password.
                """
        )
        @Option(name: [.short, .long], help: "The registry's name.") var name: String
        @Flag(help: "Print the token instead of writing an auth file.") var exposeToken = false
        @Option(help: "The auth file to write.") var authFile: String?
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                let server = try await AcrCommand.loginServer(client, name)
                let token = try await client.registryRefreshToken(loginServer: server)
                if exposeToken { return .from([("accessToken", .string(token)), ("loginServer", .string(server))]) }
                let path = authFile ?? ProcessInfo.processInfo.environment["REGISTRY_AUTH_FILE"]
                    ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".docker/config.json").path
                try AcrCommand.saveAuth(server: server, user: "00000000-0000-0000-0000-000000000000", secret: token, to: path)
                FileHandle.standardError.write(Data("Login Succeeded (\(server), credentials in \(path))\n".utf8))
                return nil
            }
        }
    }

    /// Adds `server` to an auth file in the containers/docker format, keeping what else it holds; only its owner may read it.
    static func saveAuth(server: String, user: String, secret: String, to path: String) throws {
        var document = JSONObject()
        if let data = FileManager.default.contents(atPath: path), case .object(let existing) = try? JSONText.parse(String(decoding: data, as: UTF8.self)) {
            document = existing
        }
        var auths = JSONObject()
        if case .object(let existing)? = document["auths"] { auths = existing }
        auths[server] = .from([("auth", .string(Data("\(user):\(secret)".utf8).base64EncodedString()))])
        document["auths"] = .object(auths)
        // A bare file name (`--auth-file auth.json`) has no directory to make.
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw CLIError("cannot create \(directory), the directory of the auth file \(path)")
            }
        }
        guard FileManager.default.createFile(atPath: path, contents: Data(JSONText.serialize(.object(document)).utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CLIError("cannot write the auth file \(path)")
        }
    }

    struct Repository: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Repositories of a registry.", subcommands: [List.self, Show.self, ShowTags.self, Update.self, Delete.self])

        /// Where ACR's metadata API (`/acr/v1`) keeps a repository, or the tag or manifest `--image` names, and the
        /// member of the answer az prints (`tag`, `manifest`, or the whole answer for a repository).
        static func metadataTarget(repository: String?, image: String?) throws -> (repository: String, path: String, member: String?) {
            switch (repository, image) {
            case (let repository?, nil):
                return (repository, "/acr/v1/\(repository)", nil)
            case (nil, let image?):
                if let at = image.firstIndex(of: "@") {
                    let name = String(image[..<at])
                    return (name, "/acr/v1/\(name)/_manifests/\(image[image.index(after: at)...])", "manifest")
                }
                let colon = image.lastIndex(of: ":").flatMap { image[$0...].contains("/") ? nil : $0 }
                let name = colon.map { String(image[..<$0]) } ?? image
                let tag = colon.map { String(image[image.index(after: $0)...]) } ?? "latest"
                return (name, "/acr/v1/\(name)/_tags/\(tag)", "tag")
            default:
                throw CLIError("give exactly one of --repository and --image")
            }
        }

        /// One call to ACR's metadata API with a token for `action` on the repository; the member az prints.
        static func metadataCall(_ client: CofferClient, registry: String, repository: String?, image: String?, action: String,
                                 _ method: HTTPMethod, body: JSONValue? = nil) async throws -> JSONValue {
            let server = try await AcrCommand.loginServer(client, registry)
            let target = try metadataTarget(repository: repository, image: image)
            let token = try await client.registryAccessToken(loginServer: server, refreshToken: try await client.registryRefreshToken(loginServer: server),
                                                             scopes: ["repository:\(target.repository):\(action)"])
            let (status, _, answer) = try await client.registryCall(method, loginServer: server, path: target.path, token: token, body: body)
            guard status == 200 else { throw CLIError(CofferClient.describeRegistryError(status, answer)) }
            return target.member.map { answer[$0] } ?? answer
        }

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Show a repository's attributes, or an image's (--image repo:tag or repo@digest).")
            @Option(name: [.short, .long], help: "The registry's name.") var name: String
            @Option(help: "The repository, e.g. team/app.") var repository: String?
            @Option(help: "An image: repository:tag or repository@digest.") var image: String?
            @OptionGroup var common: CommonOptions

            func run() async throws {
                try await runClient(common) { client in
                    try await Repository.metadataCall(client, registry: name, repository: repository, image: image, action: "metadata_read", .GET)
                }
            }
        }

        /// `az acr repository update`: the changeable attributes (image locks) of a repository, tag or manifest.
        struct Update: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Change a repository's or an image's attributes: lock it against writes or deletes, hide it from lists.")
            @Option(name: [.short, .long], help: "The registry's name.") var name: String
            @Option(help: "The repository, e.g. team/app.") var repository: String?
            @Option(help: "An image: repository:tag or repository@digest.") var image: String?
            @Option(help: "true or false (alone: true): whether it may be deleted.") var deleteEnabled: Bool?
            @Option(help: "true or false (alone: true): whether it is listed.") var listEnabled: Bool?
            @Option(help: "true or false (alone: true): whether it may be pulled.") var readEnabled: Bool?
            @Option(help: "true or false (alone: true): whether it may be written (a tag moved, a manifest replaced).") var writeEnabled: Bool?
            @OptionGroup var common: CommonOptions

            func run() async throws {
                var attributes = JSONObject()
                for (field, value) in [("deleteEnabled", deleteEnabled), ("listEnabled", listEnabled), ("readEnabled", readEnabled), ("writeEnabled", writeEnabled)] {
                    if let value { attributes[field] = .bool(value) }
                }
                guard !attributes.isEmpty else { throw ValidationError("name at least one of --delete-enabled, --list-enabled, --read-enabled, --write-enabled") }
                try await runClient(common) { client in
                    try await Repository.metadataCall(client, registry: name, repository: repository, image: image, action: "metadata_write", .PATCH,
                                                      body: .object(attributes))
                }
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List the repositories of a registry.")
            @Option(name: [.short, .long], help: "The registry's name.") var name: String
            @OptionGroup var common: CommonOptions

            func run() async throws {
                try await runClient(common) { client in
                    let server = try await AcrCommand.loginServer(client, name)
                    let token = try await client.registryAccessToken(loginServer: server, refreshToken: try await client.registryRefreshToken(loginServer: server),
                                                                     scopes: ["registry:catalog:*"])
                    let (status, _, body) = try await client.registryCall(.GET, loginServer: server, path: "/v2/_catalog?n=10000", token: token)
                    guard status == 200 else { throw CLIError(CofferClient.describeRegistryError(status, body)) }
                    return body["repositories"]
                }
            }
        }

        struct ShowTags: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "show-tags", abstract: "List the tags of a repository.")
            @Option(name: [.short, .long], help: "The registry's name.") var name: String
            @Option(help: "The repository, e.g. team/app.") var repository: String
            @OptionGroup var common: CommonOptions

            func run() async throws {
                try await runClient(common) { client in
                    let server = try await AcrCommand.loginServer(client, name)
                    let token = try await client.registryAccessToken(loginServer: server, refreshToken: try await client.registryRefreshToken(loginServer: server),
                                                                     scopes: ["repository:\(repository):pull"])
                    let (status, _, body) = try await client.registryCall(.GET, loginServer: server, path: "/v2/\(repository)/tags/list?n=10000", token: token)
                    guard status == 200 else { throw CLIError(CofferClient.describeRegistryError(status, body)) }
                    return body["tags"]
                }
            }
        }

        struct Delete: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Delete an image (--image repo:tag or repo@digest: its manifest and the tags on it) or every tagged image of a repository.")
            @Option(name: [.short, .long], help: "The registry's name.") var name: String
            @Option(help: "The repository, e.g. team/app.") var repository: String?
            @Option(help: "An image: repository:tag or repository@digest.") var image: String?
            @Flag(name: [.short, .long], help: "Do not ask for confirmation.") var yes = false
            @OptionGroup var common: CommonOptions

            func run() async throws {
                try await runClient(common) { client in
                    let server = try await AcrCommand.loginServer(client, name)
                    let (repository, references) = try await targets(client, server)
                    let token = try await client.registryAccessToken(loginServer: server, refreshToken: try await client.registryRefreshToken(loginServer: server),
                                                                     scopes: ["repository:\(repository):pull,delete"])
                    var deleted: Set<String> = []
                    for reference in references {
                        let (status, headers, body) = try await client.registryCall(
                            .HEAD, loginServer: server, path: "/v2/\(repository)/manifests/\(reference)", token: token,
                            accept: "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json")
                        guard status == 200, let digest = headers.first(name: "Docker-Content-Digest") else {
                            throw CLIError("\(repository):\(reference): \(CofferClient.describeRegistryError(status, body))")
                        }
                        guard deleted.insert(digest).inserted else { continue }
                        let (deleteStatus, _, deleteBody) = try await client.registryCall(.DELETE, loginServer: server, path: "/v2/\(repository)/manifests/\(digest)", token: token)
                        guard deleteStatus == 202 || deleteStatus == 200 else { throw CLIError(CofferClient.describeRegistryError(deleteStatus, deleteBody)) }
                    }
                    return nil
                }
            }

            /// The repository and the references to delete: the image given, or every tag of the repository.
            private func targets(_ client: CofferClient, _ server: String) async throws -> (String, [String]) {
                if let image {
                    if let at = image.firstIndex(of: "@") { return (String(image[..<at]), [String(image[image.index(after: at)...])]) }
                    guard let colon = image.lastIndex(of: ":") else { throw CLIError("--image is repository:tag or repository@digest") }
                    return (String(image[..<colon]), [String(image[image.index(after: colon)...])])
                }
                guard let repository else { throw CLIError("give --repository or --image") }
                let token = try await client.registryAccessToken(loginServer: server, refreshToken: try await client.registryRefreshToken(loginServer: server),
                                                                 scopes: ["repository:\(repository):pull"])
                let (status, _, body) = try await client.registryCall(.GET, loginServer: server, path: "/v2/\(repository)/tags/list?n=10000", token: token)
                guard status == 200, case .array(let tags) = body["tags"] else { throw CLIError(CofferClient.describeRegistryError(status, body)) }
                return (repository, tags.compactMap { if case .string(let tag) = $0 { tag } else { nil } })
            }
        }
    }
}
