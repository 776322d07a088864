import CofferStorage
import Crypto
import Envelope
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import OCIModels
import RegistryService
import SQLMetadataStore
import Synchronization
import Testing

/// A key-encryption key whose owner can take it away (revoke) or destroy it (purge).
final class RevocableKeyWrapper: KeyWrapper {
    enum State { case available, revoked, purged }
    let keyID: String
    private let key = SymmetricKey(size: .bits256)
    let state = Mutex(State.available)

    init(keyID: String) { self.keyID = keyID }

    var auditIdentity: (key: String, identity: String) { (keyID, "test-identity") }

    private func check() throws {
        switch state.withLock({ $0 }) {
        case .available: return
        case .revoked: throw EnvelopeError(.keyUnavailable, "\(keyID) is revoked")
        case .purged: throw EnvelopeError(.keyPurged, "\(keyID) was purged")
        }
    }

    func wrap(_ secret: SymmetricKey, context: [UInt8]) async throws -> [UInt8] {
        try check()
        return try AES.GCM.seal(secret.withUnsafeBytes { Array($0) }, using: key, authenticating: context).combined.map(Array.init) ?? []
    }

    func unwrap(_ wrapped: [UInt8], context: [UInt8]) async throws -> SymmetricKey {
        try check()
        return SymmetricKey(data: try AES.GCM.open(AES.GCM.SealedBox(combined: wrapped), using: key, authenticating: context))
    }
}

@Suite struct KeyAccessAuditTests {
    @Test func everyUseOfAKeyIsCountedByOutcome() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-audit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let metadata = try await SQLMetadataStore(sessions: try await SQLiteSessions.open(path: directory + "/metadata.sqlite"))
        defer { Task { try await metadata.close() } }
        let first = RevocableKeyWrapper(keyID: "first"), second = RevocableKeyWrapper(keyID: "second")
        var configuration = RegistryConfiguration()
        configuration.masterKeyLifetime = .zero  // every access asks the key, as after each check interval
        let service = RegistryService(configuration: configuration, metadata: metadata, blobs: try FileSystemBlobStore(root: directory + "/blobs"),
                                      keyWrappers: [first, second])
        try await service.createRegistry(name: "audited", keyWrapperID: "first")
        #expect(await service.keyAccessError(registry: "audited") == nil)
        first.state.withLock { $0 = .revoked }
        #expect(await service.keyAccessError(registry: "audited")?.code == .keyUnavailable)
        first.state.withLock { $0 = .available }
        try await service.rewrapMasterKey(registry: "audited", keyWrapperID: "second")
        second.state.withLock { $0 = .purged }
        let purged = await service.keyAccessError(registry: "audited")
        #expect(purged?.code == .keyPurged && purged?.message.contains("permanently unreadable") == true)
        await #expect(throws: RegistryError.self) { try await service.createRegistry(name: "refused", keyWrapperID: "second") }
        await #expect(throws: RegistryError.self) { try await service.createRegistry(name: "unknown", keyWrapperID: "nowhere") }

        let counts = Dictionary(uniqueKeysWithValues: service.keyAudit.snapshot().map {
            ("\($0.labels.registry)/\($0.labels.operation.rawValue)/\($0.labels.outcome.rawValue)", $0.count)
        })
        #expect(counts == [
            "audited/wrap/success": 1, "audited/unwrap/success": 1, "audited/unwrap/denied": 1, "audited/rotate/success": 1,
            "audited/unwrap/purged": 1, "refused/wrap/purged": 1, "unknown/wrap/denied": 1,
        ])
    }

    /// The operator's metrics carry the key-access counters (who may read them: `MetricsAccessTests`).
    @Test func theOperatorReadsTheKeyAccessCounters() async throws {
        let fixture = try await Fixture.make()
        let operatorSecret = try #require(fixture.server.bootstrap.operatorSecret)
        let bootstrap = fixture.server.bootstrap
        try await fixture.test { client in
            #expect(try await client.send(.get, "/metrics", token: nil).status == .unauthorized)
            let form = "grant_type=client_credentials&client_id=\(bootstrap.operatorClientID)&client_secret=\(operatorSecret)"
                + "&scope=https%3A%2F%2Fmanagement.azure.com%2F.default"
            let token = try await client.execute(uri: "/\(bootstrap.tenantID)/oauth2/v2.0/token", method: .post,
                                                 headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: form)) { response in
                let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                return try #require(body?["access_token"] as? String)
            }
            let metrics = try await client.send(.get, "/metrics", token: token)
            #expect(metrics.status == .ok)
            let text = String(buffer: metrics.body)
            #expect(text.contains("# TYPE coffer_key_access_total counter"))
            // The metrics are the process's (one swift-metrics backend per process), and every server this test process
            // prepared wrapped its registry "coffer"'s key: at least this one did.
            let line = text.split(separator: "\n").first { $0.hasPrefix("coffer_key_access_total{registry=\"coffer\",operation=\"wrap\",outcome=\"success\"} ") }
            #expect((line?.split(separator: " ").last).flatMap { Int($0) } ?? 0 >= 1, "\(line ?? "no line")")
        }
    }
}

@Suite struct ManifestCacheTests {
    /// Manifests read once are served from memory, but never past a revoked key.
    @Test func aCachedManifestFailsClosedWithItsKey() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-manifests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let metadata = try await SQLMetadataStore(sessions: try await SQLiteSessions.open(path: directory + "/metadata.sqlite"))
        defer { Task { try await metadata.close() } }
        let key = RevocableKeyWrapper(keyID: "kek")
        var configuration = RegistryConfiguration()
        configuration.masterKeyLifetime = .zero
        let service = RegistryService(configuration: configuration, metadata: metadata, blobs: try FileSystemBlobStore(root: directory + "/blobs"),
                                      keyWrappers: [key])
        try await service.createRegistry(name: "cached", keyWrapperID: "kek")
        let repository = try RepositoryName("app")
        var descriptors: [String] = []
        for blob in [Array("{}".utf8), Array("layer".utf8)] {
            let digest = Digest.of(blob)
            _ = try await service.uploadBlob(registry: "cached", repository: repository, digest: digest,
                                             body: SharedStorageTests.Chunks(bytes: blob))
            descriptors.append("{\"mediaType\":\"application/octet-stream\",\"digest\":\"\(digest)\",\"size\":\(blob.count)}")
        }
        let manifest = Array("{\"schemaVersion\":2,\"mediaType\":\"\(MediaTypes.ociManifest)\",\"config\":\(descriptors[0]),\"layers\":[\(descriptors[1])]}".utf8)
        _ = try await service.putManifest(registry: "cached", repository: repository, reference: .tag(try Tag("v1")), bytes: manifest,
                                          contentType: MediaTypes.ociManifest)
        for _ in 0..<2 {
            #expect(try await service.manifest(registry: "cached", repository: repository, reference: .tag(try Tag("v1"))).bytes == manifest)
        }
        key.state.withLock { $0 = .revoked }
        await #expect {
            _ = try await service.manifest(registry: "cached", repository: repository, reference: .tag(try Tag("v1")))
        } throws: { error in
            (error as? RegistryError)?.code == .keyUnavailable
        }
    }
}
