import ArgumentParser
import Foundation
import JMESPath

/// `deployment group …` (and the legacy `group deployment …`): template deployments to a resource group.
struct DeploymentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "deployment", abstract: "Manage template deployments.",
                                                    subcommands: [GroupScope.self, Operation.self])

    struct GroupScope: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "group", abstract: "Deployments at resource-group scope.",
                                                        subcommands: [Create.self, Validate.self, Show.self, List.self, Delete.self])
    }

    static let apiVersion = "2021-04-01"

    static func path(_ client: CofferClient, _ group: String, _ name: String? = nil) -> String {
        client.groupPath(group) + "/providers/Microsoft.Resources/deployments" + (name.map { "/\($0)" } ?? "")
    }

    struct Input: ParsableArguments {
        @Option(name: [.customShort("g"), .customLong("resource-group")], help: "The resource group to deploy to.") var resourceGroup: String
        @Option(name: [.customShort("f"), .customLong("template-file")], help: "The template (JSON).") var templateFile: String
        @Option(name: [.customShort("p"), .customLong("parameters")], parsing: .upToNextOption,
                help: "Parameters: name=value pairs, @file.json (a parameters file) or inline JSON.") var parameters: [String] = []
        @Option(name: [.short, .long], help: "Deployment name (default: the template file's name).") var name: String?
        @Option(help: "Incremental or Complete.") var mode: String = "Incremental"

        var deploymentName: String {
            name ?? URL(fileURLWithPath: templateFile).deletingPathExtension().lastPathComponent
        }

        /// The deployment request body: the template and `{"name": {"value": …}}` parameters.
        func body() throws -> JSONValue {
            guard let text = try? String(contentsOfFile: templateFile, encoding: .utf8) else { throw CLIError("cannot read the template file \(templateFile)") }
            let template: JSONValue
            do { template = try JSONText.parse(text, syntax: .lenient) } catch { throw CLIError("the template file \(templateFile) is not valid JSON: \(error.description)") }
            var values = JSONObject()
            for argument in parameters {
                if argument.hasPrefix("@") || argument.hasPrefix("{") {
                    let source = argument.hasPrefix("@") ? (try? String(contentsOfFile: String(argument.dropFirst()), encoding: .utf8)) : argument
                    guard let source, case .object(var object) = try? JSONText.parse(source, syntax: .lenient) else {
                        throw CLIError("cannot read parameters from \(argument.prefix(80))")
                    }
                    if case .object(let inner)? = object["parameters"], object["$schema"] != nil || object["contentVersion"] != nil { object = inner }
                    for key in object.keys { values[key] = object[key] }
                } else if let equals = argument.firstIndex(of: "=") {
                    values[String(argument[..<equals])] = .object(JSONObject([("value", .string(String(argument[argument.index(after: equals)...])))]))
                } else {
                    throw CLIError("a parameter must be name=value, @file or JSON: \(argument.prefix(80))")
                }
            }
            return .object(JSONObject([("properties", .object(JSONObject([
                ("template", template), ("parameters", .object(values)), ("mode", .string(mode)),
            ])))]))
        }
    }

    /// Only creating has something to wait for: `validate` answers at once.
    struct Waiting: ParsableArguments {
        @Flag(help: "Do not wait for the deployment to finish (it runs on; `deployment group show` tells its state).") var noWait = false
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deploy a template to a resource group (validates first).")
        @OptionGroup var input: Input
        @OptionGroup var waiting: Waiting
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in try await DeploymentCommand.create(client, input, noWait: waiting.noWait) }
        }
    }

    static func create(_ client: CofferClient, _ input: Input, noWait: Bool) async throws -> JSONValue {
        let body = try input.body()
        let path = DeploymentCommand.path(client, input.resourceGroup, input.deploymentName)
        try await client.arm(.POST, path + "/validate", apiVersion: apiVersion, body: body)
        let result = try await client.arm(.PUT, path, apiVersion: apiVersion, body: body, wait: !noWait)
        if case .string("Failed") = result["properties"]["provisioningState"] {
            throw CLIError(CofferClient.describe(.object(JSONObject([("error", result["properties"]["error"])]))))
        }
        return result
    }

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a template and its parameters without deploying.")
        @OptionGroup var input: Input
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await client.arm(.POST, DeploymentCommand.path(client, input.resourceGroup, input.deploymentName) + "/validate",
                                     apiVersion: DeploymentCommand.apiVersion, body: try input.body())
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a deployment (state, outputs, error).")
        @Option(name: [.customShort("g"), .customLong("resource-group")], help: "The resource group.") var resourceGroup: String
        @Option(name: [.short, .long], help: "The deployment's name.") var name: String
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await client.arm(.GET, DeploymentCommand.path(client, resourceGroup, name), apiVersion: DeploymentCommand.apiVersion)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the deployments of a resource group.")
        @Option(name: [.customShort("g"), .customLong("resource-group")], help: "The resource group.") var resourceGroup: String
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await client.arm(.GET, DeploymentCommand.path(client, resourceGroup), apiVersion: DeploymentCommand.apiVersion)["value"]
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a deployment record (not the resources it made).")
        @Option(name: [.customShort("g"), .customLong("resource-group")], help: "The resource group.") var resourceGroup: String
        @Option(name: [.short, .long], help: "The deployment's name.") var name: String
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await client.arm(.DELETE, DeploymentCommand.path(client, resourceGroup, name), apiVersion: DeploymentCommand.apiVersion)
                return nil
            }
        }
    }
}

extension DeploymentCommand {
    /// `deployment operation group list|show`: what each resource of a deployment did.
    struct Operation: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "operation", abstract: "The operations of a deployment.",
                                                        subcommands: [Group.self])

        struct Group: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "group", abstract: "Operations of a resource-group deployment.",
                                                            subcommands: [List.self, Show.self])
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List what each resource of a deployment did.")
            @Option(name: [.customShort("g"), .customLong("resource-group")], help: "The resource group.") var resourceGroup: String
            @Option(name: [.short, .long], help: "The deployment name.") var name: String
            @OptionGroup var common: CommonOptions

            func run() async throws {
                try await runClient(common) { client in
                    try await client.arm(.GET, DeploymentCommand.path(client, resourceGroup, name) + "/operations", apiVersion: DeploymentCommand.apiVersion)["value"]
                }
            }
        }

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Show one operation of a deployment.")
            @Option(name: [.customShort("g"), .customLong("resource-group")], help: "The resource group.") var resourceGroup: String
            @Option(name: [.short, .long], help: "The deployment name.") var name: String
            @Option(name: .customLong("operation-ids"), help: "The operation id.") var operationID: String
            @OptionGroup var common: CommonOptions

            func run() async throws {
                try await runClient(common) { client in
                    try await client.arm(.GET, DeploymentCommand.path(client, resourceGroup, name) + "/operations/\(operationID)",
                                         apiVersion: DeploymentCommand.apiVersion)
                }
            }
        }
    }
}

/// `group deployment create`: the seed's (older) spelling of `deployment group create`.
struct LegacyGroupDeployment: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "deployment", abstract: "Deprecated spelling of `deployment group`.",
                                                    subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deploy a template to a resource group.")
        @OptionGroup var input: DeploymentCommand.Input
        @OptionGroup var waiting: DeploymentCommand.Waiting
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in try await DeploymentCommand.create(client, input, noWait: waiting.noWait) }
        }
    }
}
