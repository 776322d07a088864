/// A content descriptor: what a manifest says about one blob or manifest it points to.
public struct Descriptor: Codable, Sendable, Equatable {
    public var mediaType: String
    public var digest: String
    public var size: Int64
    public var artifactType: String?
    public var annotations: [String: String]?
    public var urls: [String]?

    public init(
        mediaType: String, digest: String, size: Int64,
        artifactType: String? = nil, annotations: [String: String]? = nil, urls: [String]? = nil
    ) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.artifactType = artifactType
        self.annotations = annotations
        self.urls = urls
    }
}
