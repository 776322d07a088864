import CofferServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import OCIModels
import Testing

/// A Coffer server on a fresh data directory, driven in-process.
struct Fixture {
    let server: CofferServer
    let dataDirectory: String
    let password: String

    static func make(dataDirectory: String? = nil, configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> Fixture {
        var configuration = ServerConfiguration()
        configuration.dataDirectory = dataDirectory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("coffer-api-\(UUID().uuidString)").path
        configure(&configuration)
        let server = try await CofferServer.prepare(configuration)
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

    /// The names of every object stored under `digest` (none when its directory does not exist).
    func objectNames(registry: String, digest: Digest) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: objectDirectory(registry: registry, digest: digest))) ?? [])
            .filter { $0.hasPrefix(digest.encoded + ".") }
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
