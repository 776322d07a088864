import AzureErrors
import CofferStorage
import Foundation
import Identity
import JMESPath
import KeyVault
import Logging
import RegistryService

/// `Microsoft.ContainerRegistry/registries`: each resource is a real registry on the data plane at its login server.
package struct Registries: Sendable {
    package static let type = "microsoft.containerregistry/registries"
    package static let skus = ["Basic", "Standard", "Premium"]

    package let documents: any DocumentStore
    package let directory: Directory
    package let registry: RegistryService
    package let vaults: VaultService
    package let features: FeatureRegistrations
    package let adminCredentials: RegistryAdminCredentials
    package let networkRules: RegistryNetworkRules
    package let tenantID: String
    /// `<name>.cr.localhost:8443` for a registry name.
    package let loginServer: @Sendable (String) -> String
    /// The key wrapper new registries' master keys are wrapped with.
    package let keyWrapperID: String
    /// Customer-managed keys need the PrivatePreview feature registered first (the seed's gate).
    package let requirePreviewRegistration: Bool

    package init(documents: any DocumentStore, directory: Directory, registry: RegistryService, vaults: VaultService, features: FeatureRegistrations, adminCredentials: RegistryAdminCredentials, networkRules: RegistryNetworkRules, tenantID: String, loginServer: @escaping @Sendable (String) -> String, keyWrapperID: String, requirePreviewRegistration: Bool) {
        self.documents = documents
        self.directory = directory
        self.registry = registry
        self.vaults = vaults
        self.features = features
        self.adminCredentials = adminCredentials
        self.networkRules = networkRules
        self.tenantID = tenantID
        self.loginServer = loginServer
        self.keyWrapperID = keyWrapperID
        self.requirePreviewRegistration = requirePreviewRegistration
    }

    /// Property names as Azure writes them, for requests that spell them otherwise (templates are case-insensitive).
    package static let canonicalNames = [
        "adminuserenabled": "adminUserEnabled", "encryption": "encryption", "status": "status",
        "keyvaultproperties": "keyVaultProperties", "identity": "identity", "keyidentifier": "keyIdentifier",
        "networkruleset": "networkRuleSet", "defaultaction": "defaultAction", "virtualnetworkrules": "virtualNetworkRules",
        "iprules": "ipRules", "policies": "policies", "quarantinepolicy": "quarantinePolicy", "trustpolicy": "trustPolicy",
        "retentionpolicy": "retentionPolicy", "exportpolicy": "exportPolicy", "days": "days", "type": "type",
        "publicnetworkaccess": "publicNetworkAccess", "zoneredundancy": "zoneRedundancy", "dataendpointenabled": "dataEndpointEnabled",
        "networkrulebypassoptions": "networkRuleBypassOptions", "anonymouspullenabled": "anonymousPullEnabled",
        "regionendpointenabled": "regionEndpointEnabled", "value": "value", "action": "action", "id": "id",
        "userassignedidentities": "userAssignedIdentities", "principalid": "principalId", "clientid": "clientId", "tenantid": "tenantId",
        "versionedkeyidentifier": "versionedKeyIdentifier", "keyrotationenabled": "keyRotationEnabled",
        "lastkeyrotationtimestamp": "lastKeyRotationTimestamp", "lastupdatedtime": "lastUpdatedTime",
        "metadatasearch": "metadataSearch", "roleassignmentmode": "roleAssignmentMode", "softdeletepolicy": "softDeletePolicy",
        "retentiondays": "retentionDays", "azureadauthenticationasarmpolicy": "azureADAuthenticationAsArmPolicy",
    ]

    package static func canonical(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object):
            var result = JSONObject()
            for key in object.keys { result[canonicalNames[key.lowercased()] ?? key] = canonical(object[key]!) }
            return .object(result)
        case .array(let items): return .array(items.map(canonical))
        default: return value
        }
    }

    package static func validateName(_ name: String) throws {
        guard (5...50).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw AzureErrorResponse(.badRequest, code: "InvalidResourceName",
                                     message: "Registry names must be 5 to 50 alphanumeric characters; '\(name.prefix(60))' is not.")
        }
    }

    /// The registry resource at `id`; nil when there is none, or when the id names another kind of resource (an id
    /// taken from a request body may name anything).
    package func get(id: String) async throws -> RegistryResource? {
        guard let document = try await documents.document(id: id), document.type == Self.type else { return nil }
        return try RegistryResource.stored(document.body)
    }

    /// The registry resource named `name` (registry names are unique on a server).
    package func get(named name: String) async throws -> RegistryResource? {
        try await documents.documents(type: Self.type, name: name.lowercased()).first.map { try RegistryResource.stored($0.body) }
    }

    package func list(under prefix: String) async throws -> [RegistryResource] {
        try await documents.documents(under: prefix.lowercased() + "/", type: Self.type).map { try RegistryResource.stored($0.body) }
    }

    /// The registries under `prefix` as GET shows them.
    package func listPresented(under prefix: String) async throws -> [JSONValue] {
        var registries: [JSONValue] = []
        for registry in try await list(under: prefix) { registries.append(try await presented(registry)) }
        return registries
    }

    /// A registry as GET shows it: a customer-managed-key registry reports in `properties.status` whether its
    /// data is readable, its key inaccessible, or its key purged (the data crypto-shredded).
    package func presented(_ registry: RegistryResource, now: Date = Date()) async throws -> JSONValue {
        let resource = try registry.json
        guard registry.properties.customerManagedKeyEnabled, case .object(var object) = resource,
              case .object(var properties) = resource["properties"] else { return resource }
        let (display, message): (String, String)
        switch await self.registry.keyAccessError(registry: registry.name.lowercased()) {
        case nil: (display, message) = ("Ready", "The customer-managed key is accessible.")
        case let error? where error.code == .keyPurged: (display, message) = ("CustomerManagedKeyPurged", error.message)
        case let error?: (display, message) = ("CustomerManagedKeyInaccessible", error.message)
        }
        properties["status"] = .object(JSONObject([
            ("displayStatus", .string(display)), ("message", .string(message)), ("timestamp", .string(ISO8601DateFormatter().string(from: now))),
        ]))
        object["properties"] = .object(properties)
        return .object(object)
    }

    /// Creates or updates a registry resource from a PUT body; creates the data-plane registry on first PUT.
    /// - Parameter authorizeAssignment: checks that the caller may attach the user-assigned identity with this resource id
    ///   (`…/userAssignedIdentities/*/assign/action`); called for each identity the body names.
    package func put(id: String, name: String, body: JSONValue, now: Int64 = Int64(Date().timeIntervalSince1970),
             authorizeAssignment: (String) async throws -> Void) async throws -> (JSONValue, Bool) {
        try Self.validateName(name)
        let existing = try await get(id: id)
        if existing == nil {
            let taken = try await documents.documents(type: Self.type, name: name).contains { $0.id != id.lowercased() }
            let onDataPlane = try await registry.registryExists(name.lowercased())
            if taken || onDataPlane {
                throw AzureErrorResponse(.conflict, code: "AlreadyInUse", message: "The registry name \(name) is already in use.")
            }
        }
        guard case .string(let location) = body["location"].isNull ? .string(existing?.location ?? "") : body["location"], !location.isEmpty else {
            throw AzureErrorResponse(.badRequest, code: "LocationRequired", message: "The location property is required for this definition.")
        }
        guard let skuName = Self.skuName(body["sku"]) ?? existing.flatMap({ Self.skuName(.object(JSONObject([("name", .string($0.sku.name))]))) }) else {
            throw AzureErrorResponse(.badRequest, code: "InvalidSku", message: "The sku name must be one of Basic, Standard, Premium.")
        }
        // Each property the request names replaces the stored one; the result must read as a registry's properties.
        var merged = try existing.map { try ResourceProviders.encode($0.properties) } ?? .object(JSONObject())
        if case .object(var object) = merged, case .object(let requested) = Self.canonical(body["properties"]) {
            for key in requested.keys { object[key] = requested[key] }
            merged = .object(object)
        }
        var properties = try ResourceProviders.decode(RegistryResource.Properties.self, from: merged)
        properties.loginServer = loginServer(name.lowercased())
        properties.provisioningState = "Succeeded"
        properties.creationDate = properties.creationDate ?? ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(now)))
        properties.adminUserEnabled = properties.adminUserEnabled ?? false
        properties.encryption = properties.encryption ?? .init(status: "disabled")
        properties.publicNetworkAccess = properties.publicNetworkAccess ?? "Enabled"
        let requestedIdentity = Self.canonical(body["identity"])
        let identity = try await resolveIdentity(requestedIdentity.isNull ? try existing?.identity.map(ResourceProviders.encode) ?? .null : requestedIdentity,
                                                 registryID: id, name: name, authorizeAssignment: authorizeAssignment)
        let tags = body["tags"].isNull ? existing?.tags ?? [:] : try ResourceProviders.decode([String: String].self, from: body["tags"])
        var resource = RegistryResource(id: existing?.id ?? id, name: name, location: location, tags: tags,
                                        sku: .init(name: skuName, tier: skuName), identity: identity, properties: properties)
        let keyEncryptionKey = try await customerManagedKey(properties: &resource.properties, existing: existing, identity: identity, sku: skuName, now: now)
        try Self.validateRetention(resource.properties.policies?.retentionPolicy, sku: skuName)
        // The SKU is checked before the rules themselves: a registry that may not have rules gets that answer.
        if RegistryNetworkRules.declaresRules(resource), skuName != "Premium" {
            throw AzureErrorResponse(.badRequest, code: "NetworkRulesRequirePremium",
                                     message: "Network rules (networkRuleSet) are only available on the Premium SKU (asked: \(skuName)).")
        }
        _ = try RegistryNetworkRules.rules(of: resource)
        if existing == nil {
            // A token or scope map written while an earlier registry of this id was being deleted must not come to life
            // in the new one.
            try await deleteChildren(of: id)
        }
        do {
            if existing == nil {
                try await registry.createRegistry(name: name.lowercased(), keyWrapperID: keyEncryptionKey ?? keyWrapperID)
            } else if let keyEncryptionKey, try await registry.keyEncryptionKeyID(registry: name.lowercased()) != keyEncryptionKey {
                try await registry.rewrapMasterKey(registry: name.lowercased(), keyWrapperID: keyEncryptionKey)
            }
        } catch let error as RegistryError where error.code == .keyUnavailable {
            throw AzureErrorResponse(.badRequest, code: "CustomerManagedKeyInaccessible", message: error.message)
        }
        let stored = try resource.json
        try await documents.putDocument(StoredDocument(id: id, type: Self.type, name: name, body: JSONText.serialize(stored)))
        networkRules.invalidate(registry: name)
        if resource.properties.adminUserEnabled == true {
            _ = try await adminCredentials.ensure(registryID: id, registryName: name)
        } else {
            try await adminCredentials.delete(registryID: id)  // disabling retires the passwords; enabling again makes new ones
        }
        return (stored, existing == nil)
    }

    package func delete(id: String, name: String) async throws -> Bool {
        guard try await documents.document(id: id) != nil else { return false }
        try await registry.deleteRegistry(name: name.lowercased())
        // Its image locks go with it: a registry made again under the name starts unlocked.
        try await RepositoryLockStore(documents: documents).removeAll(registry: name)
        try await directory.deleteManagedIdentity(resourceID: id)
        try await adminCredentials.delete(registryID: id)
        networkRules.invalidate(registry: name)
        try await deleteChildren(of: id)
        return try await documents.deleteDocument(id: id)
    }

    /// Removes the registry's replications, scope maps and tokens.
    private func deleteChildren(of id: String) async throws {
        for (child, type) in [("replications", RegistryReplications.type), ("scopemaps", RegistryTokens.scopeMapType), ("tokens", RegistryTokens.tokenType)] {
            for document in try await documents.documents(under: id.lowercased() + "/\(child)/", type: type) {
                _ = try await documents.deleteDocument(id: document.id)
            }
        }
    }

    /// ACR's retention policy: `days` 0–365, `status` enabled or disabled, Premium only.
    package static func validateRetention(_ policy: RegistryResource.RetentionPolicy?, sku: String) throws {
        guard let policy else { return }
        if let days = policy.days, !(0...365).contains(days) {
            throw AzureErrorResponse(.badRequest, code: "InvalidRetentionDays", message: "retentionPolicy.days must be a whole number from 0 to 365.")
        }
        if let status = policy.status {
            guard ["enabled", "disabled"].contains(status.lowercased()) else {
                throw AzureErrorResponse(.badRequest, code: "InvalidRetentionStatus", message: "retentionPolicy.status must be enabled or disabled.")
            }
            if status.lowercased() == "enabled", sku != "Premium" {
                throw AzureErrorResponse(.badRequest, code: "RetentionPolicyRequiresPremium",
                                         message: "The retention policy is only available on the Premium SKU (asked: \(sku)).")
            }
        }
    }

    /// One retention pass over every registry whose policy is enabled (days default to 7, as ACR's).
    package func applyRetentionPolicies(now: Int64) async {
        guard let documents = try? await documents.documents(type: Self.type, name: nil) else { return }
        for document in documents {
            guard let resource = try? RegistryResource.stored(document.body), let policy = resource.properties.policies?.retentionPolicy,
                  policy.status?.lowercased() == "enabled" else { continue }
            let name = resource.name
            // Stored values passed validation (0–365); the clamp keeps a record from elsewhere from trapping.
            let days = Int64(min(max(policy.days ?? 7, 0), 3650))
            do {
                // Image locks hold against retention too: a manifest that may not be deleted stays.
                let locks = try await RepositoryLockStore(documents: self.documents).locks(registry: name)
                _ = try await registry.purgeUntaggedManifests(registry: name.lowercased(), createdBefore: now - days * 86400, locks: locks)
            } catch {
                Self.logger.warning("retention pass failed", metadata: ["coffer.registry": .string(name), "coffer.error": .string(String(describing: error))])
            }
        }
    }

    package static let logger = Logger(label: "coffer.resourcemanager")

    /// `listUsages`: the registry's storage against its SKU's included storage, and its webhooks, scope maps and
    /// tokens against their limits (ACR's names, units and limits per SKU).
    package func listUsages(id: String) async throws -> JSONValue {
        guard let resource = try await get(id: id) else {
            throw AzureErrorResponse(.notFound, code: "ResourceNotFound", message: "The registry was not found.")
        }
        let name = resource.name
        let sku = resource.sku.name.lowercased()
        let gibibytes: Double = sku == "basic" ? 10 : sku == "standard" ? 100 : 500
        let size = Double(try await registry.storedBytes(registry: name.lowercased()))
        func usage(_ name: String, _ limit: Double, _ current: Double, _ unit: String) -> JSONValue {
            .object(JSONObject([("name", .string(name)), ("limit", .number(limit)), ("currentValue", .number(current)), ("unit", .string(unit))]))
        }
        return .object(JSONObject([("value", .array([
            usage("Size", gibibytes * 1_073_741_824, size, "Bytes"),
            usage("Webhooks", sku == "basic" ? 2 : sku == "standard" ? 10 : 500, 0, "Count"),
            usage("ScopeMaps", sku == "premium" ? 50_000 : 100, 0, "Count"),
            usage("Tokens", sku == "premium" ? 50_000 : 100, 0, "Count"),
        ]))]))
    }

    /// `listCredentials`: the admin user and its two passwords; refused while the admin user is disabled.
    package func listCredentials(id: String) async throws -> JSONValue {
        let (registry, name) = try await adminEnabledRegistry(id: id)
        return RegistryAdminCredentials.presented(username: name, passwords: try await adminCredentials.ensure(registryID: registry, registryName: name))
    }

    /// `regenerateCredential`: a new value for `password` or `password2`.
    package func regenerateCredential(id: String, passwordName: String) async throws -> JSONValue {
        let (registry, name) = try await adminEnabledRegistry(id: id)
        let passwords = try await adminCredentials.regenerate(registryID: registry, registryName: name, name: passwordName)
        return RegistryAdminCredentials.presented(username: name, passwords: passwords)
    }

    private func adminEnabledRegistry(id: String) async throws -> (id: String, name: String) {
        guard let registry = try await get(id: id) else {
            throw AzureErrorResponse(.notFound, code: "ResourceNotFound", message: "The registry was not found.")
        }
        let (storedID, name) = (registry.id, registry.name)
        guard registry.properties.adminUserEnabled == true else {
            throw AzureErrorResponse(.badRequest, code: "AdminUserDisabled",
                                     message: "The admin user of registry \(name) is disabled; enable it first (adminUserEnabled: true).")
        }
        return (storedID, name)
    }

    /// The seed's rules for customer-managed keys, and the key-encryption key id when one is asked for.
    /// Fills in the versioned key identifier and rotation facts.
    private func customerManagedKey(properties: inout RegistryResource.Properties, existing: RegistryResource?,
                                    identity: RegistryResource.Identity?, sku: String, now: Int64) async throws -> String? {
        let wanted = properties.customerManagedKeyEnabled
        let had = existing?.properties.customerManagedKeyEnabled ?? false
        func refuse(_ code: String, _ message: String) -> AzureErrorResponse { AzureErrorResponse(.badRequest, code: code, message: message) }
        if existing != nil, wanted, !had {
            throw refuse("CustomerManagedKeyOnlyAtCreation", "Encryption with a customer-managed key can only be enabled when the registry is created.")
        }
        if had, !wanted {
            throw refuse("CustomerManagedKeyCannotBeDisabled", "Encryption with a customer-managed key cannot be disabled on a registry.")
        }
        guard wanted else { return nil }
        guard sku == "Premium" else {
            throw refuse("CustomerManagedKeyRequiresPremium", "Encryption with a customer-managed key is only available on the Premium SKU (asked: \(sku)).")
        }
        if properties.policies?.trustPolicy?.status?.lowercased() == "enabled" {
            throw refuse("ContentTrustNotSupportedWithCustomerManagedKey", "Content trust is not supported on a registry encrypted with a customer-managed key.")
        }
        if properties.networkRuleSet?.virtualNetworkRules?.isEmpty == false {
            throw refuse("VirtualNetworkRulesNotSupportedWithCustomerManagedKey",
                         "Virtual network rules are not supported on a registry encrypted with a customer-managed key.")
        }
        if requirePreviewRegistration, try await !features.isRegistered(namespace: "Microsoft.ContainerRegistry", name: "PrivatePreview") {
            throw refuse("FeatureNotRegistered", "Encryption with a customer-managed key needs the preview feature Microsoft.ContainerRegistry/PrivatePreview: "
                         + "run `feature register --name PrivatePreview --namespace Microsoft.ContainerRegistry` and wait until it is Registered.")
        }
        guard let keyIdentifier = properties.encryption?.keyVaultProperties?.keyIdentifier, !keyIdentifier.isEmpty,
              let identityReference = properties.encryption?.keyVaultProperties?.identity else {
            throw refuse("InvalidEncryptionSettings", "encryption.keyVaultProperties needs identity (a client id, or [system]) and keyIdentifier.")
        }
        // The identity: the system-assigned one, or a user-assigned one named by its client id.
        let principalID: String
        if identityReference.lowercased() == "[system]" {
            guard let system = identity?.principalId else {
                throw refuse("InvalidEncryptionSettings", "keyVaultProperties.identity is [system] but the registry has no system-assigned identity.")
            }
            principalID = system
        } else {
            let match = identity?.userAssignedIdentities?.values.first { $0.clientId == identityReference.lowercased() }?.principalId
            guard let match else {
                throw refuse("InvalidEncryptionSettings", "keyVaultProperties.identity \(identityReference) is not the client id of an identity assigned to the registry.")
            }
            principalID = match
        }
        // The vault and key must be fit for the purpose, and reachable by that identity.
        guard let reference = VaultKeyReference(keyIdentifier) else {
            throw refuse("InvalidKeyIdentifier", "keyIdentifier must look like https://<vault>.vault.localhost:<port>/keys/<name>[/<version>].")
        }
        guard let vault = try await vaults.vault(named: reference.vault) else {
            throw refuse("KeyVaultNotFound", "The key vault \(reference.vault) of the customer-managed key does not exist.")
        }
        guard vault.properties.enableSoftDelete == true, vault.properties.enablePurgeProtection == true else {
            throw refuse("KeyVaultNotProtected", "The key vault \(reference.vault) must have soft delete and purge protection enabled to hold a customer-managed key.")
        }
        guard let principal = try await directory.principal(objectID: principalID) else {
            throw refuse("InvalidEncryptionSettings", "The identity \(principalID) was not found.")
        }
        let key: KeyBundle
        do {
            key = try await currentKey(reference, vault: vault, as: principal, permissions: [.get, .wrapKey, .unwrapKey])
        } catch let error as KeyVaultError {
            throw refuse("CustomerManagedKeyInaccessible", "The identity cannot use the key \(keyIdentifier): \(error.message)")
        }
        guard key.key.kty.hasPrefix("RSA") else { throw refuse("InvalidKeyType", "The customer-managed key must be an RSA key; \(reference.name) is \(key.key.kty).") }
        guard key.attributes.enabled != false else { throw refuse("KeyDisabled", "The customer-managed key \(reference.name) is disabled.") }

        let versioned = key.key.kid ?? keyIdentifier
        let previous = existing?.properties.encryption?.keyVaultProperties
        let rotated = previous?.versionedKeyIdentifier.map { $0 != versioned } ?? false
        properties.encryption = .init(status: "enabled", keyVaultProperties: .init(
            keyIdentifier: keyIdentifier, identity: identityReference, versionedKeyIdentifier: versioned,
            keyRotationEnabled: reference.version == nil,
            lastKeyRotationTimestamp: rotated ? ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(now)))
                                              : previous?.lastKeyRotationTimestamp))
        return CustomerManagedKeyID.make(principalID: principalID, keyIdentifier: keyIdentifier)
    }

    /// For registries whose key identifier has no version (`keyRotationEnabled`): when the key has a newer
    /// version, rewraps the master key under it and records the rotation. Returns the registries rotated.
    package func followLatestKeyVersions(now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> [String] {
        var rotated: [String] = []
        for document in try await documents.documents(type: Self.type, name: nil) {
            var resource = try RegistryResource.stored(document.body)
            let name = resource.name
            guard let properties = resource.properties.encryption?.keyVaultProperties, properties.keyRotationEnabled == true,
                  let identifier = properties.keyIdentifier, let versioned = properties.versionedKeyIdentifier,
                  let keyID = try await registry.keyEncryptionKeyID(registry: name.lowercased()),
                  let (principalID, _) = CustomerManagedKeyID.parse(keyID),
                  let principal = try await directory.principal(objectID: principalID) else { continue }
            guard let reference = VaultKeyReference(identifier), let vault = try await vaults.vault(named: reference.vault) else { continue }
            let latest: String
            do {
                latest = try await currentKey(reference, vault: vault, as: principal, permissions: [.get]).key.kid ?? versioned
            } catch {
                continue  // access lost: the data plane reports it; nothing to rotate to
            }
            guard latest != versioned else { continue }
            try await registry.rewrapMasterKey(registry: name.lowercased(), keyWrapperID: keyID)
            resource.properties.encryption?.keyVaultProperties?.versionedKeyIdentifier = latest
            resource.properties.encryption?.keyVaultProperties?.lastKeyRotationTimestamp =
                ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(now)))
            try await documents.putDocument(StoredDocument(id: document.id, type: Self.type, name: document.name, body: JSONText.serialize(try resource.json)))
            rotated.append(name)
        }
        return rotated
    }

    /// The key as `principal` sees it, after checking the vault lets it do each of `permissions`.
    private func currentKey(_ reference: VaultKeyReference, vault: VaultResource, as principal: Principal,
                            permissions: [KeyPermission]) async throws -> KeyBundle {
        for permission in permissions {
            try await vaults.authorize(principal.callerClaims, vault: vault, permission: permission)
        }
        return try await vaults.getKey(vault: vault, name: reference.name, version: reference.version, baseURL: reference.baseURL)
    }

    package static func skuName(_ sku: JSONValue) -> String? {
        guard case .string(let name) = sku["name"] else { return nil }
        return skus.first { $0.lowercased() == name.lowercased() }
    }

    /// Fills in principal and client ids: a system-assigned identity is created for the registry; user-assigned ones must exist.
    private func resolveIdentity(_ identity: JSONValue, registryID: String, name: String,
                                 authorizeAssignment: (String) async throws -> Void) async throws -> RegistryResource.Identity? {
        guard case .string(let typeText) = identity["type"] else { return nil }
        let kinds = Set(typeText.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
        guard kinds.isSubset(of: ["systemassigned", "userassigned", "none"]) else {
            throw AzureErrorResponse(.badRequest, code: "InvalidIdentityType", message: "Identity type '\(typeText)' is not supported.")
        }
        if kinds == ["none"] { return nil }
        var result = RegistryResource.Identity(type: typeText)
        if kinds.contains("systemassigned") {
            let principal = try await directory.managedIdentity(resourceID: registryID, displayName: name)
            result.principalId = principal.objectId
            result.tenantId = principal.tenantId
        }
        if kinds.contains("userassigned") {
            guard case .object(let assigned) = identity["userAssignedIdentities"], !assigned.isEmpty else {
                throw AzureErrorResponse(.badRequest, code: "InvalidIdentity", message: "UserAssigned identity type needs userAssignedIdentities.")
            }
            var resolved: [String: RegistryResource.Identity.UserAssigned] = [:]
            for resourceID in assigned.keys {
                // Only user-assigned identities: a registry's (or anything's) system identity is its own alone.
                let segments = resourceID.lowercased().split(separator: "/")
                guard segments.count == 8, segments[0] == "subscriptions", segments[2] == "resourcegroups", segments[4] == "providers",
                      segments[5] == "microsoft.managedidentity", segments[6] == "userassignedidentities" else {
                    throw AzureErrorResponse(.badRequest, code: "InvalidUserAssignedIdentity",
                                             message: "'\(resourceID.prefix(300))' is not the resource id of a user-assigned identity "
                                                 + "(/subscriptions/…/resourceGroups/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/…).")
                }
                try await authorizeAssignment(resourceID)
                guard let principal = try await directory.managedIdentity(resourceID: resourceID) else {
                    throw AzureErrorResponse(.badRequest, code: "InvalidUserAssignedIdentity",
                                             message: "The user-assigned identity '\(resourceID)' was not found.")
                }
                resolved[resourceID] = .init(principalId: principal.objectId, clientId: principal.appId)
            }
            result.userAssignedIdentities = resolved
        }
        return result
    }
}

