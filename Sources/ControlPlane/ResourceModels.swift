import Identity

/// A user-assigned managed identity as the resource manager stores and shows it.
package struct IdentityResource: Codable {
    package struct Properties: Codable {
        package let tenantId: String
        package let principalId: String
        package let clientId: String

        package init(tenantId: String, principalId: String, clientId: String) {
            self.tenantId = tenantId
            self.principalId = principalId
            self.clientId = clientId
        }
    }
    package let id: String
    package let name: String
    package let type: String
    package let location: String
    package let tags: [String: String]
    package var properties: Properties?

    package init(id: String, name: String, type: String, location: String, tags: [String: String], properties: Properties?) {
        self.id = id
        self.name = name
        self.type = type
        self.location = location
        self.tags = tags
        self.properties = properties
    }
}

/// A role assignment as the resource manager shows it.
package struct RoleAssignmentResource: Encodable {
    package struct Properties: Encodable {
        package let roleDefinitionId: String
        package let principalId: String
        package let scope: String
        package let principalType = "ServicePrincipal"
    }
    package let id: String
    package let name: String
    package let type = "Microsoft.Authorization/roleAssignments"
    package let properties: Properties

    package init(_ assignment: Directory.RoleAssignment) {
        id = assignment.id
        name = assignment.name
        properties = Properties(roleDefinitionId: assignment.roleDefinitionID, principalId: assignment.principalID, scope: assignment.scope)
    }
}
