@testable import CofferServer
import Foundation
import Testing

/// The one table of `coffer serve` settings: each name is one setting's only, and the layers resolve as documented.
@Suite struct SettingsTableTests {
    @Test func everyKeyFlagAndVariableNamesOneSetting() {
        let settings = ServerConfiguration.settings
        var seen: [String: String] = [:]
        for setting in settings {
            for name in [setting.key, setting.legacyKey, setting.flag, setting.environment].compactMap({ $0 }) {
                #expect(seen[name] == nil || seen[name] == setting.key, "\(name) names both \(seen[name] ?? "") and \(setting.key)")
                seen[name] = setting.key
            }
            #expect(setting.key.split(separator: ".").count == 2, "\(setting.key) is in one section")
            #expect(setting.environment.hasPrefix("COFFER_"))
        }
        #expect(Setting.upperSnakeCase("storage.metadataURL") == "STORAGE_METADATA_URL")
        #expect(Setting.upperSnakeCase("registry.tokenLifetimeSeconds") == "REGISTRY_TOKEN_LIFETIME_SECONDS")
    }

    @Test func flagsWinOverTheEnvironmentWhichWinsOverTheFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-settings-\(UUID().uuidString).json").path
        try #"{"listen": {"port": 9001}, "jobs.retentionCheckSeconds": 11, "tokenLifetimeSeconds": 61, "registry": {"keyAccessCheckSeconds": 12}}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let resolved = try ResolvedConfiguration.resolve(
            file: file, environment: ["COFFER_LISTEN_PORT": "9002", "COFFER_JOBS_RETENTION_CHECK_SECONDS": "13", "UNRELATED": "x"],
            arguments: ["--port=9003", "--enable-imds"])
        #expect(resolved.configuration.port == 9003)
        #expect(resolved.configuration.retentionCheckSeconds == 13)
        #expect(resolved.configuration.tokenLifetimeSeconds == 61)
        #expect(resolved.configuration.keyAccessCheckSeconds == 12)
        #expect(resolved.configuration.imdsEnabled)
        #expect(resolved.sources["listen.port"] == "flag --port")
        #expect(resolved.sources["jobs.retentionCheckSeconds"] == "environment COFFER_JOBS_RETENTION_CHECK_SECONDS")
        #expect(resolved.sources["registry.tokenLifetimeSeconds"] == "file \(file)")
        #expect(resolved.sources["listen.graphHost"] == nil)
    }

    @Test func aValueOutOfRangeIsRefusedWhereverItWasWritten() {
        #expect(throws: ServerStartError.self) { try ResolvedConfiguration.resolve(file: nil, environment: ["COFFER_LISTEN_PORT": "0"], arguments: []) }
        #expect(throws: ServerStartError.self) { try ResolvedConfiguration.resolve(file: nil, environment: [:], arguments: ["--port", "65536"]) }
        #expect(throws: ServerStartError.self) { try ResolvedConfiguration.resolve(file: nil, environment: [:], arguments: ["--enable-imds=maybe"]) }
        var configuration = ServerConfiguration()
        configuration.requestBodySeconds = 0
        #expect(throws: ServerStartError.self) { try configuration.validate() }
    }
}
