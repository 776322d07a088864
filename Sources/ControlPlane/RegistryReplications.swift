import AzureErrors
import CofferStorage
import Foundation
import JMESPath

/// `Microsoft.ContainerRegistry/registries/replications`. One Coffer serves every region from the same
/// storage, so a replication is a record (a region the registry is declared in), not a copy; what matters is
/// that the rules hold: Premium only, and never on a registry encrypted with a customer-managed key (the
/// seed's limit).
package struct RegistryReplications: Sendable {
    package static let type = "microsoft.containerregistry/registries/replications"

    package let documents: any DocumentStore
    package let registries: Registries

    package init(documents: any DocumentStore, registries: Registries) {
        self.documents = documents
        self.registries = registries
    }

    package func list(registryID: String) async throws -> [JSONValue] {
        try await documents.documents(under: registryID.lowercased() + "/replications/", type: Self.type).map { try JSONText.parse($0.body) }
    }

    package func get(id: String) async throws -> JSONValue? {
        try await documents.document(id: id).map { try JSONText.parse($0.body) }
    }

    /// Creates or updates a replication of the registry `registryID`.
    package func put(registryID: String, name: String, body: JSONValue) async throws -> (JSONValue, Bool) {
        guard (1...50).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw AzureErrorResponse(.badRequest, code: "InvalidResourceName", message: "Replication names are 1 to 50 alphanumeric characters.")
        }
        guard let registry = try await registries.get(id: registryID) else {
            throw AzureErrorResponse(.notFound, code: "ResourceNotFound", message: "The registry \(registryID.split(separator: "/").last ?? "") was not found.")
        }
        if registry.properties.customerManagedKeyEnabled {
            throw AzureErrorResponse(.badRequest, code: "GeoReplicationNotSupportedWithCustomerManagedKey",
                                     message: "Geo-replication is not supported on a registry encrypted with a customer-managed key.")
        }
        guard registry.sku.name == "Premium" else {
            throw AzureErrorResponse(.badRequest, code: "GeoReplicationRequiresPremium", message: "Geo-replication is only available on the Premium SKU.")
        }
        let id = "\(registryID)/replications/\(name)"
        let existing = try await get(id: id)
        guard case .string(let location) = body["location"].isNull ? existing?["location"] ?? .null : body["location"], !location.isEmpty else {
            throw AzureErrorResponse(.badRequest, code: "LocationRequired", message: "The location property is required for this definition.")
        }
        var properties = JSONObject([("regionEndpointEnabled", .bool(true)), ("zoneRedundancy", .string("Disabled"))])
        if case .object(let old) = existing?["properties"] ?? .null { for key in old.keys { properties[key] = old[key] } }
        if case .object(let requested) = body["properties"] {
            for key in requested.keys where ["regionendpointenabled", "zoneredundancy"].contains(key.lowercased()) {
                properties[key.lowercased() == "zoneredundancy" ? "zoneRedundancy" : "regionEndpointEnabled"] = requested[key]
            }
        }
        properties["provisioningState"] = .string("Succeeded")
        properties["status"] = .object(JSONObject([("displayStatus", .string("Ready"))]))
        let resource = JSONObject([
            ("id", .string(id)), ("name", .string(name)), ("type", .string("Microsoft.ContainerRegistry/registries/replications")),
            ("location", .string(location)), ("tags", body["tags"].isNull ? existing?["tags"] ?? .object(JSONObject()) : body["tags"]),
            ("properties", .object(properties)),
        ])
        try await documents.putDocument(StoredDocument(id: id, type: Self.type, name: name, body: JSONText.serialize(.object(resource))))
        return (.object(resource), existing == nil)
    }

    package func delete(id: String) async throws -> Bool {
        try await documents.deleteDocument(id: id)
    }
}