package extension JSONValue {
    package var isNull: Bool { self == .null }
}

extension Registries {
    /// The resource group the first registry is adopted into.
    package static let bootstrapGroup = "coffer"
    /// The tag that marks the group as the one Coffer made for its first registry.
    package static let bootstrapTag = "coffer-bootstrap"

    /// The registry that exists from the first start (made on the data plane before anyone could call the resource
    /// manager) as a resource like any other: in a resource group of its own, Premium (so that firewall and retention
    /// are open to it), admin user off. Runs at every start and does nothing once a resource of that name exists, or
    /// while its group is being deleted. Returns whether it adopted the registry now.
    package func adoptBootstrapRegistry(name: String, subscriptionID: String, location: String = "local") async throws -> Bool {
        guard (try? Self.validateName(name)) != nil else {
            Self.logger.warning("the default registry's name is not a valid registry resource name; it stays outside the resource manager",
                                metadata: ["coffer.registry": .string(name)])
            return false
        }
        guard try await get(named: name) == nil else { return false }
        let groupID = "/subscriptions/\(subscriptionID)/resourceGroups/\(Self.bootstrapGroup)"
        if let group = try await documents.document(id: groupID) {
            if ControlPlaneServices.isBeingDeleted(group) { return false }
            // A group of that name that someone else made has its own role assignments: the registry is not put there.
            guard (try? JSONDecoder().decode(ResourceGroup.self, from: Data(group.body.utf8)))?.tags[Self.bootstrapTag] == "true" else {
                Self.logger.warning("a resource group named \(Self.bootstrapGroup) exists that Coffer did not make; the default registry stays outside the resource manager")
                return false
            }
        } else {
            let group = ResourceGroup(id: groupID, name: Self.bootstrapGroup, type: "Microsoft.Resources/resourceGroups", location: location,
                                      tags: [Self.bootstrapTag: "true"], properties: ["provisioningState": "Succeeded"])
            try await documents.putDocument(StoredDocument(id: groupID, type: ControlPlaneServices.groupType, name: Self.bootstrapGroup,
                                                           body: String(decoding: try JSONEncoder().encode(group), as: UTF8.self)))
        }
        let id = "\(groupID)/providers/Microsoft.ContainerRegistry/registries/\(name)"
        let resource = RegistryResource(
            id: id, name: name, location: location, tags: [:], sku: .init(name: "Premium", tier: "Premium"), identity: nil,
            properties: .init(loginServer: loginServer(name.lowercased()), creationDate: ISO8601DateFormatter().string(from: Date()),
                              provisioningState: "Succeeded", adminUserEnabled: false, encryption: .init(status: "disabled"),
                              publicNetworkAccess: "Enabled"))
        try await documents.putDocument(StoredDocument(id: id, type: Self.type, name: name.lowercased(), body: JSONText.serialize(try resource.json)))
        networkRules.invalidate(registry: name)
        return true
    }
}
