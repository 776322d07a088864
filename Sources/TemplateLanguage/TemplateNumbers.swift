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
        guard let value = Int(text), abs(value) <= largestExactInteger else { return nil }
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
        guard !overflow, abs(result) <= largestExactInteger else { return nil }
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
