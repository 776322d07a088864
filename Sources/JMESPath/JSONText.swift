import Foundation

/// Reading and writing JSON text, keeping object key order.
public enum JSONText {
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Containers nest at most this deep: request bodies are parsed with this, and the parser recurses per level.
    public static let maximumDepth = 256

    /// What a parse accepts.
    public enum Syntax: Sendable {
        /// RFC 8259 JSON (the registry's and the vault's bodies).
        case strict
        /// JSON as Azure Resource Manager reads it (Json.NET): also `//` and `/* */` comments, unquoted property names,
        /// single-quoted strings, and a trailing comma before `]` or `}`. `az` sends template files spliced after an
        /// unquoted `template:`, and template files carry comments.
        case lenient
    }

    /// Parses one JSON value; an error names the line and position (1-based) where reading stopped.
    public static func parse(_ text: String, syntax: Syntax = .strict) throws(ParseError) -> JSONValue {
        var parser = Parser(bytes: Array(text.utf8), lenient: syntax == .lenient)
        do throws(ParseError) {
            try parser.skipWhitespace()
            let value = try parser.value()
            try parser.skipWhitespace()
            guard parser.index == parser.bytes.count else { throw ParseError(description: "unexpected text after the JSON value") }
            return value
        } catch {
            let (line, position) = parser.lineAndPosition()
            throw ParseError(description: "\(error.description) at line \(line), position \(position)")
        }
    }

    /// Compact JSON (`{"a":[1,2]}`), numbers without a fraction written as integers.
    public static func serialize(_ value: JSONValue, sortedKeys: Bool = false, indent: Int? = nil) -> String {
        var output = ""
        write(value, into: &output, sortedKeys: sortedKeys, indent: indent, level: 0)
        return output
    }

    public static func format(number: Double) -> String {
        if number.isFinite, number == number.rounded(), abs(number) < 1e15 { return String(Int64(number)) }
        return String(number)
    }

    public static func quote(_ string: String) -> String {
        var output = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case "\u{08}": output += "\\b"
            case "\u{0C}": output += "\\f"
            default:
                if scalar.value < 0x20 {
                    output += String(format: "\\u%04x", scalar.value)
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        return output + "\""
    }

    private static func write(_ value: JSONValue, into output: inout String, sortedKeys: Bool, indent: Int?, level: Int) {
        let newline = indent.map { "\n" + String(repeating: " ", count: $0 * (level + 1)) } ?? ""
        let closing = indent.map { "\n" + String(repeating: " ", count: $0 * level) } ?? ""
        switch value {
        case .null: output += "null"
        case .bool(let flag): output += flag ? "true" : "false"
        case .number(let number): output += format(number: number)
        case .string(let string): output += quote(string)
        case .array(let items):
            if items.isEmpty { output += "[]"; return }
            output += "["
            for (index, item) in items.enumerated() {
                if index > 0 { output += "," }
                output += newline
                write(item, into: &output, sortedKeys: sortedKeys, indent: indent, level: level + 1)
            }
            output += closing + "]"
        case .object(let object):
            if object.isEmpty { output += "{}"; return }
            output += "{"
            let keys = sortedKeys ? object.keys.sorted() : object.keys
            for (index, key) in keys.enumerated() {
                if index > 0 { output += "," }
                output += newline + quote(key) + (indent == nil ? ":" : ": ")
                write(object[key]!, into: &output, sortedKeys: sortedKeys, indent: indent, level: level + 1)
            }
            output += closing + "}"
        }
    }

    struct Parser {
        let bytes: [UInt8]
        let lenient: Bool
        var index = 0
        var depth = 0

        /// The line and the position within it (both from 1, positions counted in bytes) of ``index``.
        func lineAndPosition() -> (Int, Int) {
            let end = min(index, bytes.count)
            var line = 1, lineStart = 0
            for offset in 0..<end where bytes[offset] == 0x0A {
                line += 1
                lineStart = offset + 1
            }
            return (line, end - lineStart + 1)
        }

        /// Skips whitespace and, when lenient, comments.
        mutating func skipWhitespace() throws(ParseError) {
            while index < bytes.count {
                let byte = bytes[index]
                if [0x20, 0x09, 0x0A, 0x0D].contains(byte) {
                    index += 1
                } else if lenient, byte == UInt8(ascii: "/"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "/") {
                    while index < bytes.count, bytes[index] != 0x0A, bytes[index] != 0x0D { index += 1 }
                } else if lenient, byte == UInt8(ascii: "/"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "*") {
                    index += 2
                    while index + 1 < bytes.count, !(bytes[index] == UInt8(ascii: "*") && bytes[index + 1] == UInt8(ascii: "/")) { index += 1 }
                    guard index + 1 < bytes.count else { index = bytes.count; throw ParseError(description: "unterminated /* comment") }
                    index += 2
                } else {
                    return
                }
            }
        }

        static func isIdentifierByte(_ byte: UInt8) -> Bool {
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "$") || byte >= 0x80
        }

        /// An unquoted property name (Json.NET: letters, digits, `_` and `$`).
        mutating func identifier() -> String {
            let start = index
            while index < bytes.count, Self.isIdentifierByte(bytes[index]) { index += 1 }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        mutating func value() throws(ParseError) -> JSONValue {
            guard index < bytes.count else { throw ParseError(description: "unexpected end of JSON") }
            switch bytes[index] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                guard depth < JSONText.maximumDepth else {
                    throw ParseError(description: "JSON nests deeper than \(JSONText.maximumDepth) levels")
                }
                depth += 1
                defer { depth -= 1 }
                return bytes[index] == UInt8(ascii: "{") ? try object() : try array()
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "'") where lenient: return .string(try string())
            case UInt8(ascii: "t"): try keyword("true"); return .bool(true)
            case UInt8(ascii: "f"): try keyword("false"); return .bool(false)
            case UInt8(ascii: "n"): try keyword("null"); return .null
            default: return .number(try number())
            }
        }

