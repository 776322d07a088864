import CofferStorage
import Crypto
import Envelope
import Foundation
import OCIModels
import RegistryService
import SQLMetadataStore

/// One metadata store and one blob store in a fresh directory, and registry services on them: what the nodes of a
/// cluster on shared storage are.
struct SharedStores {
    let metadata: SQLMetadataStore
    let blobs: FileSystemBlobStore
    let serverKey = SymmetricKey(size: .bits256)

    static func make() async throws -> SharedStores {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-shared-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return SharedStores(metadata: try await SQLMetadataStore(sessions: try await SQLiteSessions.open(path: directory + "/metadata.sqlite")),
                            blobs: try FileSystemBlobStore(root: directory + "/blobs"))
    }

    /// A node: a registry service of its own (its own caches and upload states) on the shared stores.
    func node(_ configuration: RegistryConfiguration = .init()) -> RegistryService {
        RegistryService(configuration: configuration, metadata: metadata, blobs: blobs,
                        keyWrappers: [ServiceManagedKeyWrapper(serverMasterKey: serverKey)])
    }

    /// A blob's whole content, read through `node`.
    static func read(_ node: RegistryService, registry: String, repository: RepositoryName, digest: OCIModels.Digest) async throws -> [UInt8] {
        let content = try await node.openBlob(registry: registry, repository: repository, digest: digest)
        var bytes: [UInt8] = []
        if let body = content.body { for try await chunk in body { bytes += chunk.readableBytesView } }
        return bytes
    }
}
