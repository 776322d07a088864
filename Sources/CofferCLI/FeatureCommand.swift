import ArgumentParser
import Foundation
import JMESPath

struct FeatureCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "feature", abstract: "Manage preview-feature registrations.",
                                                    subcommands: [Register.self, Unregister.self, Show.self, List.self])

    struct Target: ParsableArguments {
        @Option(name: [.short, .long], help: "Feature name, e.g. PrivatePreview.") var name: String
        @Option(help: "Resource provider namespace, e.g. Microsoft.ContainerRegistry.") var namespace: String
    }

    static func path(_ client: CofferClient, _ target: Target) -> String {
        "/subscriptions/\(client.subscriptionID)/providers/Microsoft.Features/providers/\(target.namespace)/features/\(target.name)"
    }

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Request a preview feature (approved automatically after a short delay).")
        @OptionGroup var target: Target
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                let result = try await client.arm(.POST, FeatureCommand.path(client, target) + "/register", apiVersion: "2021-07-01")
                FileHandle.standardError.write(Data("Once the feature '\(target.name)' is registered, it can be used in subscription \(client.subscriptionID).\n".utf8))
                return result
            }
        }
    }

    struct Unregister: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Unregister a preview feature.")
        @OptionGroup var target: Target
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await client.arm(.POST, FeatureCommand.path(client, target) + "/unregister", apiVersion: "2021-07-01")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a preview feature's registration state.")
        @OptionGroup var target: Target
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in try await client.arm(.GET, FeatureCommand.path(client, target), apiVersion: "2021-07-01") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List preview features and their states.")
        @Option(help: "Only this provider's features.") var namespace: String?
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                let path = namespace.map { "/subscriptions/\(client.subscriptionID)/providers/Microsoft.Features/providers/\($0)/features" }
                    ?? "/subscriptions/\(client.subscriptionID)/providers/Microsoft.Features/features"
                return try await client.arm(.GET, path, apiVersion: "2021-07-01")["value"]
            }
        }
    }
}
