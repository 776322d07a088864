import CofferServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import OCIModels
import PostgresMetadataStore
@testable import RegistryService
import S3BlobStore
import Synchronization
import Testing

/// A Coffer server on a fresh data directory, driven in-process. The stores are SQLite and the filesystem; with
/// `COFFER_API_TEST_STORES=postgres+s3` (scripts/test runs these suites so a second time) a fresh PostgreSQL
/// database and S3 bucket each, from `COFFER_TEST_POSTGRES_URL` and `COFFER_TEST_S3_ENDPOINT` (AWS_* credentials).
struct Fixture {
    let server: CofferServer
    let dataDirectory: String
    let password: String

    static let stores = ProcessInfo.processInfo.environment["COFFER_API_TEST_STORES"] ?? "sqlite+filesystem"
    /// Whether objects are files under the data directory (tests that damage a file on disk need that).
    static let onFilesystem = stores == "sqlite+filesystem"

    static func make(dataDirectory: String? = nil, configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> Fixture {
        var configuration = ServerConfiguration()
        configuration.dataDirectory = dataDirectory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("coffer-api-\(UUID().uuidString)").path
        if dataDirectory == nil, stores == "postgres+s3" {
            (configuration.metadataURL, configuration.blobsURL) = try await freshSharedStores()
        } else if dataDirectory != nil, let reopened = sharedStoresByDirectory.withLock({ $0[dataDirectory!] }) {
            (configuration.metadataURL, configuration.blobsURL) = reopened
        } else if !onFilesystem {
            throw FixtureError("COFFER_API_TEST_STORES must be sqlite+filesystem or postgres+s3, not \(stores)")
        }
        if let metadata = configuration.metadataURL, let blobs = configuration.blobsURL {
            sharedStoresByDirectory.withLock { $0[configuration.dataDirectory] = (metadata, blobs) }
        }
        configure(&configuration)
        let server = try await CofferServer.prepare(configuration, logger: quietLogger)
        let credentials = try JSONDecoder().decode(
            [String: String].self, from: Data(contentsOf: URL(fileURLWithPath: configuration.dataDirectory + "/admin-credentials.json"))
        )
        return Fixture(server: server, dataDirectory: configuration.dataDirectory, password: credentials["password"]!)
    }

    /// Runs `body` against the server's application, then closes the stores.
    func test(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        do {
            try await server.testApplication().test(.router, body)
        } catch {
            try await server.close()
            throw error
        }
        try await server.close()
    }

    /// A new PostgreSQL database and S3 bucket, as the metadata and blob URLs of a server.
    private static func freshSharedStores() async throws -> (String, String) {
        let environment = ProcessInfo.processInfo.environment
        guard let admin = environment["COFFER_TEST_POSTGRES_URL"], let endpoint = environment["COFFER_TEST_S3_ENDPOINT"].flatMap(URL.init(string:)) else {
            throw FixtureError("COFFER_API_TEST_STORES=postgres+s3 needs COFFER_TEST_POSTGRES_URL and COFFER_TEST_S3_ENDPOINT (scripts/test sets them)")
        }
        let name = "coffer_api_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let sessions = try await PostgresSessions.connect(url: admin, maximumConnections: 1)
        do {
            try await sessions.read { db in try await db.raw("CREATE DATABASE \(unsafeRaw: name) TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'").run() }
        } catch {
            try? await sessions.close()
            throw error
        }
        try await sessions.close()
        var database = URLComponents(string: admin)!
        database.path = "/" + name
        let bucket = "coffer-api-" + UUID().uuidString.lowercased()
        try await S3BlobStore(configuration: S3Configuration(endpoint: endpoint, bucket: bucket, region: "us-east-1", accessKeyID: "test",
                                                            secretAccessKey: "test")).createBucket()
        return (database.string!, "s3://\(bucket)/api")
    }

    /// A server reopened on a data directory finds the shared stores it had.
    private static let sharedStoresByDirectory = Mutex<[String: (String, String)]>([:])

    /// The names of the upload staging objects (in whichever blob store).
    func stagingNames() async throws -> [String] {
        try await server.registry.blobs.listStaging()
    }

    /// The file of a blob's object in the data directory (objects are named by digest, time of writing and a random part).
    func objectPath(registry: String, digest: Digest) throws -> String {
        let directory = objectDirectory(registry: registry, digest: digest)
        let names = objectNames(registry: registry, digest: digest)
        guard names.count == 1 else { throw FixtureError("expected one object of \(digest) in \(registry), found \(names.count)") }
        return directory + "/" + names[0]
    }

    func objectDirectory(registry: String, digest: Digest) -> String {
        dataDirectory + "/blobs/objects/registries/\(registry)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded.prefix(2))"
    }

    /// The names of every object stored under `digest` on the filesystem (none when its directory does not exist).
    func objectNames(registry: String, digest: Digest) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: objectDirectory(registry: registry, digest: digest))) ?? [])
            .filter { $0.hasPrefix(digest.encoded + ".") }
    }

    /// The keys of every object stored under `digest`, in whichever blob store.
    func objectKeys(registry: String, digest: Digest) async throws -> [String] {
        try await server.registry.blobs.list(prefix: "registries/\(registry)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded.prefix(2))/\(digest.encoded).")
    }

    var basicAuthorization: String {
        "Basic " + Data("coffer-admin:\(password)".utf8).base64EncodedString()
    }
}

extension TestClientProtocol {
    /// A bearer token from the token endpoint, for the service the in-process requests (addressed to `localhost`,
    /// which is not a configured name) are answered as: the advertised base address, `localhost:8443`.
    func token(_ fixture: Fixture, scopes: [String]) async throws -> String {
        let query = (["service=localhost:8443"] + scopes.map { "scope=\($0)" }).joined(separator: "&")
        return try await execute(uri: "/oauth2/token?\(query)", method: .get, headers: [.authorization: fixture.basicAuthorization]) { response in
            #expect(response.status == .ok)
            let body = try JSONDecoder().decode([String: AnyCodable].self, from: Data(buffer: response.body))
            guard case .string(let token) = body["token"] else { throw FixtureError("no token in response") }
            return token
        }
    }

    func send(
        _ method: HTTPRequest.Method, _ uri: String, token: String?, headers: HTTPFields = [:], body: [UInt8]? = nil
    ) async throws -> TestResponse {
        var fields = headers
        if let token { fields[.authorization] = "Bearer \(token)" }
        return try await execute(uri: uri, method: method, headers: fields, body: body.map { ByteBuffer(bytes: $0) })
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum AnyCodable: Decodable {
    case string(String)
    case number(Double)
    case other

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else { self = .other }
    }
}

/// The first error code of a distribution error body.
func errorCode(_ response: TestResponse) -> String? {
    struct Body: Decodable { struct Entry: Decodable { let code: String }; let errors: [Entry] }
    return (try? JSONDecoder().decode(Body.self, from: Data(buffer: response.body)))?.errors.first?.code
}

func sha256(_ bytes: [UInt8]) -> String { Digest.of(bytes).description }

func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}
