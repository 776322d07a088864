/// A Pratt parser for JMESPath, with the binding powers of the specification's reference implementation.
struct Parser {
    private let tokens: [Token]
    private var position = 0
    private var nesting = 0

    /// Bounds on an expression: its tokens bound the depth of the tree (and so of evaluation), the nesting bounds
    /// the parser's own recursion.
    static let maximumTokens = 4096
    static let maximumNesting = 128

    static func parse(_ expression: String) throws(JMESPathError) -> Node {
        let tokens = try Lexer.tokenize(expression)
        guard tokens.count <= maximumTokens else {
            throw JMESPathError(.syntax, "expression is longer than \(maximumTokens) tokens")
        }
        var parser = Parser(tokens: tokens)
        let node = try parser.expression(0)
        guard parser.current == .eof else { throw JMESPathError(.syntax, "unexpected token \(parser.current) after the expression") }
        return node
    }

    private init(tokens: [Token]) {
        self.tokens = tokens
    }

    private var current: Token { tokens[position] }
    private func lookahead(_ offset: Int) -> Token { position + offset < tokens.count ? tokens[position + offset] : .eof }
    private mutating func advance() { if position < tokens.count - 1 { position += 1 } }

    private mutating func expect(_ token: Token) throws(JMESPathError) {
        guard current == token else { throw JMESPathError(.syntax, "expected \(token), found \(current)") }
        advance()
    }

    private mutating func expression(_ bindingPower: Int) throws(JMESPathError) -> Node {
        guard nesting < Self.maximumNesting else { throw JMESPathError(.syntax, "expression nests deeper than \(Self.maximumNesting) levels") }
        nesting += 1
        defer { nesting -= 1 }
        let token = current
        advance()
        var left = try nud(token)
        while bindingPower < current.bindingPower {
            let token = current
            advance()
            left = try led(token, left)
        }
        return left
    }

    // MARK: prefix positions

    private mutating func nud(_ token: Token) throws(JMESPathError) -> Node {
        switch token {
        case .literal(let value): return .literal(value)
        case .unquotedIdentifier(let name): return .field(name)
        case .quotedIdentifier(let name):
            if current == .lparen { throw JMESPathError(.syntax, "a quoted identifier cannot name a function") }
            return .field(name)
        case .star:
            let right: Node = current == .rbracket ? .identity : try projectionRHS(Token.star.bindingPower)
            return .valueProjection(.identity, right)
        case .filter:
            return try led(.filter, .identity)
        case .lbrace:
            return try multiSelectHash()
        case .lparen:
            let node = try expression(0)
            try expect(.rparen)
            return node
        case .flatten:
            return .projection(.flatten(.identity), try projectionRHS(Token.flatten.bindingPower))
        case .not:
            return .not(try expression(Token.not.bindingPower))
        case .lbracket:
            if case .number = current { return try projectIfSlice(.identity, try indexExpression()) }
            if current == .colon { return try projectIfSlice(.identity, try indexExpression()) }
            if current == .star, lookahead(1) == .rbracket {
                advance()
                advance()
                return .projection(.identity, try projectionRHS(Token.star.bindingPower))
            }
            return try multiSelectList()
        case .current: return .current
        case .expref: return .expressionReference(try expression(Token.expref.bindingPower))
        case .eof: throw JMESPathError(.syntax, "unexpected end of expression")
        default: throw JMESPathError(.syntax, "unexpected token \(token)")
        }
    }

    // MARK: infix positions

