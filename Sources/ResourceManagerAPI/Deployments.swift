import ControlPlane
import AzureHTTP
import CofferStorage
import Foundation
import Hummingbird
import JMESPath
import TemplateLanguage

/// `Microsoft.Resources/deployments` at resource-group scope: validate, deploy (in dependency order),
/// and the deployment records. A PUT is a long-running operation as in Azure: the template is checked at
/// once (errors are a 400), then the answer is `201 Running` with `Azure-AsyncOperation` (the status to
/// poll) and `Retry-After`; the resources deploy in the background, each one recorded as a deployment
/// operation, and the final GET shows `Succeeded` or `Failed` with the failing resource named.
extension ARMExchange {
    static let deploymentType = DeploymentRunner.deploymentType
    static let operationStatusType = DeploymentRunner.operationStatusType
    static let operationType = DeploymentRunner.operationType
    static let runnerType = DeploymentRunner.runnerType

    /// Runs deployments as this request's caller, holding nothing of the request.
    var runner: DeploymentRunner {
        DeploymentRunner(plane: api.services, caller: caller, nodeID: api.nodeID)
    }

    func listDeployments(group: String) async throws -> Response {
        let records = try await api.documents.documents(under: groupID(group).lowercased() + "/providers/microsoft.resources/deployments/",
                                                        type: Self.deploymentType)
        return jsonResponse(.object(JSONObject([("value", .array(try records.map { try JSONText.parse($0.body) }))])))
    }

    func getDeployment(id: String, name: String) async throws -> Response {
        guard let record = try await api.documents.document(id: id) else {
            throw AzureErrorResponse(.notFound, code: "DeploymentNotFound", message: "Deployment '\(name.prefix(100))' could not be found.")
        }
        return jsonResponse(try JSONText.parse(record.body))
    }

    func deleteDeployment(id: String, name: String) async throws -> Response {
        if let record = try await api.documents.document(id: id), case .string(let state) = try JSONText.parse(record.body)["properties"]["provisioningState"],
           ["Accepted", "Running"].contains(state) {
            throw AzureErrorResponse(.conflict, code: "DeploymentActive", message: "The deployment '\(name.prefix(100))' is still running.")
        }
        // The record first: a stop part-way leaves the deployment gone with some of its operations behind (removed
        // when the name is deployed again), never a deployment whose operation status has vanished (the kill harness
        // found that with the other order).
        let existed = try await api.documents.deleteDocument(id: id)
        _ = try await api.documents.deleteDocument(id: id + "/runner")
        try await runner.deleteOperations(of: id)
        return AzureJSON.empty(existed ? .ok : .noContent)
    }

    func validateDeployment(group: String, name: String) async throws -> Response {
        let (plan, _) = try await makePlan(group: group, name: name)
        return jsonResponse(.object(JSONObject([
            ("id", .string(deploymentID(group, name))), ("name", .string(name)), ("type", .string("Microsoft.Resources/deployments")),
            ("properties", .object(JSONObject([
                ("provisioningState", .string("Succeeded")),
                ("validatedResources", .array(plan.resources.map { .object(JSONObject([("id", .string($0.id))])) })),
            ]))),
        ])))
    }

    /// Checks the template at once, records the deployment as running on this node, and hands the work to
    /// ``ControlPlaneJobs``; the answer carries the status to poll.
    func putDeployment(group: String, name: String) async throws -> Response {
        let id = deploymentID(group, name)
        let (plan, mode) = try await makePlan(group: group, name: name)
        let previous = try await api.documents.document(id: id).map { try JSONText.parse($0.body) }
        if case .string(let state) = previous?["properties"]["provisioningState"] ?? .null, ["Accepted", "Running"].contains(state) {
            throw AzureErrorResponse(.conflict, code: "DeploymentActive",
                                     message: "The deployment '\(name.prefix(100))' is still running; wait for it to finish before deploying it again.")
        }
        let operationID = UUID().uuidString.lowercased()
        let running = try await runner.begin(plan, id: id, name: name, mode: mode, operationID: operationID)
        // The group's deletion marks the group, then looks for running deployments; this records the deployment, then
        // looks at the group: whichever comes second sees the other, so the two never both go ahead.
        if let groupRecord = try await api.documents.document(id: groupID(group)), Self.isBeingDeleted(groupRecord) {
            await runner.failDeployment(id: id, operationID: operationID, message: "The resource group is being deleted.")
            throw AzureErrorResponse(.conflict, code: "ResourceGroupBeingDeleted", message: "The resource group '\(group.prefix(100))' is being deleted.")
        }
        let runner = self.runner
        guard api.jobs.start({ await runner.runDeployment(plan, id: id, name: name, group: group, mode: mode, operationID: operationID) }) else {
            await runner.failDeployment(id: id, operationID: operationID, message: "The server is shutting down; deploy again.")
            throw AzureErrorResponse(.serviceUnavailable, code: "ServiceUnavailable", message: "The server is shutting down; deploy again.")
        }
        let status = "\(api.baseURL(of: request))\(id)/operationStatuses/\(operationID)?api-version=\(apiVersion)"
        return jsonResponse(running, status: previous == nil ? .created : .ok, headers: [.azureAsyncOperation: status, .retryAfter: "1"])
    }

    func deploymentStatus(id: String, operation: String) async throws -> Response {
        guard let document = try await api.documents.document(id: "\(id)/operationStatuses/\(operation)") else {
            throw AzureErrorResponse(.notFound, code: "NotFound", message: "The operation '\(operation.prefix(100))' could not be found.")
        }
        let status = try JSONText.parse(document.body)
        let running = status["status"] == .string("Running")
        return jsonResponse(status, headers: running ? [.retryAfter: "1"] : [:])
    }

