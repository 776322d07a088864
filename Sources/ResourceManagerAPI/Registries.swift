import AzureHTTP
import CofferStorage
import Foundation
import Hummingbird
import Identity
import JMESPath
import RegistryService

/// `Microsoft.ContainerRegistry/registries`: each resource is a real registry on the data plane at its login server.
struct Registries: Sendable {
    static let type = "microsoft.containerregistry/registries"
    static let skus = ["Basic", "Standard", "Premium"]

    let documents: any DocumentStore
    let directory: Directory
    let registry: RegistryService
    let tenantID: String
    /// `<name>.cr.localhost:8443` for a registry name.
    let loginServer: @Sendable (String) -> String
    /// The key wrapper new registries' master keys are wrapped with.
    let keyWrapperID: String

    /// Property names as Azure writes them, for requests that spell them otherwise (templates are case-insensitive).
    static let canonicalNames = [
        "adminuserenabled": "adminUserEnabled", "encryption": "encryption", "status": "status",
        "keyvaultproperties": "keyVaultProperties", "identity": "identity", "keyidentifier": "keyIdentifier",
        "networkruleset": "networkRuleSet", "defaultaction": "defaultAction", "virtualnetworkrules": "virtualNetworkRules",
        "iprules": "ipRules", "policies": "policies", "quarantinepolicy": "quarantinePolicy", "trustpolicy": "trustPolicy",
        "retentionpolicy": "retentionPolicy", "exportpolicy": "exportPolicy", "days": "days", "type": "type",
        "publicnetworkaccess": "publicNetworkAccess", "zoneredundancy": "zoneRedundancy", "dataendpointenabled": "dataEndpointEnabled",
        "networkrulebypassoptions": "networkRuleBypassOptions", "anonymouspullenabled": "anonymousPullEnabled",
    ]

