import AzureErrors
import Foundation
import Identity
import JMESPath
import OCIModels
import RegistryService

/// ACR's `importImage` (`az acr import`) between registries of this server: the source named by its resource id or
/// login server, the image copied with its blobs under the target's key. The caller needs `importImage/action` on
/// the target (the operation's own check) and pull on the source (checked here through `authorizeSource`), as in Azure.
package extension Registries {
    package func importImage(targetID: String, body: JSONValue, authorizeSource: (String) async throws -> Void) async throws {
        guard let targetName = try await get(id: targetID)?.name else {
            throw AzureErrorResponse(.notFound, code: "ResourceNotFound", message: "The registry was not found.")
        }
        let source = body["source"]
        guard case .string(let image) = source["sourceImage"] else {
            throw Self.invalid("source.sourceImage (repository:tag or repository@digest) is required.")
        }
        let sourceRegistry = try await sourceRegistry(source)
        let (sourceID, sourceName) = (sourceRegistry.id, sourceRegistry.name)
        try await authorizeSource(sourceID)
        try Self.refuseIfNetworkRestricted(sourceRegistry)
        let (repository, reference) = try Self.parseImage(image)
        let tags: [(repository: RepositoryName, tag: Tag)] = try Self.strings(body["targetTags"]).map { text in
            let (repository, reference) = try Self.parseImage(text)
            guard case .tag(let tag) = reference else { throw Self.invalid("targetTags are repository:tag, not '\(text.prefix(200))'.") }
            return (repository, tag)
        }
        let untagged = try Self.strings(body["untaggedTargetRepositories"]).map { text in
            do { return try RepositoryName(text) } catch { throw Self.invalid("'\(text.prefix(200))' is not a repository name.") }
        }
        try await refuseIfLocked(source: (sourceName, repository, reference), tags: tags, untagged: untagged, target: targetName)
        let force = { if case .string(let mode) = body["mode"] { mode.lowercased() == "force" } else { false } }()
        if !force {
            for (repository, tag) in tags
            where (try? await registry.manifestInfo(registry: targetName.lowercased(), repository: repository, reference: .tag(tag))) != nil {
                throw AzureErrorResponse(.conflict, code: "TagAlreadyExists",
                                         message: "The tag \(repository):\(tag) already exists in the target registry; import with --force to move it.")
            }
        }
        do {
            _ = try await registry.importImage(ImportRequest(
                sourceRegistry: sourceName.lowercased(), sourceRepository: repository, sourceReference: reference,
                targetRegistry: targetName.lowercased(), targetTags: tags, untaggedRepositories: untagged))
        } catch let error as RegistryError {
            switch error.code {
            case .nameUnknown, .manifestUnknown, .blobUnknown:
                throw AzureErrorResponse(.notFound, code: "ImageNotFound", message: "The source image \(image.prefix(200)) was not found: \(error.message)")
            case .keyUnavailable, .keyPurged:
                throw AzureErrorResponse(.conflict, code: "CustomerManagedKeyInaccessible", message: error.message)
            default:
                throw Self.invalid(error.message)
            }
        }
    }

    /// Image locks hold for imports as for pushes and pulls: a read-locked source is not copied, a write-locked target
    /// repository or tag is not written (not even with `--force`).
    private func refuseIfLocked(source: (registry: String, repository: RepositoryName, reference: ManifestReference),
                                tags: [(repository: RepositoryName, tag: Tag)], untagged: [RepositoryName], target: String) async throws {
        let store = RepositoryLockStore(documents: documents)
        func locked(_ message: String) -> AzureErrorResponse { AzureErrorResponse(.conflict, code: "ImageLocked", message: message) }
        let sourceLocks = try await store.locks(registry: source.registry, repository: source.repository.value)
        let sourceObject: ChangeableAttributes
        switch source.reference {
        case .tag(let tag): sourceObject = sourceLocks.tag(tag.description)
        case .digest(let digest): sourceObject = sourceLocks.manifest(digest.description)
        }
        guard sourceLocks.repository.readEnabled, sourceObject.readEnabled else {
            throw locked("The source image is read-locked (readEnabled is false).")
        }
        for (repository, tag) in tags {
            let locks = try await store.locks(registry: target, repository: repository.value)
            guard locks.repository.writeEnabled, locks.tag(tag.description).writeEnabled else {
                throw locked("The target \(repository):\(tag) is write-locked (writeEnabled is false).")
            }
        }
        for repository in untagged where !(try await store.locks(registry: target, repository: repository.value)).repository.writeEnabled {
            throw locked("The target repository \(repository) is write-locked (writeEnabled is false).")
        }
    }

    /// The source registry: by resource id, or by its login server (`registryUri`). Registries elsewhere are out of
    /// reach (Coffer talks to no other network).
    private func sourceRegistry(_ source: JSONValue) async throws -> RegistryResource {
        if case .string(let id) = source["resourceId"] {
            guard let registry = try await get(id: id) else { throw Self.invalid("The source registry '\(id.prefix(300))' was not found.") }
            return registry
        }
        guard case .string(let uri) = source["registryUri"] else { throw Self.invalid("source.resourceId or source.registryUri is required.") }
        let host = uri.lowercased().replacingOccurrences(of: "https://", with: "").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        let name = String(host.prefix { $0 != "." })
        guard !name.isEmpty, loginServer(name) == host, let registry = try await get(named: name) else {
            throw AzureErrorResponse(.badRequest, code: "ImportSourceNotSupported",
                                     message: "Coffer imports only from its own registries; '\(uri.prefix(200))' is not one.")
        }
        return registry
    }

    /// A source behind a firewall (public access disabled, or default action Deny) lets imports through only when it
    /// lets trusted services by (`networkRuleBypassOptions: AzureServices`, Azure's default): an import must not be a
    /// way around the rules a pull would meet.
    package static func refuseIfNetworkRestricted(_ registry: RegistryResource) throws {
        let properties = registry.properties
        let restricted = properties.publicNetworkAccess?.lowercased() == "disabled" || properties.networkRuleSet?.defaultAction?.lowercased() == "deny"
        guard restricted, properties.networkRuleBypassOptions?.lowercased() == "none" else { return }
        throw AzureErrorResponse(.forbidden, code: "ImportSourceNetworkRestricted",
                                 message: "The source registry's network rules do not let trusted services through (networkRuleBypassOptions is None).")
    }

    /// `repository:tag` or `repository@digest` (a bare repository means `:latest`).
    package static func parseImage(_ text: String) throws -> (RepositoryName, ManifestReference) {
        do {
            if let at = text.firstIndex(of: "@") {
                return (try RepositoryName(text[..<at]), .digest(try Digest(parsing: text[text.index(after: at)...])))
            }
            if let colon = text.lastIndex(of: ":"), !text[colon...].contains("/") {
                return (try RepositoryName(text[..<colon]), .tag(try Tag(text[text.index(after: colon)...])))
            }
            return (try RepositoryName(text), .tag(try Tag("latest")))
        } catch {
            throw invalid("'\(text.prefix(200))' is not an image reference (repository:tag or repository@digest).")
        }
    }

    private static func strings(_ value: JSONValue) throws -> [String] {
        switch value {
        case .null: return []
        case .array(let items) where items.count <= 100:
            return try items.map { item in
                guard case .string(let text) = item else { throw invalid("targetTags and untaggedTargetRepositories hold strings.") }
                return text
            }
        default: throw invalid("targetTags and untaggedTargetRepositories are arrays of at most 100 strings.")
        }
    }

    private static func invalid(_ message: String) -> AzureErrorResponse {
        AzureErrorResponse(.badRequest, code: "InvalidParameters", message: message)
    }
}
