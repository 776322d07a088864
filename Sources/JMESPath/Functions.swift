import Foundation

/// The built-in functions of the JMESPath specification, with its type and arity rules.
enum Functions {
    static func call(_ name: String, _ arguments: [Argument]) throws(JMESPathError) -> JSONValue {
        func arity(_ expected: Int) throws(JMESPathError) {
            guard arguments.count == expected else {
                throw JMESPathError(.invalidArity, "\(name)() takes \(expected) argument(s), got \(arguments.count)")
            }
        }
        func value(_ index: Int) throws(JMESPathError) -> JSONValue {
            guard case .value(let value) = arguments[index] else {
                throw JMESPathError(.invalidType, "\(name)() argument \(index + 1) cannot be an expression reference")
            }
            return value
        }
        func expression(_ index: Int) throws(JMESPathError) -> Node {
            guard case .expression(let node) = arguments[index] else {
                throw JMESPathError(.invalidType, "\(name)() argument \(index + 1) must be an expression reference (&…)")
            }
            return node
        }
        func number(_ index: Int) throws(JMESPathError) -> Double {
            guard case .number(let number) = try value(index) else { throw typeError(name, index, "number") }
            return number
        }
        func string(_ index: Int) throws(JMESPathError) -> String {
            guard case .string(let string) = try value(index) else { throw typeError(name, index, "string") }
            return string
        }
        func array(_ index: Int) throws(JMESPathError) -> [JSONValue] {
            guard case .array(let items) = try value(index) else { throw typeError(name, index, "array") }
            return items
        }
        func object(_ index: Int) throws(JMESPathError) -> JSONObject {
            guard case .object(let object) = try value(index) else { throw typeError(name, index, "object") }
            return object
        }
        func numbers(_ index: Int) throws(JMESPathError) -> [Double] {
            var result: [Double] = []
            for item in try array(index) {
                guard case .number(let number) = item else { throw typeError(name, index, "array of numbers") }
                result.append(number)
            }
            return result
        }

        switch name {
        case "abs":
            try arity(1)
            return .number(abs(try number(0)))
        case "avg":
            try arity(1)
            let values = try numbers(0)
            return values.isEmpty ? .null : .number(values.reduce(0, +) / Double(values.count))
        case "ceil":
            try arity(1)
            return .number((try number(0)).rounded(.up))
        case "floor":
            try arity(1)
            return .number((try number(0)).rounded(.down))
        case "contains":
            try arity(2)
            let needle = try value(1)
            switch try value(0) {
            case .array(let items): return .bool(items.contains(needle))
            case .string(let haystack):
                guard case .string(let part) = needle else { return .bool(false) }
                return .bool(part.isEmpty || haystack.contains(part))
            default: throw typeError(name, 0, "array or string")
            }
        case "ends_with":
            try arity(2)
            return .bool(Array(try string(0).unicodeScalars).reversed().starts(with: Array(try string(1).unicodeScalars).reversed()))
        case "starts_with":
            try arity(2)
            return .bool(Array(try string(0).unicodeScalars).starts(with: Array(try string(1).unicodeScalars)))
        case "join":
            try arity(2)
            let separator = try string(0)
            var parts: [String] = []
            for item in try array(1) {
                guard case .string(let part) = item else { throw typeError(name, 1, "array of strings") }
                parts.append(part)
            }
            return .string(parts.joined(separator: separator))
        case "keys":
            try arity(1)
            return .array(try object(0).keys.map { .string($0) })
        case "values":
            try arity(1)
            return .array(try object(0).values)
        case "length":
            try arity(1)
            switch try value(0) {
            case .string(let string): return .number(Double(string.unicodeScalars.count))
            case .array(let items): return .number(Double(items.count))
            case .object(let object): return .number(Double(object.count))
            default: throw typeError(name, 0, "string, array or object")
            }
        case "map":
            try arity(2)
            let node = try expression(0)
            var results: [JSONValue] = []
            for item in try array(1) { results.append(try Interpreter.evaluate(node, item)) }
            return .array(results)
        case "max", "min":
            try arity(1)
            let items = try array(0)
            guard let first = items.first else { return .null }
            let keys = try sortKeys(items, name: name, index: 0)
            _ = first
            let chosen = name == "max" ? keys.indices.max { less(keys[$0], keys[$1]) }! : keys.indices.min { less(keys[$0], keys[$1]) }!
            return items[chosen]
        case "max_by", "min_by":
            try arity(2)
            let items = try array(0)
            let node = try expression(1)
            guard !items.isEmpty else { return .null }
            var keys: [JSONValue] = []
            for item in items { keys.append(try Interpreter.evaluate(node, item)) }
            let checked = try sortKeys(keys, name: name, index: 1)
            let chosen = name == "max_by" ? checked.indices.max { less(checked[$0], checked[$1]) }! : checked.indices.min { less(checked[$0], checked[$1]) }!
            return items[chosen]
        case "merge":
            guard !arguments.isEmpty else { throw JMESPathError(.invalidArity, "merge() takes at least one argument") }
            var merged = JSONObject()
            for index in arguments.indices {
                let object = try object(index)
                for key in object.keys { merged[key] = object[key] }
            }
            return .object(merged)
        case "not_null":
            guard !arguments.isEmpty else { throw JMESPathError(.invalidArity, "not_null() takes at least one argument") }
            for index in arguments.indices {
                let candidate = try value(index)
                if candidate != .null { return candidate }
            }
            return .null
        case "reverse":
            try arity(1)
            switch try value(0) {
            case .string(let string):
                var scalars = String.UnicodeScalarView()
                scalars.append(contentsOf: string.unicodeScalars.reversed())
                return .string(String(scalars))
            case .array(let items): return .array(items.reversed())
            default: throw typeError(name, 0, "string or array")
            }
        case "sort":
            try arity(1)
            let items = try array(0)
            let keys = try sortKeys(items, name: name, index: 0)
            return .array(stableSorted(Array(zip(keys, items))).map(\.1))
        case "sort_by":
            try arity(2)
            let items = try array(0)
            let node = try expression(1)
            var keys: [JSONValue] = []
            for item in items { keys.append(try Interpreter.evaluate(node, item)) }
            let checked = try sortKeys(keys, name: name, index: 1)
            return .array(stableSorted(Array(zip(checked, items))).map(\.1))
        case "sum":
            try arity(1)
            return .number(try numbers(0).reduce(0, +))
        case "to_array":
            try arity(1)
            let item = try value(0)
            if case .array = item { return item }
            return .array([item])
        case "to_string":
            try arity(1)
            let item = try value(0)
            if case .string = item { return item }
            return .string(JSONText.serialize(item))
        case "to_number":
            try arity(1)
            switch try value(0) {
            case .number(let number): return .number(number)
            case .string(let string):
                guard let parsed = try? JSONText.parse(string), case .number(let number) = parsed else { return .null }
                return .number(number)
            default: return .null
            }
        case "type":
            try arity(1)
            return .string(try value(0).typeName)
        default:
            throw JMESPathError(.unknownFunction, "unknown function \(name)()")
        }
    }

