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

    /// A stored registry; a record that no longer reads as one is an internal error, not a missing registry.
    package static func stored(_ body: String) throws -> RegistryResource {
        do {
            return try ResourceProviders.decode(RegistryResource.self, from: try JSONText.parse(body))
        } catch {
            throw AzureErrorResponse(.internalServerError, code: "InternalError", message: "A stored registry could not be read.")
        }
    }

    /// The resource as JSON, as the API shows it (before ``Registries/presented(_:now:)`` adds the status).
    package var json: JSONValue {
        get throws { try ResourceProviders.encode(self) }
    }
}