    func listDeploymentOperations(id: String) async throws -> Response {
        let operations = try await api.documents.documents(under: id.lowercased() + "/operations/", type: Self.operationType).map { try JSONText.parse($0.body) }
        return jsonResponse(.object(JSONObject([("value", .array(operations))])))
    }

    func deploymentOperation(id: String, operation: String) async throws -> Response {
        guard let document = try await api.documents.document(id: id) else {
            throw AzureErrorResponse(.notFound, code: "DeploymentOperationNotFound", message: "The operation '\(operation.prefix(100))' could not be found.")
        }
        return jsonResponse(try JSONText.parse(document.body))
    }

    private func makePlan(group: String, name: String) async throws -> (TemplatePlan, String) {
        let body = try await ARMExchange.jsonBody(request)
        let properties = body["properties"]
        guard case .object = properties["template"] else {
            throw AzureErrorResponse(.badRequest, code: "InvalidRequestContent", message: "properties.template is required (templateLink is not supported)")
        }
        let mode: String
        if case .string(let text) = properties["mode"] { mode = text } else { mode = "Incremental" }
        guard ["incremental", "complete"].contains(mode.lowercased()) else {
            throw AzureErrorResponse(.badRequest, code: "InvalidDeploymentMode", message: "mode must be Incremental or Complete")
        }
        do {
            return (try TemplatePlan.make(template: properties["template"], parameterValues: properties["parameters"],
                                          scope: try await runner.scope(group: group, deployment: name)), mode)
        } catch let error as TemplateError {
            throw AzureErrorResponse(.badRequest, code: "InvalidTemplate", message: "Deployment template validation failed: \(error.message)")
        }
    }

}

extension ResourceManagerAPI {
    /// Deployments run in the background of one process; at start, those this node left `Running` (by the runner
    /// record beside each) are marked `Failed` with their operation statuses, so that pollers get an answer and a
    /// redeploy is allowed. Other nodes' deployments are theirs to end: a restarting node never fails them.
    @discardableResult
    public func failInterruptedDeployments() async throws -> [String] {
        try await failRunningDeployments(message: "The server stopped while this deployment was running; deploy it again (deployments are idempotent).") {
            node in node == nil || node == nodeID
        }
    }

    /// Fails the deployments whose runner node has stopped for good (`hasStopped`, its heartbeat expired): run by
    /// the maintenance lease holder, so that a node that never comes back does not leave them `Running` forever.
    @discardableResult
    public func failDeploymentsOfStoppedNodes(hasStopped: @Sendable (String) async throws -> Bool) async throws -> [String] {
        try await failRunningDeployments(message: "The server running this deployment stopped; deploy it again (deployments are idempotent).") {
            node in
            guard let node, node != nodeID else { return false }
            return try await hasStopped(node)
        }
    }

    /// Marks `Failed` the accepted or running deployments whose runner node (nil: none recorded) `select` picks.
    private func failRunningDeployments(message: String, select: (String?) async throws -> Bool) async throws -> [String] {
        let interrupted: JSONValue = .object(JSONObject([
            ("code", .string("DeploymentInterrupted")), ("message", .string(message)),
        ]))
        var failed: [String] = []
        for document in try await documents.documents(type: ARMExchange.deploymentType, name: nil) {
            guard case .string(let state) = try JSONText.parse(document.body)["properties"]["provisioningState"],
                  ["Accepted", "Running"].contains(state) else { continue }
            var node: String?
            if let runner = try await documents.document(id: document.id + "/runner"), case .string(let name) = try JSONText.parse(runner.body)["node"] {
                node = name
            }
            guard try await select(node) else { continue }
            try await Self.markFailed(document, error: interrupted, in: documents)
            failed.append(document.id)
        }
        try await settleOperationStatuses(error: interrupted)
        return failed
    }

    /// A deployment's record and its operation status are two writes: a stop between them leaves the record ended
    /// and the status `Running`, and pollers would wait for ever. Such a status takes the record's outcome (or fails,
    /// if the record is gone). A status whose record is still running is its runner's to end.
    private func settleOperationStatuses(error interrupted: JSONValue) async throws {
        for status in try await documents.documents(type: ARMExchange.operationStatusType, name: nil) {
            guard case .object(var body) = try JSONText.parse(status.body), body["status"] == .string("Running"),
                  let marker = status.id.range(of: "/operationStatuses/", options: .caseInsensitive) else { continue }
            let record = try await documents.document(id: String(status.id[..<marker.lowerBound])).map { try JSONText.parse($0.body)["properties"] }
            guard case .string(let state) = record?["provisioningState"] ?? .string("Failed"), !["Accepted", "Running"].contains(state) else { continue }
            body["status"] = .string(state)
            let error = record?["error"] ?? interrupted
            if state != "Succeeded", error != .null { body["error"] = error }
            _ = try await documents.replaceDocument(StoredDocument(id: status.id, type: status.type, name: status.name, body: JSONText.serialize(.object(body))),
                                                    ifBodyIs: status.body)
        }
    }

    /// Marks a deployment record and its running operation statuses `Failed` with `error`.
    static func markFailed(_ document: StoredDocument, error: JSONValue, in documents: any DocumentStore) async throws {
        try await DeploymentRunner.markFailed(document, error: error, in: documents)
    }
}
