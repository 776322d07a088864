import ArgumentParser
import JMESPath

struct AcrCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "acr", abstract: "Manage container registries.",
                                                    subcommands: [Create.self, Show.self, List.self, Update.self, Delete.self, Login.self, Credential.self,
                                                                  Repository.self, Encryption.self])
    static let apiVersion = "2023-07-01"

    struct Encryption: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A registry's customer-managed key.", subcommands: [Show.self, RotateKey.self])

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Show a registry's encryption settings (properties.encryption).")
            @Option(name: [.short, .long], help: "The registry's name.") var name: String
            @OptionGroup var common: CommonOptions

            func run() async throws {
                try await runClient(common) { client in try await AcrCommand.find(client, name, group: nil)["properties"]["encryption"] }
            }
        }

        struct RotateKey: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "rotate-key",
                                                            abstract: "Rewrap the registry's master key under another key (same or another vault).")
            @Option(name: [.short, .long], help: "The registry's name.") var name: String
            @Option(help: "The new key identifier (versionless to follow its newest version).") var keyEncryptionKey: String
            @Option(help: "Client id of the user-assigned identity to reach the key with, or [system].") var identity: String
            @OptionGroup var common: CommonOptions

            func run() async throws {
                try await runClient(common) { client in
                    let registry = try await AcrCommand.find(client, name, group: nil)
                    guard case .string(let id) = registry["id"], case .object(var body) = registry,
                          case .object(var properties) = registry["properties"] else { throw CLIError("the registry \(name) has no id") }
                    properties["encryption"] = .from([("status", .string("enabled")), ("keyVaultProperties", .from([
                        ("identity", .string(identity)), ("keyIdentifier", .string(keyEncryptionKey)),
                    ]))])
                    body["properties"] = .object(properties)
                    return try await client.arm(.PUT, id, apiVersion: AcrCommand.apiVersion, body: .object(body))["properties"]["encryption"]
                }
            }
        }
    }

    /// The registry named `name` wherever it is in the subscription (registry names are global).
    static func find(_ client: CofferClient, _ name: String, group: String?) async throws -> JSONValue {
        if let group {
            return try await client.arm(.GET, "\(client.groupPath(group))/providers/Microsoft.ContainerRegistry/registries/\(name)", apiVersion: apiVersion)
        }
        let list = try await client.arm(.GET, "/subscriptions/\(client.subscriptionID)/providers/Microsoft.ContainerRegistry/registries", apiVersion: apiVersion)
        guard case .array(let registries) = list["value"],
              let registry = registries.first(where: { if case .string(let found) = $0["name"] { found.lowercased() == name.lowercased() } else { false } }) else {
            throw CLIError("(ResourceNotFound) The registry '\(name)' was not found in subscription \(client.subscriptionID).")
        }
        return registry
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a container registry (service-managed encryption).")
        @Option(name: [.short, .long], help: "The registry's name.") var name: String
        @Option(name: [.customShort("g"), .customLong("resource-group"), .customLong("group")], help: "The resource group.") var resourceGroup: String
        @Option(help: "Basic, Standard or Premium.") var sku: String
        @Option(name: [.short, .long], help: "The Azure region, e.g. westeurope (default: the resource group's).") var location: String?
        @Option(help: "true or false (alone: true): enable the admin user (default false).") var adminEnabled: Bool?
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                var location = self.location ?? ""
                if location.isEmpty { location = try await client.location(ofGroup: resourceGroup) }
                return AzureOutputShape.flattened(try await client.arm(
                    .PUT, "\(client.groupPath(resourceGroup))/providers/Microsoft.ContainerRegistry/registries/\(name)",
                    apiVersion: AcrCommand.apiVersion, body: .from([
                        ("location", .string(location)), ("sku", .from([("name", .string(sku))])),
                        ("properties", .from([("adminUserEnabled", .bool(adminEnabled ?? false))])),
                    ])))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a registry's resource (found by name across the subscription).")
        @Option(name: [.short, .long], help: "The registry's name.") var name: String
        @Option(name: [.customShort("g"), .customLong("resource-group"), .customLong("group")], help: "The resource group (optional: the name is looked up in the subscription).") var resourceGroup: String?
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in AzureOutputShape.flattened(try await AcrCommand.find(client, name, group: resourceGroup)) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registries (of a group, or of the subscription).")
        @Option(name: [.customShort("g"), .customLong("resource-group"), .customLong("group")], help: "The resource group (optional: the name is looked up in the subscription).") var resourceGroup: String?
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                let path = resourceGroup.map { "\(client.groupPath($0))/providers/Microsoft.ContainerRegistry/registries" }
                    ?? "/subscriptions/\(client.subscriptionID)/providers/Microsoft.ContainerRegistry/registries"
                return AzureOutputShape.flattenedList(try await client.arm(.GET, path, apiVersion: AcrCommand.apiVersion)["value"])
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a registry: its resource, its data, its master key.")
        @Option(name: [.short, .long], help: "The registry's name.") var name: String
        @Option(name: [.customShort("g"), .customLong("resource-group"), .customLong("group")], help: "The resource group (optional: the name is looked up in the subscription).") var resourceGroup: String?
        @Flag(name: [.short, .long], help: "Do not ask for confirmation.") var yes = false
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                guard case .string(let id) = try await AcrCommand.find(client, name, group: resourceGroup)["id"] else { return nil }
                try await client.arm(.DELETE, id, apiVersion: AcrCommand.apiVersion)
                return nil
            }
        }
    }
}
