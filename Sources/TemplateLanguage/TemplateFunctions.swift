import Foundation
import JMESPath

/// The template functions, by lowercased name (template function names are case-insensitive).
enum TemplateFunctions {
    static func call(_ name: String, _ args: [JSONValue], context: any TemplateContext) throws(TemplateError) -> JSONValue {
        let lower = name.lowercased()
        func count(_ range: ClosedRange<Int>) throws(TemplateError) {
            guard range.contains(args.count) else {
                throw TemplateError("\(name)() takes \(range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)") arguments, got \(args.count)")
            }
        }
        func string(_ index: Int) throws(TemplateError) -> String {
            guard case .string(let value) = args[index] else { throw TemplateError("\(name)() argument \(index + 1) must be a string, not a \(args[index].typeName)") }
            return value
        }
        func integer(_ index: Int) throws(TemplateError) -> Int {
            switch args[index] {
            case .number(let value): if let integer = TemplateNumbers.integer(value) { return integer }
            case .string(let text): if let integer = TemplateNumbers.integer(parsing: text) { return integer }
            default: break
            }
            throw TemplateError("\(name)() argument \(index + 1) must be an integer from -2^53 to 2^53")
        }
        func array(_ index: Int) throws(TemplateError) -> [JSONValue] {
            guard case .array(let items) = args[index] else { throw TemplateError("\(name)() argument \(index + 1) must be an array") }
            return items
        }
        func object(_ index: Int) throws(TemplateError) -> JSONObject {
            guard case .object(let object) = args[index] else { throw TemplateError("\(name)() argument \(index + 1) must be an object") }
            return object
        }
        func bool(_ index: Int) throws(TemplateError) -> Bool {
            switch args[index] {
            case .bool(let value): return value
            case .string(let text) where ["true", "false"].contains(text.lowercased()): return text.lowercased() == "true"
            case .number(let value): return value != 0
            default: throw TemplateError("\(name)() argument \(index + 1) must be a boolean")
            }
        }

        switch lower {
        // Deployment
        case "parameters": try count(1...1); return try context.parameter(try string(0))
        case "variables": try count(1...1); return try context.variable(try string(0))
        case "resourcegroup": try count(0...0); return context.resourceGroup
        case "subscription": try count(0...0); return context.subscription
        case "tenant": try count(0...0); return context.tenant
        case "deployment": try count(0...0); return context.deployment
        case "environment": try count(0...0); return context.environment

        // Resources
        case "resourceid": return .string(try resourceID(args, scope: .resourceGroup, context: context, name: name))
        case "subscriptionresourceid": return .string(try resourceID(args, scope: .subscription, context: context, name: name))
        case "tenantresourceid": return .string(try resourceID(args, scope: .tenant, context: context, name: name))
        case "extensionresourceid":
            guard args.count >= 3 else { throw TemplateError("extensionResourceId() takes a scope, a type and names") }
            let scope = try string(0)
            return .string(scope + (try resourceID(Array(args.dropFirst()), scope: .tenant, context: context, name: name)))
        case "copyindex":
            try count(0...2)
            var loop: String?
            var offset = 0
            if args.count >= 1, case .string(let name) = args[0] {
                loop = name
                if args.count == 2 { offset = try integer(1) }
            } else if args.count == 1 {
                offset = try integer(0)
            }
            return .number(Double(try context.copyIndex(loop: loop) + offset))
        case "lambdavariables": try count(1...1); return try context.lambdaVariable(try string(0))
        case "references":
            try count(1...2)
            return try context.references(try string(0), full: args.count == 2 ? (try string(1)).lowercased() == "full" : false)
        case "managementgroup":
            throw TemplateError("managementGroup() is only available in management-group deployments; Coffer deploys to resource groups")
        case "managementgroupresourceid":
            // The management group must be named: a resource-group deployment has none of its own.
            guard args.count >= 3, !(try string(0)).contains("/") else {
                throw TemplateError("managementGroupResourceId() needs the management group's name first in a resource-group deployment")
            }
            return .string("/providers/Microsoft.Management/managementGroups/\(try string(0))"
                           + (try resourceID(Array(args.dropFirst()), scope: .tenant, context: context, name: name)))
        case "tologicalzone", "tophysicalzone":
            // One Coffer has no availability zones: ARM answers a location without zones with an empty string.
            try count(3...3)
            return .string("")
        case "reference":
            try count(1...3)
            let target = try string(0)
            let full = args.count == 3 ? (try string(2)).lowercased() == "full" : false
            return try context.reference(target, apiVersion: args.count > 1 ? try string(1) : nil, full: full)

        // Logical and comparison
        case "and": guard args.count >= 2 else { throw TemplateError("and() takes at least 2 arguments") }
            for index in args.indices where !(try bool(index)) { return .bool(false) }
            return .bool(true)
        case "or": guard args.count >= 2 else { throw TemplateError("or() takes at least 2 arguments") }
            for index in args.indices where try bool(index) { return .bool(true) }
            return .bool(false)
        case "not": try count(1...1); return .bool(!(try bool(0)))
        case "if": try count(3...3); return try bool(0) ? args[1] : args[2]
        case "bool": try count(1...1); return .bool(try bool(0))
        case "true": try count(0...0); return .bool(true)
        case "false": try count(0...0); return .bool(false)
        case "null": try count(0...0); return .null
        case "equals": try count(2...2); return .bool(equal(args[0], args[1]))
        case "less", "lessorequals", "greater", "greaterorequals":
            try count(2...2)
            let order: Int
            switch (args[0], args[1]) {
            case (.number(let a), .number(let b)): order = a < b ? -1 : (a > b ? 1 : 0)
            case (.string(let a), .string(let b)): order = a < b ? -1 : (a > b ? 1 : 0)
            default: throw TemplateError("\(name)() compares two numbers or two strings")
            }
            switch lower {
            case "less": return .bool(order < 0)
            case "lessorequals": return .bool(order <= 0)
            case "greater": return .bool(order > 0)
            default: return .bool(order >= 0)
            }
        case "coalesce":
            return args.first { $0 != .null } ?? .null

        // Numbers
        case "add", "sub", "mul", "div", "mod":
            try count(2...2)
            let a = try integer(0), b = try integer(1)
            if lower == "div" || lower == "mod", b == 0 { throw TemplateError("\(name)() cannot divide by zero") }
            guard let result = TemplateNumbers.arithmetic(lower, a, b) else {
                throw TemplateError("\(name)(\(a), \(b)) is outside the integers from -2^53 to 2^53")
            }
            return .number(Double(result))
        case "int": try count(1...1); return .number(Double(try integer(0)))
        case "float":
            try count(1...1)
            switch args[0] {
            case .number(let value): return .number(value)
            case .string(let text): if let value = Double(text) { return .number(value) }
            default: break
            }
            throw TemplateError("float() argument must be a number or numeric string")
        case "min", "max":
            let values: [JSONValue] = args.count == 1 ? try array(0) : args
            var numbers: [Double] = []
            for value in values {
                guard case .number(let number) = value else { throw TemplateError("\(name)() takes numbers") }
                numbers.append(number)
            }
            guard let result = lower == "min" ? numbers.min() : numbers.max() else { throw TemplateError("\(name)() of nothing") }
            return .number(result)
        case "range":
            try count(2...2)
            let start = try integer(0), length = try integer(1)
            guard length >= 0, length <= 10_000 else { throw TemplateError("range() count must be 0 to 10000") }
            guard TemplateNumbers.arithmetic("add", start, length) != nil else {
                throw TemplateError("range() would go past the integers from -2^53 to 2^53")
            }
            return .array((0..<length).map { .number(Double(start + $0)) })

        // Strings
        case "concat":
            guard !args.isEmpty else { throw TemplateError("concat() takes at least one argument") }
            if case .array = args[0] {
                var items: [JSONValue] = []
                for index in args.indices { items += try array(index) }
                return .array(items)
            }
            let pieces = try args.map { value throws(TemplateError) in try Self.text(value) }
            try TemplateLimits.ensure(size: pieces.reduce(0) { $0 + $1.utf8.count }, from: name)
            return .string(pieces.joined())
        case "format":
            guard !args.isEmpty else { throw TemplateError("format() takes a format string") }
            return .string(try format(try string(0), Array(args.dropFirst())))
        case "string": try count(1...1); return .string(try text(args[0]))
        case "tolower": try count(1...1); return .string((try string(0)).lowercased())
        case "toupper": try count(1...1); return .string((try string(0)).uppercased())
        case "trim": try count(1...1); return .string((try string(0)).trimmingCharacters(in: .whitespaces))
        case "substring":
            try count(1...3)
            let characters = Array(try string(0))
            let start = args.count > 1 ? try integer(1) : 0
            let length = args.count > 2 ? try integer(2) : characters.count - start
            guard start >= 0, length >= 0, start + length <= characters.count else {
                throw TemplateError("substring() range \(start)+\(length) is outside the string of length \(characters.count)")
            }
            return .string(String(characters[start..<(start + length)]))
        case "replace":
            try count(3...3)
            let (value, target, replacement) = (try string(0), try string(1), try string(2))
            // The result's size is known before it is built: a short target replaced by a long text multiplies it.
            if !target.isEmpty, replacement.utf8.count > target.utf8.count {
                let growth = TemplateLimits.occurrences(of: target, in: value) * (replacement.utf8.count - target.utf8.count)
                try TemplateLimits.ensure(size: value.utf8.count + growth, from: name)
            }
            guard !target.isEmpty else { return .string(value) }
            return .string(TextSearch.string(TextSearch(target).replace(in: Array(value.utf16), with: Array(replacement.utf16))))
        case "split":
            try count(2...2)
            let separators: [String]
            if case .array(let items) = args[1] {
                separators = try items.map { item throws(TemplateError) in try Self.text(item) }
            } else {
                separators = [try string(1)]
            }
            let value = Array(try string(0).utf16)
            // Each separator is a pass over the whole text: their number times its length is bounded.
            let (work, overflow) = separators.count.multipliedReportingOverflow(by: max(1, value.count))
            guard !overflow, work <= Self.maximumSplitWork else {
                throw TemplateError("split() with \(separators.count) separators over \(value.count) characters is too much work (at most \(Self.maximumSplitWork))")
            }
            var parts: [ArraySlice<UInt16>] = [value[...]]
            for separator in separators where !separator.isEmpty {
                let search = TextSearch(separator)
                parts = parts.flatMap { search.split(Array($0)) }
            }
            return .array(parts.map { .string(TextSearch.string($0)) })
        case "startswith": try count(2...2); return .bool((try string(0)).lowercased().hasPrefix((try string(1)).lowercased()))
        case "endswith": try count(2...2); return .bool((try string(0)).lowercased().hasSuffix((try string(1)).lowercased()))
        case "padleft":
            try count(2...3)
            let value = try text(args[0])
            let width = try integer(1)
            guard width <= TemplateLimits.maximumPaddedLength else {
                throw TemplateError("padLeft() width must be at most \(TemplateLimits.maximumPaddedLength)")
            }
            let pad = args.count > 2 ? (try string(2)).first ?? " " : " "
            // One character may hold many code points: count the bytes the padding would take.
            try TemplateLimits.ensure(size: value.utf8.count + max(0, width - value.count) * String(pad).utf8.count, from: name)
            return .string(value.count >= width ? value : String(repeating: pad, count: width - value.count) + value)
        case "uniquestring":
            guard !args.isEmpty else { throw TemplateError("uniqueString() takes at least one argument") }
            var parts: [String] = []
            for index in args.indices { parts.append(try string(index)) }
            return .string(StableHashes.uniqueString(parts))
        case "guid":
            guard !args.isEmpty else { throw TemplateError("guid() takes at least one argument") }
            var parts: [String] = []
            for index in args.indices { parts.append(try string(index)) }
            return .string(StableHashes.guid(parts))
        case "newguid": try count(0...0); return .string(UUID().uuidString.lowercased())
        case "base64": try count(1...1); return .string(Data((try string(0)).utf8).base64EncodedString())
        case "base64tostring":
            try count(1...1)
            guard let data = Data(base64Encoded: try string(0)) else { throw TemplateError("base64ToString() argument is not base64") }
            return .string(String(decoding: data, as: UTF8.self))
        case "base64tojson":
            try count(1...1)
            guard let data = Data(base64Encoded: try string(0)), let value = try? JSONText.parse(String(decoding: data, as: UTF8.self)) else {
                throw TemplateError("base64ToJson() argument is not base64 JSON")
            }
            return value
        case "uri":
            try count(2...2)
            guard let base = URL(string: try string(0)), let resolved = URL(string: try string(1), relativeTo: base) else {
                throw TemplateError("uri() arguments do not form a URI")
            }
            return .string(resolved.absoluteString)
        case "uricomponent":
            try count(1...1)
            return .string((try string(0)).addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? "")
        case "uricomponenttostring": try count(1...1); return .string((try string(0)).removingPercentEncoding ?? "")

        // Arrays, objects and both
        case "array": try count(1...1); if case .array = args[0] { return args[0] }; return .array([args[0]])
        case "createarray": return .array(args)
        case "createobject":
            guard args.count % 2 == 0 else { throw TemplateError("createObject() takes key and value pairs") }
            var result = JSONObject()
            for index in stride(from: 0, to: args.count, by: 2) { result[try string(index)] = args[index + 1] }
            return .object(result)
        case "json":
            try count(1...1)
            let source = try string(0)
            guard let parsed = try? JSONText.parse(source) else { throw TemplateError("json() argument is not valid JSON") }
            return parsed
        case "length":
            try count(1...1)
            switch args[0] {
            case .string(let value): return .number(Double(value.count))
            case .array(let items): return .number(Double(items.count))
            case .object(let object): return .number(Double(object.count))
            default: throw TemplateError("length() takes a string, an array or an object")
            }
        case "empty":
            try count(1...1)
            switch args[0] {
            case .null: return .bool(true)
            case .string(let value): return .bool(value.isEmpty)
            case .array(let items): return .bool(items.isEmpty)
            case .object(let object): return .bool(object.isEmpty)
            default: return .bool(false)
            }
        case "contains":
            try count(2...2)
            switch args[0] {
            case .string(let value):
                let needle = try text(args[1])
                return .bool(needle.isEmpty || TextSearch(needle).first(in: Array(value.utf16)) != nil)
            case .array(let items): return .bool(items.contains { equal($0, args[1]) })
            case .object(let object):
                let key = try text(args[1]).lowercased()
                return .bool(object.keys.contains { $0.lowercased() == key })
            default: throw TemplateError("contains() takes a string, an array or an object")
            }
        case "first", "last":
            try count(1...1)
            switch args[0] {
            case .string(let value):
                guard let character = lower == "first" ? value.first : value.last else { return .string("") }
                return .string(String(character))
            case .array(let items): return (lower == "first" ? items.first : items.last) ?? .null
            default: throw TemplateError("\(name)() takes a string or an array")
            }
        case "indexof", "lastindexof":
            try count(2...2)
            switch args[0] {
            case .string(let value):
                // Case-insensitive; positions in characters, as `substring`, `length` and `take` count them; an empty
                // value is found at the start (the end for lastIndexOf).
                let lowered = value.lowercased(), search = TextSearch((try string(1)).lowercased())
                if search.needle.isEmpty { return .number(Double(lower == "indexof" ? 0 : lowered.count)) }
                let haystack = Array(lowered.utf16)
                guard let found = lower == "indexof" ? search.first(in: haystack) : search.last(in: haystack) else { return .number(-1) }
                let position = lowered.utf16.index(lowered.startIndex, offsetBy: found)
                return .number(Double(lowered.distance(from: lowered.startIndex, to: position)))
            case .array(let items):
                let index = lower == "indexof" ? items.firstIndex { equal($0, args[1]) } : items.lastIndex { equal($0, args[1]) }
                return .number(Double(index ?? -1))
            default: throw TemplateError("\(name)() takes a string or an array")
            }
        case "skip", "take":
            try count(2...2)
            let number = max(0, try integer(1))
            switch args[0] {
            case .string(let value): return .string(lower == "skip" ? String(value.dropFirst(number)) : String(value.prefix(number)))
            case .array(let items): return .array(lower == "skip" ? Array(items.dropFirst(number)) : Array(items.prefix(number)))
            default: throw TemplateError("\(name)() takes a string or an array")
            }
        case "union":
            guard !args.isEmpty else { throw TemplateError("union() takes at least one argument") }
            if case .object = args[0] {
                var result = JSONObject()
                for index in args.indices {
                    let next = try object(index)
                    for key in next.keys { result[key] = next[key] }
                }
                return .object(result)
            }
            // Buckets by a hash consistent with `equal`: comparing every item with every kept one was quadratic, and
            // two 4 MiB arrays took hours of CPU within a single call.
            var items: [JSONValue] = []
            var kept: [Int: [Int]] = [:]
            for index in args.indices {
                for item in try array(index) {
                    let hash = looseHash(item)
                    if kept[hash, default: []].contains(where: { equal(items[$0], item) }) { continue }
                    kept[hash, default: []].append(items.count)
                    items.append(item)
                }
            }
            return .array(items)
        case "intersection":
            guard args.count >= 2 else { throw TemplateError("intersection() takes at least two arguments") }
            if case .object = args[0] {
                // Builds what is kept rather than removing what is not: each removal from an object is linear.
                var result = try object(0)
                for index in args.indices.dropFirst() {
                    let other = try object(index)
                    var kept = JSONObject()
                    for key in result.keys { if let value = result[key], let mine = other[key], equal(mine, value) { kept[key] = value } }
                    result = kept
                }
                return .object(result)
            }
            var items = try array(0)
            for index in args.indices.dropFirst() {
                var others: [Int: [JSONValue]] = [:]
                for item in try array(index) { others[looseHash(item), default: []].append(item) }
                items = items.filter { item in others[looseHash(item)]?.contains { equal($0, item) } ?? false }
            }
            return .array(items)
        case "items":
            try count(1...1)
            let source = try object(0)
            return .array(source.keys.sorted().map { .object(JSONObject([("key", .string($0)), ("value", source[$0]!)])) })
        default:
            if let result = try MoreTemplateFunctions.call(lower, args, name: name) { return result }
            if lower.hasPrefix("list"), args.count >= 2 {
                return try context.list(name, resourceID: try string(0), apiVersion: try string(1))
            }
            throw TemplateError("the template function '\(name)' is not known")
        }
    }

