import Foundation
import JMESPath

/// What az prints for Key Vault keys: the SDK's `KeyVaultKey`, `KeyProperties` and `KeyRotationPolicy` as az turns
/// them into JSON, not the wire form. Names are camel case (`keyOps`, `notBefore`), times are Python date-times,
/// key material is standard base64, a listed key has its `name`, and a rotation policy's actions are flat.
enum KeyVaultOutputShape {
    /// A key bundle (create, show, rotate, recover, set-attributes; a deleted key's bundle too).
    static func key(_ bundle: JSONValue) -> JSONValue {
        guard case .object(let wire) = bundle else { return bundle }
        var result = common(wire)
        if case .object(let jwk)? = wire["key"] { result["key"] = .object(webKey(jwk)) }
        return .object(result)
    }

    /// A key of a list (`key list`, `list-versions`, `list-deleted`): its id, attributes and name.
    static func keyItem(_ item: JSONValue) -> JSONValue {
        guard case .object(let wire) = item else { return item }
        var result = common(wire)
        if case .string(let kid)? = wire["kid"] {
            result["kid"] = .string(kid)
            if let name = keyName(kid) { result["name"] = .string(name) }
        }
        return .object(result)
    }

    static func keyItems(_ list: JSONValue) -> JSONValue {
        guard case .array(let items) = list else { return list }
        return .array(items.map(keyItem))
    }

    /// A rotation policy: `{action, timeAfterCreate, timeBeforeExpiry}` actions, `expiresIn`, `createdOn`, `updatedOn`.
    static func rotationPolicy(_ policy: JSONValue) -> JSONValue {
        guard case .object(let wire) = policy else { return policy }
        var result = JSONObject()
        if let id = wire["id"] { result["id"] = id }
        if case .array(let actions)? = wire["lifetimeActions"] {
            result["lifetimeActions"] = .array(actions.map { action in
                var flat = JSONObject()
                for (name, value) in [("action", action["action"]["type"]), ("timeAfterCreate", action["trigger"]["timeAfterCreate"]),
                                      ("timeBeforeExpiry", action["trigger"]["timeBeforeExpiry"])] where value != .null {
                    flat[name] = value
                }
                return .object(flat)
            })
        }
        let attributes = policy["attributes"]
        if attributes["expiryTime"] != .null { result["expiresIn"] = attributes["expiryTime"] }
        if case .number(let created) = attributes["created"] { result["createdOn"] = .string(AzureOutputShape.pythonDateTime(epochSeconds: created)) }
        if case .number(let updated) = attributes["updated"] { result["updatedOn"] = .string(AzureOutputShape.pythonDateTime(epochSeconds: updated)) }
        return .object(result)
    }

    /// What bundles and list items share: attributes, tags, `managed`, the release policy, a deleted key's dates.
    private static func common(_ wire: JSONObject) -> JSONObject {
        var result = JSONObject()
        if case .object(let attributes)? = wire["attributes"] { result["attributes"] = .object(self.attributes(attributes)) }
        for (from, to) in [("tags", "tags"), ("managed", "managed"), ("release_policy", "releasePolicy"), ("recoveryId", "recoveryId")] {
            if let value = wire[from] { result[to] = value }
        }
        for field in ["deletedDate", "scheduledPurgeDate"] {
            if case .number(let seconds)? = wire[field] { result[field] = .string(AzureOutputShape.pythonDateTime(epochSeconds: seconds)) }
        }
        return result
    }

    private static let attributeNames = ["exp": "expires", "nbf": "notBefore"]
    private static let attributeTimes: Set<String> = ["created", "updated", "exp", "nbf"]

    private static func attributes(_ wire: JSONObject) -> JSONObject {
        var result = JSONObject()
        for key in wire.keys {
            guard let value = wire[key] else { continue }
            if attributeTimes.contains(key), case .number(let seconds) = value {
                result[attributeNames[key] ?? key] = .string(AzureOutputShape.pythonDateTime(epochSeconds: seconds))
            } else {
                result[attributeNames[key] ?? key] = value
            }
        }
        return result
    }

    /// The JSON web key's binary members, base64url on the wire, as standard base64 (az prints the SDK's bytes so).
    private static let binaryMembers: Set<String> = ["n", "e", "d", "dp", "dq", "qi", "p", "q", "k", "t", "x", "y"]

    private static func webKey(_ wire: JSONObject) -> JSONObject {
        var result = JSONObject()
        for key in wire.keys {
            guard let value = wire[key] else { continue }
            if key == "key_ops" {
                result["keyOps"] = value
            } else if binaryMembers.contains(key), case .string(let text) = value {
                result[key] = .string(standardBase64(text))
            } else {
                result[key] = value
            }
        }
        return result
    }

    static func standardBase64(_ base64url: String) -> String {
        var text = base64url.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        if !text.count.isMultiple(of: 4) { text += String(repeating: "=", count: 4 - text.count % 4) }
        return text
    }

    /// The key's name in `https://<vault>/keys/<name>[/<version>]` (or `/deletedkeys/<name>`).
    static func keyName(_ kid: String) -> String? {
        guard let path = URL(string: kid)?.pathComponents, let index = path.firstIndex(where: { $0 == "keys" || $0 == "deletedkeys" }),
              index + 1 < path.count else { return nil }
        return path[index + 1]
    }
}
