import JMESPath

/// The `--output` formats of the CLI, rendered the way `az` renders them.
public enum OutputFormat: String, CaseIterable, Sendable {
    case json, jsonc, tsv, table, yaml, none

    /// Applies `--query` (JMESPath), then renders. An empty result of `none` is the empty string.
    public func render(_ value: JSONValue, query: String?) throws(JMESPathError) -> String {
        let selected = try query.map { (text: String) throws(JMESPathError) -> JSONValue in try Expression(text).search(value) } ?? value
        return render(selected)
    }

    public func render(_ value: JSONValue) -> String {
        switch self {
        case .json, .jsonc: return JSONText.serialize(value, indent: 2)
        case .tsv: return Self.tsv(value)
        case .table: return Self.table(value)
        case .yaml: return Self.yaml(value, level: 0, inList: false).joined(separator: "\n")
        case .none: return ""
        }
    }

    // MARK: tsv

    /// One line per row; scalars of an object in key order, tab-separated; nested values left out.
    /// Booleans print as `True`/`False` and null as an empty field, as `az` does.
    static func tsv(_ value: JSONValue) -> String {
        func scalar(_ value: JSONValue) -> String? {
            switch value {
            case .null: return ""
            case .bool(let flag): return flag ? "True" : "False"
            case .number(let number): return JSONText.format(number: number)
            case .string(let string): return string
            case .array, .object: return nil
            }
        }
        func row(_ value: JSONValue) -> String {
            switch value {
            case .object(let object): return object.values.compactMap(scalar).joined(separator: "\t")
            case .array(let items): return items.compactMap(scalar).joined(separator: "\t")
            default: return scalar(value) ?? ""
            }
        }
        if case .array(let rows) = value { return rows.map(row).joined(separator: "\n") }
        return row(value)
    }

    // MARK: table

    /// Columns are the scalar keys of the rows (in first-seen order), headers capitalised, a dashed rule below.
    static func table(_ value: JSONValue) -> String {
        var rows: [JSONObject] = []
        switch value {
        case .object(let object): rows = [object]
        case .array(let items):
            for item in items {
                if case .object(let object) = item { rows.append(object) } else { rows.append(JSONObject([("Result", item)])) }
            }
        default: rows = [JSONObject([("Result", value)])]
        }
        var columns: [String] = []
        for row in rows {
            for key in row.keys where !columns.contains(key) {
                switch row[key]! {
                case .array, .object: continue
                default: columns.append(key)
                }
            }
        }
        guard !columns.isEmpty else { return "" }
        let cells = rows.map { row in columns.map { column in
            switch row[column] ?? .null {
            case .null: ""
            case .bool(let flag): flag ? "True" : "False"
            case .number(let number): JSONText.format(number: number)
            case .string(let string): string
            default: ""
            }
        } }
        let headers = columns.map { $0.prefix(1).uppercased() + $0.dropFirst() }
        let widths = columns.indices.map { index in max(headers[index].count, cells.map { $0[index].count }.max() ?? 0) }
        func line(_ fields: [String]) -> String {
            zip(fields, widths).map { $0.0.padding(toLength: $0.1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        return ([line(headers), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + cells.map(line)).joined(separator: "\n")
    }

    // MARK: yaml

    static func yaml(_ value: JSONValue, level: Int, inList: Bool) -> [String] {
        let indent = String(repeating: "  ", count: level)
        func scalar(_ value: JSONValue) -> String? {
            switch value {
            case .null: return "null"
            case .bool(let flag): return flag ? "true" : "false"
            case .number(let number): return JSONText.format(number: number)
            case .string(let string):
                let plain = !string.isEmpty && string.allSatisfy { $0.isLetter || $0.isNumber || "-_./".contains($0) }
                    && !["true", "false", "null", "yes", "no"].contains(string.lowercased()) && Double(string) == nil
                return plain ? string : JSONText.quote(string).replacingOccurrences(of: "\\/", with: "/")
            case .array(let items) where items.isEmpty: return "[]"
            case .object(let object) where object.isEmpty: return "{}"
            default: return nil
            }
        }
        if let text = scalar(value) { return [indent + text] }
        var lines: [String] = []
        switch value {
        case .array(let items):
            for item in items {
                if let text = scalar(item) {
                    lines.append(indent + "- " + text)
                } else {
                    let nested = yaml(item, level: level + 1, inList: true)
                    lines.append(indent + "- " + nested[0].drop { $0 == " " })
                    lines += nested.dropFirst()
                }
            }
        case .object(let object):
            for key in object.keys {
                let item = object[key]!
                if let text = scalar(item) {
                    lines.append("\(indent)\(key): \(text)")
                } else {
                    lines.append("\(indent)\(key):")
                    // Lists sit at their key's indentation, as PyYAML (and so az) writes them.
                    if case .array = item {
                        lines += yaml(item, level: level, inList: false)
                    } else {
                        lines += yaml(item, level: level + 1, inList: false)
                    }
                }
            }
        default: break
        }
        return lines
    }
}

import Foundation
