import ArgumentParser
import Foundation

/// `coffer`: `serve` runs the server; every other command talks HTTPS to a running server, like `az`.
public struct CofferCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "coffer",
        abstract: "A container registry whose data at rest is encrypted under a key its owner holds.",
        subcommands: [Serve.self, LoginCommand.self, LogoutCommand.self, AccountCommand.self, FeatureCommand.self, GroupCommand.self,
                      KeyVaultCommand.self, IdentityCommand.self, UserCommand.self, RoleCommand.self, AcrCommand.self, ResourceCommand.self, DeploymentCommand.self, ProviderCommand.self,
                      BackupCommand.self, RestoreCommand.self, CheckCommand.self]
    )

    public init() {}

    /// `az` accepts `--enable-purge-protection true` as well as the bare flag; so do we.
    public static func normalized(_ arguments: ArraySlice<String>) -> [String] {
        let booleanFlags: Set<String> = ["--enable-soft-delete", "--enable-purge-protection", "--enable-rbac-authorization"]
        let threeStateOptions: Set<String> = ["--admin-enabled", "--enabled", "--delete-enabled", "--list-enabled", "--read-enabled", "--write-enabled"]
        var result: [String] = []
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            // az's three-state options take `true`, `false` or nothing (meaning true): the parser wants a value.
            if threeStateOptions.contains(argument), index + 1 == arguments.endIndex || arguments[index + 1].hasPrefix("-") {
                result += [argument, "true"]
                index += 1
                continue
            }
            if booleanFlags.contains(argument), index + 1 < arguments.endIndex, ["true", "false"].contains(arguments[index + 1].lowercased()) {
                if arguments[index + 1].lowercased() == "true" { result.append(argument) }
                index += 2
                continue
            }
            result.append(argument)
            index += 1
        }
        return result
    }
}

extension CofferCommand {
    /// Parses and runs a command line (after ``normalized(_:)``), as `AsyncParsableCommand.main` does.
    public static func run(arguments: [String]) async {
        if let message = unknownSubcommand(in: arguments) {
            FileHandle.standardError.write(Data("ERROR: \(message)\n".utf8))
            exit(withError: ExitCode(2))
        }
        do {
            var command = try await asyncParseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

extension CofferCommand {
    /// az's answer to a word that is no command of its group (`coffer acr frobnicate --name x`), which the argument
    /// parser would report as the first option it cannot place ("Unknown option '--name'").
    static func unknownSubcommand(in arguments: [String]) -> String? {
        var command: any ParsableCommand.Type = CofferCommand.self
        var path = [CofferCommand._commandName]
        for argument in arguments {
            let subcommands = command.configuration.subcommands
            // `help` is the parser's own command (`coffer help acr`).
            guard !subcommands.isEmpty, !argument.hasPrefix("-"), argument != "help" else { return nil }
            guard let next = subcommands.first(where: { $0._commandName == argument || $0.configuration.aliases.contains(argument) }) else {
                let group = path.joined(separator: " ")
                return "'\(argument.prefix(100))' is not a command of '\(group)'. See '\(group) --help'."
            }
            command = next
            path.append(next._commandName)
        }
        return nil
    }
}
