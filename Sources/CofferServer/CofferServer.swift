import Console
import ControlPlane
import CofferStorage
import Envelope
import Foundation
import Hummingbird
import HummingbirdTLS
import Identity
import IdentityAPI
import KeyVault
import KeyVaultAPI
import Logging
import NIOCore
import NIOPosix
import ResourceManagerAPI
import NIOSSL
import PostgresMetadataStore
import S3BlobStore
import RegistryAPI
import RegistryService
import SQLMetadataStore
import ServiceLifecycle

/// `coffer serve`: prepares the data directory, opens the stores, wires the services and serves
/// them over HTTPS on every configured address. The only place that reads files and configuration.
public struct CofferServer: Sendable {
    public let configuration: ServerConfiguration
    public let registry: RegistryService
    public let vaults: VaultService
    let responder: CofferResponder
    let secrets: ServerSecrets
    /// Files this start created (to tell the operator).
    let created: [String]
    public let bootstrap: Directory.Bootstrap
    let metadata: SQLMetadataStore
    let logger: Logger

    public static func prepare(_ configuration: ServerConfiguration, logger: Logger = Logger(label: "coffer")) async throws -> CofferServer {
        try configuration.validate()
        ServerMetrics.install()
        let secrets = try DataDirectory.prepare(configuration)
        let sessions: any SQLSessions = if let url = configuration.metadataURL {
            MeasuredSQLSessions(try await PostgresSessions.connect(url: url, maximumConnections: configuration.postgresMaximumConnections, logger: logger), backend: "postgresql")
        } else {
            MeasuredSQLSessions(try await SQLiteSessions.open(path: configuration.path("metadata.sqlite")), backend: "sqlite")
        }
        do {
            return try await prepare(configuration, secrets: secrets, sessions: sessions, logger: logger)
        } catch {
            // Storage that cannot be used at start (an unreachable bucket, say) ends the start cleanly.
            try? await sessions.close()
            throw error
        }
    }

