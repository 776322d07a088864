/// A check that a document is JSON that every reader reads the same way: RFC 8259 syntax, no object with a key
/// twice, and nesting no deeper than a limit.
///
/// Duplicate keys are the danger: Foundation keeps the first occurrence while Go and Python keep the last, so a
/// manifest with `"layers"` twice would be validated as one thing and pulled as another. Keys are compared after
/// unescaping (`"a"` and `"\u0061"` are the same key) and case folding (`"Layers"` fills Go's `Layers` field too). Containers are tracked on an explicit stack, so the depth
/// limit bounds both the work per byte and the native stack.
public enum StrictJSON {
    public static let defaultMaximumDepth = 64

    /// Field names of the OCI image, index and descriptor schemas (and Docker's), folded: keys Go reads into struct fields.
    static let schemaFields: Set<[UInt8]> = Set([
        "schemaversion", "mediatype", "artifacttype", "config", "layers", "manifests", "subject", "annotations", "digest", "size",
        "urls", "data", "platform", "architecture", "os", "os.version", "os.features", "variant", "features",
    ].map { Array($0.utf8) })

    public struct Violation: Error, Sendable, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public static func validate(_ bytes: [UInt8], maximumDepth: Int = defaultMaximumDepth) throws(Violation) {
        var scanner = Scanner(bytes: bytes, maximumDepth: maximumDepth)
        try scanner.document()
    }

    private struct Scanner {
        let bytes: [UInt8]
        let maximumDepth: Int
        var position = 0

        /// What each open container expects next, with the keys seen so far in objects.
        enum Frame {
            case array
            case object(keys: Set<[UInt8]>)
        }
        var stack: [Frame] = []

        init(bytes: [UInt8], maximumDepth: Int) {
            self.bytes = bytes
            self.maximumDepth = maximumDepth
        }

        func fail(_ message: String) -> Violation {
            Violation(message: "\(message) at byte \(position)")
        }

