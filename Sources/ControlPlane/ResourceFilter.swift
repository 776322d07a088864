import Foundation
import JMESPath

/// The `$filter` forms ARM accepts on resource listings: `resourceType eq '…'`, `name eq '…'`, `location eq '…'`,
/// `resourceGroup eq '…'`, `tagName eq '…' [and tagValue eq '…']`, `substringof('…', name)`, joined by `and`.
package struct ResourceFilter: Sendable {
    package enum Condition: Sendable {
        case equals(field: String, value: String)
        case nameContains(String)
        case tag(name: String, value: String?)

        package func matches(_ resource: JSONValue) -> Bool {
            func text(_ value: JSONValue) -> String { if case .string(let text) = value { text.lowercased() } else { "" } }
            switch self {
            case .equals("resourcetype", let value): return text(resource["type"]) == value.lowercased()
            case .equals("name", let value): return text(resource["name"]) == value.lowercased()
            case .equals("location", let value): return text(resource["location"]).replacingOccurrences(of: " ", with: "") == value.lowercased().replacingOccurrences(of: " ", with: "")
            case .equals("resourcegroup", let value):
                let parts = text(resource["id"]).split(separator: "/")
                return parts.count > 3 && parts[2] == "resourcegroups" && parts[3] == value.lowercased()
            case .equals: return false
            case .nameContains(let part): return text(resource["name"]).contains(part.lowercased())
            case .tag(let name, let value):
                guard case .object(let tags) = resource["tags"],
                      let key = tags.keys.first(where: { $0.lowercased() == name.lowercased() }) else { return false }
                return value.map { tags[key] == .string($0) } ?? true
            }
        }
    }

    package static func parse(_ filter: String) throws -> [Condition] {
        let trimmed = filter.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return [] }
        var conditions: [Condition] = []
        var tagName: String?
        for clause in Self.split(trimmed) {
            if clause.lowercased().hasPrefix("substringof("), clause.hasSuffix(")") {
                let inner = clause.dropFirst("substringof(".count).dropLast()
                guard let comma = inner.lastIndex(of: ","), inner[inner.index(after: comma)...].trimmingCharacters(in: .whitespaces).lowercased() == "name",
                      let value = Self.quoted(inner[..<comma].trimmingCharacters(in: .whitespaces)) else { throw Self.invalid(filter) }
                conditions.append(.nameContains(value))
                continue
            }
            let words = clause.split(separator: " ", maxSplits: 2).map(String.init)
            guard words.count == 3, words[1].lowercased() == "eq", let value = Self.quoted(words[2]) else { throw Self.invalid(filter) }
            switch words[0].lowercased() {
            case "resourcetype", "name", "location", "resourcegroup": conditions.append(.equals(field: words[0].lowercased(), value: value))
            case "tagname": tagName = value; conditions.append(.tag(name: value, value: nil))
            case "tagvalue":
                // Narrows the tagName condition before it (wherever other clauses put it), once.
                guard let name = tagName, let index = conditions.lastIndex(where: {
                    if case .tag(name, nil) = $0 { true } else { false }
                }) else { throw Self.invalid(filter) }
                conditions[index] = .tag(name: name, value: value)
            default: throw Self.invalid(filter)
            }
        }
        return conditions
    }

    /// Clauses separated by ` and ` outside quotes.
    private static func split(_ filter: String) -> [String] {
        var clauses: [String] = [], current = "", quoted = false
        var rest = Substring(filter)
        while let character = rest.first {
            if character == "'" { quoted.toggle() }
            // Only the next five characters are compared: lowercasing the whole rest each time was quadratic.
            if !quoted, character == " ", rest.prefix(5).lowercased() == " and " {
                clauses.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
                rest = rest.dropFirst(5)
                continue
            }
            current.append(character)
            rest = rest.dropFirst()
        }
        clauses.append(current.trimmingCharacters(in: .whitespaces))
        return clauses
    }

    /// `'text'` with `''` as an escaped quote.
    private static func quoted(_ text: String) -> String? {
        guard text.count >= 2, text.hasPrefix("'"), text.hasSuffix("'") else { return nil }
        return String(text.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")
    }

    /// A filter outside the supported forms.
    package struct Invalid: Error {}

    private static func invalid(_ filter: String) -> Invalid { Invalid() }
}
