/// A repository name as the distribution spec's grammar allows:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
public struct RepositoryName: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// Registries commonly cap names at 255 characters including the host; we cap the path part.
    public static let maximumLength = 255

    public let value: String

    public init(_ text: some StringProtocol) throws(OCIValidationError) {
        let text = String(text)
        guard !text.isEmpty, text.utf8.count <= Self.maximumLength else {
            throw OCIValidationError(.nameInvalid, "repository name must be 1 to \(Self.maximumLength) characters")
        }
        for component in text.split(separator: "/", omittingEmptySubsequences: false) {
            guard Self.isValidComponent(component) else {
                throw OCIValidationError(.nameInvalid, "invalid repository name \"\(text.prefix(Self.maximumLength))\": components are lowercase letters and digits joined by '.', '_', '__' or '-'")
            }
        }
        value = text
    }

    public var description: String { value }

    public static func < (lhs: RepositoryName, rhs: RepositoryName) -> Bool { lhs.value < rhs.value }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
    }

    private static func isValidComponent(_ component: Substring) -> Bool {
        let bytes = Array(component.utf8)
        guard let first = bytes.first, let last = bytes.last, isAlphanumeric(first), isAlphanumeric(last) else {
            return false
        }
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if isAlphanumeric(byte) { index += 1; continue }
            // A separator run: ".", "_", "__" or one or more "-".
            var end = index
            while end < bytes.count, !isAlphanumeric(bytes[end]) { end += 1 }
            let run = bytes[index..<end]
            let isValidRun = run.elementsEqual([0x2E]) || run.elementsEqual([0x5F]) || run.elementsEqual([0x5F, 0x5F])
                || run.allSatisfy { $0 == 0x2D }
            guard isValidRun else { return false }
            index = end
        }
        return true
    }
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
public struct Tag: Hashable, Sendable, CustomStringConvertible {
    public let value: String

    public init(_ text: some StringProtocol) throws(OCIValidationError) {
        let bytes = Array(text.utf8)
        func isWord(_ byte: UInt8) -> Bool {
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x5F
        }
        guard let first = bytes.first, bytes.count <= 128, isWord(first),
              bytes.allSatisfy({ isWord($0) || $0 == 0x2E || $0 == 0x2D }) else {
            throw OCIValidationError(.tagInvalid, "invalid tag \"\(String(text).prefix(128))\": up to 128 of [a-zA-Z0-9._-], not starting with '.' or '-'")
        }
        value = String(text)
    }

    public var description: String { value }
}

/// What a manifest URL names: a tag or a digest.
public enum ManifestReference: Hashable, Sendable, CustomStringConvertible {
    case tag(Tag)
    case digest(Digest)

    public init(parsing text: some StringProtocol) throws(OCIValidationError) {
        if text.contains(":") {
            self = .digest(try Digest(parsing: text))
        } else {
            self = .tag(try Tag(text))
        }
    }

    public var description: String {
        switch self {
        case .tag(let tag): tag.value
        case .digest(let digest): digest.description
        }
    }
}
