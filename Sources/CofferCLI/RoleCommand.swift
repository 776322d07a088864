import ArgumentParser
import Foundation
import Identity
import JMESPath

/// Role assignments, as `az role assignment` makes them: who (a user by sign-in name, or any principal by object id),
/// which built-in role, at which scope.
struct RoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "role", abstract: "Manage role assignments.",
                                                    subcommands: [Assignment.self])

    static let apiVersion = "2022-04-01"

    struct Assignment: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "assignment", abstract: "Grant, list and remove roles.",
                                                        subcommands: [Create.self, List.self, Delete.self])
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Grant a built-in role at a scope.")
        @Option(help: "A user's sign-in name (alice@coffer.localhost) or a principal's object id.") var assignee: String
        @Option(help: "A built-in role's name, e.g. Owner, Reader, AcrPull, AcrPush, \"Key Vault Crypto Officer\".") var role: String
        @Option(help: "Where it applies: /subscriptions/<id>[/resourceGroups/<group>[/providers/…]] (default: the subscription).") var scope: String?
        @OptionGroup var common: CommonOptions

        func run() async throws {
            guard let builtIn = BuiltInRole.allCases.first(where: { $0.rawValue.lowercased() == role.lowercased() }) else {
                throw ValidationError("no built-in role '\(role)'; use one of: \(BuiltInRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            try await runClient(common) { client in
                let scope = self.scope ?? "/subscriptions/\(client.subscriptionID)"
                var principalID = assignee
                var principalType = "ServicePrincipal"
                if assignee.contains("@") {
                    guard case .string(let id) = try await client.graph(.GET, "/v1.0/users/\(UserCommand.escaped(assignee))")["id"] else {
                        throw CLIError("no user \(assignee)")
                    }
                    principalID = id
                    principalType = "User"
                }
                return try await client.arm(.PUT, "\(scope)/providers/Microsoft.Authorization/roleAssignments/\(UUID().uuidString.lowercased())",
                                            apiVersion: RoleCommand.apiVersion, body: .from([("properties", .from([
                                                ("roleDefinitionId", .string("/subscriptions/\(client.subscriptionID)/providers/Microsoft.Authorization/roleDefinitions/\(builtIn.definitionID)")),
                                                ("principalId", .string(principalID)), ("principalType", .string(principalType)),
                                            ]))]))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List role assignments at a scope and above.")
        @Option(help: "The scope (default: the subscription).") var scope: String?
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await client.arm(.GET, "\(scope ?? "/subscriptions/\(client.subscriptionID)")/providers/Microsoft.Authorization/roleAssignments",
                                     apiVersion: RoleCommand.apiVersion)["value"]
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a role assignment by its id.")
        @Option(help: "The role assignment's id.") var ids: String
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                _ = try await client.arm(.DELETE, ids, apiVersion: RoleCommand.apiVersion)
                return JSONValue.null
            }
        }
    }
}