    private mutating func led(_ token: Token, _ left: Node) throws(JMESPathError) -> Node {
        switch token {
        case .dot:
            if current == .star {
                advance()
                return .valueProjection(left, try projectionRHS(Token.dot.bindingPower))
            }
            return .subexpression(left, try dotRHS(Token.dot.bindingPower))
        case .pipe: return .pipe(left, try expression(Token.pipe.bindingPower))
        case .or: return .or(left, try expression(Token.or.bindingPower))
        case .and: return .and(left, try expression(Token.and.bindingPower))
        case .lparen:
            guard case .field(let name) = left else { throw JMESPathError(.syntax, "only a name can be called as a function") }
            var arguments: [Node] = []
            while current != .rparen {
                arguments.append(try expression(0))
                if current == .comma {
                    advance()
                    if current == .rparen { throw JMESPathError(.syntax, "a function argument is missing after ','") }
                } else if current != .rparen {
                    throw JMESPathError(.syntax, "expected , or ) in function arguments")
                }
            }
            advance()
            return .function(name, arguments)
        case .filter:
            let condition = try expression(0)
            try expect(.rbracket)
            let right: Node = current == .flatten ? .identity : try projectionRHS(Token.filter.bindingPower)
            return .filterProjection(left, right, condition)
        case .eq, .ne, .lt, .lte, .gt, .gte:
            let comparator: Node.Comparator = switch token {
            case .eq: .eq
            case .ne: .ne
            case .lt: .lt
            case .lte: .lte
            case .gt: .gt
            default: .gte
            }
            return .comparison(comparator, left, try expression(token.bindingPower))
        case .flatten:
            return .projection(.flatten(left), try projectionRHS(Token.flatten.bindingPower))
        case .lbracket:
            if case .number = current { return try projectIfSlice(left, try indexExpression()) }
            if current == .colon { return try projectIfSlice(left, try indexExpression()) }
            try expect(.star)
            try expect(.rbracket)
            return .projection(left, try projectionRHS(Token.star.bindingPower))
        default:
            throw JMESPathError(.syntax, "unexpected token \(token)")
        }
    }

    // MARK: pieces

    private mutating func indexExpression() throws(JMESPathError) -> Node {
        if current == .colon || lookahead(1) == .colon { return try slice() }
        guard case .number(let value) = current else { throw JMESPathError(.syntax, "expected an index") }
        advance()
        try expect(.rbracket)
        return .index(value)
    }

    private mutating func slice() throws(JMESPathError) -> Node {
        var parts: [Int?] = [nil, nil, nil]
        var part = 0
        while current != .rbracket, part < 3 {
            switch current {
            case .colon:
                part += 1
                if part == 3 { throw JMESPathError(.syntax, "a slice has at most three parts") }
                advance()
            case .number(let value):
                parts[part] = value
                advance()
            default:
                throw JMESPathError(.syntax, "unexpected \(current) in a slice")
            }
        }
        try expect(.rbracket)
        return .slice(parts[0], parts[1], parts[2])
    }

    private mutating func projectIfSlice(_ left: Node, _ right: Node) throws(JMESPathError) -> Node {
        let node = Node.indexExpression(left, right)
        return right.isSlice ? .projection(node, try projectionRHS(Token.star.bindingPower)) : node
    }

    private mutating func projectionRHS(_ bindingPower: Int) throws(JMESPathError) -> Node {
        if current.bindingPower < 10 { return .identity }
        switch current {
        case .lbracket, .filter: return try expression(bindingPower)
        case .dot:
            advance()
            return try dotRHS(bindingPower)
        default:
            throw JMESPathError(.syntax, "unexpected \(current) after a projection")
        }
    }

    private mutating func dotRHS(_ bindingPower: Int) throws(JMESPathError) -> Node {
        switch current {
        case .unquotedIdentifier, .quotedIdentifier, .star: return try expression(bindingPower)
        case .lbracket:
            advance()
            return try multiSelectList()
        case .lbrace:
            advance()
            return try multiSelectHash()
        default:
            throw JMESPathError(.syntax, "expected a name, '*', '[' or '{' after '.', found \(current)")
        }
    }

    private mutating func multiSelectList() throws(JMESPathError) -> Node {
        var items: [Node] = []
        while true {
            items.append(try expression(0))
            if current == .rbracket { break }
            try expect(.comma)
        }
        try expect(.rbracket)
        return .multiSelectList(items)
    }

    private mutating func multiSelectHash() throws(JMESPathError) -> Node {
        var pairs: [(String, Node)] = []
        while true {
            let key: String
            switch current {
            case .unquotedIdentifier(let name), .quotedIdentifier(let name): key = name
            default: throw JMESPathError(.syntax, "expected a key in a multiselect hash, found \(current)")
            }
            advance()
            try expect(.colon)
            pairs.append((key, try expression(0)))
            if current == .rbrace { break }
            try expect(.comma)
        }
        try expect(.rbrace)
        return .multiSelectHash(pairs)
    }
}