    private static func prepare(_ configuration: ServerConfiguration, secrets: ServerSecrets, sessions: any SQLSessions,
                                logger: Logger) async throws -> CofferServer {
        let metadata = try await SQLMetadataStore(sessions: sessions)
        let blobs: any BlobStore = if let url = configuration.blobsURL {
            MeasuredBlobStore(S3BlobStore(configuration: try configuration.s3Configuration(url: url)), backend: "s3")
        } else {
            MeasuredBlobStore(try FileSystemBlobStore(root: configuration.path("blobs")), backend: "filesystem")
        }
        var created = secrets.created
        let place = configuration.metadataURL == nil ? configuration.path("metadata.sqlite") : "the PostgreSQL metadata store"
        try await MasterKeyCheck(secrets.masterKey).verify(in: metadata, generated: secrets.unwrittenMasterKeyPath != nil, holdsData: {
            try await !metadata.documents(type: Directory.tenantType, name: nil).isEmpty
        }, place: place, beforeRecording: {
            if let written = try secrets.writeNewMasterKey() { created.append(written) }
        })
        let directory = Directory(store: metadata, signer: TokenSigner(privateKey: secrets.tokenSigningKey))
        let bootstrap = try await directory.bootstrap()
        if let secret = bootstrap.operatorSecret {
            created.append(try DataDirectory.writeOperatorCredentials(configuration, bootstrap: bootstrap, secret: secret))
        }
        let vaults = VaultService(documents: metadata, keys: metadata, directory: directory, serverMasterKey: secrets.masterKey, logger: logger)
        let port = configuration.advertisedPort
        let vaultSuffix = configuration.vaultHostSuffix
        var registryConfiguration = RegistryConfiguration()
        registryConfiguration.masterKeyLifetime = .seconds(configuration.keyAccessCheckSeconds)
        registryConfiguration.uploadIdleTimeout = .seconds(max(1, configuration.uploadIdleSeconds))
        registryConfiguration.uploadMinimumBytesPerSecond = max(0, configuration.uploadMinimumBytesPerSecond)
        registryConfiguration.uploadRateWindow = .seconds(max(1, configuration.uploadRateWindowSeconds))
        registryConfiguration.uploadLimits = UploadLimits(perRepository: max(1, configuration.uploadSessionsPerRepository),
                                                          perPrincipal: max(1, configuration.uploadSessionsPerPrincipal))
        let registry = RegistryService(
            configuration: registryConfiguration, metadata: metadata, blobs: blobs,
            keyWrappers: [ServiceManagedKeyWrapper(serverMasterKey: secrets.masterKey)],
            wrapperProvider: VaultKeyWrapperProvider(vaults: vaults, directory: directory,
                                                     vaultBaseURL: { name in "https://\(name.lowercased()).\(vaultSuffix):\(port)" }),
            logger: logger
        )
        try await registry.ensureRegistry(name: configuration.defaultRegistry, keyWrapperID: ServiceManagedKeyWrapper.identifier)
        try await registry.cleanUpStaging()
        let authority = RegistryTokenAuthority(
            signer: TokenSigner(privateKey: secrets.tokenSigningKey), administrator: secrets.administrator,
            tokenLifetime: Int64(configuration.tokenLifetimeSeconds)
        )
        let workloadSecrets = WorkloadIdentitySecrets(hostSecret: secrets.identityHeader)
        // The advertised port, and the listen port (a node reached directly, behind its load balancer's back).
        let ports = [port] + (configuration.port == port ? [] : [configuration.port])
        let baseAuthorities = ports.flatMap { port in ["localhost:\(port)", "127.0.0.1:\(port)", "[::1]:\(port)"] }
        let resourceManagerAPI = ResourceManagerAPI(
            directory: directory, vaults: vaults, registry: registry, documents: metadata, tenantID: bootstrap.tenantID,
            subscriptionID: bootstrap.subscriptionID, featureApprovalSeconds: Int64(configuration.featureApprovalSeconds),
            registryKeyWrapperID: ServiceManagedKeyWrapper.identifier,
            requirePreviewRegistration: configuration.requirePreviewRegistration, secrets: SecretBox(serverMasterKey: secrets.masterKey),
            vaultURI: { name in "https://\(name.lowercased()).\(vaultSuffix):\(port)/" },
            loginServer: { [registrySuffix = configuration.registryHostSuffix] name in "\(name).\(registrySuffix):\(port)" },
            registryOfService: { [registrySuffix = configuration.registryHostSuffix] service in
                CofferResponder.label(of: CofferResponder.hostName(service), under: registrySuffix)
            },
            resourceManagerAudiences: Set(baseAuthorities.map { "https://\($0)" }),
            workloadSecrets: workloadSecrets, identityBase: "https://localhost:\(port)", identityEndpoint: "https://localhost:\(port)\(IdentityAPI.managedIdentityPath)",
            nodeID: configuration.nodeID
        )
        try await resourceManagerAPI.adoptBootstrapRegistry(configuration.defaultRegistry)
        try await resourceManagerAPI.failInterruptedDeployments()
        // Beats before it serves: a deployment this node records as its own is never taken for a stopped node's.
        try await Self.heartbeat(metadata, configuration).beat()
        try await resourceManagerAPI.resumeGroupDeletions()
        let responder = CofferResponder(
            registryAPI: RegistryAPI(service: registry, authority: authority,
                                     serviceNames: RegistryServiceNames(baseAuthorities: baseAuthorities,
                                                                        loginServerSuffix: configuration.registryHostSuffix, ports: ports),
                                     accessProvider: resourceManagerAPI.registryAccess,
                                     networkPolicy: resourceManagerAPI.registryNetworkRules, documents: metadata),
            identityAPI: IdentityAPI(directory: directory, tenantID: bootstrap.tenantID, workloadSecrets: workloadSecrets,
                                     imdsEnabled: configuration.imdsEnabled, base: "https://localhost:\(port)"),
            keyVaultAPI: KeyVaultAPI(vaults: vaults, directory: directory, tenantID: bootstrap.tenantID, vaultHostSuffix: vaultSuffix, port: port),
            resourceManagerAPI: resourceManagerAPI,
            graphAPI: GraphAPI(directory: directory, tenantID: bootstrap.tenantID, subscriptionID: bootstrap.subscriptionID,
                               base: "https://\(configuration.graphHost):\(port)"),
            graphHost: configuration.graphHost,
            console: Console(directory: directory, documents: metadata,
                             addresses: ConsoleAddresses(base: "https://localhost:\(port)", port: port, vaultHostSuffix: vaultSuffix,
                                                         registryHostSuffix: configuration.registryHostSuffix),
                             tenantID: bootstrap.tenantID, subscriptionID: bootstrap.subscriptionID, keyAudit: registry.keyAudit),
            cloudMetadata: CloudMetadata(port: port, graphHost: configuration.graphHost, vaultHostSuffix: vaultSuffix,
                                         registryHostSuffix: configuration.registryHostSuffix),
            metrics: MetricsEndpoint(resourceManager: resourceManagerAPI, metadata: metadata),
            readiness: ReadinessProbe(metadata: metadata, blobs: blobs),
            identityBase: "https://localhost:\(port)",
            registryHostSuffix: configuration.registryHostSuffix, vaultHostSuffix: vaultSuffix,
            requestBodyDeadline: .seconds(Int64(max(1, configuration.requestBodySeconds))),
            observer: RequestObserver(writesAccessLog: logger.logLevel <= .info)
        )
        return CofferServer(configuration: configuration, registry: registry, vaults: vaults, responder: responder,
                            secrets: secrets, created: created, bootstrap: bootstrap, metadata: metadata, logger: logger)
    }

