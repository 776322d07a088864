// swift-tools-version:6.2
import PackageDescription

// Module graph (low → high): OCIModels → CofferStorage → SQLMetadataStore / Envelope → RegistryService
// → Identity → RegistryAPI → CofferServer → coffer. Each module has one job; see docs/architecture.md.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Coffer",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "coffer", targets: ["coffer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/postgres-kit.git", from: "2.17.0"),
        // Already under postgres-kit; named for its pool's error type (a tripped circuit breaker means "unavailable").
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        // Metrics: the swift-metrics API everywhere, exposed in Prometheus' text format by swift-prometheus.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Traces: the swift-distributed-tracing API, exported by swift-otel over OTLP/HTTP only (its gRPC exporter
        // would bring grpc-swift and several minutes of build for nothing HTTP cannot do).
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        // YAML configuration files.
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        .target(name: "JMESPath", swiftSettings: swiftSettings),
        // What a request's layers record about it for its access log line, and the counters caches keep: no
        // dependency but swift-metrics' API, so every module can record.
        .target(name: "CofferTelemetry", dependencies: [.product(name: "CoreMetrics", package: "swift-metrics")], swiftSettings: swiftSettings),
        .target(name: "CLIOutput", dependencies: ["JMESPath"], swiftSettings: swiftSettings),
        .target(
            name: "TemplateLanguage",
            dependencies: ["JMESPath", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "OCIModels",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CofferStorage",
            dependencies: [
                "OCIModels",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SQLMetadataStore",
            dependencies: [
                "CofferStorage",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "S3BlobStore",
            dependencies: [
                "CofferStorage",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "PostgresMetadataStore",
            dependencies: [
                "SQLMetadataStore", "CofferStorage", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Envelope",
            dependencies: [
                "CofferStorage", "CofferTelemetry",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RegistryService",
            dependencies: [
                "OCIModels", "CofferStorage", "Envelope", "CofferTelemetry",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Identity",
            dependencies: [
                "CofferStorage", "CofferTelemetry",
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KeyVault",
            dependencies: [
                "CofferStorage", "Identity", "CofferTelemetry",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AzureErrors",
            dependencies: [.product(name: "HTTPTypes", package: "swift-http-types")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AzureHTTP",
            dependencies: ["AzureErrors", .product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        // HTML built from typed parts (text always escaped), the console's stylesheet and script, and the headers
        // every page carries (a strict Content-Security-Policy).
        .target(name: "WebPage", dependencies: [.product(name: "Hummingbird", package: "hummingbird")], swiftSettings: swiftSettings),
        .target(
            name: "IdentityAPI",
            dependencies: ["AzureHTTP", "Identity", "CofferTelemetry", "WebPage", .product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KeyVaultAPI",
            dependencies: ["AzureHTTP", "Identity", "KeyVault", "CofferTelemetry", .product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        // The control plane's domain: resource providers' models, validation and operations, and the operation table
        // with the action each needs. No HTTP server in it; `ResourceManagerAPI` puts it on the wire.
        .target(
            name: "ControlPlane",
            dependencies: [
                "AzureErrors", "Identity", "KeyVault", "CofferStorage", "Envelope", "RegistryService", "JMESPath", "OCIModels", "TemplateLanguage",
                .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ResourceManagerAPI",
            dependencies: [
                "AzureHTTP", "ControlPlane", "Identity", "KeyVault", "CofferStorage", "Envelope", "RegistryService", "JMESPath", "TemplateLanguage", "CofferTelemetry",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RegistryAPI",
            dependencies: [
                "OCIModels", "RegistryService", "Identity", "CofferStorage", "CofferTelemetry",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        // The web console: pages over this server's own APIs, called in-process as the signed-in user.
        .target(
            name: "Console",
            dependencies: [
                "WebPage", "Identity", "ControlPlane", "RegistryService", "CofferStorage", "CofferTelemetry",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CofferServer",
            dependencies: [
                "RegistryAPI", "RegistryService", "SQLMetadataStore", "PostgresMetadataStore", "S3BlobStore", "Envelope", "Identity", "CofferTelemetry",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Yams", package: "Yams"),
                "IdentityAPI", "KeyVaultAPI", "ResourceManagerAPI", "ControlPlane", "KeyVault", "AzureHTTP", "JMESPath", "Console",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CofferCLI",
            dependencies: [
                "CofferServer", "CLIOutput", "JMESPath", "Identity",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "coffer",
            dependencies: ["CofferCLI"],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "OCIModelsTests", dependencies: ["OCIModels"], swiftSettings: swiftSettings),
        .testTarget(name: "CLIOutputTests", dependencies: ["CLIOutput", "JMESPath"], swiftSettings: swiftSettings),
        .testTarget(
            name: "TemplateLanguageTests", dependencies: ["TemplateLanguage", "JMESPath"], resources: [.copy("Templates")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "JMESPathTests", dependencies: ["JMESPath"], resources: [.copy("Compliance")], swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StorageTests",
            dependencies: ["CofferStorage", "SQLMetadataStore", "PostgresMetadataStore", "S3BlobStore", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "EnvelopeTests", dependencies: ["Envelope", "CofferStorage"], swiftSettings: swiftSettings),
        .testTarget(name: "IdentityTests", dependencies: ["Identity", "SQLMetadataStore"], swiftSettings: swiftSettings),
        .testTarget(name: "WebPageTests", dependencies: ["WebPage"], swiftSettings: swiftSettings),
        .testTarget(
            name: "KeyVaultTests",
            dependencies: [
                "KeyVault", "Identity", "SQLMetadataStore", "CofferStorage",
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RegistryAPITests",
            dependencies: [
                "RegistryAPI", "CofferServer", "OCIModels", "Envelope", "RegistryService", "PostgresMetadataStore", "S3BlobStore",
                .product(name: "HummingbirdTesting", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ServerAPITests",
            dependencies: [
                "ResourceManagerAPI", "ControlPlane", "CofferServer", "CofferStorage", "Identity", "JMESPath", "OCIModels",
                .product(name: "HummingbirdTesting", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
