import Foundation
import JMESPath

/// Every setting of `coffer serve`, declared once: its key in a configuration file (grouped in sections), its flag,
/// its environment variable, its help, and the ``ServerConfiguration`` property it sets (which holds the default).
/// Values are layered: defaults < file < environment < flags. The file, the environment and the flags are all read
/// through this table, `coffer serve --help` and `--print-config` are made from it, and every mistake names the
/// setting and where it was written.
struct Setting {
    /// The key in a configuration file: `section.name` (nested objects in JSON or YAML, or the dotted key).
    let key: String
    /// The flat key configuration files used before settings had sections; still read.
    let legacyKey: String?
    let flag: String?
    /// The environment variable; by default `COFFER_` and the key in upper snake case.
    let environment: String
    let help: String
    let kind: Kind

    enum Kind {
        case int(WritableKeyPath<ServerConfiguration, Int>, ClosedRange<Int>)
        case optionalInt(WritableKeyPath<ServerConfiguration, Int?>, ClosedRange<Int>)
        case string(WritableKeyPath<ServerConfiguration, String>)
        case optionalString(WritableKeyPath<ServerConfiguration, String?>)
        case choice(WritableKeyPath<ServerConfiguration, String>, [String])
        case optionalChoice(WritableKeyPath<ServerConfiguration, String?>, [String])
        /// A flag without a value turns it on.
        case bool(WritableKeyPath<ServerConfiguration, Bool>)
        /// A repeated flag adds a value; the environment separates values with commas.
        case strings(WritableKeyPath<ServerConfiguration, [String]>)
    }

    /// The flat key of earlier files: the key's last part (`listen.port` was `port`), another, or none (a new setting).
    enum Legacy {
        case lastPart, none
        case named(String)
    }

    init(_ key: String, legacy: Legacy = .lastPart, flag: String? = nil, environment: String? = nil, _ kind: Kind, _ help: String) {
        self.key = key
        self.legacyKey = switch legacy {
        case .lastPart: key.split(separator: ".").last.map(String.init)
        case .none: nil
        case .named(let name): name
        }
        self.flag = flag
        self.environment = environment ?? "COFFER_" + Self.upperSnakeCase(key)
        self.help = help
        self.kind = kind
    }

    /// `storage.metadataURL` → `STORAGE_METADATA_URL`.
    static func upperSnakeCase(_ key: String) -> String {
        var result = ""
        var previous: Character = "."
        for character in key {
            if character == "." {
                result.append("_")
            } else {
                if character.isUppercase, previous.isLowercase || previous.isNumber { result.append("_") }
                result.append(character.uppercased())
            }
            previous = character
        }
        return result
    }

    /// How the setting is named in an error, for a value from `source`.
    func name(in source: SettingSource) -> String {
        switch source {
        case .file(_, let written): "\"\(written)\""
        case .environment(let variable): variable
        case .flag(let flag): "\(flag) (\"\(key)\" in a configuration file)"
        case .defaultValue: "\"\(key)\""
        }
    }