    /// An application over plain HTTP for in-process tests (`HummingbirdTesting`); production always uses ``run()``.
    public func testApplication() -> some ApplicationProtocol {
        Application(responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
    }

    /// Serves HTTPS on every configured address until SIGTERM or SIGINT, then shuts down gracefully.
    public func run() async throws {
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(secrets.certificateChainPEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(secrets.privateKeyPEM.utf8), format: .pem))
        )
        // The trace exporter first and the jobs next, so they are shut down last: the listeners stop taking requests,
        // the deployments and group deletions under way reach a recorded end, then the last spans are sent.
        var services: [any Service] = []
        if let tracing = try ServerTracing.install(endpoint: configuration.otlpEndpoint,
                                                     continueClientTraces: configuration.continueClientTraces, logger: logger) { services.append(tracing) }
        services.append(responder.resourceManagerAPI.jobs)
        for address in configuration.listenAddresses {
            services.append(Application(
                responder: responder,
                server: try .tls(.http1(configuration: .init(additionalChannelHandlers: [ExpectContinueHandler()],
                                                             idleTimeout: .seconds(Int64(max(1, configuration.idleConnectionSeconds))))),
                                 tlsConfiguration: tls),
                configuration: .init(address: .hostname(address, port: configuration.port), serverName: nil),
                onServerRunning: { [logger] channel in
                    let address = channel.localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
                    logger.info("listening", metadata: ["coffer.address": .string(address)])
                },
                logger: logger
            ))
        }
        let port = configuration.advertisedPort
        let vaultSuffix = configuration.vaultHostSuffix
        let maintenanceInterval = configuration.maintenanceIntervalSeconds
        let heartbeat = Self.heartbeat(metadata, configuration)
        services.append(MaintenanceService(
            vaults: vaults, resourceManager: responder.resourceManagerAPI, interval: .seconds(max(1, maintenanceInterval)),
            keyVersionInterval: .seconds(configuration.customerManagedKeyVersionCheckSeconds),
            retentionInterval: .seconds(max(1, configuration.retentionCheckSeconds)),
            collectionInterval: .seconds(max(1, configuration.garbageCollectionSeconds)),
            collectGarbage: { [registry, grace = Int64(max(0, configuration.garbageCollectionGraceSeconds))] in
                try await registry.collectGarbage(unusedBefore: Int64(Date().timeIntervalSince1970) - grace)
            },
            expireUploads: { [registry] in try await registry.expireIdleUploads() },
            vaultURL: { name in "https://\(name).\(vaultSuffix):\(port)" },
            takeTurn: { [metadata, node = configuration.nodeID] in
                // Every node beats on every pass. The lease outlives a few passes, so a node that stops is replaced
                // soon after, not at once; the holder names the node (host, port, data directory), so a restarted
                // node takes its turn back at once.
                try? await heartbeat.beat()
                let now = Int64(Date().timeIntervalSince1970)
                return (try? await metadata.acquireLease(name: "maintenance", holder: node, until: now + heartbeat.lifetime, now: now)) ?? false
            },
            nodeHasStopped: { node in try await heartbeat.hasStopped(node) },
            logger: logger
        ))
        do {
            try await Self.ensurePortIsFree(configuration)
            printWelcome()
            let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            defer { AccessLogWriter.shared.flush() }
            try await group.run()
        } catch {
            try? await metadata.close()
            if let error = error as? IOError, error.errnoCode == EADDRINUSE { throw Self.portInUse(configuration) }
            throw error
        }
        try await metadata.close()
    }

    /// Binds and releases every listen address before the banner says the server runs: a port another process holds
    /// is one line naming it and the flag, not NIO's `bind(descriptor:ptr:bytes:)` after a banner. (The listeners
    /// bind for real a moment later; one taken in between is still reported the same way by ``run()``.)
    static func ensurePortIsFree(_ configuration: ServerConfiguration) async throws {
        for address in configuration.listenAddresses {
            do {
                let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .bind(host: address, port: configuration.port).get()
                try await channel.close()
            } catch let error as IOError where error.errnoCode == EADDRINUSE {
                throw portInUse(configuration)
            } catch {
                throw ServerStartError("cannot listen on \(address) port \(configuration.port) (--address, --port): \(error)")
            }
        }
    }

    static func portInUse(_ configuration: ServerConfiguration) -> ServerStartError {
        ServerStartError("port \(configuration.port) is already in use on \(configuration.listenAddresses.joined(separator: ", ")) "
                         + "(another coffer serve?): stop that process or choose another port with --port")
    }

    /// This node's heartbeat: it lasts a few maintenance passes.
    static func heartbeat(_ metadata: any MetadataStore, _ configuration: ServerConfiguration) -> NodeHeartbeat {
        NodeHeartbeat(metadata: metadata, node: configuration.nodeID, lifetime: 3 * Int64(max(1, configuration.maintenanceIntervalSeconds)) + 5)
    }

    /// Closes the stores (for tests, which do not call ``run()``), once the background work has ended.
    public func close() async throws {
        await responder.resourceManagerAPI.jobs.drain()
        try await metadata.close()
    }

    private var blobsDescription: String {
        configuration.blobsURL ?? configuration.path("blobs")
    }

    /// Where the metadata is, without the password a PostgreSQL URL may carry.
    private var metadataDescription: String {
        guard let url = configuration.metadataURL, let components = URLComponents(string: url) else { return configuration.path("metadata.sqlite") }
        return "PostgreSQL at \(components.host ?? "?"):\(components.port ?? 5432)\(components.path)"
    }

    private func printWelcome() {
        var lines = [
            "Coffer is starting on https://localhost:\(configuration.advertisedPort) (\(configuration.listenAddresses.joined(separator: ", ")))",
            "  data directory:      \(configuration.dataDirectory)",
            "  metadata:            \(metadataDescription)",
            "  blobs:               \(blobsDescription)",
            "  CA certificate:      \(configuration.certificateFile ?? configuration.path("ca.pem"))  (trust it in your clients)",
            "  admin credentials:   \(configuration.path("admin-credentials.json"))  (registry)",
            "  operator:            \(configuration.path("operator-credentials.json"))  (tenant \(bootstrap.tenantID), subscription \(bootstrap.subscriptionID))",
            "  managed identities:  coffer identity workload-env -n <identity> -g <group>  (IDENTITY_ENDPOINT and that identity's IDENTITY_HEADER)",
            "  default registry:    \(configuration.defaultRegistry) (resource group \(Registries.bootstrapGroup)): localhost:\(configuration.advertisedPort)/\(configuration.defaultRegistry)/<repository>"
                + "  or  \(configuration.defaultRegistry).\(configuration.registryHostSuffix):\(configuration.advertisedPort)/<repository>",
        ]
        if !created.isEmpty {
            lines.append("  first start: created " + created.joined(separator: ", "))
        }
        let caFile = configuration.certificateFile ?? configuration.path("ca.pem")
        lines += [
            "  Azure CLI (az), with REQUESTS_CA_BUNDLE=\(caFile):",
            "    az cloud register -n coffer --endpoint-resource-manager https://localhost:\(configuration.advertisedPort)/ && az cloud set -n coffer",
            "    az config set core.instance_discovery=false",
            "    az login --service-principal -t \(bootstrap.tenantID) -u <clientId> -p <clientSecret>  (from operator-credentials.json)",
        ]
        print(lines.joined(separator: "\n"))
        fflush(nil)
    }
}
