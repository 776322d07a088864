import AzureErrors
import CofferStorage
import Foundation
import JMESPath

/// `GET /subscriptions/{s}/resources` and `GET /subscriptions/{s}/resourceGroups/{g}/resources`: every tracked
/// resource under the scope in ARM's generic shape (id, name, type, location, tags, sku, kind, identity),
/// narrowed by `$filter` as ARM reads it.
package struct ResourceListing: Sendable {
    /// The types the listing shows, as ARM spells them, by the stored (lowercased) type.
    package static let listedTypes: [String: String] = [
        "microsoft.keyvault/vaults": "Microsoft.KeyVault/vaults",
        "microsoft.managedidentity/userassignedidentities": "Microsoft.ManagedIdentity/userAssignedIdentities",
        "microsoft.containerregistry/registries": "Microsoft.ContainerRegistry/registries",
        "microsoft.containerregistry/registries/replications": "Microsoft.ContainerRegistry/registries/replications",
    ]

    package let documents: any DocumentStore

    package init(documents: any DocumentStore) {
        self.documents = documents
    }

    package func list(under scope: String, filter: String?) async throws -> [JSONValue] {
        let conditions: [ResourceFilter.Condition]
        do {
            conditions = try ResourceFilter.parse(filter ?? "")
        } catch {
            throw AzureErrorResponse(.badRequest, code: "InvalidFilterInQueryString",
                                     message: "The $filter '\((filter ?? "").prefix(200))' is not supported: use resourceType, name, location, resourceGroup, tagName/tagValue with eq, or substringof('…', name), joined by and.")
        }
        var resources: [JSONValue] = []
        for document in try await documents.documents(under: scope.lowercased() + "/", type: nil) {
            guard let type = Self.listedTypes[document.type], case .object(let body) = try JSONText.parse(document.body) else { continue }
            var generic = JSONObject([("id", body["id"] ?? .string(document.id)), ("name", body["name"] ?? .string(document.name)),
                                      ("type", .string(type))])
            for key in ["kind", "location", "tags", "sku", "identity"] where body[key] != nil && body[key] != .null { generic[key] = body[key] }
            let resource = JSONValue.object(generic)
            if conditions.allSatisfy({ $0.matches(resource) }) { resources.append(resource) }
        }
        return resources
    }
}
