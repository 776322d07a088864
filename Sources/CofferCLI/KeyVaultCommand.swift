import ArgumentParser
import Foundation
import JMESPath

struct KeyVaultCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keyvault", abstract: "Manage key vaults and their keys.",
        subcommands: [Create.self, Show.self, List.self, Delete.self, Recover.self, Purge.self, SetPolicy.self, DeletePolicy.self, KeyCommand.self]
    )

    static let apiVersion = "2023-07-01"
    static let allKeyPermissions = ["get", "list", "create", "update", "import", "delete", "recover", "backup", "restore", "purge",
                                    "encrypt", "decrypt", "wrapKey", "unwrapKey", "sign", "verify", "rotate", "getrotationpolicy", "setrotationpolicy"]

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key vault. Unless --enable-rbac-authorization, the creator gets every permission by access policy, as az grants it.")
        @Option(name: [.short, .long], help: "The vault's name.") var name: String
        @Option(name: [.customShort("g"), .customLong("resource-group"), .customLong("group")], help: "The resource group.") var resourceGroup: String
        @Option(name: [.short, .long], help: "Location (default: the resource group's).") var location: String?
        @Flag(help: "Accepted for compatibility: soft delete is always on.") var enableSoftDelete = false
        @Flag(help: "Turn on purge protection (it cannot be turned off).") var enablePurgeProtection = false
        @Flag(help: "Authorize data-plane calls by role assignments instead of access policies.") var enableRbacAuthorization = false
        @Option(help: "Soft-delete retention, 7 to 90 days.") var retentionDays: Int = 90
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                var location = self.location ?? ""
                if location.isEmpty { location = try await client.location(ofGroup: resourceGroup) }
                var properties = JSONObject([
                    ("tenantId", .string(client.tenantID)), ("sku", .from([("family", .string("A")), ("name", .string("standard"))])),
                    ("enableSoftDelete", .bool(true)), ("softDeleteRetentionInDays", .number(Double(retentionDays))),
                    ("enableRbacAuthorization", .bool(enableRbacAuthorization)),
                ])
                if enablePurgeProtection { properties["enablePurgeProtection"] = .bool(true) }
                if !enableRbacAuthorization {
                    properties["accessPolicies"] = .array([.from([
                        ("tenantId", .string(client.tenantID)), ("objectId", .string(try await client.objectID())),
                        // What az grants the creator: `all` of each kind (Coffer keeps no secrets or certificates, but the
                        // policy reads the same as one az made).
                        ("permissions", .from(["keys", "secrets", "certificates", "storage"].map { ($0, .array([.string("all")])) })),
                    ])])
                }
                return try await client.arm(.PUT, "\(client.groupPath(resourceGroup))/providers/Microsoft.KeyVault/vaults/\(name)",
                                            apiVersion: KeyVaultCommand.apiVersion,
                                            body: .from([("location", .string(location)), ("properties", .object(properties))]))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a vault.")
        @Option(name: [.short, .long], help: "The vault's name.") var name: String
        @Option(name: [.customShort("g"), .customLong("resource-group"), .customLong("group")], help: "The resource group (optional: the name is looked up in the subscription).") var resourceGroup: String?
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await client.arm(.GET, try await client.vaultID(name, group: resourceGroup), apiVersion: KeyVaultCommand.apiVersion)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List vaults.")
        @Option(name: [.customShort("g"), .customLong("resource-group"), .customLong("group")], help: "The resource group (optional: the name is looked up in the subscription).") var resourceGroup: String?
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                let path = resourceGroup.map { "\(client.groupPath($0))/providers/Microsoft.KeyVault/vaults" }
                    ?? "/subscriptions/\(client.subscriptionID)/providers/Microsoft.KeyVault/vaults"
                return try await client.arm(.GET, path, apiVersion: KeyVaultCommand.apiVersion)["value"]
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Soft-delete a vault (recoverable until purged).")
        @Option(name: [.short, .long], help: "The vault's name.") var name: String
        @Option(name: [.customShort("g"), .customLong("resource-group"), .customLong("group")], help: "The resource group (optional: the name is looked up in the subscription).") var resourceGroup: String?
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await client.arm(.DELETE, try await client.vaultID(name, group: resourceGroup), apiVersion: KeyVaultCommand.apiVersion)
                return nil
            }
        }
    }

    struct Recover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Recover a soft-deleted vault.")
        @Option(name: [.short, .long], help: "The vault's name.") var name: String
        @Option(name: [.short, .long], help: "The Azure region, e.g. westeurope.") var location: String
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                let deleted = try await client.arm(.GET, "/subscriptions/\(client.subscriptionID)/providers/Microsoft.KeyVault/locations/\(location)/deletedVaults/\(name)",
                                                   apiVersion: KeyVaultCommand.apiVersion)
                guard case .string(let id) = deleted["properties"]["vaultId"] else { throw CLIError("the deleted vault \(name) has no vault id") }
                return try await client.arm(.PUT, id, apiVersion: KeyVaultCommand.apiVersion, body: .from([
                    ("location", .string(location)),
                    ("properties", .from([("tenantId", .string(client.tenantID)), ("createMode", .string("recover")),
                                          ("sku", .from([("family", .string("A")), ("name", .string("standard"))]))])),
                ]))
            }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Purge a soft-deleted vault and its keys for good.")
        @Option(name: [.short, .long], help: "The vault's name.") var name: String
        @Option(name: [.short, .long], help: "The Azure region, e.g. westeurope.") var location: String
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await client.arm(.POST, "/subscriptions/\(client.subscriptionID)/providers/Microsoft.KeyVault/locations/\(location)/deletedVaults/\(name)/purge",
                                     apiVersion: KeyVaultCommand.apiVersion)
                return nil
            }
        }
    }

    struct SetPolicy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-policy", abstract: "Grant key permissions to a principal.")
        @Option(name: [.short, .long], help: "The vault's name.") var name: String
        @Option(name: [.customShort("g"), .customLong("resource-group"), .customLong("group")], help: "The resource group (optional: the name is looked up in the subscription).") var resourceGroup: String?
        @Option(help: "Object (principal) id to grant.") var objectId: String
        @Option(parsing: .upToNextOption, help: "Key permissions, e.g. get wrapKey unwrapKey.") var keyPermissions: [String]
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await KeyVaultCommand.updatePolicy(client, vault: name, group: resourceGroup, operation: "add", objectID: objectId, keys: keyPermissions)
            }
        }
    }

    struct DeletePolicy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "delete-policy", abstract: "Remove a principal's access policy.")
        @Option(name: [.short, .long], help: "The vault's name.") var name: String
        @Option(name: [.customShort("g"), .customLong("resource-group"), .customLong("group")], help: "The resource group (optional: the name is looked up in the subscription).") var resourceGroup: String?
        @Option(help: "The principal's object id (a GUID).") var objectId: String
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await KeyVaultCommand.updatePolicy(client, vault: name, group: resourceGroup, operation: "remove", objectID: objectId,
                                                       keys: KeyVaultCommand.allKeyPermissions)
            }
        }
    }

    static func updatePolicy(_ client: CofferClient, vault: String, group: String?, operation: String, objectID: String, keys: [String]) async throws -> JSONValue {
        let id = try await client.vaultID(vault, group: group)
        try await client.arm(.PUT, "\(id)/accessPolicies/\(operation)", apiVersion: apiVersion, body: .from([("properties", .from([
            ("accessPolicies", .array([JSONValue.from([("tenantId", .string(client.tenantID)), ("objectId", .string(objectID)),
                                                       ("permissions", .from([("keys", .array(keys.map { JSONValue.string($0) }))]))])])),
        ]))]))
        return try await client.arm(.GET, id, apiVersion: apiVersion)
    }
}

struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Manage keys in a vault.",
        subcommands: [Create.self, Show.self, List.self, ListVersions.self, Delete.self, ListDeleted.self, ShowDeleted.self, Recover.self, Purge.self,
                      Rotate.self, RotationPolicy.self, SetAttributes.self]
    )

    struct Target: ParsableArguments {
        @Option(name: [.short, .long], help: "Key name.") var name: String
        @Option(help: "Vault name.") var vaultName: String
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key (a new version if it exists).")
        @OptionGroup var target: Target
        @Option(help: "RSA, RSA-HSM, EC, EC-HSM, oct or oct-HSM.") var kty: String = "RSA"
        @Option(help: "RSA or oct key size in bits.") var size: Int?
        @Option(help: "EC curve: P-256, P-384 or P-521.") var curve: String?
        @Option(parsing: .upToNextOption, help: "Permitted operations.") var ops: [String] = []
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                var body = JSONObject([("kty", .string(kty))])
                if let size { body["key_size"] = .number(Double(size)) }
                if let curve { body["crv"] = .string(curve) }
                if !ops.isEmpty { body["key_ops"] = .array(ops.map { .string($0) }) }
                return KeyVaultOutputShape.key(try await client.vault(.POST, vault: target.vaultName, "/keys/\(target.name)/create", body: .object(body)))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a key (its current version, or --version).")
        @OptionGroup var target: Target
        @Option(help: "A version (default: the current one).") var version: String?
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                KeyVaultOutputShape.key(try await client.vault(.GET, vault: target.vaultName, "/keys/\(target.name)" + (version.map { "/\($0)" } ?? "")))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the keys of a vault.")
        @Option(help: "Vault name.") var vaultName: String
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in KeyVaultOutputShape.keyItems(try await KeyCommand.allPages(client, vault: vaultName, "/keys")) }
        }
    }

    struct ListVersions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list-versions", abstract: "List the versions of a key.")
        @OptionGroup var target: Target
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in KeyVaultOutputShape.keyItems(try await KeyCommand.allPages(client, vault: target.vaultName, "/keys/\(target.name)/versions")) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Soft-delete a key (recoverable until purged).")
        @OptionGroup var target: Target
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in KeyVaultOutputShape.key(try await client.vault(.DELETE, vault: target.vaultName, "/keys/\(target.name)")) }
        }
    }

    struct RotationPolicy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rotation-policy", abstract: "A key's automatic rotation policy.",
                                                        subcommands: [Show.self, Update.self])

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Show a rotation policy.")
            @OptionGroup var target: Target
            @OptionGroup var common: CommonOptions

            func run() async throws {
                try await runClient(common) { client in KeyVaultOutputShape.rotationPolicy(try await client.vault(.GET, vault: target.vaultName, "/keys/\(target.name)/rotationpolicy")) }
            }
        }

        struct Update: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Update a rotation policy.")
            @OptionGroup var target: Target
            @Option(help: "The policy: JSON, or @file with JSON ({\"lifetimeActions\": [...], \"attributes\": {\"expiryTime\": \"P90D\"}}).") var value: String
            @OptionGroup var common: CommonOptions

            func run() async throws {
                try await runClient(common) { client in
                    let text = value.hasPrefix("@") ? (try? String(contentsOfFile: String(value.dropFirst()), encoding: .utf8)) : value
                    guard let text, let policy = try? JSONText.parse(text) else { throw CLIError("--value must be JSON or @file with JSON") }
                    return KeyVaultOutputShape.rotationPolicy(try await client.vault(.PUT, vault: target.vaultName, "/keys/\(target.name)/rotationpolicy", body: policy))
                }
            }
        }
    }

    struct ListDeleted: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list-deleted", abstract: "List soft-deleted keys (recoverable until purged).")
        @Option(help: "Vault name.") var vaultName: String
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in KeyVaultOutputShape.keyItems(try await KeyCommand.allPages(client, vault: vaultName, "/deletedkeys")) }
        }
    }

    struct ShowDeleted: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show-deleted", abstract: "Show a soft-deleted key.")
        @OptionGroup var target: Target
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in KeyVaultOutputShape.key(try await client.vault(.GET, vault: target.vaultName, "/deletedkeys/\(target.name)")) }
        }
    }

    struct Recover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Recover a soft-deleted key.")
        @OptionGroup var target: Target
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in KeyVaultOutputShape.key(try await client.vault(.POST, vault: target.vaultName, "/deletedkeys/\(target.name)/recover")) }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Purge a soft-deleted key for good (refused under purge protection before its date).")
        @OptionGroup var target: Target
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in
                try await client.vault(.DELETE, vault: target.vaultName, "/deletedkeys/\(target.name)")
                return nil
            }
        }
    }

    /// `az keyvault key set-attributes`: enable or disable a key version, set its dates, tags and operations.
    struct SetAttributes: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-attributes",
                                                        abstract: "Change a key's attributes: enabled, expiry, not-before, tags, permitted operations.")
        @OptionGroup var target: Target
        @Option(help: "A version (default: the current one).") var version: String?
        @Option(help: "true or false (alone: true): whether the key may be used.") var enabled: Bool?
        @Option(help: "Expiry, ISO 8601 (2027-01-31T00:00:00Z).") var expires: String?
        @Option(help: "Not usable before, ISO 8601.") var notBefore: String?
        @Option(parsing: .upToNextOption, help: "Tags as key=value (replace the key's tags).") var tags: [String] = []
        @Option(parsing: .upToNextOption, help: "Permitted operations (encrypt, decrypt, sign, verify, wrapKey, unwrapKey).") var ops: [String] = []
        @OptionGroup var common: CommonOptions

        static func epochSeconds(_ text: String, option: String) throws -> JSONValue {
            let formatter = ISO8601DateFormatter()
            guard let date = formatter.date(from: text) ?? { formatter.formatOptions = [.withFullDate]; return formatter.date(from: text) }() else {
                throw ValidationError("\(option) takes an ISO 8601 date such as 2027-01-31T00:00:00Z, not \(text.prefix(40))")
            }
            return .number(date.timeIntervalSince1970.rounded(.down))
        }

        func run() async throws {
            var attributes = JSONObject()
            if let enabled { attributes["enabled"] = .bool(enabled) }
            if let expires { attributes["exp"] = try Self.epochSeconds(expires, option: "--expires") }
            if let notBefore { attributes["nbf"] = try Self.epochSeconds(notBefore, option: "--not-before") }
            var body = JSONObject()
            if !attributes.isEmpty { body["attributes"] = .object(attributes) }
            if !tags.isEmpty {
                var object = JSONObject()
                for tag in tags {
                    let parts = tag.split(separator: "=", maxSplits: 1).map(String.init)
                    object[parts[0]] = .string(parts.count > 1 ? parts[1] : "")
                }
                body["tags"] = .object(object)
            }
            if !ops.isEmpty { body["key_ops"] = .array(ops.map { .string($0) }) }
            guard !body.isEmpty else { throw ValidationError("name at least one of --enabled, --expires, --not-before, --tags, --ops") }
            try await runClient(common) { client in
                KeyVaultOutputShape.key(try await client.vault(.PATCH, vault: target.vaultName, "/keys/\(target.name)" + (version.map { "/\($0)" } ?? ""), body: .object(body)))
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Rotate a key: a new version now.")
        @OptionGroup var target: Target
        @OptionGroup var common: CommonOptions

        func run() async throws {
            try await runClient(common) { client in KeyVaultOutputShape.key(try await client.vault(.POST, vault: target.vaultName, "/keys/\(target.name)/rotate")) }
        }
    }

    /// Follows `nextLink` through every page.
    static func allPages(_ client: CofferClient, vault: String, _ path: String) async throws -> JSONValue {
        var items: [JSONValue] = []
        var page = try await client.vault(.GET, vault: vault, path + "?maxresults=25")
        while true {
            if case .array(let values) = page["value"] { items += values }
            guard case .string(let next) = page["nextLink"], let query = next.split(separator: "?", maxSplits: 1).last,
                  let token = query.split(separator: "&").first(where: { $0.hasPrefix("$skiptoken=") }) else { break }
            page = try await client.vault(.GET, vault: vault, path + "?maxresults=25&" + token)
        }
        return .array(items)
    }
}
