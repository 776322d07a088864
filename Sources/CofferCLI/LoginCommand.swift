import ArgumentParser
import Foundation
import JMESPath

/// `login --service-principal`, `logout` and `account show`: signing the CLI in as a principal other than the
/// server's operator, as `az login --service-principal` does.
struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login", abstract: "Sign in as a service principal.",
        discussion: "Checks the credentials, then keeps them in the profile (COFFER_CONFIG_DIR, else ~/.coffer) that later commands use."
    )
    @Flag(help: "Sign in as a service principal (the only kind of sign-in Coffer has).") var servicePrincipal = false
    @Option(name: [.short, .long], help: "The service principal's application (client) id.") var username: String
    @Option(name: [.short, .long], help: "Its client secret (one that starts with '-': --password=<secret>).") var password: String
    @Option(help: "The tenant id.") var tenant: String
    @Option(help: "The server's address (default: $COFFER_URL, else https://localhost:8443).") var authority: String?
    @Option(help: "A PEM file of the CA to trust for the server's certificate (a local Coffer: its data directory's ca.pem).") var caFile: String?
    @OptionGroup var common: CommonOptions

    func run() async throws {
        guard servicePrincipal else {
            FileHandle.standardError.write(Data("ERROR: only service principals sign in: use --service-principal\n".utf8))
            throw ExitCode(1)
        }
        let server = authority ?? ProcessInfo.processInfo.environment["COFFER_URL"] ?? "https://localhost:8443"
        var credentials = ClientCredentials(authority: server, tenantID: tenant, subscriptionID: "", clientID: username, clientSecret: password,
                                            caFile: caFile.map { URL(fileURLWithPath: $0).standardizedFileURL.path })
        try await runClient(common, credentials: credentials) { client in
            let subscriptions = try await client.arm(.GET, "/subscriptions", apiVersion: "2022-12-01")
            guard case .array(let list) = subscriptions["value"], let first = list.first, case .string(let id) = first["subscriptionId"] else {
                throw CLIError("the service principal \(username) has access to no subscription")
            }
            credentials.subscriptionID = id
            try credentials.saveAsProfile()
            return .array(list.map { subscription in
                .from([("cloudName", .string(AccountCommand.cloudName)), ("homeTenantId", .string(tenant)), ("id", subscription["subscriptionId"]),
                       ("isDefault", .bool(subscription["subscriptionId"] == .string(id))),
                       ("name", subscription["displayName"]), ("state", subscription["state"]), ("tenantId", .string(tenant)),
                       ("user", .from([("name", .string(username)), ("type", .string("servicePrincipal"))]))])
            })
        }
    }
}

struct LogoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logout", abstract: "Forget the signed-in service principal.")

    func run() throws {
        try? FileManager.default.removeItem(atPath: ClientCredentials.profilePath)
    }
}

struct AccountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "account", abstract: "The signed-in account.", subcommands: [Show.self])
    /// The cloud's name as the README registers it with az (`az cloud register -n coffer`): az prints it.
    static let cloudName = "coffer"

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the signed-in account and subscription.")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                let subscription = try await client.arm(.GET, "/subscriptions/\(client.subscriptionID)", apiVersion: "2022-12-01")
                return .from([("environmentName", .string(AccountCommand.cloudName)), ("homeTenantId", .string(client.tenantID)),
                              ("id", .string(client.subscriptionID)), ("isDefault", .bool(true)), ("name", subscription["displayName"]),
                              ("state", subscription["state"]), ("tenantId", .string(client.tenantID)),
                              ("user", .from([("name", .string(client.signedInClientID)), ("type", .string("servicePrincipal"))]))])
            }
        }
    }
}
