import Foundation

/// What an access policy may say, checked as Azure checks it when a vault or its policies are written: tenant,
/// object and application ids are GUIDs, permissions are names Key Vault knows, and a vault holds at most 1024
/// policies. Before, `--key-permissions fly` or an object id `x` was stored and silently never matched anything.
public enum AccessPolicyRules {
    public static let maximumPolicies = 1024

    /// Every permission name per kind, lowercased (Azure takes any case).
    public static var permissions: [(kind: String, names: Set<String>, path: KeyPath<AccessPolicyEntry.Permissions, [String]?>)] { [
        ("keys", ["all", "backup", "create", "decrypt", "delete", "encrypt", "get", "getrotationpolicy", "import", "list", "purge",
                  "recover", "release", "restore", "rotate", "setrotationpolicy", "sign", "unwrapkey", "update", "verify", "wrapkey"],
         \.keys),
        ("secrets", ["all", "backup", "delete", "get", "list", "purge", "recover", "restore", "set"], \.secrets),
        ("certificates", ["all", "backup", "create", "delete", "deleteissuers", "get", "getissuers", "import", "list", "listissuers",
                          "managecontacts", "manageissuers", "purge", "recover", "restore", "setissuers", "update"], \.certificates),
        ("storage", ["all", "backup", "delete", "deletesas", "get", "getsas", "list", "listsas", "purge", "recover", "regeneratekey",
                     "restore", "set", "setsas", "update"], \.storage),
    ] }

    /// Throws a `badParameter` naming the first value Azure would refuse (`accessPolicies[2].permissions.keys[0]: fly`).
    public static func check(_ entries: [AccessPolicyEntry]) throws(KeyVaultError) {
        guard entries.count <= maximumPolicies else {
            throw KeyVaultError(.badParameter, "A vault holds at most \(maximumPolicies) access policies; this request has \(entries.count).")
        }
        for (index, entry) in entries.enumerated() {
            for (field, value) in [("tenantId", entry.tenantId), ("objectId", entry.objectId), ("applicationId", entry.applicationId ?? UUID().uuidString)]
            where UUID(uuidString: value) == nil {
                throw KeyVaultError(.badParameter, "Invalid value found at accessPolicies[\(index)].\(field): '\(value.prefix(64))' is not a GUID.")
            }
            for kind in permissions {
                let named = entry.permissions[keyPath: kind.path] ?? []
                guard named.count <= 64 else {
                    throw KeyVaultError(.badParameter, "Invalid value found at accessPolicies[\(index)].permissions.\(kind.kind): too many permissions.")
                }
                if let position = named.firstIndex(where: { !kind.names.contains($0.lowercased()) }) {
                    throw KeyVaultError(.badParameter, "Invalid value found at accessPolicies[\(index)].permissions.\(kind.kind)[\(position)]: "
                                        + "'\(named[position].prefix(64))' is not a \(kind.kind) permission; use \(kind.names.sorted().joined(separator: ", ")).")
                }
            }
        }
    }
}
