import ArgumentParser
import JMESPath

struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "group", abstract: "Manage resource groups.",
                                                    subcommands: [Create.self, Show.self, List.self, Delete.self, LegacyGroupDeployment.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create (or update) a resource group.")
        @Option(name: [.short, .long, .customLong("resource-group"), .customShort("g")], help: "Name of the resource group.") var name: String
        @Option(name: [.short, .long], help: "Location, e.g. westeurope.") var location: String
        @Option(parsing: .upToNextOption, help: "Tags as key=value.") var tags: [String] = []
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                var body = JSONObject([("location", .string(location))])
                if !tags.isEmpty { body["tags"] = .object(JSONObject(tags.map { Self.tag($0) })) }
                return try await client.arm(.PUT, client.groupPath(name), apiVersion: "2021-04-01", body: .object(body))
            }
        }

        static func tag(_ text: String) -> (String, JSONValue) {
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            return (parts[0], .string(parts.count > 1 ? parts[1] : ""))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a resource group.")
        @Option(name: [.short, .long, .customLong("resource-group"), .customShort("g")], help: "The resource group's name.") var name: String
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in try await client.arm(.GET, client.groupPath(name), apiVersion: "2021-04-01") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List resource groups.")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await client.arm(.GET, "/subscriptions/\(client.subscriptionID)/resourcegroups", apiVersion: "2021-04-01")["value"]
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a resource group and everything in it.")
        @Option(name: [.short, .long, .customLong("resource-group"), .customShort("g")], help: "The resource group's name.") var name: String
        @Flag(name: [.short, .long], help: "Do not prompt for confirmation.") var yes = false
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await client.arm(.DELETE, client.groupPath(name), apiVersion: "2021-04-01")
                return nil
            }
        }
    }
}
