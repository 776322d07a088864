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
        let existing = try await get(id: id).map { try ResourceProviders.decode(ReplicationResource.self, from: $0) }
        var request = body
        if case .object(var object) = body, object["properties"] != nil {
            object["properties"] = Registries.canonical(body["properties"])  // templates may spell names in any case
            request = .object(object)
        }
        let requested = try ResourceProviders.decode(ReplicationRequest.self, from: request)
        guard let location = requested.location ?? existing?.location, !location.isEmpty else {
            throw AzureErrorResponse(.badRequest, code: "LocationRequired", message: "The location property is required for this definition.")
        }
        if let zoneRedundancy = requested.properties?.zoneRedundancy, !["enabled", "disabled"].contains(zoneRedundancy.lowercased()) {
            throw AzureErrorResponse(.badRequest, code: "InvalidRequestContent", message: "properties.zoneRedundancy is Enabled or Disabled.")
        }
        let resource = ReplicationResource(
            id: id, name: name, location: location, tags: requested.tags ?? existing?.tags ?? [:],
            properties: .init(
                regionEndpointEnabled: requested.properties?.regionEndpointEnabled ?? existing?.properties.regionEndpointEnabled ?? true,
                zoneRedundancy: requested.properties?.zoneRedundancy ?? existing?.properties.zoneRedundancy ?? "Disabled"))
        let stored = try ResourceProviders.encode(resource)
        try await documents.putDocument(StoredDocument(id: id, type: Self.type, name: name, body: JSONText.serialize(stored)))
        return (stored, existing == nil)
    }

    package func delete(id: String) async throws -> Bool {
        try await documents.deleteDocument(id: id)
    }
}

/// A replication as stored and shown: one storage serves every region, so it is always ready.
package struct ReplicationResource: Codable, Sendable {
    package var id: String
    package var name: String
    package var type = "Microsoft.ContainerRegistry/registries/replications"
    package var location: String
    package var tags: [String: String]
    package var properties: Properties

    package struct Properties: Codable, Sendable {
        package var regionEndpointEnabled: Bool
        package var zoneRedundancy: String
        package var provisioningState = "Succeeded"
        package var status = Status()

        package struct Status: Codable, Sendable {
            package var displayStatus = "Ready"
        }
    }
}

/// What a replication PUT may say.
private struct ReplicationRequest: Decodable {
    var location: String?
    var tags: [String: String]?
    var properties: Properties?

    struct Properties: Decodable {
        var regionEndpointEnabled: Bool?
        var zoneRedundancy: String?
    }
}
