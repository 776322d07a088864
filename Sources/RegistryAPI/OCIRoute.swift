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

    /// - Parameter path: the request path, starting with `/v2`.
    init?(path: String) {
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
}
