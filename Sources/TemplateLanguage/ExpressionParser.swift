import JMESPath

/// A parsed template-language expression (the part between `[` and `]`).
indirect enum TemplateNode: Sendable {
    case literal(JSONValue)
    case call(String, [TemplateNode])
    case property(TemplateNode, String)
    case index(TemplateNode, TemplateNode)
}

/// Parses `functionName(arg, 'string', 3).property[index]` expressions.
struct ExpressionParser {
    private let scalars: [Character]
    private var position = 0
    private let source: String
    private var depth = 0
    /// Calls and indexes nest at most this deep: the parser and the evaluator recurse per level.
    static let maximumDepth = 64

    static func parse(_ expression: String) throws(TemplateError) -> TemplateNode {
        var parser = ExpressionParser(expression)
        parser.skipSpace()
        let node = try parser.expression()
        parser.skipSpace()
        guard parser.position == parser.scalars.count else {
            throw TemplateError("unexpected text at position \(parser.position) of the expression '\(expression)'")
        }
        return node
    }

    private init(_ source: String) {
        self.source = source
        scalars = Array(source)
    }

    private var current: Character? { position < scalars.count ? scalars[position] : nil }

    private mutating func skipSpace() {
        while let character = current, character.isWhitespace { position += 1 }
    }

    private func fail(_ message: String) -> TemplateError {
        TemplateError("\(message) at position \(position) of the expression '\(source)'")
    }

    private mutating func expression() throws(TemplateError) -> TemplateNode {
        guard depth < Self.maximumDepth else { throw fail("the expression nests deeper than \(Self.maximumDepth) levels") }
        depth += 1
        defer { depth -= 1 }
        var node = try primary()
        while true {
            skipSpace()
            if current == "." {
                position += 1
                skipSpace()
                let name = identifier()
                guard !name.isEmpty else { throw fail("expected a property name after '.'") }
                node = .property(node, name)
            } else if current == "[" {
                position += 1
                skipSpace()
                let index = try expression()
                skipSpace()
                guard current == "]" else { throw fail("expected ']'") }
                position += 1
                node = .index(node, index)
            } else {
                return node
            }
        }
    }

    private mutating func primary() throws(TemplateError) -> TemplateNode {
        guard let character = current else { throw fail("unexpected end") }
        if character == "'" { return .literal(.string(try stringLiteral())) }
        if character.isNumber || character == "-" {
            var text = String(character)
            position += 1
            while let digit = current, digit.isNumber || digit == "." { text.append(digit); position += 1 }
            guard let number = Double(text) else { throw fail("invalid number \(text)") }
            return .literal(.number(number))
        }
        let name = identifier()
        guard !name.isEmpty else { throw fail("unexpected '\(character)'") }
        skipSpace()
        guard current == "(" else {
            switch name.lowercased() {
            case "true": return .literal(.bool(true))
            case "false": return .literal(.bool(false))
            case "null": return .literal(.null)
            default: throw fail("expected '(' after the function name \(name)")
            }
        }
        position += 1
        var arguments: [TemplateNode] = []
        skipSpace()
        if current == ")" {
            position += 1
            return .call(name, arguments)
        }
        while true {
            skipSpace()
            arguments.append(try expression())
            skipSpace()
            if current == "," { position += 1; continue }
            if current == ")" { position += 1; return .call(name, arguments) }
            throw fail("expected ',' or ')' in the arguments of \(name)")
        }
    }

    private mutating func identifier() -> String {
        var name = ""
        while let character = current, character.isLetter || character.isNumber || character == "_" || character == "$" {
            name.append(character)
            position += 1
        }
        return name
    }

    /// `'text'` with `''` for a quote.
    private mutating func stringLiteral() throws(TemplateError) -> String {
        position += 1
        var text = ""
        while let character = current {
            position += 1
            if character == "'" {
                if current == "'" { text.append("'"); position += 1; continue }
                return text
            }
            text.append(character)
        }
        throw fail("unterminated string")
    }
}
