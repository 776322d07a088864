/// A content digest, `algorithm:encoded`, as the OCI image spec defines it.
///
/// Only the registered algorithms `sha256` and `sha512` are accepted: any other well-formed
/// algorithm is reported as unsupported rather than invalid, as the distribution spec asks.
public struct Digest: Hashable, Sendable, CustomStringConvertible, Comparable {
    public enum Algorithm: String, Sendable, CaseIterable {
        case sha256, sha512

        var encodedLength: Int { self == .sha256 ? 64 : 128 }
    }

    public let algorithm: Algorithm
    /// Lowercase hex of the hash.
    public let encoded: String

    public init(algorithm: Algorithm, encoded: String) {
        self.algorithm = algorithm
        self.encoded = encoded
    }

    public init(parsing text: some StringProtocol) throws(OCIValidationError) {
        let text = String(text)
        guard let colon = text.firstIndex(of: ":") else {
            throw OCIValidationError(.digestInvalid, "digest \"\(text.prefix(80))\" has no algorithm prefix")
        }
        let algorithmText = text[..<colon]
        let encoded = String(text[text.index(after: colon)...])
        guard Self.isWellFormedAlgorithm(algorithmText), Self.isWellFormedEncoding(encoded) else {
            throw OCIValidationError(.digestInvalid, "digest \"\(text.prefix(80))\" is not well formed")
        }
        guard let algorithm = Algorithm(rawValue: String(algorithmText)) else {
            throw OCIValidationError(.digestUnsupported, "digest algorithm \"\(algorithmText.prefix(40))\" is not supported; use sha256 or sha512")
        }
        guard encoded.utf8.count == algorithm.encodedLength,
              encoded.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            throw OCIValidationError(.digestInvalid, "digest \"\(text.prefix(160))\" is not a \(algorithm.encodedLength)-character lowercase hex \(algorithm.rawValue)")
        }
        self.init(algorithm: algorithm, encoded: encoded)
    }

    public var description: String { "\(algorithm.rawValue):\(encoded)" }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }

    // algorithm ::= component (separator component)* ; component ::= [a-z0-9]+ ; separator ::= [+._-]
    private static func isWellFormedAlgorithm(_ text: Substring) -> Bool {
        var previousWasSeparator = true
        for byte in text.utf8 {
            let isComponent = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
            let isSeparator = byte == 0x2B || byte == 0x2E || byte == 0x5F || byte == 0x2D
            if isComponent { previousWasSeparator = false } else if isSeparator && !previousWasSeparator {
                previousWasSeparator = true
            } else { return false }
        }
        return !previousWasSeparator
    }

    // encoded ::= [a-zA-Z0-9=_-]+
    private static func isWellFormedEncoding(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { byte in
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x3D || byte == 0x5F || byte == 0x2D
        }
    }
}

func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}