    /// ARM compares strings without regard to case; other values structurally.
    /// A hash that ``equal(_:_:)`` values share, and that tells apart what it tells apart: strings by their lowercase
    /// where `equal` ignores case (at the top and through arrays), exactly inside objects (compared exactly), objects
    /// whatever their key order. Set operations bucket by it; hashing case variants alike inside objects would put
    /// every one of thousands of unequal objects in one bucket and make them quadratic again.
    static func looseHash(_ value: JSONValue, exact: Bool = false) -> Int {
        var hasher = Hasher()
        switch value {
        case .string(let text): hasher.combine(0); hasher.combine(exact ? text : text.lowercased())
        case .number(let number): hasher.combine(1); hasher.combine(number)
        case .bool(let flag): hasher.combine(2); hasher.combine(flag)
        case .null: hasher.combine(3)
        case .array(let items):
            hasher.combine(4)
            for item in items { hasher.combine(looseHash(item, exact: exact)) }
        case .object(let object):
            hasher.combine(5)
            var pairs = 0
            for key in object.keys {
                var pair = Hasher()
                pair.combine(key)
                pair.combine(looseHash(object[key] ?? .null, exact: true))
                pairs = pairs &+ pair.finalize()
            }
            hasher.combine(pairs)
        }
        return hasher.finalize()
    }

