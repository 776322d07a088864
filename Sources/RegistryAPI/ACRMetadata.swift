import CofferStorage
import Foundation
import HTTPTypes
import OCIModels
import RegistryService

/// ACR's metadata API (`/acr/v1/<repository>[/_tags[/<tag>]|/_manifests[/<digest>]]`), in the shapes
/// `az acr repository show|show-tags|show-manifests|delete|untag` read. Authorization happened before (the operation
/// table: `metadata_read` to read, `metadata_write` to change attributes, `delete` to delete; the locks were checked
/// too). `PATCH` changes ACR's changeable attributes (`az acr repository update`: its image locks).
struct ACRMetadata {
    let registry: RegistryService
    let target: RepositoryTarget
    /// The login server as the client named it (`registry` in each answer).
    let loginServer: String
    let locks: RepositoryLocks
    let lockStore: RepositoryLockStore?

    func respond(to route: OCIRoute, method: HTTPRequest.Method, limit: Int?, body: [UInt8]) async throws -> (HTTPResponse.Status, Data) {
        let (manifests, tags) = try await registry.repositoryContents(registry: target.registry, repository: target.repository)
        let limit = limit ?? 100
        if method == .patch {
            return try await patch(route, body: body, manifests: manifests, tags: tags)
        }
        let locks = self.locks
        switch (route, method) {
        case (.acrRepository, .delete):
            let deleted = try await registry.deleteRepository(registry: target.registry, repository: target.repository)
            try await lockStore?.remove(registry: target.registry, repository: target.repository.value)
            return (.accepted, try Self.encode(["manifestsDeleted": deleted.manifests, "tagsDeleted": deleted.tags]))
        case (.acrRepository, _):
            return (.ok, try Self.encode(RepositoryAttributes(
                registry: loginServer, imageName: target.repository.value,
                createdTime: Self.date(manifests.map(\.createdAt).min()), lastUpdateTime: Self.date(manifests.map(\.createdAt).max()),
                manifestCount: manifests.count, tagCount: tags.count, changeableAttributes: locks.repository.presented)))
        case (.acrTags, _):
            let listed = tags.filter { locks.tag($0.name).listEnabled }.prefix(limit).map { tag(named: $0.name, digest: $0.digest, manifests: manifests) }
            return (.ok, try Self.encode(TagList(registry: loginServer, imageName: target.repository.value, tags: Array(listed))))
        case (.acrTag(_, let name), .delete):
            guard tags.contains(where: { $0.name == name }), let tag = try? Tag(name) else {
                throw RegistryError(.manifestUnknown, "tag \(name.prefix(128)) is not in repository \(target.repository)")
            }
            try await registry.deleteManifest(registry: target.registry, repository: target.repository, reference: .tag(tag))
            if locks.tags[name] != nil {
                _ = try await lockStore?.change(registry: target.registry, repository: target.repository.value) { $0.tags[name] = nil }
            }
            return (.accepted, Data())
        case (.acrTag(_, let name), _):
            guard let found = tags.first(where: { $0.name == name }) else { throw RegistryError(.manifestUnknown, "tag \(name.prefix(128)) is not in repository \(target.repository)") }
            return (.ok, try Self.encode(OneTag(registry: loginServer, imageName: target.repository.value,
                                                tag: tag(named: found.name, digest: found.digest, manifests: manifests))))
        case (.acrManifests, _):
            let listed = manifests.filter { locks.manifest($0.digest.description).listEnabled }.prefix(limit).map { manifest(of: $0, tags: tags) }
            return (.ok, try Self.encode(ManifestList(registry: loginServer, imageName: target.repository.value, manifests: Array(listed))))
        case (.acrManifest(_, let reference), let method):
            guard let digest = try? Digest(parsing: reference) else { throw RegistryError(.digestInvalid, "\(reference.prefix(100)) is not a digest") }
            guard let record = manifests.first(where: { $0.digest == digest }) else {
                throw RegistryError(.manifestUnknown, "manifest \(digest) is not in repository \(target.repository)")
            }
            if method == .delete {
                if let locked = tags.first(where: { $0.digest == digest && !locks.tag($0.name).mayDelete }) {
                    throw DistributionErrorResponse(status: .forbidden, code: "DENIED",
                                                    message: "\(target.repository):\(locked.name) is delete-locked (deleteEnabled or writeEnabled is false)")
                }
                try await registry.deleteManifest(registry: target.registry, repository: target.repository, reference: .digest(digest))
                if locks.manifests[digest.description] != nil {
                    _ = try await lockStore?.change(registry: target.registry, repository: target.repository.value) { $0.manifests[digest.description] = nil }
                }
                return (.accepted, Data())
            }
            return (.ok, try Self.encode(OneManifest(registry: loginServer, imageName: target.repository.value, manifest: manifest(of: record, tags: tags))))
        default:
            throw RegistryError(.unsupported, "\(method.rawValue) is not supported on this endpoint")
        }
    }

