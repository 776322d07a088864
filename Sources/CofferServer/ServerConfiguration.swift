import Foundation
import JMESPath

/// Everything `coffer serve` can be told, with the embedded defaults.
public struct ServerConfiguration: Codable, Sendable, Equatable {
    /// Where Coffer keeps its keys, certificates, metadata and blobs.
    public var dataDirectory: String = ".coffer"
    /// Addresses to listen on; loopback by default.
    public var listenAddresses: [String] = ["127.0.0.1", "::1"]
    public var port: Int = 8443
    /// The port clients reach this server at, when it differs from ``port`` (a load balancer on 443 in front of nodes
    /// on 8443): every URL Coffer hands out — login servers, vault and key ids, token issuer and audiences, the
    /// discovery and cloud metadata documents — names it. Nil: ``port``.
    public var publicPort: Int?

    /// The port in every URL Coffer hands out.
    public var advertisedPort: Int { publicPort ?? port }
    /// A certificate chain and key (PEM) to serve instead of the generated local ones.
    public var certificateFile: String?
    public var privateKeyFile: String?
    /// The server master key file (32 bytes, base64); default `<dataDirectory>/master.key`.
    public var masterKeyFile: String?
    /// Where the metadata lives: nil for the embedded SQLite database in the data directory, or
    /// `postgres://user[:password]@host[:port]/database` (a database with the C collation).
    public var metadataURL: String?
    /// Where blobs live: nil for the data directory, or `s3://bucket[/prefix]` (endpoint, region and credentials
    /// from the usual AWS environment variables).
    public var blobsURL: String?
    /// `<registry>.<registryHostSuffix>` is a registry's login server.
    public var registryHostSuffix: String = "cr.localhost"
    /// `<vault>.<vaultHostSuffix>` is a key vault's address.
    public var vaultHostSuffix: String = "vault.localhost"
    /// The host Microsoft Graph is served at (`https://<graphHost>:<port>/v1.0/…`); its address is also its tokens' audience.
    public var graphHost: String = "graph.localhost"
    /// The registry that exists from the first start.
    public var defaultRegistry: String = "coffer"
    /// Registry bearer token lifetime, seconds.
    public var tokenLifetimeSeconds: Int = 600
    /// Answer the IMDS managed-identity path (`/metadata/identity/oauth2/token`). It takes no secret, so
    /// every process that reaches Coffer could get managed-identity tokens: off unless asked for.
    public var imdsEnabled: Bool = false
    /// How often key rotation policies are checked, seconds.
    public var keyRotationCheckSeconds: Int = 60
    /// How long a preview-feature registration stays `Registering` before it is approved, seconds.
    public var featureApprovalSeconds: Int = 5
    /// Customer-managed keys need the `Microsoft.ContainerRegistry/PrivatePreview` feature registered (the seed's gate).
    public var requirePreviewRegistration: Bool = true
    /// How long an unwrapped registry master key is trusted before the key is asked again: the bound on how
    /// late a revoked customer-managed key is noticed, seconds.
    public var keyAccessCheckSeconds: Int = 300
    /// How often registries with versionless customer-managed key identifiers follow the key's newest version (Azure: 1 hour).
    public var customerManagedKeyVersionCheckSeconds: Int = 3600
    /// How often registries' retention policies purge untagged manifests, seconds.
    public var retentionCheckSeconds: Int = 3600
    /// How often garbage collection removes blobs no manifest references, seconds.
    public var garbageCollectionSeconds: Int = 3600
    /// How long an unreferenced blob is kept after it was last used (uploaded, mounted, found by a client's HEAD),
    /// seconds: a push uploads its blobs before the manifest that references them.
    public var garbageCollectionGraceSeconds: Int = 3600
    /// Upload sessions nobody has written to for this long expire with their staging, seconds (distribution: 7 days).
    public var uploadIdleSeconds: Int = 7 * 24 * 3600
    /// Open upload sessions allowed per repository; one more is refused with 429 and `Retry-After`.
    public var uploadSessionsPerRepository: Int = 1000
    /// Open upload sessions allowed per principal (a token's subject), across repositories.
    public var uploadSessionsPerPrincipal: Int = 1000
    /// A connection with no request in progress (idle keep-alive, or headers that never finish) is closed after this
    /// many seconds, so idle sockets cannot pile up.
    public var idleConnectionSeconds: Int = 120
    /// The whole body of a control-plane or token request (at most a few MiB, read before it is used) must arrive within
    /// this many seconds: a body trickled a byte at a time would otherwise hold its connection for ever. Registry
    /// uploads stream: they are bounded by a minimum rate (``uploadMinimumBytesPerSecond``) instead.
    public var requestBodySeconds: Int = 30
    /// A registry upload's body must bring at least this many bytes per second over every
    /// ``uploadRateWindowSeconds`` while it arrives (a body trickled just fast enough to dodge the idle timeout would
    /// otherwise hold its connection and upload session for ever); 0 turns the check off.
    public var uploadMinimumBytesPerSecond: Int = 1024
    public var uploadRateWindowSeconds: Int = 60
    /// An OpenTelemetry collector (`http://host:4318`) to export traces to over OTLP/HTTP; nil: no traces (unless
    /// OpenTelemetry's own `OTEL_EXPORTER_OTLP_ENDPOINT` is set).
    public var otlpEndpoint: String?

