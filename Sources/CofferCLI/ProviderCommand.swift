import ArgumentParser
import Foundation
import JMESPath

/// `provider list|show|register`, as az has them. This server's providers are always registered: `register`
/// answers at once, as az's does once Azure has finished.
struct ProviderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "provider", abstract: "Resource providers: what each serves, and their registration.",
                                                    subcommands: [List.self, Show.self, Register.self])
    static let apiVersion = "2021-04-01"

    static func path(_ client: CofferClient, _ namespace: String) -> String {
        "/subscriptions/\(client.subscriptionID)/providers/\(namespace)"
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List resource providers.")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await client.arm(.GET, "/subscriptions/\(client.subscriptionID)/providers", apiVersion: ProviderCommand.apiVersion)["value"]
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a resource provider: its state and resource types.")
        @Option(name: [.short, .customLong("namespace")], help: "The namespace, e.g. Microsoft.ContainerRegistry.") var namespace: String
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await client.arm(.GET, ProviderCommand.path(client, namespace), apiVersion: ProviderCommand.apiVersion)
            }
        }
    }

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a resource provider (those of this server always are).")
        @Option(name: [.short, .customLong("namespace")], help: "The namespace, e.g. Microsoft.ContainerRegistry.") var namespace: String
        @Flag(help: "Accepted for compatibility: registration is immediate.") var wait = false
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await client.arm(.POST, ProviderCommand.path(client, namespace) + "/register", apiVersion: ProviderCommand.apiVersion)
                return nil  // az prints nothing
            }
        }
    }
}
