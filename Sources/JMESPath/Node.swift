/// The syntax tree of a compiled JMESPath expression.
indirect enum Node: Sendable {
    case identity
    case current
    case field(String)
    case subexpression(Node, Node)
    case index(Int)
    case slice(Int?, Int?, Int?)
    case indexExpression(Node, Node)
    case projection(Node, Node)
    case valueProjection(Node, Node)
    case filterProjection(Node, Node, Node)
    case flatten(Node)
    case multiSelectList([Node])
    case multiSelectHash([(String, Node)])
    case literal(JSONValue)
    case pipe(Node, Node)
    case or(Node, Node)
    case and(Node, Node)
    case not(Node)
    case comparison(Comparator, Node, Node)
    case function(String, [Node])
    case expressionReference(Node)

    enum Comparator: Sendable {
        case eq, ne, lt, lte, gt, gte
    }

    var isSlice: Bool {
        if case .slice = self { return true }
        return false
    }
}
