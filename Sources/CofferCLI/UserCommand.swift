import ArgumentParser
import Foundation
import JMESPath

/// People who sign in to the web console (and `az login -u`): Microsoft Graph's users, as `az ad user` manages them.
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "user", abstract: "Manage the people who sign in (the web console, az login -u).",
                                                    subcommands: [Create.self, List.self, Show.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user. Give it roles like any principal (its id is the object id).")
        @Option(name: .long, help: "The sign-in name, name@domain (e.g. alice@coffer.localhost).") var userPrincipalName: String
        @Option(name: .long, help: "The name pages show.") var displayName: String
        @Option(name: .long, help: "At least 12 characters (or set COFFER_USER_PASSWORD to keep it out of the command line).") var password: String?
        @OptionGroup var common: CommonOptions

        func run() async throws {
            guard let password = password ?? ProcessInfo.processInfo.environment["COFFER_USER_PASSWORD"] else {
                throw ValidationError("give --password, or set COFFER_USER_PASSWORD")
            }
            try await runClient(common) { client in
                try await client.graph(.POST, "/v1.0/users", body: .from([
                    ("accountEnabled", .bool(true)), ("displayName", .string(displayName)), ("userPrincipalName", .string(userPrincipalName)),
                    ("mailNickname", .string(String(userPrincipalName.split(separator: "@").first ?? ""))),
                    ("passwordProfile", .from([("password", .string(password)), ("forceChangePasswordNextSignIn", .bool(false))])),
                ]))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in try await client.graph(.GET, "/v1.0/users")["value"] }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a user.")
        @Option(name: .long, help: "The user's object id or sign-in name.") var id: String
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in try await client.graph(.GET, "/v1.0/users/\(UserCommand.escaped(id))") }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user, its roles and its console sessions' access.")
        @Option(name: .long, help: "The user's object id or sign-in name.") var id: String
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await client.graph(.DELETE, "/v1.0/users/\(UserCommand.escaped(id))")
                return JSONValue.null
            }
        }
    }

    static func escaped(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "@.-_"))) ?? id
    }
}
