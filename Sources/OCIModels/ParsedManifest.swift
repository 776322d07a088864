import Foundation

/// A manifest the registry has checked: its type, what it references and what describes it.
///
/// Parsing validates structure only; whether referenced blobs exist is the registry's check.
public struct ParsedManifest: Sendable, Equatable {
    public static let maximumSize = 4 * 1024 * 1024

    public let mediaType: String
    /// `artifactType`, or for an image manifest without one, its config's media type (as the referrers API reports).
    public let artifactType: String?
    public let subject: Digest?
    /// Blobs (config and layers) that must exist in the repository. Foreign layers with `urls` are excluded.
    public let blobReferences: [Digest]
    /// Manifests an index lists.
    public let manifestReferences: [Digest]
    public let annotations: [String: String]?

    private struct Document: Decodable {
        var schemaVersion: Int?
        var mediaType: String?
        var artifactType: String?
        var config: Descriptor?
        var layers: [Descriptor]?
        var manifests: [Descriptor]?
        var subject: Descriptor?
        var annotations: [String: String]?
    }

    /// - Parameters:
    ///   - bytes: the manifest exactly as sent.
    ///   - contentType: the request's `Content-Type`, if any (parameters are ignored).
    ///   - strict: refuse duplicate keys and deep nesting (every manifest a client sends); false only to re-read
    ///     manifests stored before the check existed.
    public init(bytes: [UInt8], contentType: String?, strict: Bool = true) throws(OCIValidationError) {
        guard bytes.count <= Self.maximumSize else {
            throw OCIValidationError(.sizeInvalid, "manifest is larger than \(Self.maximumSize) bytes")
        }
        // Readers in other languages must see exactly the document validated here.
        if strict {
            do { try StrictJSON.validate(bytes) } catch {
                throw OCIValidationError(.manifestInvalid, "manifest is not strict JSON: \(error.message)")
            }
        }
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: Data(bytes))
        } catch {
            throw OCIValidationError(.manifestInvalid, "manifest is not a valid JSON manifest document")
        }
        guard document.schemaVersion == 2 else {
            throw OCIValidationError(.manifestInvalid, "manifest schemaVersion must be 2")
        }
        let declaredType = contentType.flatMap(OCIModels.mediaType(ofContentType:))
        let mediaType: String
        switch (document.mediaType, declaredType) {
        case (let body?, let header?) where body != header:
            throw OCIValidationError(.manifestInvalid, "manifest mediaType \"\(body)\" does not match Content-Type \"\(header)\"")
        case (let body?, _): mediaType = body
        case (nil, let header?): mediaType = header
        case (nil, nil): mediaType = document.manifests != nil ? MediaTypes.ociIndex : MediaTypes.ociManifest
        }
        guard MediaTypes.manifestTypes.contains(mediaType) else {
            throw OCIValidationError(.manifestInvalid, "unsupported manifest media type \"\(mediaType.prefix(200))\"")
        }

        var blobs: [Digest] = []
        var children: [Digest] = []
        if MediaTypes.indexTypes.contains(mediaType) {
            guard let manifests = document.manifests else {
                throw OCIValidationError(.manifestInvalid, "an index must have a manifests array")
            }
            for manifest in manifests { children.append(try Self.digest(of: manifest, field: "manifests")) }
        } else {
            guard let config = document.config, let layers = document.layers else {
                throw OCIValidationError(.manifestInvalid, "an image manifest must have config and layers")
            }
            blobs.append(try Self.digest(of: config, field: "config"))
            for layer in layers {
                let digest = try Self.digest(of: layer, field: "layers")
                if layer.urls?.isEmpty ?? true { blobs.append(digest) }
            }
        }
        self.mediaType = mediaType
        self.artifactType = document.artifactType ?? document.config?.mediaType
        if let subject = document.subject {
            self.subject = try Self.digest(of: subject, field: "subject")
        } else {
            self.subject = nil
        }
        self.blobReferences = blobs
        self.manifestReferences = children
        self.annotations = document.annotations
    }

    private static func digest(of descriptor: Descriptor, field: String) throws(OCIValidationError) -> Digest {
        guard descriptor.size >= 0 else {
            throw OCIValidationError(.manifestInvalid, "\(field): descriptor size must not be negative")
        }
        do {
            return try Digest(parsing: descriptor.digest)
        } catch {
            throw OCIValidationError(.manifestInvalid, "\(field): \(error.message)")
        }
    }
}
