import Foundation
import JMESPath

/// .NET's standard numeric format strings, as ARM's `format()` applies them (invariant culture):
/// `N` (grouped, `8,175,133.00`), `F` (fixed), `D` (integer, zero-padded), `X`/`x` (hexadecimal), `P` (percent,
/// `12.35 %`), `E`/`e` (scientific, `1.234568E+004`) and `G` (general). Precision is 0 to 99; midpoints round away
/// from zero, as .NET does.
enum TemplateNumberFormats {
    static let maximumPrecision = 99

    /// The number formatted by `specifier`, or nil when the specifier is not one of these.
    static func format(_ value: Double, specifier: String) throws(TemplateError) -> String? {
        guard let letter = specifier.first, value.isFinite else { return nil }
        let digits = specifier.dropFirst()
        guard digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), digits.count <= 2 else { return nil }
        let precision = Int(digits)
        switch letter {
        case "N", "n": return grouped(fixed(value, precision ?? 2))
        case "F", "f": return fixed(value, precision ?? 2)
        case "P", "p": return grouped(fixed(value * 100, precision ?? 2)) + " %"
        case "D", "d", "X", "x":
            guard value == value.rounded(), abs(value) < 9.0e15 else {
                throw TemplateError("format() applies '\(specifier)' to integers only, not \(JSONText.format(number: value))")
            }
            let integer = Int64(value)
            var text = letter == "D" || letter == "d" ? String(integer.magnitude) : String(UInt64(bitPattern: integer), radix: 16, uppercase: letter == "X")
            if let width = precision, text.count < width { text = String(repeating: "0", count: width - text.count) + text }
            return (integer < 0 && (letter == "D" || letter == "d") ? "-" : "") + text
        case "E", "e":
            return scientific(value, precision ?? 6, uppercase: letter == "E")
        case "G", "g":
            return JSONText.format(number: value)
        default:
            return nil
        }
    }

    /// `digits` decimals, midpoints away from zero.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        guard abs(value) < 1e15 else { return String(format: "%.\(digits)f", value) }
        // Decimal cannot hold magnitudes this small; they round to zero at any precision allowed here anyway.
        var exact = abs(value) < 1e-100 ? Decimal(0) : Decimal(value)
        var rounded = Decimal()
        NSDecimalRound(&rounded, &exact, digits, .plain)
        var text = NSDecimalNumber(decimal: rounded).description(withLocale: Locale(identifier: "en_US_POSIX"))
        if text == "-0" { text = "0" }
        guard digits > 0 else { return text }
        let fraction = text.split(separator: ".", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        if fraction.isEmpty { text += "." }
        return text + String(repeating: "0", count: max(0, digits - fraction.count))
    }

    /// Thousands separators in the integer part (`8175133.00` → `8,175,133.00`).
    static func grouped(_ text: String) -> String {
        let negative = text.hasPrefix("-")
        let unsigned = negative ? String(text.dropFirst()) : text
        let parts = unsigned.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        var integer = Array(parts[0])
        var result: [Character] = []
        while integer.count > 3 {
            result = [","] + integer.suffix(3) + result
            integer.removeLast(3)
        }
        let body = String(integer + result) + (parts.count > 1 ? "." + parts[1] : "")
        return (negative ? "-" : "") + body
    }

    /// `1.234568E+004`: a mantissa with `digits` decimals and an exponent of at least three digits.
    static func scientific(_ value: Double, _ digits: Int, uppercase: Bool) -> String {
        let text = String(format: "%.\(digits)e", value)
        guard let marker = text.firstIndex(where: { $0 == "e" }) else { return text }
        let mantissa = text[..<marker]
        var exponent = String(text[text.index(after: marker)...])
        let sign = exponent.first == "-" ? "-" : "+"
        exponent = String(exponent.drop { $0 == "+" || $0 == "-" })
        if exponent.count < 3 { exponent = String(repeating: "0", count: 3 - exponent.count) + exponent }
        return mantissa + (uppercase ? "E" : "e") + sign + exponent
    }
}
