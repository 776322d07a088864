import CofferStorage
import Foundation
import Identity
import KeyVault

/// What the control plane's operations work with: the stores, the directory, the vaults and the registry
/// providers. The resource manager's HTTP API holds one; so does anything else that acts on resources (the
/// deployment runner, group deletion), so that there is one way to create, change or delete each resource.
package struct ControlPlaneServices: Sendable {
    package static let groupType = "microsoft.resources/resourcegroups"
    package static let identityType = "microsoft.managedidentity/userassignedidentities"
    package static let deploymentType = "microsoft.resources/deployments"

    package let directory: Directory
    package let vaults: VaultService
    package let documents: any DocumentStore
    package let tenantID: String
    package let subscriptionID: String
    /// The URI of a vault by name (`https://<name>.vault.localhost:8443/`).
    package let vaultURI: @Sendable (String) -> String
    package let registries: Registries
    package let replications: RegistryReplications
    package let registryTokens: RegistryTokens
    /// Deployments and group deletions in the background.
    package let jobs: ControlPlaneJobs

    package init(directory: Directory, vaults: VaultService, documents: any DocumentStore, tenantID: String, subscriptionID: String,
                 vaultURI: @escaping @Sendable (String) -> String, registries: Registries, replications: RegistryReplications,
                 registryTokens: RegistryTokens, jobs: ControlPlaneJobs) {
        self.directory = directory
        self.vaults = vaults
        self.documents = documents
        self.tenantID = tenantID
        self.subscriptionID = subscriptionID
        self.vaultURI = vaultURI
        self.registries = registries
        self.replications = replications
        self.registryTokens = registryTokens
        self.jobs = jobs
    }

    /// Whether a resource group's document says its deletion is under way.
    package static func isBeingDeleted(_ group: StoredDocument) -> Bool {
        (try? JSONDecoder().decode(ResourceGroup.self, from: Data(group.body.utf8)))?.properties["provisioningState"] == "Deleting"
    }
}

/// A resource group as stored and shown.
package struct ResourceGroup: Codable {
    package let id: String
    package let name: String
    package let type: String
    package let location: String
    package let tags: [String: String]
    package var properties: [String: String]

    package init(id: String, name: String, type: String, location: String, tags: [String: String], properties: [String: String]) {
        self.id = id
        self.name = name
        self.type = type
        self.location = location
        self.tags = tags
        self.properties = properties
    }
}
