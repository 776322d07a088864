import AzureErrors
import CofferStorage
import Foundation
import Identity
import JMESPath

/// Deleting a resource group, a long-running operation as in Azure. Everything the group holds goes with it, so that
/// nothing keeps serving and a new group of the same name inherits nothing: registries (their master keys destroyed,
/// so their data is unreadable; admin passwords and firewall rules with them), vaults (soft-deleted, recoverable for
/// their retention), user-assigned identities, role assignments at the group or below, and deployment records.
///
/// The group is marked `Deleting` first (it takes no writes from then on), the cascade runs as a ``ControlPlaneJobs``
/// job, and the group document goes last; every step is idempotent, so a deletion cut short by a crash is finished
/// at the next start (``resumeInterrupted()``) or by another DELETE.
package struct GroupDeletion: Sendable {
    package let plane: ControlPlaneServices

    package init(plane: ControlPlaneServices) {
        self.plane = plane
    }
    package static let operationType = "coffer/groupdeletions"

    package struct Status {
        package enum State { case running, succeeded, failed(String) }
        package let state: State
        package let startedBy: String
    }

    /// Marks the group and starts its cascade; returns the operation id to poll. Refused while a deployment runs in it.
    package func start(groupID: String, name: String, startedBy: String) async throws -> String {
        guard let document = try await plane.documents.document(id: groupID) else {
            throw AzureErrorResponse(.notFound, code: "ResourceGroupNotFound", message: "Resource group '\(name.prefix(100))' could not be found.")
        }
        if !ControlPlaneServices.isBeingDeleted(document) {
            guard var group = try? JSONDecoder().decode(ResourceGroup.self, from: Data(document.body.utf8)) else {
                throw AzureErrorResponse(.internalServerError, code: "InternalServerError", message: "The resource group record could not be read.")
            }
            // Mark first, then look for running deployments (a deployment records itself, then looks at the group):
            // whichever comes second sees the other. A deployment found running takes the mark back.
            group.properties["provisioningState"] = "Deleting"
            try await plane.documents.putDocument(StoredDocument(id: groupID, type: ControlPlaneServices.groupType, name: document.name,
                                                               body: String(decoding: try JSONEncoder().encode(group), as: UTF8.self)))
            do {
                try await refuseWhileDeploying(groupID: groupID)
            } catch {
                try await plane.documents.putDocument(document)
                throw error
            }
        }
        let operation = UUID().uuidString.lowercased()
        try await record(operation, groupID: groupID, startedBy: startedBy, state: "Running", message: nil)
        guard plane.jobs.start({ await run(operation, groupID: groupID, startedBy: startedBy) }) else {
            try await record(operation, groupID: groupID, startedBy: startedBy, state: "Failed", message: "The server is shutting down; delete the group again.")
            throw AzureErrorResponse(.serviceUnavailable, code: "ServiceUnavailable", message: "The server is shutting down; delete the group again.")
        }
        return operation
    }

    package func status(operation: String) async throws -> Status? {
        guard let document = try await plane.documents.document(id: operationID(operation)) else { return nil }
        let body = try JSONText.parse(document.body)
        guard case .string(let startedBy) = body["startedBy"] else { return nil }
        let state: Status.State = switch body["status"] {
        case .string("Succeeded"): .succeeded
        case .string("Failed"): .failed({ if case .string(let message) = body["message"] { message } else { "the deletion failed" } }())
        default: .running
        }
        return Status(state: state, startedBy: startedBy)
    }

    /// Finishes the deletions a stopped process left under way (groups still marked `Deleting`).
    package func resumeInterrupted() async throws {
        for document in try await plane.documents.documents(type: ControlPlaneServices.groupType, name: nil) where ControlPlaneServices.isBeingDeleted(document) {
            _ = plane.jobs.start { try? await deleteContents(ofGroup: document.id) }
        }
    }

    private func run(_ operation: String, groupID: String, startedBy: String) async {
        do {
            try await deleteContents(ofGroup: groupID)
            try await record(operation, groupID: groupID, startedBy: startedBy, state: "Succeeded", message: nil)
        } catch {
            try? await record(operation, groupID: groupID, startedBy: startedBy, state: "Failed",
                              message: "The group could not be deleted completely; delete it again to finish.")
        }
    }

    private func operationID(_ operation: String) -> String { "/subscriptions/\(plane.subscriptionID)/operationresults/\(operation.lowercased())" }

    private func record(_ operation: String, groupID: String, startedBy: String, state: String, message: String?) async throws {
        var body = JSONObject([("groupId", .string(groupID)), ("startedBy", .string(startedBy)), ("status", .string(state))])
        if let message { body["message"] = .string(message) }
        try await plane.documents.putDocument(StoredDocument(id: operationID(operation), type: Self.operationType, name: operation,
                                                           body: JSONText.serialize(.object(body))))
    }

    private func refuseWhileDeploying(groupID: String) async throws {
        for deployment in try await plane.documents.documents(under: groupID.lowercased() + "/providers/microsoft.resources/deployments/",
                                                            type: ControlPlaneServices.deploymentType) {
            if case .string(let state) = try JSONText.parse(deployment.body)["properties"]["provisioningState"], ["Accepted", "Running"].contains(state) {
                throw AzureErrorResponse(.conflict, code: "DeploymentActive",
                                         message: "The deployment '\(deployment.name)' is still running in this resource group; wait for it to end, then delete the group.")
            }
        }
    }

    private func deleteContents(ofGroup groupID: String) async throws {
        let prefix = groupID.lowercased() + "/"
        for registry in try await plane.documents.documents(under: prefix + "providers/microsoft.containerregistry/registries/", type: Registries.type) {
            _ = try await plane.registries.delete(id: registry.id, name: registry.name)
        }
        for vault in try await plane.vaults.vaults(under: groupID) {
            _ = try await plane.vaults.deleteVault(id: vault.id ?? "", subscriptionID: plane.subscriptionID)
        }
        for identity in try await plane.documents.documents(under: prefix + "providers/microsoft.managedidentity/userassignedidentities/",
                                                           type: ControlPlaneServices.identityType) {
            try await plane.directory.deleteManagedIdentity(resourceID: identity.id)
            _ = try await plane.documents.deleteDocument(id: identity.id)
        }
        for assignment in try await plane.directory.roleAssignments() where Directory.scope(assignment.scope, isWithin: groupID) {
            _ = try await plane.directory.deleteRoleAssignment(id: assignment.id)
        }
        // What remains under the group (deployment records and their operations, replications): records only.
        for document in try await plane.documents.documents(under: prefix, type: nil) {
            _ = try await plane.documents.deleteDocument(id: document.id)
        }
        // The group goes last: a deletion cut short is finished later.
        _ = try await plane.documents.deleteDocument(id: groupID)
    }
}