    public init() {}

    /// Reads a JSON configuration file; keys not present keep their defaults. Every problem is one line naming the
    /// file and the setting: an unreadable file, bad JSON, an unknown key (a typo would otherwise be ignored), a
    /// value of the wrong type.
    public static func load(file: String) throws -> ServerConfiguration {
        let source = "the configuration file \(file) (--config)"
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ServerStartError("cannot read \(source): check that it exists and that this user may read it")
        }
        let document: JSONValue
        do {
            document = try JSONText.parse(String(decoding: data, as: UTF8.self))
        } catch {
            throw ServerStartError("\(source) is not valid JSON: \(error)")
        }
        guard case .object(let object) = document else { throw ServerStartError("\(source) must hold a JSON object of settings") }
        let known = PartialConfiguration.keys
        for key in object.keys where !known.contains(key) {
            let near = known.min { editDistance($0, key) < editDistance($1, key) }.map { " (did you mean \"\($0)\"?)" } ?? ""
            throw ServerStartError("\(source) has an unknown setting \"\(key.prefix(60))\"\(near); README.md lists the settings")
        }
        let overrides: PartialConfiguration
        do {
            overrides = try JSONDecoder().decode(PartialConfiguration.self, from: data)
        } catch DecodingError.typeMismatch(let type, let context) {
            let key = context.codingPath.first?.stringValue ?? "?"
            throw ServerStartError("\(source): \"\(key)\" must be \(Self.describe(type))")
        } catch DecodingError.valueNotFound(let type, let context) {
            let key = context.codingPath.first?.stringValue ?? "?"
            throw ServerStartError("\(source): \"\(key)\" must be \(Self.describe(type))")
        } catch {
            throw ServerStartError("\(source) cannot be read as settings")
        }
        var configuration = ServerConfiguration()
        overrides.apply(to: &configuration)
        return configuration
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Int?.Type: "a whole number"
        case is Bool.Type, is Bool?.Type: "true or false"
        case is [String].Type, is [String]?.Type: "a list of strings"
        default: "a string"
        }
    }

    /// Levenshtein distance, for "did you mean" (setting names are short).
    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased().prefix(64)), b = Array(b.lowercased().prefix(64))
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() { current.append(Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))) }
            previous = current
        }
        return previous[b.count]
    }

    /// The numeric settings, their flags and what they allow: a value outside is refused at start with one line
    /// (a negative interval or a port of 70000 would otherwise fail later, or trap in duration arithmetic).
    static var numericSettings: [(key: String, flag: String?, range: ClosedRange<Int>, value: KeyPath<ServerConfiguration, Int>)] {
        let seconds = 1...315_360_000 // up to ten years
        return [
            ("port", "--port", 1...65535, \.port),
            ("tokenLifetimeSeconds", nil, 60...86_400, \.tokenLifetimeSeconds),
            ("keyRotationCheckSeconds", nil, seconds, \.keyRotationCheckSeconds),
            ("featureApprovalSeconds", nil, 0...86_400, \.featureApprovalSeconds),
            ("keyAccessCheckSeconds", "--key-access-check-seconds", seconds, \.keyAccessCheckSeconds),
            ("customerManagedKeyVersionCheckSeconds", "--key-version-check-seconds", seconds, \.customerManagedKeyVersionCheckSeconds),
            ("retentionCheckSeconds", "--retention-check-seconds", seconds, \.retentionCheckSeconds),
            ("garbageCollectionSeconds", "--gc-interval-seconds", seconds, \.garbageCollectionSeconds),
            ("garbageCollectionGraceSeconds", "--gc-grace-seconds", 0...315_360_000, \.garbageCollectionGraceSeconds),
            ("uploadIdleSeconds", "--upload-idle-seconds", seconds, \.uploadIdleSeconds),
            ("uploadSessionsPerRepository", "--upload-sessions-per-repository", 1...1_000_000, \.uploadSessionsPerRepository),
            ("uploadSessionsPerPrincipal", "--upload-sessions-per-principal", 1...1_000_000, \.uploadSessionsPerPrincipal),
            ("idleConnectionSeconds", "--idle-connection-seconds", seconds, \.idleConnectionSeconds),
            ("requestBodySeconds", "--request-body-seconds", seconds, \.requestBodySeconds),
            ("uploadMinimumBytesPerSecond", "--upload-minimum-bytes-per-second", 0...(1 << 40), \.uploadMinimumBytesPerSecond),
            ("uploadRateWindowSeconds", "--upload-rate-window-seconds", 1...86_400, \.uploadRateWindowSeconds),
        ]
    }

    /// Refuses values no server can run with, naming the setting, its flag and what is allowed.
    public func validate() throws {
        for setting in Self.numericSettings where !setting.range.contains(self[keyPath: setting.value]) {
            let names = setting.flag.map { "\($0) (\"\(setting.key)\" in a configuration file)" } ?? "\"\(setting.key)\" (configuration file)"
            throw ServerStartError("\(names) must be \(setting.range.lowerBound) to \(setting.range.upperBound), not \(self[keyPath: setting.value])")
        }
        if let publicPort, !(1...65535).contains(publicPort) {
            throw ServerStartError("--public-port (\"publicPort\" in a configuration file) must be 1 to 65535, not \(publicPort)")
        }
        guard !listenAddresses.isEmpty else { throw ServerStartError("\"listenAddresses\" (configuration file) must name at least one address") }
        if let otlpEndpoint { try ServerTracing.validate(endpoint: otlpEndpoint) }
        guard (certificateFile == nil) == (privateKeyFile == nil) else {
            throw ServerStartError("--certificate and --private-key (\"certificateFile\" and \"privateKeyFile\") go together")
        }
    }

    /// The path of a file in the data directory.
    func path(_ name: String) -> String { dataDirectory + "/" + name }

    /// How often the maintenance pass runs: as often as its most frequent job needs.
    var maintenanceIntervalSeconds: Int {
        min(keyRotationCheckSeconds, customerManagedKeyVersionCheckSeconds, retentionCheckSeconds, garbageCollectionSeconds)
    }

    /// This process among the nodes sharing a metadata store (host, port, data directory): stable across restarts, so a
    /// restarted node takes back its maintenance turn and ends only the deployments it ran itself.
    var nodeID: String { "\(ProcessInfo.processInfo.hostName):\(port):\(dataDirectory)" }
}