    private static func typeError(_ name: String, _ index: Int, _ expected: String) -> JMESPathError {
        JMESPathError(.invalidType, "\(name)() argument \(index + 1) must be \(expected)")
    }

    /// Sort keys must be all numbers or all strings.
    private static func sortKeys(_ keys: [JSONValue], name: String, index: Int) throws(JMESPathError) -> [JSONValue] {
        guard let first = keys.first else { return keys }
        switch first {
        case .number:
            guard keys.allSatisfy({ if case .number = $0 { true } else { false } }) else { throw typeError(name, index, "all numbers or all strings") }
        case .string:
            guard keys.allSatisfy({ if case .string = $0 { true } else { false } }) else { throw typeError(name, index, "all numbers or all strings") }
        default:
            throw typeError(name, index, "numbers or strings")
        }
        return keys
    }

    /// Numbers by value, strings by code point.
    private static func less(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.number(let x), .number(let y)): return x < y
        case (.string(let x), .string(let y)): return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) { $0.value < $1.value }
        default: return false
        }
    }

    private static func stableSorted(_ pairs: [(JSONValue, JSONValue)]) -> [(JSONValue, JSONValue)] {
        pairs.enumerated().sorted { lhs, rhs in
            if less(lhs.element.0, rhs.element.0) { return true }
            if less(rhs.element.0, lhs.element.0) { return false }
            return lhs.offset < rhs.offset
        }.map(\.element)
    }
}
