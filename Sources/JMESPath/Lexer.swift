/// Tokens of a JMESPath expression.
enum Token: Equatable {
    case unquotedIdentifier(String)
    case quotedIdentifier(String)
    case literal(JSONValue)
    case number(Int)
    case dot, star, lbracket, rbracket, filter, flatten, lbrace, rbrace, lparen, rparen
    case comma, colon, pipe, or, and, not, current, expref
    case eq, ne, lt, lte, gt, gte
    case eof

    /// Binding powers of the Pratt parser (as in the specification's reference implementation).
    var bindingPower: Int {
        switch self {
        case .pipe: 1
        case .or: 2
        case .and: 3
        case .eq, .ne, .lt, .lte, .gt, .gte: 5
        case .flatten: 9
        case .star: 20
        case .filter: 21
        case .dot: 40
        case .not: 45
        case .lbrace: 50
        case .lbracket: 55
        case .lparen: 60
        default: 0
        }
    }
}

/// Turns an expression into tokens.
struct Lexer {
    private let scalars: [Unicode.Scalar]
    private var index = 0

    init(_ expression: String) {
        scalars = Array(expression.unicodeScalars)
    }

    static func tokenize(_ expression: String) throws(JMESPathError) -> [Token] {
        var lexer = Lexer(expression)
        var tokens: [Token] = []
        while true {
            let token = try lexer.next()
            tokens.append(token)
            if token == .eof { return tokens }
        }
    }

    private var current: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }
    private func peek(_ offset: Int = 1) -> Unicode.Scalar? { index + offset < scalars.count ? scalars[index + offset] : nil }

    private static func isIdentifierStart(_ scalar: Unicode.Scalar) -> Bool {
        (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || scalar == "_"
    }

    private static func isIdentifierPart(_ scalar: Unicode.Scalar) -> Bool {
        isIdentifierStart(scalar) || (scalar >= "0" && scalar <= "9")
    }

    private mutating func next() throws(JMESPathError) -> Token {
        while let scalar = current, scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" { index += 1 }
        guard let scalar = current else { return .eof }
        if Self.isIdentifierStart(scalar) {
            var name = String.UnicodeScalarView()
            while let part = current, Self.isIdentifierPart(part) { name.append(part); index += 1 }
            return .unquotedIdentifier(String(name))
        }
        if scalar == "-" || (scalar >= "0" && scalar <= "9") {
            var digits = String.UnicodeScalarView()
            digits.append(scalar)
            index += 1
            while let digit = current, digit >= "0" && digit <= "9" { digits.append(digit); index += 1 }
            guard let value = Int(String(digits)) else { throw JMESPathError(.syntax, "invalid number \(String(digits))") }
            return .number(value)
        }
        index += 1
        switch scalar {
        case ".": return .dot
        case "*": return .star
        case "]": return .rbracket
        case "{": return .lbrace
        case "}": return .rbrace
        case "(": return .lparen
        case ")": return .rparen
        case ",": return .comma
        case ":": return .colon
        case "@": return .current
        case "[":
            if current == "]" { index += 1; return .flatten }
            if current == "?" { index += 1; return .filter }
            return .lbracket
        case "|":
            if current == "|" { index += 1; return .or }
            return .pipe
        case "&":
            if current == "&" { index += 1; return .and }
            return .expref
        case "!":
            if current == "=" { index += 1; return .ne }
            return .not
        case "<":
            if current == "=" { index += 1; return .lte }
            return .lt
        case ">":
            if current == "=" { index += 1; return .gte }
            return .gt
        case "=":
            if current == "=" { index += 1; return .eq }
            throw JMESPathError(.syntax, "unexpected '=' (did you mean '==')")
        case "'":
            let text = try delimited(by: "'")
            return .literal(.string(text.replacingOccurrences(of: "\\'", with: "'")))
        case "\"":
            let text = try delimited(by: "\"")
            do {
                guard case .string(let name) = try JSONText.parse("\"" + text + "\"") else { throw JMESPathError(.syntax, "invalid quoted identifier") }
                return .quotedIdentifier(name)
            } catch {
                throw JMESPathError(.syntax, "invalid quoted identifier \"\(text)\"")
            }
        case "`":
            let text = try delimited(by: "`").replacingOccurrences(of: "\\`", with: "`")
            if let value = try? JSONText.parse(text) { return .literal(value) }
            // Legacy form: an unquoted string inside backticks.
            if let value = try? JSONText.parse("\"" + String(text.drop { $0 == " " }) + "\"") { return .literal(value) }
            throw JMESPathError(.syntax, "invalid JSON literal `\(text)`")
        default:
            throw JMESPathError(.syntax, "unexpected character '\(scalar)'")
        }
    }

    /// Reads up to the closing delimiter (not counting escaped ones); the opening one is consumed.
    private mutating func delimited(by delimiter: Unicode.Scalar) throws(JMESPathError) -> String {
        var text = String.UnicodeScalarView()
        while let scalar = current {
            if scalar == "\\", let following = peek() {
                text.append(scalar)
                text.append(following)
                index += 2
                continue
            }
            index += 1
            if scalar == delimiter { return String(text) }
            text.append(scalar)
        }
        throw JMESPathError(.syntax, "unterminated \(delimiter)")
    }
}
