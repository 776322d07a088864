import JMESPath

/// Numbers in templates are JSON numbers (doubles). Integer functions work on those that are whole and exactly
/// representable (|n| ≤ 2^53), with checked arithmetic: a template is a request, and a conversion or an overflow
/// that traps would take the server down.
enum TemplateNumbers {
    static let largestExactInteger = 9_007_199_254_740_992

    /// The integer `value` is, or nil when it is not whole, not finite, or beyond ±2^53.
    static func integer(_ value: Double) -> Int? {
        guard value.isFinite, value == value.rounded(), abs(value) <= Double(largestExactInteger) else { return nil }
        return Int(value)
    }

    static func integer(parsing text: String) -> Int? {
        guard let value = Int(text), value.magnitude <= UInt(largestExactInteger) else { return nil }
        return value
    }

    /// `a op b` for add, sub, mul, div and mod, or nil when the result leaves the exact range.
    static func arithmetic(_ operation: String, _ a: Int, _ b: Int) -> Int? {
        let (result, overflow): (Int, Bool)
        switch operation {
        case "add": (result, overflow) = a.addingReportingOverflow(b)
        case "sub": (result, overflow) = a.subtractingReportingOverflow(b)
        case "mul": (result, overflow) = a.multipliedReportingOverflow(by: b)
        case "div": (result, overflow) = a.dividedReportingOverflow(by: b)
        default: (result, overflow) = a.remainderReportingOverflow(dividingBy: b)
        }
        // `magnitude`, not `abs`: abs(Int.min) traps, and -2^53 · 1024 is exactly Int.min.
        guard !overflow, result.magnitude <= UInt(largestExactInteger) else { return nil }
        return result
    }
}

/// Bounds on what one evaluation may build.
enum TemplateLimits {
    /// The longest string padLeft() and format() widths may ask for.
    static let maximumPaddedLength = 1 << 20
    /// The largest string (UTF-8 bytes) or array any function may return: doubling a value in a chain of variables
    /// would otherwise exhaust memory.
    static let maximumValueSize = 4 << 20
    /// Dates templates compute with: the years 1 to 9999, as .NET's DateTime.
    static let dates: ClosedRange<Double> = -62_135_596_800...253_402_300_799

    /// What the values one call gathers (its arguments, a loop's items) may add up to, spent as each is made, so a
    /// thousand copies of a large value are refused at the fifth, not after all exist.
    struct Budget {
        private var remaining = TemplateLimits.maximumValueSize
        let function: String

        init(for function: String) { self.function = function }

        mutating func spend(_ value: JSONValue) throws(TemplateError) {
            remaining -= TemplateLimits.estimatedSize(value, upTo: remaining + 1)
            guard remaining >= 0 else {
                throw TemplateError("\(function)() would gather values larger than \(TemplateLimits.maximumValueSize) bytes")
            }
        }
    }

    /// Refuses to build a value of `size` bytes or items.
    static func ensure(size: Int, from function: String) throws(TemplateError) {
        guard size <= maximumValueSize else {
            throw TemplateError("\(function)() would make a value larger than \(maximumValueSize) bytes")
        }
    }

    /// Non-overlapping occurrences of `target` in `text`, in linear time (``TextSearch``; Foundation's search per
    /// match took minutes on a megabyte of matches, and a naive scan is quadratic on `aaa…ab`).
    static func occurrences(of target: String, in text: String) -> Int {
        TextSearch(target).matches(in: Array(text.utf16)).count
    }

    /// Whether a value's JSON text would be longer than the cap, found without writing it (and without recursion).
    static func serializedSizeExceeds(_ value: JSONValue, limit: Int = maximumValueSize) -> Bool {
        estimatedSize(value, upTo: limit + 1) > limit
    }

    /// About how many bytes a value's JSON text takes, counting no further than `cap`.
    static func estimatedSize(_ value: JSONValue, upTo cap: Int) -> Int {
        var budget = cap
        var pending = [value]
        while let next = pending.popLast() {
            switch next {
            case .string(let text): budget -= text.utf8.count + 2
            case .number: budget -= 24
            case .bool, .null: budget -= 5
            case .array(let items):
                budget -= 2 + items.count
                if budget >= 0 { pending.append(contentsOf: items) }
            case .object(let object):
                budget -= 2
                for key in object.keys where budget >= 0 {
                    budget -= key.utf8.count + 4
                    if let member = object[key] { pending.append(member) }
                }
            }
            if budget < 0 { return cap }
        }
        return cap - budget
    }

    static func check(_ value: JSONValue, from function: String) throws(TemplateError) -> JSONValue {
        switch value {
        case .string(let text) where text.utf8.count > maximumValueSize:
            throw TemplateError("\(function)() would return a string longer than \(maximumValueSize) bytes")
        case .array(let items) where items.count > maximumValueSize:
            throw TemplateError("\(function)() would return an array longer than \(maximumValueSize) items")
        default:
            return value
        }
    }
}
