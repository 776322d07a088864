import Foundation
import JMESPath

/// The date functions (`utcNow`, `dateTimeAdd`, `dateTimeToEpoch`, `dateTimeFromEpoch`) and the newer array,
/// object and string functions (`flatten`, `indexFromEnd`, `tryGet`, `objectKeys`, `shallowMerge`, `join`,
/// `dataUri`, …). Returns nil for a name that is none of them.
enum MoreTemplateFunctions {
    static func call(_ lower: String, _ args: [JSONValue], name: String) throws(TemplateError) -> JSONValue? {
        func count(_ range: ClosedRange<Int>) throws(TemplateError) {
            guard range.contains(args.count) else { throw TemplateError("\(name)() takes \(range.lowerBound) to \(range.upperBound) arguments, got \(args.count)") }
        }
        func string(_ index: Int) throws(TemplateError) -> String {
            guard case .string(let value) = args[index] else { throw TemplateError("\(name)() argument \(index + 1) must be a string") }
            return value
        }
        func array(_ index: Int) throws(TemplateError) -> [JSONValue] {
            guard case .array(let items) = args[index] else { throw TemplateError("\(name)() argument \(index + 1) must be an array") }
            return items
        }
        func integer(_ index: Int) throws(TemplateError) -> Int {
            guard case .number(let value) = args[index], let integer = TemplateNumbers.integer(value) else {
                throw TemplateError("\(name)() argument \(index + 1) must be an integer from -2^53 to 2^53")
            }
            return integer
        }
        switch lower {
        case "utcnow":
            try count(0...1)
            return .string(DotNetDateFormat.format(Date(), args.isEmpty ? "yyyyMMddTHHmmssZ" : try string(0)))
        case "datetimeadd":
            try count(2...3)
            guard let base = DotNetDateFormat.parseISO(try string(0)) else { throw TemplateError("dateTimeAdd(): '\(try string(0))' is not an ISO 8601 date") }
            guard let added = ISODurationText.add(try string(1), to: base) else { throw TemplateError("dateTimeAdd(): '\(try string(1))' is not an ISO 8601 duration") }
            guard TemplateLimits.dates.contains(added.timeIntervalSince1970) else { throw TemplateError("dateTimeAdd(): the result is outside the years 1 to 9999") }
            return .string(args.count == 3 ? DotNetDateFormat.format(added, try string(2)) : DotNetDateFormat.iso(added))
        case "datetimetoepoch":
            try count(1...1)
            guard let date = DotNetDateFormat.parseISO(try string(0)) else { throw TemplateError("dateTimeToEpoch(): '\(try string(0))' is not an ISO 8601 date") }
            return .number(Double(Int64(date.timeIntervalSince1970)))
        case "datetimefromepoch":
            try count(1...1)
            let seconds = TimeInterval(try integer(0))
            guard TemplateLimits.dates.contains(seconds) else { throw TemplateError("dateTimeFromEpoch(): the time is outside the years 1 to 9999") }
            return .string(DotNetDateFormat.iso(Date(timeIntervalSince1970: seconds)))
        case "flatten":
            try count(1...1)
            var result: [JSONValue] = []
            for item in try array(0) {
                guard case .array(let inner) = item else { throw TemplateError("flatten() needs an array of arrays") }
                result += inner
            }
            return .array(result)
        case "indexfromend", "tryindexfromend":
            try count(2...2)
            let items = try array(0), position = try integer(1)
            guard position >= 1, position <= items.count else {
                if lower == "tryindexfromend" { return .null }
                throw TemplateError("indexFromEnd(): \(position) is out of range (length \(items.count))")
            }
            return items[items.count - position]
        case "tryget":
            guard args.count >= 2 else { throw TemplateError("tryGet() takes a value and one or more keys or indexes") }
            var current = args[0]
            for key in args.dropFirst() {
                switch (current, key) {
                case (.object(let object), .string(let name)):
                    guard let match = object.keys.first(where: { $0.lowercased() == name.lowercased() }) else { return .null }
                    current = object[match]!
                case (.array(let items), .number(let number)):
                    guard let position = TemplateNumbers.integer(number), items.indices.contains(position) else { return .null }
                    current = items[position]
                default: return .null
                }
            }
            return current
        case "objectkeys":
            try count(1...1)
            guard case .object(let object) = args[0] else { throw TemplateError("objectKeys() needs an object") }
            return .array(object.keys.map { .string($0) })
        case "shallowmerge":
            try count(1...1)
            var merged = JSONObject()
            for item in try array(0) {
                guard case .object(let object) = item else { throw TemplateError("shallowMerge() needs an array of objects") }
                for key in object.keys { merged[key] = object[key] }
            }
            return .object(merged)
        case "join":
            try count(2...2)
            var parts: [String] = []
            for item in try array(0) {
                switch item {
                case .string(let text): parts.append(text)
                case .number(let number): parts.append(JSONText.format(number: number))
                case .bool(let flag): parts.append(flag ? "True" : "False")
                default: throw TemplateError("join() can only join strings, numbers and booleans")
                }
            }
            let separator = try string(1)
            try TemplateLimits.ensure(size: parts.reduce(0) { $0 + $1.utf8.count } + max(0, parts.count - 1) * separator.utf8.count, from: name)
            return .string(parts.joined(separator: separator))
        case "datauri":
            try count(1...1)
            let text: String
            if case .string(let value) = args[0] { text = value } else { text = JSONText.serialize(args[0]) }
            return .string("data:text/plain;charset=utf8;base64," + Data(text.utf8).base64EncodedString())
        case "datauritostring":
            try count(1...1)
            let uri = try string(0)
            guard uri.hasPrefix("data:"), let comma = uri.firstIndex(of: ",") else { throw TemplateError("dataUriToString() needs a data URI") }
            let header = uri[..<comma], payload = String(uri[uri.index(after: comma)...])
            if header.hasSuffix(";base64") {
                guard let data = Data(base64Encoded: payload) else { throw TemplateError("dataUriToString(): the base64 payload is malformed") }
                return .string(String(decoding: data, as: UTF8.self))
            }
            return .string(payload.removingPercentEncoding ?? payload)
        case "pickzones":
            // One Coffer has no availability zones: ARM answers a non-zonal location with an empty array.
            try count(3...5)
            return .array([])
        default:
            return nil
        }
    }
}