    /// Separators times characters `split()` may work through in one call.
    static let maximumSplitWork = 20_000_000

    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): return x.lowercased() == y.lowercased()
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        default: return a == b
        }
    }

    /// A value as `string()` and `concat()` write it.
    static func text(_ value: JSONValue) throws(TemplateError) -> String {
        switch value {
        case .string(let string): return string
        case .bool(let flag): return flag ? "True" : "False"
        case .number(let number): return JSONText.format(number: number)
        case .null: return ""
        default:
            // Arrays may share one large value many times over: their text is measured before it is written.
            guard !TemplateLimits.serializedSizeExceeds(value) else {
                throw TemplateError("the value is too large to write as text (over \(TemplateLimits.maximumValueSize) bytes)")
            }
            return JSONText.serialize(value)
        }
    }

    /// .NET composite formatting: `{0}`, `{1:D3}` (zero-padded integers), `{{` and `}}`.
    static func format(_ template: String, _ values: [JSONValue]) throws(TemplateError) -> String {
        var output = ""
        let characters = Array(template)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if character == "{", index + 1 < characters.count, characters[index + 1] == "{" { output.append("{"); index += 2; continue }
            if character == "}", index + 1 < characters.count, characters[index + 1] == "}" { output.append("}"); index += 2; continue }
            guard character == "{" else { output.append(character); index += 1; continue }
            guard let close = characters[index...].firstIndex(of: "}") else { throw TemplateError("format() has an unclosed '{'") }
            let spec = String(characters[(index + 1)..<close]).split(separator: ":", maxSplits: 1).map(String.init)
            guard let first = spec.first, let position = Int(first), values.indices.contains(position) else {
                throw TemplateError("format() refers to argument {\(spec.first?.prefix(20) ?? "")}, which is not given")
            }
            var piece = try text(values[position])
            if spec.count == 2, case .number(let number) = values[position],
               let formatted = try TemplateNumberFormats.format(number, specifier: spec[1]) {
                piece = formatted
            } else if spec.count == 2, spec[1].uppercased().hasPrefix("D"), let width = Int(spec[1].dropFirst()), piece.count < width {
                guard width <= TemplateLimits.maximumPaddedLength else {
                    throw TemplateError("format() width must be at most \(TemplateLimits.maximumPaddedLength)")
                }
                piece = String(repeating: "0", count: width - piece.count) + piece
            }
            try TemplateLimits.ensure(size: output.utf8.count + piece.utf8.count, from: "format")
            output += piece
            index = close + 1
        }
        return output
    }

    enum Scope { case resourceGroup, subscription, tenant }

    /// `resourceId([subscriptionId], [resourceGroupName], type, name1, name2…)` and its subscription and tenant forms.
    static func resourceID(_ args: [JSONValue], scope: Scope, context: any TemplateContext, name: String) throws(TemplateError) -> String {
        let strings = try args.map { value throws(TemplateError) in try text(value) }
        guard let typeIndex = strings.firstIndex(where: { $0.contains("/") }) else {
            throw TemplateError("\(name)() needs a resource type such as Microsoft.KeyVault/vaults")
        }
        let typeSegments = strings[typeIndex].split(separator: "/").map(String.init)
        let names = Array(strings[(typeIndex + 1)...]).flatMap { $0.split(separator: "/").map(String.init) }
        guard names.count == typeSegments.count - 1 else {
            throw TemplateError("\(name)(): the type \(strings[typeIndex]) needs \(typeSegments.count - 1) name(s), got \(names.count)")
        }
        var path = "/providers/\(typeSegments[0])"
        for (segment, resourceName) in zip(typeSegments.dropFirst(), names) { path += "/\(segment)/\(resourceName)" }
        let prefix = Array(strings[..<typeIndex])
        func currentSubscription() -> String {
            if case .string(let id) = context.subscription["subscriptionId"] { return id }
            return ""
        }
        func currentGroup() -> String {
            if case .string(let group) = context.resourceGroup["name"] { return group }
            return ""
        }
        switch scope {
        case .tenant:
            return path
        case .subscription:
            return "/subscriptions/\(prefix.first ?? currentSubscription())" + path
        case .resourceGroup:
            let subscription = prefix.count == 2 ? prefix[0] : currentSubscription()
            let group = prefix.count >= 1 ? prefix[prefix.count - 1] : currentGroup()
            return "/subscriptions/\(subscription)/resourceGroups/\(group)" + path
        }
    }
}
