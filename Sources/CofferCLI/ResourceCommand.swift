import ArgumentParser
import Foundation
import JMESPath

/// `resource list|show|delete`: any resource, by id or by group, type and name, as `az resource` does.
struct ResourceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resource", abstract: "Generic resource operations.",
                                                    subcommands: [List.self, Show.self, Delete.self])
    /// The resource manager accepts any dated api-version for the types it serves.
    static let defaultAPIVersion = "2023-07-01"

    struct Target: ParsableArguments {
        @Option(name: [.customLong("ids"), .customLong("id")], help: "The resource id.") var id: String?
        @Option(name: [.customShort("g"), .customLong("resource-group")], help: "The resource group (with --resource-type and --name).") var resourceGroup: String?
        @Option(help: "The type, as Namespace/type (e.g. Microsoft.ContainerRegistry/registries).") var resourceType: String?
        @Option(name: [.short, .long], help: "The resource name.") var name: String?
        @Option(help: "The API version of the resource type.") var apiVersion: String = ResourceCommand.defaultAPIVersion

        func resourceID(_ client: CofferClient) throws -> String {
            if let id { return id }
            guard let resourceGroup, let resourceType, let name else {
                throw CLIError("give --ids, or --resource-group, --resource-type and --name")
            }
            return "\(client.groupPath(resourceGroup))/providers/\(resourceType)/\(name)"
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List resources, filtered by group, type, name, location or tag.")
        @Option(name: [.customShort("g"), .customLong("resource-group")], help: "The resource group (optional: the name is looked up in the subscription).") var resourceGroup: String?
        @Option(help: "Only this type (Namespace/type).") var resourceType: String?
        @Option(name: [.short, .long], help: "Only resources of this name.") var name: String?
        @Option(name: [.short, .long], help: "Only resources in this location.") var location: String?
        @Option(help: "Only resources with this tag: name or name=value.") var tag: String?
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                var clauses: [String] = []
                func quote(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
                if let resourceType { clauses.append("resourceType eq \(quote(resourceType))") }
                if let name { clauses.append("name eq \(quote(name))") }
                if let location { clauses.append("location eq \(quote(location))") }
                if let tag {
                    let parts = tag.split(separator: "=", maxSplits: 1).map(String.init)
                    clauses.append("tagName eq \(quote(parts[0]))")
                    if parts.count == 2 { clauses.append("tagValue eq \(quote(parts[1]))") }
                }
                var path = (resourceGroup.map(client.groupPath) ?? "/subscriptions/\(client.subscriptionID)") + "/resources"
                if !clauses.isEmpty {
                    let filter = clauses.joined(separator: " and ")
                    path += "?$filter=" + (filter.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? filter)
                }
                return try await client.arm(.GET, path, apiVersion: "2021-04-01", genericProperties: true)["value"]
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show any resource by id, or by group, type and name.")
        @OptionGroup var target: Target
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in try await client.arm(.GET, try target.resourceID(client), apiVersion: target.apiVersion, genericProperties: true) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete any resource by id, or by group, type and name.")
        @OptionGroup var target: Target
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await client.arm(.DELETE, try target.resourceID(client), apiVersion: target.apiVersion)
                return nil
            }
        }
    }
}
