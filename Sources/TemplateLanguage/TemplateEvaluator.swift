import JMESPath

/// Evaluates template values: strings in `[...]` are expressions (`[[` escapes a literal `[`),
/// object keys included; everything else is returned as written.
public enum TemplateEvaluator {
    public static func evaluate(_ value: JSONValue, context: any TemplateContext) throws(TemplateError) -> JSONValue {
        switch value {
        case .string(let text):
            guard let expression = expressionText(text) else {
                return .string(text.hasPrefix("[[") ? String(text.dropFirst()) : text)
            }
            return try evaluate(expression: expression, context: context)
        case .array(let items):
            var result: [JSONValue] = []
            for item in items { result.append(try evaluate(item, context: context)) }
            return .array(result)
        case .object(let object):
            var result = JSONObject()
            for key in object.keys {
                let evaluatedKey: String
                if expressionText(key) != nil {
                    guard case .string(let text) = try evaluate(.string(key), context: context) else {
                        throw TemplateError("the property name expression '\(key)' must evaluate to a string")
                    }
                    evaluatedKey = text
                } else {
                    evaluatedKey = key.hasPrefix("[[") ? String(key.dropFirst()) : key
                }
                result[evaluatedKey] = try evaluate(object[key]!, context: context)
            }
            return .object(result)
        default:
            return value
        }
    }

    /// Evaluates one expression (the text between the brackets).
    public static func evaluate(expression: String, context: any TemplateContext) throws(TemplateError) -> JSONValue {
        let node = try ExpressionParser.parse(expression)
        do {
            return try evaluate(node, context: context)
        } catch {
            throw TemplateError("\(error.message) (in the expression '[\(expression)]')")
        }
    }

    /// The expression inside `[...]`, or nil for a plain string (including `[[…]` escapes).
    public static func expressionText(_ text: String) -> String? {
        guard text.hasPrefix("["), text.hasSuffix("]"), !text.hasPrefix("[["), text.count >= 2 else { return nil }
        return String(text.dropFirst().dropLast())
    }

    /// Names of resources an expression reads with `reference()` or `list*()` (implicit dependencies),
    /// as the expressions giving their ids or names.
    public static func referencedResources(in value: JSONValue, context: any TemplateContext) -> [JSONValue] {
        var found: [JSONValue] = []
        func visit(_ node: TemplateNode) {
            switch node {
            case .call(let name, let arguments):
                let lower = name.lowercased()
                if (lower == "reference" || lower.hasPrefix("list")), let first = arguments.first,
                   let target = try? evaluate(first, context: context) {
                    found.append(target)
                }
                arguments.forEach(visit)
            case .property(let inner, _): visit(inner)
            case .index(let inner, let index): visit(inner); visit(index)
            case .literal: break
            }
        }
        func walk(_ value: JSONValue) {
            switch value {
            case .string(let text):
                if let expression = expressionText(text), let node = try? ExpressionParser.parse(expression) { visit(node) }
            case .array(let items): items.forEach(walk)
            case .object(let object):
                for key in object.keys { walk(.string(key)); walk(object[key]!) }
            default: break
            }
        }
        walk(value)
        return found
    }

    static func evaluate(_ node: TemplateNode, context: any TemplateContext) throws(TemplateError) -> JSONValue {
        switch node {
        case .literal(let value):
            return value
        case .call(let name, let arguments):
            var values: [JSONValue] = []
            for argument in arguments { values.append(try evaluate(argument, context: context)) }
            return try TemplateFunctions.call(name, values, context: context)
        case .property(let inner, let name):
            let value = try evaluate(inner, context: context)
            guard case .object(let object) = value else {
                throw TemplateError("cannot read property '\(name)' of a \(value.typeName)")
            }
            // Property names are case-insensitive, as ARM reads them (the seed writes KeyIdentifier).
            guard let key = object.keys.first(where: { $0.lowercased() == name.lowercased() }) else {
                throw TemplateError("the object has no property '\(name)'; it has \(object.keys.joined(separator: ", "))")
            }
            return object[key]!
        case .index(let inner, let indexNode):
            let value = try evaluate(inner, context: context)
            let index = try evaluate(indexNode, context: context)
            switch (value, index) {
            case (.array(let items), .number(let number)):
                let position = Int(number)
                guard items.indices.contains(position) else { throw TemplateError("index \(position) is out of range (length \(items.count))") }
                return items[position]
            case (.object(let object), .string(let key)):
                guard let match = object.keys.first(where: { $0.lowercased() == key.lowercased() }) else {
                    throw TemplateError("the object has no property '\(key)'")
                }
                return object[match]!
            default:
                throw TemplateError("cannot index a \(value.typeName) with a \(index.typeName)")
            }
        }
    }
}
