import ArgumentParser
import CofferServer
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the registry, key vault, identity service and resource manager over HTTPS on one port.")

    @Option(help: "A JSON configuration file; flags override it.") var config: String?
    @Option(help: "Data directory (default ./.coffer).") var dataDir: String?
    @Option(name: .customLong("address"), help: "Address to listen on; repeat for several (default 127.0.0.1 and ::1).") var addresses: [String] = []
    @Option(help: "HTTPS port (default 8443).") var port: Int?
    @Option(help: "The port clients reach the server at, behind a load balancer on another port (default: --port); every URL Coffer hands out names it.")
    var publicPort: Int?
    @Option(help: "PEM certificate chain to serve instead of the generated one.") var certificate: String?
    @Option(help: "PEM private key of --certificate.") var privateKey: String?
    @Option(help: "Server master key file (32 bytes, base64).") var masterKeyFile: String?
    @Option(help: "Metadata store: postgres://user[:password]@host[:port]/database (C collation); default the embedded SQLite.")
    var metadata: String?
    @Option(help: "Blob store: s3://bucket[/prefix] (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL_S3); default the data directory.")
    var blobs: String?
    @Option(help: "Host suffix of registry login servers (default cr.localhost).") var registryHostSuffix: String?
    @Option(help: "Host suffix of key vaults (default vault.localhost).") var vaultHostSuffix: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"
    @Flag(help: "Answer the IMDS managed-identity path, which takes no secret (off by default).") var enableImds = false
    @Option(help: "Seconds an unwrapped registry master key is trusted before its key is asked again (default 300).") var keyAccessCheckSeconds: Int?
    @Option(help: "Seconds between checks for a newer version of versionless customer-managed keys (default 3600).") var keyVersionCheckSeconds: Int?
    @Option(help: "Seconds between retention-policy passes over untagged manifests (default 3600).") var retentionCheckSeconds: Int?
    @Option(name: .customLong("gc-interval-seconds"), help: "Seconds between garbage-collection passes (default 3600).")
    var garbageCollectionSeconds: Int?
    @Option(name: .customLong("gc-grace-seconds"),
            help: "Seconds an unreferenced blob is kept after its last use, so pushes in progress keep theirs (default 3600).")
    var garbageCollectionGraceSeconds: Int?
    @Option(help: "Seconds after which an upload session nobody writes to expires with its staged data (default 604800, 7 days).")
    var uploadIdleSeconds: Int?
    @Option(help: "Open upload sessions allowed per repository; more are refused with 429 (default 1000).")
    var uploadSessionsPerRepository: Int?
    @Option(help: "Open upload sessions allowed per principal (default 1000).")
    var uploadSessionsPerPrincipal: Int?
    @Option(help: "Seconds before a connection with no request in progress is closed (default 120).")
    var idleConnectionSeconds: Int?
    @Option(help: "Seconds within which a control-plane or token request's whole body must arrive (default 30).")
    var requestBodySeconds: Int?
    @Option(help: "Bytes per second a registry upload's body must bring over each rate window, else 408 (default 1024; 0: no check).")
    var uploadMinimumBytesPerSecond: Int?
    @Option(help: "Seconds of the window over which an upload's rate is measured (default 60).")
    var uploadRateWindowSeconds: Int?
    @Option(help: "An OpenTelemetry collector to export traces to over OTLP/HTTP, e.g. http://127.0.0.1:4318 (default: none; OTEL_* variables apply).")
    var otlpEndpoint: String?

    func run() async throws {
        var settings = try config.map(ServerConfiguration.load(file:)) ?? ServerConfiguration()
        if let dataDir { settings.dataDirectory = dataDir }
        if !addresses.isEmpty { settings.listenAddresses = addresses }
        if let port { settings.port = port }
        if let publicPort { settings.publicPort = publicPort }
        if let certificate { settings.certificateFile = certificate }
        if let privateKey { settings.privateKeyFile = privateKey }
        if let masterKeyFile { settings.masterKeyFile = masterKeyFile }
        if let metadata { settings.metadataURL = metadata }
        if let blobs { settings.blobsURL = blobs }
        if let registryHostSuffix { settings.registryHostSuffix = registryHostSuffix }
        if let vaultHostSuffix { settings.vaultHostSuffix = vaultHostSuffix }
        if enableImds { settings.imdsEnabled = true }
        if let keyAccessCheckSeconds { settings.keyAccessCheckSeconds = keyAccessCheckSeconds }
        if let keyVersionCheckSeconds { settings.customerManagedKeyVersionCheckSeconds = keyVersionCheckSeconds }
        if let retentionCheckSeconds { settings.retentionCheckSeconds = retentionCheckSeconds }
        if let garbageCollectionSeconds { settings.garbageCollectionSeconds = garbageCollectionSeconds }
        if let garbageCollectionGraceSeconds { settings.garbageCollectionGraceSeconds = garbageCollectionGraceSeconds }
        if let uploadIdleSeconds { settings.uploadIdleSeconds = uploadIdleSeconds }
        if let uploadSessionsPerRepository { settings.uploadSessionsPerRepository = uploadSessionsPerRepository }
        if let uploadSessionsPerPrincipal { settings.uploadSessionsPerPrincipal = uploadSessionsPerPrincipal }
        if let idleConnectionSeconds { settings.idleConnectionSeconds = idleConnectionSeconds }
        if let requestBodySeconds { settings.requestBodySeconds = requestBodySeconds }
        if let uploadMinimumBytesPerSecond { settings.uploadMinimumBytesPerSecond = uploadMinimumBytesPerSecond }
        if let uploadRateWindowSeconds { settings.uploadRateWindowSeconds = uploadRateWindowSeconds }
        if let otlpEndpoint { settings.otlpEndpoint = otlpEndpoint }
        try settings.validate()
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), not \(logLevel.prefix(40))")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let server = try await CofferServer.prepare(settings, logger: Logger(label: "coffer"))
        try await server.run()
    }
}