    static func canonical(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object):
            var result = JSONObject()
            for key in object.keys { result[canonicalNames[key.lowercased()] ?? key] = canonical(object[key]!) }
            return .object(result)
        case .array(let items): return .array(items.map(canonical))
        default: return value
        }
    }

    static func validateName(_ name: String) throws {
        guard (5...50).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw AzureErrorResponse(.badRequest, code: "InvalidResourceName",
                                     message: "Registry names must be 5 to 50 alphanumeric characters; '\(name.prefix(60))' is not.")
        }
    }

    func get(id: String) async throws -> JSONValue? {
        try await documents.document(id: id).map { try JSONText.parse($0.body) }
    }

    func list(under prefix: String) async throws -> [JSONValue] {
        try await documents.documents(under: prefix.lowercased() + "/", type: Self.type).map { try JSONText.parse($0.body) }
    }

    /// Creates or updates a registry resource from a PUT body; creates the data-plane registry on first PUT.
    func put(id: String, name: String, body: JSONValue, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> (JSONValue, Bool) {
        try Self.validateName(name)
        let existing = try await get(id: id)
        if existing == nil {
            let taken = try await documents.documents(type: Self.type, name: name).contains { $0.id != id.lowercased() }
            let onDataPlane = try await registry.registryExists(name.lowercased())
            if taken || onDataPlane {
                throw AzureErrorResponse(.conflict, code: "AlreadyInUse", message: "The registry name \(name) is already in use.")
            }
        }
        guard case .string(let location) = body["location"].isNull ? (existing?["location"] ?? .null) : body["location"], !location.isEmpty else {
            throw AzureErrorResponse(.badRequest, code: "LocationRequired", message: "The location property is required for this definition.")
        }
        let skuName = Self.skuName(body["sku"]) ?? Self.skuName(existing?["sku"] ?? .null)
        guard let skuName else {
            throw AzureErrorResponse(.badRequest, code: "InvalidSku", message: "The sku name must be one of Basic, Standard, Premium.")
        }
        var properties: JSONObject
        if case .object(let object) = existing?["properties"] ?? .null { properties = object } else { properties = JSONObject() }
        if case .object(let requested) = Self.canonical(body["properties"]) {
            for key in requested.keys { properties[key] = requested[key] }
        }
        properties["loginServer"] = .string(loginServer(name.lowercased()))
        properties["provisioningState"] = .string("Succeeded")
        if properties["creationDate"] == nil { properties["creationDate"] = .string(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(now)))) }
        if properties["adminUserEnabled"] == nil { properties["adminUserEnabled"] = .bool(false) }
        if properties["encryption"] == nil { properties["encryption"] = .object(JSONObject([("status", .string("disabled"))])) }
        if properties["publicNetworkAccess"] == nil { properties["publicNetworkAccess"] = .string("Enabled") }
        let identity = try await resolveIdentity(Self.canonical(body["identity"]).isNull ? existing?["identity"] ?? .null : Self.canonical(body["identity"]), registryID: id, name: name)
        var resource = JSONObject([
            ("id", .string(existing.flatMap { if case .string(let id) = $0["id"] { id } else { nil } } ?? id)), ("name", .string(name)),
            ("type", .string("Microsoft.ContainerRegistry/registries")), ("location", .string(location)),
            ("tags", body["tags"].isNull ? existing?["tags"] ?? .object(JSONObject()) : body["tags"]),
            ("sku", .object(JSONObject([("name", .string(skuName)), ("tier", .string(skuName))]))),
        ])
        if !identity.isNull { resource["identity"] = identity }
        resource["properties"] = .object(properties)
        if existing == nil {
            try await registry.createRegistry(name: name.lowercased(), keyWrapperID: keyWrapperID)
        }
        try await documents.putDocument(StoredDocument(id: id, type: Self.type, name: name, body: JSONText.serialize(.object(resource))))
        return (.object(resource), existing == nil)
    }

    func delete(id: String, name: String) async throws -> Bool {
        guard try await documents.document(id: id) != nil else { return false }
        try await registry.deleteRegistry(name: name.lowercased())
        try await directory.deleteManagedIdentity(resourceID: id)
        return try await documents.deleteDocument(id: id)
    }

    static func skuName(_ sku: JSONValue) -> String? {
        guard case .string(let name) = sku["name"] else { return nil }
        return skus.first { $0.lowercased() == name.lowercased() }
    }

    /// Fills in principal and client ids: a system-assigned identity is created for the registry; user-assigned ones must exist.
    private func resolveIdentity(_ identity: JSONValue, registryID: String, name: String) async throws -> JSONValue {
        guard case .string(let typeText) = identity["type"] else { return .null }
        let kinds = Set(typeText.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
        guard kinds.isSubset(of: ["systemassigned", "userassigned", "none"]) else {
            throw AzureErrorResponse(.badRequest, code: "InvalidIdentityType", message: "Identity type '\(typeText)' is not supported.")
        }
        if kinds == ["none"] { return .null }
        var result = JSONObject([("type", .string(typeText))])
        if kinds.contains("systemassigned") {
            let principal = try await directory.managedIdentity(resourceID: registryID, displayName: name)
            result["principalId"] = .string(principal.objectId)
            result["tenantId"] = .string(principal.tenantId)
        }
        if kinds.contains("userassigned") {
            guard case .object(let assigned) = identity["userAssignedIdentities"], !assigned.isEmpty else {
                throw AzureErrorResponse(.badRequest, code: "InvalidIdentity", message: "UserAssigned identity type needs userAssignedIdentities.")
            }
            var resolved = JSONObject()
            for resourceID in assigned.keys {
                guard let principal = try await directory.managedIdentity(resourceID: resourceID) else {
                    throw AzureErrorResponse(.badRequest, code: "InvalidUserAssignedIdentity",
                                             message: "The user-assigned identity '\(resourceID)' was not found.")
                }
                resolved[resourceID] = .object(JSONObject([("principalId", .string(principal.objectId)), ("clientId", .string(principal.appId))]))
            }
            result["userAssignedIdentities"] = .object(resolved)
        }
        return .object(result)
    }
}

extension JSONValue {
    var isNull: Bool { self == .null }
}

/// Makes a stored JSON document a response.
func jsonResponse(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json; charset=utf-8", .msRequestID: UUID().uuidString.lowercased()],
             body: .init(byteBuffer: ByteBuffer(string: JSONText.serialize(value))))
}
