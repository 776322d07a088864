import ArgumentParser
import CofferServer
import Foundation

/// `coffer backup`: an online backup of a data directory on the embedded store (``DataDirectoryBackup``).
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Back up a data directory (SQLite and filesystem objects) while the server runs.",
        discussion: """
            The backup holds the master key and the credentials unless --exclude-secrets: whoever reads it reads every \
            registry and key in it. Keep it as safe as the data directory, or back the secrets up apart. A key purged \
            after a backup is still in that backup. For PostgreSQL and S3, see docs/operations.md.
            """
    )
    @Option(help: "The new, empty directory to write the backup to.") var to: String
    @Option(help: "The data directory to back up (default ./.coffer).") var dataDir: String = ".coffer"
    @Flag(help: "Leave out the master key, private keys and credentials (restore then needs them put back by hand).") var excludeSecrets = false

    func run() async throws {
        let report: DataDirectoryBackup.Report
        do {
            report = try await DataDirectoryBackup.backup(dataDirectory: dataDir, to: to, includeSecrets: !excludeSecrets)
        } catch {
            throw CLIError("backup failed: \(error)")
        }
        print("backed up \(dataDir) to \(to): \(report.objects) objects, \(report.files) files, \(report.bytes) bytes"
              + (report.droppedRecords > 0 ? "; \(report.droppedRecords) unreferenced blob record(s) collected meanwhile were left out" : ""))
        if report.secretsIncluded {
            FileHandle.standardError.write(Data("WARNING: the backup holds the master key and credentials: protect it as you protect \(dataDir)\n".utf8))
        } else {
            FileHandle.standardError.write(Data("WARNING: secrets left out (\(report.missingSecrets.joined(separator: ", "))): keep them apart; restore needs them\n".utf8))
        }
    }
}

/// `coffer restore`: a backup made into a new data directory, each file checked against the backup's index.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restore", abstract: "Restore a backup into a new data directory.")
    @Option(help: "The backup directory (made by coffer backup).") var from: String
    @Option(help: "The new data directory (must not exist, or be empty).") var dataDir: String

    func run() throws {
        let report: DataDirectoryBackup.Report
        do {
            report = try DataDirectoryBackup.restore(from: from, to: dataDir)
        } catch {
            throw CLIError("restore failed: \(error)")
        }
        print("restored \(report.objects) objects, \(report.files) files (\(report.bytes) bytes, each checked) into \(dataDir)")
        if report.missingSecrets.isEmpty {
            print("start it with: coffer serve --data-dir \(dataDir)")
        } else {
            print("before starting, put these files from where you keep them into \(dataDir): \(report.missingSecrets.joined(separator: ", "))")
        }
    }
}
