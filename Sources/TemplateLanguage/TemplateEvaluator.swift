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
                if key.lowercased() == "copy", case .array(let loops) = object[key]! {
                    // Property and variable copy loops: each `{name, count, input}` becomes an array named `name`.
                    for loop in loops {
                        let (name, values) = try expandCopy(loop, context: context)
                        result[name] = .array(values)
                    }
                    continue
                }
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

    /// A `{name, count, input}` loop: its name and its `count` evaluations of `input`, each with `copyIndex(name)`.
    static func expandCopy(_ loop: JSONValue, context: any TemplateContext) throws(TemplateError) -> (String, [JSONValue]) {
        guard case .string(let name) = try evaluate(loop["name"], context: context), loop["input"] != .null else {
            throw TemplateError("a copy loop needs a name, a count and an input")
        }
        let count = try copyCount(loop["count"], context: context, loop: name)
        var values: [JSONValue] = []
        var budget = TemplateLimits.Budget(for: "copy")
        for index in 0..<count {
            let value = try evaluate(loop["input"], context: ScopedContext.iteration(context, loop: name, index: index))
            try budget.spend(value)
            values.append(value)
        }
        return (name, values)
    }

    /// A copy loop's count: a whole number from 0 to 800, as ARM allows.
    static func copyCount(_ value: JSONValue, context: any TemplateContext, loop: String) throws(TemplateError) -> Int {
        guard case .number(let number) = try evaluate(value, context: context), number == number.rounded(), (0...800).contains(number) else {
            throw TemplateError("the count of the copy loop '\(loop)' must be a whole number from 0 to 800")
        }
        return Int(number)
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
        forEachCall(in: value) { name, arguments in
            let lower = name.lowercased()
            if lower == "reference" || lower == "references" || lower.hasPrefix("list"), let first = arguments.first,
               let target = try? evaluate(first, context: context) {
                found.append(target)
            }
        }
        return found
    }

    /// The `list*()` calls in a value whose resource and api-version evaluate now: `(function, resource id, api-version)`,
    /// for fetching their results before the value is evaluated (list results come from services, asynchronously).
    public static func listCalls(in value: JSONValue, context: any TemplateContext) -> [(function: String, resourceID: String, apiVersion: String)] {
        var found: [(String, String, String)] = []
        forEachCall(in: value) { name, arguments in
            if name.lowercased().hasPrefix("list"), arguments.count >= 2,
               case .string(let target)? = try? evaluate(arguments[0], context: context),
               case .string(let apiVersion)? = try? evaluate(arguments[1], context: context) {
                found.append((name, target, apiVersion))
            }
        }
        return found
    }

    /// The variables a value names with a literal (`variables('name')`), lowercased.
    static func variableNames(in value: JSONValue) -> Set<String> {
        var names: Set<String> = []
        forEachCall(in: value) { name, arguments in
            if name.lowercased() == "variables", case .literal(.string(let variable))? = arguments.first { names.insert(variable.lowercased()) }
        }
        return names
    }

    /// The first `parameters('…')` or `variables('…')` call, anywhere in `value`, naming one the template does not
    /// declare (Azure refuses these at validation, before anything is deployed).
    static func undeclaredName(in value: JSONValue, parameters: Set<String>, variables: Set<String>) -> String? {
        var found: String?
        forEachCall(in: value) { name, arguments in
            guard found == nil, case .literal(.string(let named))? = arguments.first else { return }
            switch name.lowercased() {
            case "parameters" where !parameters.contains(named.lowercased()): found = "the template parameter '\(named)' is not found"
            case "variables" where !variables.contains(named.lowercased()): found = "the template variable '\(named)' is not found"
            default: break
            }
        }
        return found
    }

    /// Whether a value's expressions read what changes as a deployment goes on (`reference()`, `references()`,
    /// `list*()`), or name a variable the static walk cannot see (`variables(<expression>)`).
    static func readsDeploymentState(_ value: JSONValue) -> Bool {
        var reads = false
        forEachCall(in: value) { name, arguments in
            let lower = name.lowercased()
            if lower == "reference" || lower == "references" || lower.hasPrefix("list") { reads = true }
            let namesALiteral: Bool = { if arguments.count == 1, case .literal(.string) = arguments[0] { true } else { false } }()
            if lower == "variables", !namesALiteral { reads = true }
        }
        return reads
    }

    /// Every function call in every expression of a value (strings, array items, object keys and values), nested calls included.
    private static func forEachCall(in value: JSONValue, _ body: (String, [TemplateNode]) -> Void) {
        func visit(_ node: TemplateNode) {
            switch node {
            case .call(let name, let arguments):
                body(name, arguments)
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
    }

    static func evaluate(_ node: TemplateNode, context: any TemplateContext) throws(TemplateError) -> JSONValue {
        switch node {
        case .literal(let value):
            return value
        case .call(let name, let arguments):
            try context.spendCall()
            if TemplateLambdas.names.contains(name.lowercased()) {
                return try TemplateLimits.check(try TemplateLambdas.call(name, arguments, context: context), from: name)
            }
            var values: [JSONValue] = []
            var budget = TemplateLimits.Budget(for: name)
            for argument in arguments {
                let value = try evaluate(argument, context: context)
                try budget.spend(value)
                values.append(value)
            }
            return try TemplateLimits.check(try TemplateFunctions.call(name, values, context: context), from: name)
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
                guard let position = TemplateNumbers.integer(number), items.indices.contains(position) else {
                    throw TemplateError("index \(JSONText.format(number: number)) is out of range (length \(items.count))")
                }
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
