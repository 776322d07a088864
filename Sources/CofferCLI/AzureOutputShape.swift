import Foundation
import JMESPath

/// What az prints for a resource. az prints the SDK's model, not the wire JSON: for registries, identities and the
/// other resources whose models flatten `properties` (the spec's `x-ms-client-flatten`), the properties stand at
/// the top level; and every resource with a resource-group id gains `resourceGroup`. So `--query loginServer`
/// works the same with `coffer` as with `az`.
enum AzureOutputShape {
    /// The resource with its `properties` lifted to the top level (a property never replaces a top-level field).
    static func flattened(_ resource: JSONValue) -> JSONValue {
        guard case .object(let object) = resource else { return resource }
        var result = JSONObject()
        for key in object.keys where key != "properties" { result[key] = object[key] }
        if case .object(let properties)? = object["properties"] {
            for key in properties.keys where result[key] == nil { result[key] = properties[key] }
        }
        return withResourceGroup(.object(result))
    }

    /// Each resource of a list, flattened.
    static func flattenedList(_ list: JSONValue) -> JSONValue {
        guard case .array(let items) = list else { return list }
        return .array(items.map(flattened))
    }

    /// The resource with `resourceGroup` named from its id, as az adds it.
    static func withResourceGroup(_ resource: JSONValue) -> JSONValue {
        guard case .object(var object) = resource, !object.keys.contains(where: { $0.lowercased() == "resourcegroup" }),
              case .string(let id)? = object["id"] else { return resource }
        // az's rule: /subscriptions/<s>/resourceGroups/<g>/<provider>/<type>/<name>, nothing shorter (a group's own id).
        let parts = id.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count > 8, parts[3].lowercased() == "resourcegroups" else { return resource }
        object["resourceGroup"] = .string(String(parts[4]))
        return .object(object)
    }

    /// az's global output transform: every object, at any depth, with a resource id gains `resourceGroup` (but not
    /// inside `sourceVault`, as az skips it).
    static func withResourceGroups(_ value: JSONValue) -> JSONValue {
        switch value {
        case .array(let items):
            return .array(items.map(withResourceGroups))
        case .object:
            guard case .object(let object) = withResourceGroup(value) else { return value }
            var result = JSONObject()
            for key in object.keys { result[key] = key == "sourceVault" ? object[key] : object[key].map(withResourceGroups) }
            return .object(result)
        default:
            return value
        }
    }

    /// The SDK models' date-time fields, which az prints as Python does (`2026-12-03T07:02:06+00:00`).
    private static let dateTimeFields: Set<String> = [
        "creationDate", "createdAt", "lastModifiedAt", "timestamp", "lastUpdatedTime", "deletionDate", "scheduledPurgeDate",
        "createdOn", "updatedOn", "createdTime", "changedTime", "lastModifiedTime", "creationTime", "expiry", "startTime", "endTime",
    ]
    /// Free-form JSON in the models (template outputs and parameters, tags): printed as sent.
    private static let freeFormFields: Set<String> = ["outputs", "parameters", "tags", "template"]

    /// An ARM answer as the SDK model az prints it: its date-times in Python's form. `genericProperties`: the
    /// resource is a generic one (`az resource`), whose `properties` the SDK does not read, so az prints them as sent.
    static func sdkDates(_ value: JSONValue, genericProperties: Bool = false) -> JSONValue {
        switch value {
        case .array(let items):
            return .array(items.map { sdkDates($0, genericProperties: genericProperties) })
        case .object(let object):
            var result = JSONObject()
            for key in object.keys {
                guard let field = object[key] else { continue }
                if freeFormFields.contains(key) || (genericProperties && key == "properties") {
                    result[key] = field
                } else if dateTimeFields.contains(key), case .string(let text) = field, let python = pythonDateTime(text) {
                    result[key] = .string(python)
                } else {
                    result[key] = sdkDates(field, genericProperties: genericProperties)
                }
            }
            return .object(result)
        default:
            return value
        }
    }

    /// `2026-12-03T07:02:06Z` or `...06.1234567Z` as Python's `isoformat()` prints the parsed value:
    /// `2026-12-03T07:02:06+00:00`, `...06.123456+00:00` (microseconds, only when not zero). Nil when not UTC ISO 8601.
    static func pythonDateTime(_ text: String) -> String? {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 20, utf8[10] == UInt8(ascii: "T") else { return nil }
        let seconds = String(decoding: utf8[0..<19], as: UTF8.self)
        var rest = utf8[19...]
        var micros = ""
        if rest.first == UInt8(ascii: ".") {
            let digits = rest.dropFirst().prefix(while: { $0 >= 48 && $0 <= 57 })
            guard !digits.isEmpty else { return nil }
            let padded = String(decoding: digits.prefix(6), as: UTF8.self).padding(toLength: 6, withPad: "0", startingAt: 0)
            if padded != "000000" { micros = "." + padded }
            rest = rest.dropFirst(1 + digits.count)
        }
        let zone = String(decoding: rest, as: UTF8.self)
        guard zone == "Z" || zone == "+00:00" else { return nil }
        return seconds + micros + "+00:00"
    }

    /// Seconds since 1970 (the Key Vault wire form of `created`, `updated`, ...) as az prints them.
    static func pythonDateTime(epochSeconds: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        let text = formatter.string(from: Date(timeIntervalSince1970: epochSeconds.rounded(.down)))
        return String(text.dropLast()) + "+00:00"
    }
}
