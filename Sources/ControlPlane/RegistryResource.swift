import AzureErrors
import JMESPath

/// A `Microsoft.ContainerRegistry/registries` resource as the resource manager stores it: the properties Coffer
/// acts on, typed, so that a value of the wrong type is a 400 when it arrives rather than a surprise when it is used,
/// and nothing a client invents is stored (unknown properties are dropped, as Azure drops them). What GET adds
/// (`properties.status`) is not stored.
package struct RegistryResource: Codable, Sendable {
    package var id: String
    package var name: String
    package var type = "Microsoft.ContainerRegistry/registries"
    package var location: String
    package var tags: [String: String]
    package var sku: Sku
    package var identity: Identity?
    package var properties: Properties

    package struct Sku: Codable, Sendable {
        package var name: String
        package var tier: String?
    }

    package struct Identity: Codable, Sendable {
        package var type: String
        package var principalId: String?
        package var tenantId: String?
        /// By the identity's resource id.
        package var userAssignedIdentities: [String: UserAssigned]?

        package struct UserAssigned: Codable, Sendable {
            package var principalId: String?
            package var clientId: String?
        }
    }

    package struct Properties: Codable, Sendable {
        package var loginServer: String?
        package var creationDate: String?
        package var provisioningState: String?
        package var adminUserEnabled: Bool?
        package var encryption: Encryption?
        package var publicNetworkAccess: String?
        package var networkRuleSet: NetworkRuleSet?
        package var policies: Policies?
        package var zoneRedundancy: String?
        package var dataEndpointEnabled: Bool?
        package var networkRuleBypassOptions: String?
        package var anonymousPullEnabled: Bool?
        package var metadataSearch: String?
        package var roleAssignmentMode: String?
        package var dataEndpointHostNames: [String]?

        /// Whether encryption with a customer-managed key is on.
        package var customerManagedKeyEnabled: Bool { encryption?.status.lowercased() == "enabled" }
    }

    package struct Encryption: Codable, Sendable {
        package var status: String
        package var keyVaultProperties: KeyVaultProperties?
    }

    package struct KeyVaultProperties: Codable, Sendable {
        package var keyIdentifier: String?
        /// `[system]`, or the client id of a user-assigned identity of the registry.
        package var identity: String?
        package var versionedKeyIdentifier: String?
        package var keyRotationEnabled: Bool?
        package var lastKeyRotationTimestamp: String?
    }

    package struct NetworkRuleSet: Codable, Sendable {
        package var defaultAction: String?
        package var ipRules: [IPRule]?
        package var virtualNetworkRules: [VirtualNetworkRule]?
    }

    package struct IPRule: Codable, Sendable {
        package var action: String?
        package var value: String?
    }

    package struct VirtualNetworkRule: Codable, Sendable {
        package var action: String?
        package var id: String?
    }

    package struct Policies: Codable, Sendable {
        package var quarantinePolicy: StatusPolicy?
        package var trustPolicy: TrustPolicy?
        package var retentionPolicy: RetentionPolicy?
        package var exportPolicy: StatusPolicy?
        package var softDeletePolicy: SoftDeletePolicy?
        package var azureADAuthenticationAsArmPolicy: StatusPolicy?
    }

    package struct SoftDeletePolicy: Codable, Sendable {
        package var retentionDays: Int?
        package var status: String?
        package var lastUpdatedTime: String?
    }

    package struct StatusPolicy: Codable, Sendable {
        package var status: String?
    }

    package struct TrustPolicy: Codable, Sendable {
        package var type: String?
        package var status: String?
    }

    package struct RetentionPolicy: Codable, Sendable {
        package var days: Int?
        package var status: String?
        package var lastUpdatedTime: String?

        private enum CodingKeys: String, CodingKey { case days, status, lastUpdatedTime }

        /// `days` is read as a JSON number and must be whole and of a sane size (the decoder's own failure for `1e30`
        /// names no field); ``Registries/validateRetention(_:sku:)`` then holds it to 0–365.
        package init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            if let number = try container.decodeIfPresent(Double.self, forKey: .days) {
                guard number == number.rounded(), abs(number) <= 1_000_000 else {
                    throw DecodingError.dataCorruptedError(forKey: .days, in: container, debugDescription: "must be a whole number from 0 to 365")
                }
                days = Int(number)
            }
            status = try container.decodeIfPresent(String.self, forKey: .status)
            lastUpdatedTime = try container.decodeIfPresent(String.self, forKey: .lastUpdatedTime)
        }
    }

    /// A stored registry. Records written before the model was typed held whatever a client sent (a string where a
    /// boolean belongs, tags that are not strings): what of them does not read is dropped, property by property, so
    /// that the registry keeps serving and a PUT can set it right. Only a record without its identity (id, name,
    /// location, SKU) is an internal error.
    package static func stored(_ body: String) throws -> RegistryResource {
        let value = try JSONText.parse(body)
        if let resource = try? ResourceProviders.decode(RegistryResource.self, from: value) { return resource }
        guard case .object(var object) = value else { throw unreadable }
        if case .object(let tags) = value["tags"] {
            object["tags"] = .object(JSONObject(tags.keys.compactMap { key in tags[key].flatMap { if case .string = $0 { (key, $0) } else { nil } } }))
        } else {
            object["tags"] = .object(JSONObject())
        }
        if (try? ResourceProviders.decode(Identity.self, from: value["identity"])) == nil { object["identity"] = nil }
        var properties = JSONObject()
        if case .object(let stored) = value["properties"] {
            for key in stored.keys where (try? ResourceProviders.decode(Properties.self, from: .object(JSONObject([(key, stored[key]!)])))) != nil {
                properties[key] = stored[key]
            }
        }
        object["properties"] = .object(properties)
        guard let resource = try? ResourceProviders.decode(RegistryResource.self, from: .object(object)) else { throw unreadable }
        return resource
    }

    private static var unreadable: AzureErrorResponse {
        AzureErrorResponse(.internalServerError, code: "InternalError", message: "A stored registry could not be read.")
    }

    /// The resource as JSON, as the API shows it (before ``Registries/presented(_:now:)`` adds the status).
    package var json: JSONValue {
        get throws { try ResourceProviders.encode(self) }
    }
}
