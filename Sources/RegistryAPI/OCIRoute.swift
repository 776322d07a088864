import Foundation
import OCIModels

/// A distribution API endpoint, parsed from the path after `/v2/`.
///
/// Names may contain `/`, so the endpoint is found from the right, as distribution does:
/// the last `/manifests/`, `/blobs/uploads/`, `/blobs/`, `/tags/list` or `/referrers/` wins.
enum OCIRoute: Equatable {
    case base
    case catalog
    case tags(name: String)
    case manifest(name: String, reference: String)
    case blob(name: String, digest: String)
    case startUpload(name: String)
    case upload(name: String, id: String)
    case referrers(name: String, digest: String)
    /// ACR's metadata API (`/acr/v1/…`), which `az acr repository` uses.
    case acrCatalog
    case acrRepository(name: String)
    case acrTags(name: String)
    case acrTag(name: String, tag: String)
    case acrManifests(name: String)
    case acrManifest(name: String, reference: String)

    /// - Parameter path: the request path, starting with `/v2` or `/acr/v1/`.
    init?(path: String) {
        if path.hasPrefix("/acr/v1/") {
            self.init(acrPath: path.dropFirst("/acr/v1/".count))
            return
        }
        guard path == "/v2" || path.hasPrefix("/v2/") else { return nil }
        let rest = path.dropFirst(path == "/v2" ? 3 : 4)
        if rest.isEmpty {
            self = .base
            return
        }
        if rest == "_catalog" {
            self = .catalog
            return
        }
        func split(_ marker: String) -> (String, String)? {
            guard let range = rest.range(of: marker, options: .backwards) else { return nil }
            return (String(rest[..<range.lowerBound]), String(rest[range.upperBound...]))
        }
        if rest.hasSuffix("/tags/list") {
            self = .tags(name: String(rest.dropLast("/tags/list".count)))
        } else if let (name, reference) = split("/manifests/"), !reference.contains("/") {
            self = .manifest(name: name, reference: reference)
        } else if let (name, tail) = split("/blobs/uploads"), tail.isEmpty || tail == "/" {
            self = .startUpload(name: name)
        } else if let (name, id) = split("/blobs/uploads/"), !id.contains("/") {
            self = .upload(name: name, id: id)
        } else if let (name, digest) = split("/blobs/"), !digest.contains("/") {
            self = .blob(name: name, digest: digest)
        } else if let (name, digest) = split("/referrers/"), !digest.contains("/") {
            self = .referrers(name: name, digest: digest)
        } else {
            return nil
        }
    }

    /// `_catalog`, `<name>`, `<name>/_tags[/<tag>]`, `<name>/_manifests[/<digest>]`.
    private init?(acrPath rest: Substring) {
        guard !rest.isEmpty else { return nil }
        if rest == "_catalog" {
            self = .acrCatalog
        } else if rest.hasSuffix("/_tags") {
            self = .acrTags(name: String(rest.dropLast("/_tags".count)))
        } else if rest.hasSuffix("/_manifests") {
            self = .acrManifests(name: String(rest.dropLast("/_manifests".count)))
        } else if let range = rest.range(of: "/_tags/", options: .backwards), !rest[range.upperBound...].contains("/") {
            self = .acrTag(name: String(rest[..<range.lowerBound]), tag: String(rest[range.upperBound...]))
        } else if let range = rest.range(of: "/_manifests/", options: .backwards), !rest[range.upperBound...].contains("/") {
            self = .acrManifest(name: String(rest[..<range.lowerBound]), reference: String(rest[range.upperBound...]))
        } else if !rest.hasPrefix("_") {
            self = .acrRepository(name: String(rest))
        } else {
            return nil
        }
    }
}
