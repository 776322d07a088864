import ArgumentParser
import JMESPath

struct IdentityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "identity", abstract: "Manage user-assigned managed identities.",
                                                    subcommands: [Create.self, Show.self, List.self, Delete.self, WorkloadEnv.self])

    static func path(_ client: CofferClient, _ group: String, _ name: String? = nil) -> String {
        client.groupPath(group) + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities" + (name.map { "/\($0)" } ?? "")
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user-assigned identity.")
        @Option(name: [.short, .long], help: "The identity's name.") var name: String
        @Option(name: [.customShort("g"), .customLong("resource-group"), .customLong("group")], help: "The resource group.") var resourceGroup: String
        @Option(name: [.short, .long], help: "The Azure region, e.g. westeurope (default: the resource group's).") var location: String?
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                var location = self.location ?? ""
                if location.isEmpty { location = try await client.location(ofGroup: resourceGroup) }
                return AzureOutputShape.flattened(try await client.arm(.PUT, IdentityCommand.path(client, resourceGroup, name), apiVersion: "2023-01-31",
                                                                       body: .from([("location", .string(location))])))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a user-assigned managed identity.")
        @Option(name: [.short, .long], help: "The identity's name.") var name: String
        @Option(name: [.customShort("g"), .customLong("resource-group"), .customLong("group")], help: "The resource group.") var resourceGroup: String
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                AzureOutputShape.flattened(try await client.arm(.GET, IdentityCommand.path(client, resourceGroup, name), apiVersion: "2023-01-31"))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List user-assigned managed identities (of a group, or of the subscription).")
        @Option(name: [.customShort("g"), .customLong("resource-group"), .customLong("group")], help: "The resource group (optional: the name is looked up in the subscription).") var resourceGroup: String?
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                let path = resourceGroup.map { IdentityCommand.path(client, $0) }
                    ?? "/subscriptions/\(client.subscriptionID)/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
                return AzureOutputShape.flattenedList(try await client.arm(.GET, path, apiVersion: "2023-01-31")["value"])
            }
        }
    }

    /// Coffer's own: the environment a workload sets to get this identity's tokens from the managed-identity endpoint.
    struct WorkloadEnv: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "workload-env",
            abstract: "Show IDENTITY_ENDPOINT and IDENTITY_HEADER for a workload that acts as this identity (needs Owner or Contributor on it).")
        @Option(name: [.short, .long], help: "The identity's name.") var name: String
        @Flag(help: "Revoke every header handed out so far and show the new one (needs write access to the identity).")
        var regenerate = false
        @Option(name: [.customShort("g"), .customLong("resource-group"), .customLong("group")], help: "The resource group.") var resourceGroup: String
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await client.arm(.POST, IdentityCommand.path(client, resourceGroup, name)
                                     + (regenerate ? "/regenerateWorkloadEnvironment" : "/listWorkloadEnvironment"), apiVersion: "2023-01-31")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user-assigned managed identity.")
        @Option(name: [.short, .long], help: "The identity's name.") var name: String
        @Option(name: [.customShort("g"), .customLong("resource-group"), .customLong("group")], help: "The resource group.") var resourceGroup: String
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await client.arm(.DELETE, IdentityCommand.path(client, resourceGroup, name), apiVersion: "2023-01-31")
                return nil
            }
        }
    }
}