        mutating func skipSpace() {
            while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        mutating func expect(_ byte: UInt8) throws(Violation) {
            skipSpace()
            guard position < bytes.count, bytes[position] == byte else {
                throw fail("expected '\(Character(Unicode.Scalar(byte)))'")
            }
            position += 1
        }

        mutating func document() throws(Violation) {
            try value()
            skipSpace()
            guard position == bytes.count else { throw fail("unexpected content after the document") }
        }

        /// One value; containers are walked with the explicit stack.
        mutating func value() throws(Violation) {
            try scalarOrOpen()
            while !stack.isEmpty {
                skipSpace()
                guard position < bytes.count else { throw fail("unexpected end of document") }
                let byte = bytes[position]
                switch stack[stack.count - 1] {
                case .array:
                    if byte == 0x5D { position += 1; stack.removeLast(); continue }
                    guard byte == 0x2C else { throw fail("expected ',' or ']'") }
                    position += 1
                    try scalarOrOpen()
                case .object:
                    if byte == 0x7D { position += 1; stack.removeLast(); continue }
                    guard byte == 0x2C else { throw fail("expected ',' or '}'") }
                    position += 1
                    try member()
                }
            }
        }

        /// A scalar, or the opening of a container (pushed, with its first element read if it has one).
        mutating func scalarOrOpen() throws(Violation) {
            skipSpace()
            guard position < bytes.count else { throw fail("unexpected end of document") }
            switch bytes[position] {
            case 0x5B, 0x7B:
                let isArray = bytes[position] == 0x5B
                try push(isArray ? .array : .object(keys: []))
                skipSpace()
                if position < bytes.count, bytes[position] == (isArray ? 0x5D : 0x7D) {
                    position += 1
                    stack.removeLast()
                } else if isArray {
                    try scalarOrOpen()
                } else {
                    try member()
                }
            case 0x22: _ = try string(keepingContent: false)
            case 0x74: try literal("true")
            case 0x66: try literal("false")
            case 0x6E: try literal("null")
            default: try number()
            }
        }

        mutating func push(_ frame: Frame) throws(Violation) {
            guard stack.count < maximumDepth else { throw fail("nesting deeper than \(maximumDepth) levels") }
            position += 1
            stack.append(frame)
        }

        /// `"key": value` in the innermost object; a key seen before in it is refused.
        mutating func member() throws(Violation) {
            skipSpace()
            guard position < bytes.count, bytes[position] == 0x22 else { throw fail("expected a quoted key") }
            let key = try string(keepingContent: true)
            guard case .object(var keys) = stack[stack.count - 1] else { throw fail("internal: member outside an object") }
            // Go's decoder matches struct field names without regard to case (Unicode folding: "ſ" is "s", "K" is
            // "k"), so a key that folds to a field of the OCI schemas is a duplicate of any other key that does;
            // map keys (annotations) stay case-sensitive, as Go keeps them.
            let folded = Array(String(decoding: key, as: UTF8.self).uppercased().lowercased().utf8)
            let identity = StrictJSON.schemaFields.contains(folded) ? folded : [0xFF] + key
            guard keys.insert(identity).inserted else {
                throw fail("duplicate key \"\(String(decoding: key.prefix(64), as: UTF8.self))\"")
            }
            stack[stack.count - 1] = .object(keys: keys)
            try expect(0x3A)
            try scalarOrOpen()
        }

        mutating func literal(_ word: StaticString) throws(Violation) {
            let expected = word.withUTF8Buffer { Array($0) }
            guard bytes.count - position >= expected.count, Array(bytes[position..<(position + expected.count)]) == expected else {
                throw fail("invalid literal")
            }
            position += expected.count
        }

        mutating func number() throws(Violation) {
            if position < bytes.count, bytes[position] == 0x2D { position += 1 }
            let firstDigit = position
            let count = digits()
            guard count > 0 else { throw fail("invalid value") }
            if bytes[firstDigit] == 0x30, count > 1 { throw fail("leading zero in number") }
            if position < bytes.count, bytes[position] == 0x2E {
                position += 1
                guard digits() > 0 else { throw fail("invalid number") }
            }
            if position < bytes.count, bytes[position] == 0x65 || bytes[position] == 0x45 {
                position += 1
                if position < bytes.count, bytes[position] == 0x2B || bytes[position] == 0x2D { position += 1 }
                guard digits() > 0 else { throw fail("invalid number") }
            }
        }

        mutating func digits() -> Int {
            let start = position
            while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 { position += 1 }
            return position - start
        }

        /// A string starting at `"`; returns its unescaped UTF-8 when `keepingContent` (keys), else nothing.
        mutating func string(keepingContent: Bool) throws(Violation) -> [UInt8] {
            position += 1
            var content: [UInt8] = []
            while true {
                guard position < bytes.count else { throw fail("unterminated string") }
                let byte = bytes[position]
                position += 1
                switch byte {
                case 0x22:
                    guard String(validating: content, as: UTF8.self) != nil || !keepingContent else { throw fail("invalid UTF-8 in a key") }
                    return content
                case 0x5C:
                    guard position < bytes.count else { throw fail("unterminated string") }
                    let escape = bytes[position]
                    position += 1
                    switch escape {
                    case 0x22, 0x5C, 0x2F: if keepingContent { content.append(escape) }
                    case 0x62: if keepingContent { content.append(0x08) }
                    case 0x66: if keepingContent { content.append(0x0C) }
                    case 0x6E: if keepingContent { content.append(0x0A) }
                    case 0x72: if keepingContent { content.append(0x0D) }
                    case 0x74: if keepingContent { content.append(0x09) }
                    case 0x75:
                        let scalar = try unicodeEscape()
                        if keepingContent { content.append(contentsOf: Array(String(Character(scalar)).utf8)) }
                    default: throw fail("invalid escape")
                    }
                case 0x00..<0x20: throw fail("control character in a string")
                default: if keepingContent { content.append(byte) }
                }
            }
        }

        /// The scalar of `XXXX` after `\u` (a surrogate pair takes a second `\uXXXX`).
        mutating func unicodeEscape() throws(Violation) -> Unicode.Scalar {
            let high = try hex4()
            if (0xD800...0xDBFF).contains(high) {
                guard bytes.count - position >= 6, bytes[position] == 0x5C, bytes[position + 1] == 0x75 else {
                    throw fail("unpaired surrogate")
                }
                position += 2
                let low = try hex4()
                guard (0xDC00...0xDFFF).contains(low), let scalar = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)) else {
                    throw fail("unpaired surrogate")
                }
                return scalar
            }
            guard let scalar = Unicode.Scalar(high) else { throw fail("unpaired surrogate") }
            return scalar
        }

        mutating func hex4() throws(Violation) -> UInt32 {
            guard bytes.count - position >= 4 else { throw fail("short \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[position]
                let digit: UInt32
                switch byte {
                case 0x30...0x39: digit = UInt32(byte - 0x30)
                case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
                case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
                default: throw fail("invalid \\u escape")
                }
                value = value * 16 + digit
                position += 1
            }
            return value
        }
    }
}