    /// Sets the value read from `source`.
    func apply(_ raw: RawSetting, from source: SettingSource, to configuration: inout ServerConfiguration) throws {
        let name = name(in: source)
        func wholeNumber(_ range: ClosedRange<Int>) throws -> Int {
            let number: Int?
            switch raw {
            case .text(let text): number = Int(text.trimmingCharacters(in: .whitespaces))
            case .json(.number(let value)): number = value.rounded() == value && abs(value) < 1e15 ? Int(value) : nil
            case .json: number = nil
            }
            guard let number else { throw ServerStartError("\(name) must be a whole number") }
            guard range.contains(number) else {
                throw ServerStartError("\(name) must be \(range.lowerBound) to \(range.upperBound), not \(number)")
            }
            return number
        }
        func text() throws -> String {
            switch raw {
            case .text(let text): return text
            case .json(.string(let text)): return text
            case .json: throw ServerStartError("\(name) must be a string")
            }
        }
        func oneOf(_ choices: [String]) throws -> String {
            let value = try text()
            guard choices.contains(value) else {
                throw ServerStartError("\(name) must be one of \(choices.joined(separator: ", ")), not \(value.prefix(40))")
            }
            return value
        }
        switch kind {
        case .int(let path, let range): configuration[keyPath: path] = try wholeNumber(range)
        case .optionalInt(let path, let range): configuration[keyPath: path] = try wholeNumber(range)
        case .string(let path): configuration[keyPath: path] = try text()
        case .optionalString(let path): configuration[keyPath: path] = try text()
        case .choice(let path, let choices): configuration[keyPath: path] = try oneOf(choices)
        case .optionalChoice(let path, let choices): configuration[keyPath: path] = try oneOf(choices)
        case .bool(let path):
            switch raw {
            case .json(.bool(let value)): configuration[keyPath: path] = value
            case .text(let text) where ["true", "1", "yes", "on"].contains(text.lowercased()): configuration[keyPath: path] = true
            case .text(let text) where ["false", "0", "no", "off"].contains(text.lowercased()): configuration[keyPath: path] = false
            default: throw ServerStartError("\(name) must be true or false")
            }
        case .strings(let path):
            switch raw {
            case .json(.array(let values)):
                configuration[keyPath: path] = try values.map { value in
                    guard case .string(let text) = value else { throw ServerStartError("\(name) must be a list of strings") }
                    return text
                }
            case .json: throw ServerStartError("\(name) must be a list of strings")
            case .text(let text):
                let values = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                if case .flag = source {
                    configuration[keyPath: path] += values  // repeated flags add up (the defaults were cleared first)
                } else {
                    configuration[keyPath: path] = values
                }
            }
        }
    }

    /// The value as `--print-config` shows it: nil when unset; the password of a URL is never shown.
    func display(_ configuration: ServerConfiguration) -> String? {
        let value: String? = switch kind {
        case .int(let path, _): String(configuration[keyPath: path])
        case .optionalInt(let path, _): configuration[keyPath: path].map(String.init)
        case .string(let path), .choice(let path, _): configuration[keyPath: path]
        case .optionalString(let path), .optionalChoice(let path, _): configuration[keyPath: path]
        case .bool(let path): String(configuration[keyPath: path])
        case .strings(let path): configuration[keyPath: path].joined(separator: ",")
        }
        return value.map(Self.withoutPassword)
    }

    /// `postgres://user:secret@host/db` → `postgres://user:<redacted>@host/db`; other text unchanged.
    static func withoutPassword(_ text: String) -> String {
        guard let scheme = text.range(of: "://") else { return text }
        guard var components = URLComponents(string: text) else {
            // Not a URL it can take apart (a password with a raw `#` or `@`, say): everything before the last `@`.
            guard let at = text.range(of: "@", options: .backwards), at.lowerBound > scheme.upperBound else { return text }
            return String(text[..<scheme.upperBound]) + "<redacted>" + String(text[at.lowerBound...])
        }
        guard components.password != nil else { return text }
        components.password = "<redacted>"
        return components.string?.replacingOccurrences(of: "%3Credacted%3E", with: "<redacted>") ?? "<redacted>"
    }
}

/// A value as written: text (environment, flags) or JSON/YAML (a file).
enum RawSetting {
    case text(String)
    case json(JSONValue)
}

/// Where a value came from.
enum SettingSource: Equatable, CustomStringConvertible {
    case defaultValue
    /// The file, and the key as written there (a legacy flat key, or the dotted one).
    case file(String, key: String)
    case environment(String)
    case flag(String)

    var description: String {
        switch self {
        case .defaultValue: "default"
        case .file(let file, _): "file \(file)"
        case .environment(let variable): "environment \(variable)"
        case .flag(let flag): "flag \(flag)"
        }
    }
}

