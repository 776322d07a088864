import Foundation
import JMESPath
import S3BlobStore

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
    public var logLevel: String = "info"
    /// Whether a request's span continues its client's W3C trace (`traceparent`).
    public var continueClientTraces: Bool = true
    /// Connections this node opens to PostgreSQL at most.
    public var postgresMaximumConnections: Int = 20
    /// S3 addressing: `path` or `virtual`.
    public var s3Addressing: String = "path"
    /// Server-side encryption the S3 store applies too (`AES256`, `aws:kms`, `aws:kms:dsse`), and its KMS key.
    public var s3ServerSideEncryption: String?
    public var s3KMSKeyID: String?
    /// RSA decryption in the system's OpenSSL 3 when it is installed.
    public var systemOpenSSL: Bool = true

    public init() {}

    /// Refuses values no server can run with, naming the setting and what is allowed: the ranges of the settings
    /// table (values read through it were checked as they were read; this catches a configuration made in code), and
    /// what only settings together decide.
    public func validate() throws {
        for setting in Self.settings {
            let (value, range): (Int?, ClosedRange<Int>?) = switch setting.kind {
            case .int(let path, let range): (self[keyPath: path], range)
            case .optionalInt(let path, let range): (self[keyPath: path], range)
            default: (nil, nil)
            }
            if let value, let range, !range.contains(value) {
                throw ServerStartError("\(setting.name(in: .defaultValue)) must be \(range.lowerBound) to \(range.upperBound), not \(value)")
            }
        }
        guard !listenAddresses.isEmpty else { throw ServerStartError("--address (\"listen.addresses\") must name at least one address") }
        if let otlpEndpoint { try ServerTracing.validate(endpoint: otlpEndpoint) }
        guard (certificateFile == nil) == (privateKeyFile == nil) else {
            throw ServerStartError("--certificate and --private-key (\"tls.certificateFile\" and \"tls.privateKeyFile\") go together")
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

extension ServerConfiguration {
    /// The S3 store of ``blobsURL``: credentials, region and endpoint from the usual AWS variables; addressing and
    /// server-side encryption from these settings.
    func s3Configuration(url: String) throws -> S3Configuration {
        var environment = ProcessInfo.processInfo.environment
        environment["COFFER_S3_ADDRESSING"] = s3Addressing
        environment["COFFER_S3_SSE"] = s3ServerSideEncryption
        environment["COFFER_S3_SSE_KMS_KEY_ID"] = s3KMSKeyID
        return try S3Configuration.from(url: url, environment: environment)
    }
}