/// .NET date formats as ARM uses them: the standard ones (`u`, `s`, `o`, `d`, `D`, `t`, `T`, `g`, `G`) and custom
/// patterns (`yyyy`, `MM`, `dd`, `HH`, `hh`, `mm`, `ss`, `fff`, `tt`, `'literal'`), in UTC.
enum DotNetDateFormat {
    static func iso(_ date: Date) -> String { format(date, "yyyy-MM-ddTHH:mm:ssZ") }

    static func parseISO(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withFullDate]
        return formatter.date(from: text)
    }

    static func format(_ date: Date, _ pattern: String) -> String {
        let standard = ["u": "yyyy-MM-dd HH:mm:ssZ", "s": "yyyy-MM-ddTHH:mm:ss", "o": "yyyy-MM-ddTHH:mm:ss.fffffffZ", "d": "M/d/yyyy",
                        "D": "dddd, MMMM d, yyyy", "t": "h:mm tt", "T": "h:mm:ss tt", "g": "M/d/yyyy h:mm tt", "G": "M/d/yyyy h:mm:ss tt"]
        let pattern = standard[pattern] ?? pattern
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .nanosecond, .weekday], from: date)
        let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
        let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
        func pad(_ value: Int, _ width: Int) -> String { String(repeating: "0", count: max(0, width - String(value).count)) + String(value) }
        var output = ""
        let characters = Array(pattern)
        var position = 0
        while position < characters.count {
            let character = characters[position]
            if character == "'" || character == "\"" {
                var end = position + 1
                while end < characters.count, characters[end] != character { end += 1 }
                output += String(characters[(position + 1)..<min(end, characters.count)])
                position = end + 1
                continue
            }
            var run = 1
            while position + run < characters.count, characters[position + run] == character { run += 1 }
            let hour12 = (parts.hour! + 11) % 12 + 1
            switch character {
            case "y": output += run == 2 ? pad(parts.year! % 100, 2) : pad(parts.year!, run)
            case "M": output += run >= 4 ? months[parts.month! - 1] : run == 3 ? String(months[parts.month! - 1].prefix(3)) : pad(parts.month!, run)
            case "d": output += run >= 4 ? days[parts.weekday! - 1] : run == 3 ? String(days[parts.weekday! - 1].prefix(3)) : pad(parts.day!, run)
            case "H": output += pad(parts.hour!, run)
            case "h": output += pad(hour12, run)
            case "m": output += pad(parts.minute!, run)
            case "s": output += pad(parts.second!, run)
            case "f", "F": output += String(pad(parts.nanosecond! / 100, 7).prefix(run))
            case "t": output += String((parts.hour! < 12 ? "AM" : "PM").prefix(run))
            case "z", "K": output += "+00:00"
            default: output += String(repeating: character, count: run)
            }
            position += run
        }
        return output
    }
}

/// ISO 8601 durations (`P1Y2M3DT4H5M6S`, `P2W`, a leading `-` to subtract) added to a date.
enum ISODurationText {
    static func add(_ text: String, to date: Date) -> Date? {
        var body = Substring(text.uppercased())
        let sign = body.hasPrefix("-") ? -1 : 1
        if body.hasPrefix("-") || body.hasPrefix("+") { body = body.dropFirst() }
        guard body.hasPrefix("P"), body.count > 1 else { return nil }
        body = body.dropFirst()
        var components = DateComponents()
        var inTime = false
        var number = ""
        for character in body {
            if character == "T" { inTime = true; continue }
            if character.isNumber || character == "." { number.append(character); continue }
            // Each part is bounded (a million years in seconds fits easily), so nothing below can overflow.
            guard let value = Double(number), value.isFinite, value <= 1e9 else { return nil }
            number = ""
            let whole = Int(value) * sign
            switch (character, inTime) {
            case ("Y", false): components.year = whole
            case ("M", false): components.month = whole
            case ("W", false): components.day = (components.day ?? 0) + 7 * whole
            case ("D", false): components.day = (components.day ?? 0) + whole
            case ("H", true): components.hour = whole
            case ("M", true): components.minute = whole
            case ("S", true): components.second = whole
            default: return nil
            }
            let parts = [components.year, components.month, components.day, components.hour, components.minute, components.second]
            guard parts.allSatisfy({ abs($0 ?? 0) <= 1_000_000_000 }) else { return nil }
        }
        guard number.isEmpty else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(byAdding: components, to: date)
    }
}
