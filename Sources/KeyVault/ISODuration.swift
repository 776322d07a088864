/// An ISO 8601 duration as rotation policies write them (`P90D`, `P1Y6M`, `PT12H`), in seconds.
/// Months count 30 days and years 365, as Key Vault documents for its policies.
public struct ISODuration: Sendable, Equatable, CustomStringConvertible {
    public let text: String
    public let seconds: Int64
    /// The longest duration accepted (1000 years): any time plus it still fits, whatever later arithmetic does.
    public static let maximumSeconds: Int64 = 1000 * 365 * 86400

    public init?(_ text: String) {
        var rest = Substring(text.uppercased())
        guard rest.hasPrefix("P"), rest.count > 1 else { return nil }
        rest = rest.dropFirst()
        var total: Int64 = 0
        var inTime = false
        var number = ""
        var sawUnit = false
        var sawTimeUnit = false
        for character in rest {
            if character == "T" {
                guard !inTime, number.isEmpty else { return nil }
                inTime = true
                continue
            }
            if character.isASCII, character.isNumber { number.append(character); continue }
            guard number.count <= 12, let value = Int64(number) else { return nil }
            let unit: Int64
            switch (character, inTime) {
            case ("Y", false): unit = 365 * 86400
            case ("M", false): unit = 30 * 86400
            case ("W", false): unit = 7 * 86400
            case ("D", false): unit = 86400
            case ("H", true): unit = 3600
            case ("M", true): unit = 60
            case ("S", true): unit = 1
            default: return nil
            }
            // Checked: a duration comes from a request, and times are computed from it later (a trap is a crash).
            let (part, overflowed) = value.multipliedReportingOverflow(by: unit)
            guard !overflowed, part <= Self.maximumSeconds - total else { return nil }
            total += part
            number = ""
            sawUnit = true
            if inTime { sawTimeUnit = true }
        }
        guard number.isEmpty, sawUnit, !inTime || sawTimeUnit else { return nil }
        self.text = text
        self.seconds = total
    }

    public var description: String { text }
}