        mutating func keyword(_ word: String) throws(ParseError) {
            let expected = Array(word.utf8)
            guard index + expected.count <= bytes.count, Array(bytes[index..<(index + expected.count)]) == expected else {
                throw ParseError(description: "invalid JSON literal")
            }
            index += expected.count
        }

        mutating func number() throws(ParseError) -> Double {
            let start = index
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
            while index < bytes.count, (bytes[index] >= 0x30 && bytes[index] <= 0x39) || [0x2E, 0x65, 0x45, 0x2B, 0x2D].contains(bytes[index]) {
                index += 1
            }
            guard index > start, let text = String(bytes: bytes[start..<index], encoding: .utf8), let value = Double(text),
                  text.first != "+", text.first != "." else {
                throw ParseError(description: "invalid JSON number")
            }
            return value
        }

        /// A string from its opening quote (`"`, or `'` when lenient) to the same quote.
        mutating func string() throws(ParseError) -> String {
            let quote = bytes[index]
            index += 1
            var scalars = String.UnicodeScalarView()
            var run: [UInt8] = []
            func flush() { scalars.append(contentsOf: String(decoding: run, as: UTF8.self).unicodeScalars); run.removeAll() }
            while index < bytes.count {
                let byte = bytes[index]
                if byte == quote {
                    index += 1
                    flush()
                    return String(scalars)
                }
                if byte == UInt8(ascii: "\\") {
                    flush()
                    index += 1
                    guard index < bytes.count else { break }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""): scalars.append("\"")
                    case UInt8(ascii: "'") where lenient: scalars.append("'")
                    case UInt8(ascii: "\\"): scalars.append("\\")
                    case UInt8(ascii: "/"): scalars.append("/")
                    case UInt8(ascii: "b"): scalars.append("\u{08}")
                    case UInt8(ascii: "f"): scalars.append("\u{0C}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"):
                        var code = try hex4()
                        if (0xD800...0xDBFF).contains(code), index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
                            index += 2
                            let low = try hex4()
                            // A high surrogate must be followed by a low one (fuzzing found the subtraction trapping).
                            guard (0xDC00...0xDFFF).contains(low) else { throw ParseError(description: "unpaired surrogate in a unicode escape") }
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let scalar = Unicode.Scalar(code) else { throw ParseError(description: "invalid unicode escape") }
                        scalars.append(scalar)
                    default: throw ParseError(description: "invalid escape in JSON string")
                    }
                    continue
                }
                run.append(byte)
                index += 1
            }
            throw ParseError(description: "unterminated JSON string")
        }

        mutating func hex4() throws(ParseError) -> UInt32 {
            guard index + 4 <= bytes.count, let text = String(bytes: bytes[index..<(index + 4)], encoding: .utf8),
                  let value = UInt32(text, radix: 16) else { throw ParseError(description: "invalid unicode escape") }
            index += 4
            return value
        }

        mutating func array() throws(ParseError) -> JSONValue {
            index += 1
            var items: [JSONValue] = []
            try skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
            while true {
                try skipWhitespace()
                items.append(try value())
                try skipWhitespace()
                guard index < bytes.count else { throw ParseError(description: "unterminated JSON array") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    try skipWhitespace()
                    if lenient, index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
                    continue
                }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
                throw ParseError(description: "expected , or ] in JSON array")
            }
        }

        mutating func object() throws(ParseError) -> JSONValue {
            index += 1
            var object = JSONObject()
            try skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(object) }
            while true {
                try skipWhitespace()
                let key: String
                if index < bytes.count, bytes[index] == UInt8(ascii: "\"") || (lenient && bytes[index] == UInt8(ascii: "'")) {
                    key = try string()
                } else if lenient, index < bytes.count, Self.isIdentifierByte(bytes[index]) {
                    key = identifier()
                } else {
                    throw ParseError(description: "expected a key in JSON object")
                }
                try skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw ParseError(description: "expected : in JSON object") }
                index += 1
                try skipWhitespace()
                object[key] = try value()
                try skipWhitespace()
                guard index < bytes.count else { throw ParseError(description: "unterminated JSON object") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    try skipWhitespace()
                    if lenient, index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(object) }
                    continue
                }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(object) }
                throw ParseError(description: "expected , or } in JSON object")
            }
        }
    }
}
