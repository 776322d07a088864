import ArgumentParser
import CofferServer
import Foundation
import Logging
import RegistryService

/// `coffer check`: verifies a data directory's metadata against its objects (``ConsistencyCheck``).
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Verify that every record has its object, authenticated under its registry's key (an fsck).",
        discussion: """
            Reads the stores the server uses and may run while it serves. Exits 1 when a problem is left. --deep decrypts \
            every object and checks its digest (reads all the data). --repair deletes objects no record names (older than \
            --gc-grace-seconds) and forgets blob records whose object is lost when no manifest needs them; it never \
            deletes what a manifest references.
            """
    )
    @Option(help: "Data directory (default ./.coffer).") var dataDir: String?
    @Option(help: "A server configuration file (JSON or YAML), as for coffer serve.") var config: String?
    @Option(help: "PostgreSQL URL of the metadata store, as for coffer serve.") var metadata: String?
    @Option(help: "S3 URL of the blob store, as for coffer serve.") var blobs: String?
    @Option(help: "The server master key file, as for coffer serve.") var masterKeyFile: String?
    @Option(name: .customLong("gc-grace-seconds"), help: "Objects no record names are strays once this old (default 3600).") var graceSeconds: Int?
    @Flag(help: "Decrypt every object and check its digest.") var deep = false
    @Flag(help: "Fix what loses nothing (see above).") var repair = false

    func run() async throws {
        // The server's own settings, read as `coffer serve` reads them (file < environment < these flags).
        var arguments: [String] = []
        for (flag, value) in [("--data-dir", dataDir), ("--metadata", metadata), ("--blobs", blobs), ("--master-key-file", masterKeyFile),
                              ("--gc-grace-seconds", graceSeconds.map(String.init))] {
            if let value { arguments += [flag, value] }
        }
        let settings = try ResolvedConfiguration.resolve(file: config, environment: ProcessInfo.processInfo.environment, arguments: arguments).configuration
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .error
            return handler
        }
        let report: ConsistencyReport
        do {
            report = try await ConsistencyCheck.run(settings, deep: deep, repair: repair, logger: Logger(label: "coffer.check"))
        } catch {
            throw CLIError("check failed: \(error)")
        }
        print("checked \(report.registries) registries: \(report.blobRecords) blob records, \(report.objectsAuthenticated) objects authenticated"
              + (deep ? ", \(report.objectsDecrypted) decrypted (\(report.bytesDecrypted) bytes)" : "")
              + ", \(report.manifests) manifests, \(report.tags) tags")
        for finding in report.findings {
            print("\(finding.repaired ? "repaired" : "PROBLEM") \(finding.kind.rawValue) \(finding.registry) \(finding.subject): \(finding.detail)")
        }
        let left = report.unrepaired.count
        print(left == 0 ? (report.findings.isEmpty ? "no problems" : "every problem repaired") : "\(left) problem(s) left")
        if left > 0 { throw ExitCode(1) }
    }
}
