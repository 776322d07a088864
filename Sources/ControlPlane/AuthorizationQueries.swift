import AzureErrors
import Foundation
import Identity

/// The `$filter` forms `Microsoft.Authorization` answers on role assignments and definitions, as `az role` sends them:
/// `atScope()`, `principalId eq '…'`, `assignedTo('…')`, `roleName eq '…'`, `type eq '…'`, joined by `and`.
package struct AuthorizationFilter: Sendable, Equatable {
    package var atScopeOnly = false
    package var principalID: String?
    package var roleName: String?
    package var roleType: String?

    package static func parse(_ filter: String?) throws -> AuthorizationFilter {
        var result = AuthorizationFilter()
        guard let filter, !filter.trimmingCharacters(in: .whitespaces).isEmpty else { return result }
        guard filter.utf8.count <= 1024 else { throw invalid(filter) }
        for clause in filter.components(separatedBy: " and ").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let lower = clause.lowercased()
            if lower == "atscope()" {
                result.atScopeOnly = true
            } else if lower.hasPrefix("assignedto("), clause.hasSuffix(")"), let value = quoted(clause.dropFirst("assignedTo(".count).dropLast()) {
                result.principalID = value.lowercased()
            } else if let (field, value) = equality(clause) {
                switch field {
                case "principalid": result.principalID = value.lowercased()
                case "rolename": result.roleName = value
                case "type": result.roleType = value
                default: throw invalid(filter)
                }
            } else {
                throw invalid(filter)
            }
        }
        return result
    }

    /// Whether a role assignment at `assignment` shows in a listing at `scope`: at it, above it and (unless `atScope()`)
    /// below it, as Azure lists them.
    package func shows(_ assignment: Directory.RoleAssignment, listedAt scope: String) -> Bool {
        if let principalID, assignment.principalID != principalID { return false }
        if Directory.scope(scope, isWithin: assignment.scope) { return true }
        return !atScopeOnly && Directory.scope(assignment.scope, isWithin: scope)
    }

    package func shows(_ role: BuiltInRole) -> Bool {
        if let roleName, roleName.lowercased() != role.rawValue.lowercased() { return false }
        if let roleType, roleType.lowercased() != "builtinrole" { return false }
        return true
    }

    private static func equality(_ clause: String) -> (String, String)? {
        let parts = clause.components(separatedBy: " eq ")
        guard parts.count == 2, let value = quoted(Substring(parts[1])) else { return nil }
        return (parts[0].trimmingCharacters(in: .whitespaces).lowercased(), value)
    }

    /// `'text'` without its quotes (a doubled `''` is one quote, as OData writes it).
    private static func quoted(_ text: Substring) -> String? {
        let text = text.trimmingCharacters(in: .whitespaces)
        guard text.count >= 2, text.hasPrefix("'"), text.hasSuffix("'") else { return nil }
        return String(text.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")
    }

    private static func invalid(_ filter: String) -> AzureErrorResponse {
        AzureErrorResponse(.badRequest, code: "UnsupportedQuery", message: "The filter '\(filter.prefix(200))' is not supported. Supported: atScope(), "
                           + "principalId eq '{id}', assignedTo('{id}'), roleName eq '{name}', type eq 'BuiltInRole', joined by 'and'.")
    }
}

/// A built-in role definition as `Microsoft.Authorization/roleDefinitions` presents it, at the scope it was read at.
package struct RoleDefinitionResource: Encodable {
    package struct Permission: Encodable {
        package let actions: [String]
        package let notActions: [String]
        package let dataActions: [String]
        package let notDataActions: [String]
    }
    package struct Properties: Encodable {
        package let roleName: String
        package let type = "BuiltInRole"
        package let description: String
        package let assignableScopes = ["/"]
        package let permissions: [Permission]
    }
    package let id: String
    package let name: String
    package let type = "Microsoft.Authorization/roleDefinitions"
    package let properties: Properties

    package init(_ role: BuiltInRole, scope: String) {
        let definition = role.definition
        id = "\(scope)/providers/Microsoft.Authorization/roleDefinitions/\(role.definitionID)"
        name = role.definitionID
        properties = Properties(roleName: role.rawValue, description: "Azure's built-in \(role.rawValue) role.",
                                permissions: [Permission(actions: definition.actions, notActions: definition.notActions,
                                                         dataActions: definition.dataActions, notDataActions: definition.notDataActions)])
    }
}

package struct RoleDefinitionList: Encodable {
    package let value: [RoleDefinitionResource]

    package init(value: [RoleDefinitionResource]) {
        self.value = value
    }
}