extension ServerConfiguration {
    /// The table of settings, in the order `--help` and `--print-config` show them.
    static var settings: [Setting] {
        let seconds = 1...315_360_000  // up to ten years
        return [
            Setting("storage.dataDirectory", flag: "--data-dir", .string(\.dataDirectory),
                    "Where Coffer keeps its keys, certificates, metadata and blobs (default ./.coffer)."),
            Setting("storage.masterKeyFile", flag: "--master-key-file", .optionalString(\.masterKeyFile),
                    "The server master key file, 32 bytes base64 (default <data directory>/master.key)."),
            Setting("storage.metadataURL", flag: "--metadata", .optionalString(\.metadataURL),
                    "Metadata store: postgres://user[:password]@host[:port]/database (C collation); default the embedded SQLite."),
            Setting("storage.blobsURL", flag: "--blobs", .optionalString(\.blobsURL),
                    "Blob store: s3://bucket[/prefix] (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL_S3); default the data directory."),
            Setting("postgresql.maximumConnections", legacy: .none, .int(\.postgresMaximumConnections, 1...1000),
                    "Connections this node opens to PostgreSQL at most (default 20)."),
            Setting("s3.addressing", legacy: .none, environment: "COFFER_S3_ADDRESSING", .choice(\.s3Addressing, ["path", "virtual"]),
                    "path (https://endpoint/bucket/key, the default) or virtual (https://bucket.endpoint/key)."),
            Setting("s3.serverSideEncryption", legacy: .none, environment: "COFFER_S3_SSE",
                    .optionalChoice(\.s3ServerSideEncryption, ["AES256", "aws:kms", "aws:kms:dsse"]),
                    "Ask the store to encrypt on its side too: AES256, aws:kms or aws:kms:dsse (default none)."),
            Setting("s3.kmsKeyID", legacy: .none, environment: "COFFER_S3_SSE_KMS_KEY_ID", .optionalString(\.s3KMSKeyID),
                    "The KMS key of aws:kms server-side encryption (default the store's)."),
            Setting("listen.addresses", legacy: .named("listenAddresses"), flag: "--address", .strings(\.listenAddresses),
                    "Addresses to listen on; repeat the flag for several (default 127.0.0.1 and ::1)."),
            Setting("listen.port", flag: "--port", .int(\.port, 1...65535), "HTTPS port (default 8443)."),
            Setting("listen.publicPort", flag: "--public-port", .optionalInt(\.publicPort, 1...65535),
                    "The port clients reach the server at, behind a load balancer on another port (default --port); every URL Coffer hands out names it."),
            Setting("listen.registryHostSuffix", flag: "--registry-host-suffix", .string(\.registryHostSuffix),
                    "Host suffix of registry login servers (default cr.localhost)."),
            Setting("listen.vaultHostSuffix", flag: "--vault-host-suffix", .string(\.vaultHostSuffix),
                    "Host suffix of key vaults (default vault.localhost)."),
            Setting("listen.graphHost", .string(\.graphHost), "The host Microsoft Graph is served at (default graph.localhost)."),
            Setting("listen.idleConnectionSeconds", flag: "--idle-connection-seconds", .int(\.idleConnectionSeconds, seconds),
                    "Seconds before a connection with no request in progress is closed (default 120)."),
            Setting("listen.requestBodySeconds", flag: "--request-body-seconds", .int(\.requestBodySeconds, seconds),
                    "Seconds within which a control-plane or token request's whole body must arrive (default 30)."),
            Setting("tls.certificateFile", flag: "--certificate", .optionalString(\.certificateFile),
                    "PEM certificate chain to serve instead of the generated one."),
            Setting("tls.privateKeyFile", flag: "--private-key", .optionalString(\.privateKeyFile), "PEM private key of the certificate."),
            Setting("registry.defaultRegistry", .string(\.defaultRegistry), "The registry that exists from the first start (default coffer)."),
            Setting("registry.tokenLifetimeSeconds", .int(\.tokenLifetimeSeconds, 60...86_400), "Registry bearer token lifetime, seconds (default 600)."),
            Setting("registry.keyAccessCheckSeconds", flag: "--key-access-check-seconds", .int(\.keyAccessCheckSeconds, seconds),
                    "Seconds an unwrapped registry master key is trusted before its key is asked again (default 300)."),
            Setting("registry.uploadIdleSeconds", flag: "--upload-idle-seconds", .int(\.uploadIdleSeconds, seconds),
                    "Seconds after which an upload session nobody writes to expires with its staged data (default 604800, 7 days)."),
            Setting("registry.uploadSessionsPerRepository", flag: "--upload-sessions-per-repository",
                    .int(\.uploadSessionsPerRepository, 1...1_000_000), "Open upload sessions allowed per repository; more are refused with 429 (default 1000)."),
            Setting("registry.uploadSessionsPerPrincipal", flag: "--upload-sessions-per-principal",
                    .int(\.uploadSessionsPerPrincipal, 1...1_000_000), "Open upload sessions allowed per principal (default 1000)."),
            Setting("registry.uploadMinimumBytesPerSecond", flag: "--upload-minimum-bytes-per-second",
                    .int(\.uploadMinimumBytesPerSecond, 0...(1 << 40)),
                    "Bytes per second a registry upload's body must bring over each rate window, else 408 (default 1024; 0: no check)."),
            Setting("registry.uploadRateWindowSeconds", flag: "--upload-rate-window-seconds", .int(\.uploadRateWindowSeconds, 1...86_400),
                    "Seconds of the window over which an upload's rate is measured (default 60)."),
            Setting("identity.imdsEnabled", flag: "--enable-imds", .bool(\.imdsEnabled),
                    "Answer the IMDS managed-identity path, which takes no secret (default off)."),
            Setting("identity.requirePreviewRegistration", .bool(\.requirePreviewRegistration),
                    "Customer-managed keys need the Microsoft.ContainerRegistry/PrivatePreview feature registered (default true)."),
            Setting("identity.featureApprovalSeconds", .int(\.featureApprovalSeconds, 0...86_400),
                    "How long a preview-feature registration stays Registering before it is approved, seconds (default 5)."),
            Setting("vault.systemOpenSSL", legacy: .none, environment: "COFFER_SYSTEM_OPENSSL", .bool(\.systemOpenSSL),
                    "RSA decryption in the system's OpenSSL 3 when it is installed (default true; false keeps it on swift-crypto)."),
            Setting("jobs.keyRotationCheckSeconds", .int(\.keyRotationCheckSeconds, seconds), "How often key rotation policies are checked, seconds (default 60)."),
            Setting("jobs.customerManagedKeyVersionCheckSeconds", flag: "--key-version-check-seconds",
                    .int(\.customerManagedKeyVersionCheckSeconds, seconds),
                    "Seconds between checks for a newer version of versionless customer-managed keys (default 3600)."),
            Setting("jobs.retentionCheckSeconds", flag: "--retention-check-seconds", .int(\.retentionCheckSeconds, seconds),
                    "Seconds between retention-policy passes over untagged manifests (default 3600)."),
            Setting("jobs.garbageCollectionSeconds", flag: "--gc-interval-seconds", .int(\.garbageCollectionSeconds, seconds),
                    "Seconds between garbage-collection passes (default 3600)."),
            Setting("jobs.garbageCollectionGraceSeconds", flag: "--gc-grace-seconds", .int(\.garbageCollectionGraceSeconds, 0...315_360_000),
                    "Seconds an unreferenced blob is kept after its last use, so pushes in progress keep theirs (default 3600)."),
            Setting("telemetry.logLevel", flag: "--log-level", .choice(\.logLevel, ["trace", "debug", "info", "notice", "warning", "error", "critical"]),
                    "Log level: trace, debug, info, notice, warning, error, critical (default info; warning and above leave out the access log)."),
            Setting("telemetry.otlpEndpoint", flag: "--otlp-endpoint", .optionalString(\.otlpEndpoint),
                    "An OpenTelemetry collector to export traces to over OTLP/HTTP, e.g. http://127.0.0.1:4318 (default none; OTEL_* variables apply)."),
            Setting("telemetry.continueClientTraces", legacy: .none, .bool(\.continueClientTraces),
                    "Continue a client's W3C trace (traceparent) in its request's span (default true; false starts every trace here, so a "
                    + "client cannot choose whether its requests are sampled)."),
        ]
    }
}
