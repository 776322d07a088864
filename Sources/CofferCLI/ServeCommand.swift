import ArgumentParser
import CofferServer
import Foundation
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the registry, key vault, identity service and resource manager over HTTPS on one port.",
        discussion: ServerConfiguration.settingsHelp)

    @Option(help: "A configuration file, JSON or YAML (.yaml, .yml); the environment and flags override it.") var config: String?
    @Flag(help: "Print every setting's effective value and where it came from (passwords redacted), then exit.") var printConfig = false
    /// The settings' flags, read through the one table of settings (listed below by --help).
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp(visibility: .hidden)) var settings: [String] = []

    func run() async throws {
        let resolved = try ResolvedConfiguration.resolve(file: config, environment: ProcessInfo.processInfo.environment, arguments: settings)
        if printConfig {
            print(resolved.report())
            return
        }
        let settings = resolved.configuration
        // The system OpenSSL is looked up on first use, from the environment; the setting (file, flag or the same
        // variable) is passed on before anything can use it.
        setenv("COFFER_SYSTEM_OPENSSL", settings.systemOpenSSL ? "1" : "0", 1)
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let server = try await CofferServer.prepare(settings, logger: Logger(label: "coffer"))
        try await server.run()
    }
}
