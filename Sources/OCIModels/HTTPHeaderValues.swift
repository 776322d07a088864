/// Parsers for the request headers the registry reads numbers and types from. Each one is total: any input is
/// either a value or nil (never a trap), and every number is range-checked before it is used.

/// The byte range a chunk of an upload claims (`Content-Range: [bytes ]<start>-<end>[/<total>]`, `end` inclusive).
///
/// Distribution clients send `<start>-<end>`; an empty chunk is written `<start>-<start - 1>`.
public struct ChunkRange: Sendable, Equatable {
    public let start: Int64
    /// Bytes the chunk holds (`end - start + 1`).
    public let length: Int64

    public init?(header: some StringProtocol) {
        var text = Substring(header)
        if text.hasPrefix("bytes ") { text = text.dropFirst(6) }
        if let slash = text.firstIndex(of: "/") {
            let total = text[text.index(after: slash)...]
            guard total == "*" || decimal(total) != nil else { return nil }
            text = text[..<slash]
        }
        // The end may be -1 (an empty chunk at offset 0), so split at the first '-' only.
        guard let dash = text.firstIndex(of: "-"), let start = decimal(text[..<dash]) else { return nil }
        let endText = text[text.index(after: dash)...]
        let end: Int64
        if endText.hasPrefix("-") {
            guard decimal(endText.dropFirst()) == 1 else { return nil }
            end = -1
        } else {
            guard let value = decimal(endText) else { return nil }
            end = value
        }
        guard end >= start - 1 else { return nil }
        self.start = start
        self.length = end - start + 1
    }
}

/// A blob read's `Range` header: `bytes=<a>-<b>`, `bytes=<a>-` or `bytes=-<n>` (one range only).
public enum ByteRangeRequest: Sendable, Equatable {
    /// Inclusive bounds; an open end is `Int64.max - 1`.
    case bounded(ClosedRange<Int64>)
    /// The last `n` bytes.
    case suffix(Int64)

    public init?(header: some StringProtocol) {
        let text = Substring(header)
        guard text.hasPrefix("bytes="), !text.contains(",") else { return nil }
        let spec = text.dropFirst(6)
        guard let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash]
        let second = spec[spec.index(after: dash)...]
        if first.isEmpty {
            guard let count = decimal(second) else { return nil }
            self = .suffix(count)
            return
        }
        guard let start = decimal(first), start < Int64.max - 1 else { return nil }
        if second.isEmpty {
            self = .bounded(start...(Int64.max - 1))
            return
        }
        guard let end = decimal(second), end >= start else { return nil }
        self = .bounded(start...end)
    }
}

/// The media type of a `Content-Type` header: the part before any parameters, trimmed and lowercased;
/// nil when there is none (an empty header, or `;charset=…` alone).
public func mediaType(ofContentType header: some StringProtocol) -> String? {
    let type = header.prefix { $0 != ";" }.trimmingASCIISpaces()
    return type.isEmpty ? nil : type.lowercased()
}

/// A non-negative decimal that fits in `Int64`: digits only (no sign, no spaces), at most 18 of them.
public func decimal(_ text: some StringProtocol) -> Int64? {
    let bytes = text.utf8
    guard !bytes.isEmpty, bytes.count <= 18, bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
    return bytes.reduce(Int64(0)) { $0 * 10 + Int64($1 - 0x30) }
}

extension StringProtocol {
    func trimmingASCIISpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