/// The configuration file's shape: every key optional.
private struct PartialConfiguration: Decodable {
    /// The settings a file may hold: this type's property names, which are its JSON keys.
    static let keys: Set<String> = Set(Mirror(reflecting: PartialConfiguration()).children.compactMap(\.label))

    var dataDirectory: String?
    var listenAddresses: [String]?
    var port: Int?
    var publicPort: Int?
    var certificateFile: String?
    var privateKeyFile: String?
    var masterKeyFile: String?
    var metadataURL: String?
    var blobsURL: String?
    var registryHostSuffix: String?
    var vaultHostSuffix: String?
    var graphHost: String?
    var defaultRegistry: String?
    var tokenLifetimeSeconds: Int?
    var imdsEnabled: Bool?
    var keyRotationCheckSeconds: Int?
    var featureApprovalSeconds: Int?
    var requirePreviewRegistration: Bool?
    var keyAccessCheckSeconds: Int?
    var customerManagedKeyVersionCheckSeconds: Int?
    var retentionCheckSeconds: Int?
    var garbageCollectionSeconds: Int?
    var garbageCollectionGraceSeconds: Int?
    var uploadIdleSeconds: Int?
    var uploadSessionsPerRepository: Int?
    var uploadSessionsPerPrincipal: Int?
    var idleConnectionSeconds: Int?
    var requestBodySeconds: Int?
    var uploadMinimumBytesPerSecond: Int?
    var uploadRateWindowSeconds: Int?
    var otlpEndpoint: String?

