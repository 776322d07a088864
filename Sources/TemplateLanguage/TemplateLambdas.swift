import JMESPath

/// ARM's lambda functions: `filter`, `map`, `reduce`, `sort`, `toObject`, `mapValues` and `groupBy`. Their
/// `lambda('x', …)` argument is evaluated per element (so it reaches the evaluator unevaluated), with its
/// parameters readable through `lambdaVariables('x')`.
enum TemplateLambdas {
    static let names: Set<String> = ["filter", "map", "reduce", "sort", "toobject", "mapvalues", "groupby"]

    static func call(_ name: String, _ arguments: [TemplateNode], context: any TemplateContext) throws(TemplateError) -> JSONValue {
        let lower = name.lowercased()
        func value(_ index: Int) throws(TemplateError) -> JSONValue { try TemplateEvaluator.evaluate(arguments[index], context: context) }
        func array(_ index: Int) throws(TemplateError) -> [JSONValue] {
            guard case .array(let items) = try value(index) else { throw TemplateError("\(name)() argument \(index + 1) must be an array") }
            return items
        }
        let expected = ["reduce": 3...3, "toobject": 2...3][lower] ?? 2...2
        guard expected.contains(arguments.count) else { throw TemplateError("\(name)() takes \(expected.lowerBound) to \(expected.upperBound) arguments") }
        switch lower {
        case "filter":
            let lambda = try Lambda(arguments[1], context: context, parameters: 1...2, function: name)
            var kept: [JSONValue] = []
            for (index, item) in try array(0).enumerated() where try lambda.apply([item, .number(Double(index))]).isTruthy { kept.append(item) }
            return .array(kept)
        case "map":
            let lambda = try Lambda(arguments[1], context: context, parameters: 1...2, function: name)
            var mapped: [JSONValue] = []
            var budget = TemplateLimits.Budget(for: name)
            for (index, item) in try array(0).enumerated() {
                let value = try lambda.apply([item, .number(Double(index))])
                try budget.spend(value)
                mapped.append(value)
            }
            return .array(mapped)
        case "reduce":
            let lambda = try Lambda(arguments[2], context: context, parameters: 2...3, function: name)
            var accumulated = try value(1)
            for (index, item) in try array(0).enumerated() { accumulated = try lambda.apply([accumulated, item, .number(Double(index))]) }
            return accumulated
        case "sort":
            let lambda = try Lambda(arguments[1], context: context, parameters: 2...2, function: name)
            return .array(try Self.mergeSort(try array(0)) { a, b throws(TemplateError) in try lambda.apply([a, b]).isTruthy })
        case "toobject":
            let key = try Lambda(arguments[1], context: context, parameters: 1...1, function: name)
            let valueLambda = arguments.count == 3 ? try Lambda(arguments[2], context: context, parameters: 1...1, function: name) : nil
            var object = JSONObject()
            var budget = TemplateLimits.Budget(for: name)
            for item in try array(0) {
                guard case .string(let keyName) = try key.apply([item]) else { throw TemplateError("toObject()'s key lambda must give strings") }
                let value = try valueLambda?.apply([item]) ?? item
                try budget.spend(value)
                object[keyName] = value
            }
            return .object(object)
        case "mapvalues":
            guard case .object(let source) = try value(0) else { throw TemplateError("mapValues() argument 1 must be an object") }
            let lambda = try Lambda(arguments[1], context: context, parameters: 1...1, function: name)
            var object = JSONObject()
            var budget = TemplateLimits.Budget(for: name)
            for key in source.keys {
                let value = try lambda.apply([source[key]!])
                try budget.spend(value)
                object[key] = value
            }
            return .object(object)
        default:  // groupby
            let lambda = try Lambda(arguments[1], context: context, parameters: 1...1, function: name)
            var groups = JSONObject()
            for item in try array(0) {
                guard case .string(let key) = try lambda.apply([item]) else { throw TemplateError("groupBy()'s lambda must give strings") }
                if case .array(let members)? = groups[key] { groups[key] = .array(members + [item]) } else { groups[key] = .array([item]) }
            }
            return .object(groups)
        }
    }

    /// `lambda('a', 'b', body)`: parameter names, then the body evaluated with them bound.
    struct Lambda {
        let parameters: [String]
        let body: TemplateNode
        let context: any TemplateContext

        init(_ node: TemplateNode, context: any TemplateContext, parameters allowed: ClosedRange<Int>, function: String) throws(TemplateError) {
            guard case .call(let name, let arguments) = node, name.lowercased() == "lambda", arguments.count >= 2 else {
                throw TemplateError("\(function)() needs a lambda('name', …, expression) argument")
            }
            var parameters: [String] = []
            for argument in arguments.dropLast() {
                guard case .literal(.string(let parameter)) = argument else { throw TemplateError("lambda parameter names must be string literals") }
                parameters.append(parameter)
            }
            // A lambda may leave off the trailing (index) parameters.
            guard parameters.count <= allowed.upperBound, parameters.count >= min(1, allowed.lowerBound) else {
                throw TemplateError("the lambda of \(function)() takes \(allowed.lowerBound) to \(allowed.upperBound) parameters")
            }
            self.parameters = parameters
            self.body = arguments.last!
            self.context = context
        }

        func apply(_ values: [JSONValue]) throws(TemplateError) -> JSONValue {
            var scoped = (context as? ScopedContext) ?? ScopedContext(base: context)
            for (name, value) in zip(parameters, values) { scoped.lambdaVariables[name.lowercased()] = value }
            return try TemplateEvaluator.evaluate(body, context: scoped)
        }
    }

    /// A stable merge sort whose comparison may throw: O(n log n) lambda calls (an insertion sort made a template's
    /// 10,000-item sort cost 5·10^7 calls).
    static func mergeSort(_ items: [JSONValue], _ before: (JSONValue, JSONValue) throws(TemplateError) -> Bool) throws(TemplateError) -> [JSONValue] {
        guard items.count > 1 else { return items }
        var source = items
        var target = items
        var width = 1
        while width < source.count {
            var start = 0
            while start < source.count {
                let middle = min(start + width, source.count), end = min(start + 2 * width, source.count)
                var left = start, right = middle, out = start
                while left < middle, right < end {
                    // Take from the right only when it strictly comes first: equal items keep their order.
                    if try before(source[right], source[left]) { target[out] = source[right]; right += 1 } else { target[out] = source[left]; left += 1 }
                    out += 1
                }
                while left < middle { target[out] = source[left]; left += 1; out += 1 }
                while right < end { target[out] = source[right]; right += 1; out += 1 }
                start = end
            }
            swap(&source, &target)
            width *= 2
        }
        return source
    }
}
