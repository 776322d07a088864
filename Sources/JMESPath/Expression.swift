/// A compiled JMESPath expression.
///
/// ```swift
/// let expression = try Expression("properties.encryption.status")
/// let status = try expression.search(document)
/// ```
public struct Expression: Sendable {
    let root: Node
    public let text: String

    public init(_ text: String) throws(JMESPathError) {
        self.text = text
        self.root = try Parser.parse(text)
    }

    public func search(_ value: JSONValue) throws(JMESPathError) -> JSONValue {
        try Interpreter.evaluate(root, value)
    }
}

/// Evaluates syntax trees against values.
enum Interpreter {
    static func evaluate(_ node: Node, _ value: JSONValue) throws(JMESPathError) -> JSONValue {
        switch node {
        case .identity, .current:
            return value
        case .field(let name):
            return value[name]
        case .subexpression(let left, let right):
            return try evaluate(right, try evaluate(left, value))
        case .index(let index):
            guard case .array(let items) = value else { return .null }
            let position = index < 0 ? items.count + index : index
            return items.indices.contains(position) ? items[position] : .null
        case .slice(let start, let stop, let step):
            guard case .array(let items) = value else { return .null }
            return .array(try slice(items, start, stop, step))
        case .indexExpression(let left, let right):
            return try evaluate(right, try evaluate(left, value))
        case .projection(let left, let right):
            guard case .array(let items) = try evaluate(left, value) else { return .null }
            var results: [JSONValue] = []
            for item in items {
                let result = try evaluate(right, item)
                if result != .null { results.append(result) }
            }
            return .array(results)
        case .valueProjection(let left, let right):
            guard case .object(let object) = try evaluate(left, value) else { return .null }
            var results: [JSONValue] = []
            for item in object.values {
                let result = try evaluate(right, item)
                if result != .null { results.append(result) }
            }
            return .array(results)
        case .filterProjection(let left, let right, let condition):
            guard case .array(let items) = try evaluate(left, value) else { return .null }
            var results: [JSONValue] = []
            for item in items where try evaluate(condition, item).isTruthy {
                let result = try evaluate(right, item)
                if result != .null { results.append(result) }
            }
            return .array(results)
        case .flatten(let inner):
            guard case .array(let items) = try evaluate(inner, value) else { return .null }
            var results: [JSONValue] = []
            for item in items {
                if case .array(let nested) = item { results += nested } else { results.append(item) }
            }
            return .array(results)
        case .multiSelectList(let nodes):
            if value == .null { return .null }
            var results: [JSONValue] = []
            for node in nodes { results.append(try evaluate(node, value)) }
            return .array(results)
        case .multiSelectHash(let pairs):
            if value == .null { return .null }
            var object = JSONObject()
            for (key, node) in pairs { object[key] = try evaluate(node, value) }
            return .object(object)
        case .literal(let literal):
            return literal
        case .pipe(let left, let right):
            return try evaluate(right, try evaluate(left, value))
        case .or(let left, let right):
            let result = try evaluate(left, value)
            return result.isTruthy ? result : try evaluate(right, value)
        case .and(let left, let right):
            let result = try evaluate(left, value)
            return result.isTruthy ? try evaluate(right, value) : result
        case .not(let inner):
            return .bool(!(try evaluate(inner, value).isTruthy))
        case .comparison(let comparator, let left, let right):
            return compare(comparator, try evaluate(left, value), try evaluate(right, value))
        case .function(let name, let arguments):
            var values: [Argument] = []
            for argument in arguments {
                if case .expressionReference(let reference) = argument {
                    values.append(.expression(reference))
                } else {
                    values.append(.value(try evaluate(argument, value)))
                }
            }
            return try Functions.call(name, values)
        case .expressionReference:
            throw JMESPathError(.invalidType, "an expression reference (&) can only be a function argument")
        }
    }

    static func compare(_ comparator: Node.Comparator, _ left: JSONValue, _ right: JSONValue) -> JSONValue {
        switch comparator {
        case .eq: return .bool(left == right)
        case .ne: return .bool(left != right)
        default:
            guard case .number(let a) = left, case .number(let b) = right else { return .null }
            switch comparator {
            case .lt: return .bool(a < b)
            case .lte: return .bool(a <= b)
            case .gt: return .bool(a > b)
            default: return .bool(a >= b)
            }
        }
    }

    /// Python's slice semantics: negative positions count from the end; the step may be negative, not zero.
    static func slice(_ items: [JSONValue], _ start: Int?, _ stop: Int?, _ step: Int?) throws(JMESPathError) -> [JSONValue] {
        let step = step ?? 1
        guard step != 0 else { throw JMESPathError(.invalidValue, "a slice step cannot be 0") }
        let count = items.count
        func clamp(_ value: Int?, _ defaultValue: Int) -> Int {
            guard var value else { return defaultValue }
            if value < 0 {
                value += count
                if value < 0 { return step < 0 ? -1 : 0 }
            } else if value >= count {
                return step < 0 ? count - 1 : count
            }
            return value
        }
        var index = clamp(start, step < 0 ? count - 1 : 0)
        let end = clamp(stop, step < 0 ? -1 : count)
        var result: [JSONValue] = []
        while step > 0 ? index < end : index > end {
            result.append(items[index])
            index += step
        }
        return result
    }
}

/// A function argument: a value, or an expression reference (`&expr`).
enum Argument {
    case value(JSONValue)
    case expression(Node)
}