    func apply(to configuration: inout ServerConfiguration) {
        if let dataDirectory { configuration.dataDirectory = dataDirectory }
        if let listenAddresses { configuration.listenAddresses = listenAddresses }
        if let port { configuration.port = port }
        if let publicPort { configuration.publicPort = publicPort }
        if let certificateFile { configuration.certificateFile = certificateFile }
        if let privateKeyFile { configuration.privateKeyFile = privateKeyFile }
        if let masterKeyFile { configuration.masterKeyFile = masterKeyFile }
        if let metadataURL { configuration.metadataURL = metadataURL }
        if let blobsURL { configuration.blobsURL = blobsURL }
        if let registryHostSuffix { configuration.registryHostSuffix = registryHostSuffix }
        if let vaultHostSuffix { configuration.vaultHostSuffix = vaultHostSuffix }
        if let graphHost { configuration.graphHost = graphHost.lowercased() }
        if let defaultRegistry { configuration.defaultRegistry = defaultRegistry }
        if let tokenLifetimeSeconds { configuration.tokenLifetimeSeconds = tokenLifetimeSeconds }
        if let imdsEnabled { configuration.imdsEnabled = imdsEnabled }
        if let keyRotationCheckSeconds { configuration.keyRotationCheckSeconds = keyRotationCheckSeconds }
        if let featureApprovalSeconds { configuration.featureApprovalSeconds = featureApprovalSeconds }
        if let requirePreviewRegistration { configuration.requirePreviewRegistration = requirePreviewRegistration }
        if let keyAccessCheckSeconds { configuration.keyAccessCheckSeconds = keyAccessCheckSeconds }
        if let customerManagedKeyVersionCheckSeconds { configuration.customerManagedKeyVersionCheckSeconds = customerManagedKeyVersionCheckSeconds }
        if let retentionCheckSeconds { configuration.retentionCheckSeconds = retentionCheckSeconds }
        if let garbageCollectionSeconds { configuration.garbageCollectionSeconds = garbageCollectionSeconds }
        if let garbageCollectionGraceSeconds { configuration.garbageCollectionGraceSeconds = garbageCollectionGraceSeconds }
        if let uploadIdleSeconds { configuration.uploadIdleSeconds = uploadIdleSeconds }
        if let uploadSessionsPerRepository { configuration.uploadSessionsPerRepository = uploadSessionsPerRepository }
        if let uploadSessionsPerPrincipal { configuration.uploadSessionsPerPrincipal = uploadSessionsPerPrincipal }
        if let idleConnectionSeconds { configuration.idleConnectionSeconds = idleConnectionSeconds }
        if let requestBodySeconds { configuration.requestBodySeconds = requestBodySeconds }
        if let uploadMinimumBytesPerSecond { configuration.uploadMinimumBytesPerSecond = uploadMinimumBytesPerSecond }
        if let uploadRateWindowSeconds { configuration.uploadRateWindowSeconds = uploadRateWindowSeconds }
        if let otlpEndpoint { configuration.otlpEndpoint = otlpEndpoint }
    }
}
