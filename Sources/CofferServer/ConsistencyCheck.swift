import CofferStorage
import Envelope
import Foundation
import Identity
import KeyVault
import Logging
import PostgresMetadataStore
import RegistryService
import S3BlobStore
import SQLMetadataStore

/// `coffer check`: opens a data directory's stores the way the server does, but starts nothing and writes nothing
/// the server owns (no bootstrap, no staging clean-up, no heartbeat), so it can run beside a serving node.
public enum ConsistencyCheck {
    public static func run(_ configuration: ServerConfiguration, deep: Bool, repair: Bool, logger: Logger) async throws -> ConsistencyReport {
        try configuration.validate()
        let files = FileManager.default
        guard configuration.metadataURL != nil || files.fileExists(atPath: configuration.path("metadata.sqlite")) else {
            throw ServerStartError("\(configuration.dataDirectory) holds no metadata.sqlite (--data-dir; or --metadata for PostgreSQL)")
        }
        let masterKeyPath = configuration.masterKeyFile ?? configuration.path("master.key")
        let masterKey = try DataDirectory.readMasterKey(masterKeyPath, setting: configuration.masterKeyFile)
        let sessions: any SQLSessions = if let url = configuration.metadataURL {
            try await PostgresSessions.connect(url: url, maximumConnections: configuration.postgresMaximumConnections, logger: logger)
        } else {
            try await SQLiteSessions.open(path: configuration.path("metadata.sqlite"))
        }
        do {
            let metadata = try await SQLMetadataStore(sessions: sessions)
            // A wrong key would make every object look corrupt: refuse it as the server does.
            try await MasterKeyCheck(masterKey).verify(in: metadata, generated: false, holdsData: { true },
                                                       place: configuration.metadataURL == nil ? configuration.path("metadata.sqlite") : "the PostgreSQL metadata store",
                                                       beforeRecording: {})
            let blobs: any BlobStore = if let url = configuration.blobsURL {
                S3BlobStore(configuration: try configuration.s3Configuration(url: url))
            } else {
                try FileSystemBlobStore(root: configuration.path("blobs"))
            }
            // The check reads the directory (a CMK registry's identity), and signs nothing: any key will do.
            let directory = Directory(store: metadata, signer: TokenSigner(privateKey: .init()))
            let vaults = VaultService(documents: metadata, keys: metadata, directory: directory, serverMasterKey: masterKey, logger: logger)
            let port = configuration.advertisedPort
            let vaultSuffix = configuration.vaultHostSuffix
            let registry = RegistryService(
                configuration: RegistryConfiguration(), metadata: metadata, blobs: blobs,
                keyWrappers: [ServiceManagedKeyWrapper(serverMasterKey: masterKey)],
                wrapperProvider: VaultKeyWrapperProvider(vaults: vaults, directory: directory,
                                                         vaultBaseURL: { name in "https://\(name.lowercased()).\(vaultSuffix):\(port)" }),
                logger: logger
            )
            let cutoff = Int64(Date().timeIntervalSince1970) - Int64(max(0, configuration.garbageCollectionGraceSeconds))
            let report = try await registry.checkConsistency(deep: deep, repair: repair, strayBefore: cutoff)
            try await sessions.close()
            return report
        } catch {
            try? await sessions.close()
            throw error
        }
    }
}
