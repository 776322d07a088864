import AzureErrors
import JMESPath

/// The resource providers this server is, as `GET /subscriptions/{id}/providers[/{namespace}]` shows them: always
/// registered, with the resource types each serves and the API versions Coffer is tested with. az reads this to
/// pick an API version (`az resource show --ids …` without `--api-version`) and after `az feature register` tells
/// its user to run `az provider register`, which therefore answers with the registered provider.
package enum ProviderCatalog {
    /// Namespace, then each resource type with its API versions (newest first, as ARM lists them).
    static let providers: [(namespace: String, types: [(type: String, apiVersions: [String])])] = [
        ("Microsoft.ContainerRegistry", [
            ("registries", ["2023-07-01", "2023-01-01-preview", "2019-12-01-preview"]),
            ("registries/replications", ["2023-07-01"]), ("registries/scopeMaps", ["2023-07-01"]), ("registries/tokens", ["2023-07-01"]),
        ]),
        ("Microsoft.KeyVault", [
            ("vaults", ["2023-07-01", "2022-07-01"]), ("vaults/accessPolicies", ["2023-07-01", "2022-07-01"]),
            ("deletedVaults", ["2023-07-01", "2022-07-01"]), ("locations/deletedVaults", ["2023-07-01", "2022-07-01"]),
        ]),
        ("Microsoft.ManagedIdentity", [("userAssignedIdentities", ["2023-01-31"])]),
        ("Microsoft.Resources", [
            ("subscriptions", ["2022-12-01"]), ("resourceGroups", ["2021-04-01"]), ("deployments", ["2021-04-01"]),
            ("deployments/operations", ["2021-04-01"]),
        ]),
        ("Microsoft.Authorization", [("roleAssignments", ["2022-04-01"]), ("roleDefinitions", ["2022-04-01"])]),
        ("Microsoft.Features", [("features", ["2021-07-01"])]),
    ]

    /// Every provider, as ARM's provider list shows them.
    package static func list(subscriptionID: String) -> JSONValue {
        .object(JSONObject([("value", .array(providers.map { provider($0, subscriptionID: subscriptionID) }))]))
    }

    /// One provider by namespace (case-insensitive), or ARM's error for a namespace no provider serves.
    package static func show(_ namespace: String, subscriptionID: String) throws -> JSONValue {
        guard let entry = providers.first(where: { $0.namespace.lowercased() == namespace.lowercased() }) else {
            throw AzureErrorResponse(.notFound, code: "InvalidResourceNamespace",
                                     message: "The resource namespace '\(namespace.prefix(100))' is invalid: this server provides \(providers.map(\.namespace).joined(separator: ", ")).")
        }
        return provider(entry, subscriptionID: subscriptionID)
    }

    /// `unregister`: refused, since what a provider serves cannot be turned off here.
    package static func unregister(_ namespace: String, subscriptionID: String) throws -> Never {
        _ = try show(namespace, subscriptionID: subscriptionID)
        throw AzureErrorResponse(.conflict, code: "ProviderUnregistrationNotSupported",
                                 message: "The resource providers of this server are always registered; '\(namespace.prefix(100))' cannot be unregistered.")
    }

    private static func provider(_ entry: (namespace: String, types: [(type: String, apiVersions: [String])]), subscriptionID: String) -> JSONValue {
        .object(JSONObject([
            ("id", .string("/subscriptions/\(subscriptionID)/providers/\(entry.namespace)")), ("namespace", .string(entry.namespace)),
            ("registrationState", .string("Registered")), ("registrationPolicy", .string("RegistrationRequired")),
            ("resourceTypes", .array(entry.types.map { type in
                .object(JSONObject([("resourceType", .string(type.type)), ("locations", .array([])),
                                    ("apiVersions", .array(type.apiVersions.map { .string($0) }))]))
            })),
        ]))
    }
}