    private func tag(named name: String, digest: Digest, manifests: [ManifestRecord]) -> TagAttributes {
        let created = Self.date(manifests.first { $0.digest == digest }?.createdAt)
        return TagAttributes(name: name, digest: digest.description, createdTime: created, lastUpdateTime: created, signed: false,
                             changeableAttributes: locks.tag(name).presented)
    }

    private func manifest(of record: ManifestRecord, tags: [(name: String, digest: Digest)]) -> ManifestAttributes {
        let created = Self.date(record.createdAt)
        return ManifestAttributes(digest: record.digest.description, imageSize: record.size, createdTime: created, lastUpdateTime: created,
                                  mediaType: record.mediaType, tags: tags.filter { $0.digest == record.digest && locks.tag($0.name).listEnabled }.map(\.name),
                                  changeableAttributes: locks.manifest(record.digest.description).presented)
    }

    /// `PATCH` of a repository, a tag or a manifest: the booleans given change, the others stay; the answer is the
    /// object as a `GET` shows it afterwards.
    private func patch(_ route: OCIRoute, body: [UInt8], manifests: [ManifestRecord], tags: [(name: String, digest: Digest)]) async throws
        -> (HTTPResponse.Status, Data) {
        guard let lockStore else { throw RegistryError(.unsupported, "this server keeps no changeable attributes") }
        let change: ChangeableAttributes.Change
        do {
            change = try JSONDecoder().decode(ChangeableAttributes.Change.self, from: Data(body))
        } catch {
            throw DistributionErrorResponse(status: .badRequest, code: "UNSUPPORTED",
                                            message: "the body is an object of deleteEnabled, writeEnabled, readEnabled and listEnabled booleans")
        }
        let repository = target.repository.value
        let updated: RepositoryLocks
        switch route {
        case .acrRepository:
            updated = try await lockStore.change(registry: target.registry, repository: repository) { $0.repository.apply(change) }
        case .acrTag(_, let name):
            guard tags.contains(where: { $0.name == name }) else { throw RegistryError(.manifestUnknown, "tag \(name.prefix(128)) is not in repository \(repository)") }
            updated = try await lockStore.change(registry: target.registry, repository: repository) { locks in
                var attributes = locks.tag(name)
                attributes.apply(change)
                locks.tags[name] = attributes
            }
        case .acrManifest(_, let reference):
            guard let digest = try? Digest(parsing: reference), manifests.contains(where: { $0.digest == digest }) else {
                throw RegistryError(.manifestUnknown, "manifest \(reference.prefix(100)) is not in repository \(repository)")
            }
            updated = try await lockStore.change(registry: target.registry, repository: repository) { locks in
                var attributes = locks.manifest(digest.description)
                attributes.apply(change)
                locks.manifests[digest.description] = attributes
            }
        default:
            throw RegistryError(.unsupported, "PATCH is not supported on this endpoint")
        }
        let shown = ACRMetadata(registry: registry, target: target, loginServer: loginServer, locks: updated, lockStore: lockStore)
        return try await shown.respond(to: route, method: .get, limit: nil, body: [])
    }

    static func date(_ seconds: Int64?) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds ?? 0)))
    }

    static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    struct RepositoryAttributes: Encodable {
        let registry: String, imageName: String, createdTime: String, lastUpdateTime: String
        let manifestCount: Int, tagCount: Int, changeableAttributes: [String: Bool]
    }

    struct TagAttributes: Encodable {
        let name: String, digest: String, createdTime: String, lastUpdateTime: String, signed: Bool
        let changeableAttributes: [String: Bool]
    }

    struct ManifestAttributes: Encodable {
        let digest: String, imageSize: Int64, createdTime: String, lastUpdateTime: String, mediaType: String, tags: [String]
        let changeableAttributes: [String: Bool]
    }

    struct TagList: Encodable { let registry: String, imageName: String, tags: [TagAttributes] }
    struct OneTag: Encodable { let registry: String, imageName: String, tag: TagAttributes }
    struct ManifestList: Encodable { let registry: String, imageName: String, manifests: [ManifestAttributes] }
    struct OneManifest: Encodable { let registry: String, imageName: String, manifest: ManifestAttributes }
}
