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
    static let deploymentType = ControlPlaneServices.deploymentType
    static let operationStatusType = "microsoft.resources/deployments/operationstatuses"
    static let operationType = "microsoft.resources/deployments/operations"
    /// Which node runs a deployment (kept beside its record, never shown to clients).
    static let runnerType = "coffer/deploymentrunners"

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
        try await deleteOperations(of: id)
        _ = try await api.documents.deleteDocument(id: id + "/runner")
        return AzureJSON.empty(try await api.documents.deleteDocument(id: id) ? .ok : .noContent)
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
        let running = try await begin(plan, id: id, name: name, mode: mode, operationID: operationID)
        // The group's deletion marks the group, then looks for running deployments; this records the deployment, then
        // looks at the group: whichever comes second sees the other, so the two never both go ahead.
        if let groupRecord = try await api.documents.document(id: groupID(group)), Self.isBeingDeleted(groupRecord) {
            await failDeployment(id: id, operationID: operationID, message: "The resource group is being deleted.")
            throw AzureErrorResponse(.conflict, code: "ResourceGroupBeingDeleted", message: "The resource group '\(group.prefix(100))' is being deleted.")
        }
        let exchange = self
        guard api.jobs.start({ await exchange.runDeployment(plan, id: id, name: name, group: group, mode: mode, operationID: operationID) }) else {
            await failDeployment(id: id, operationID: operationID, message: "The server is shutting down; deploy again.")
            throw AzureErrorResponse(.serviceUnavailable, code: "ServiceUnavailable", message: "The server is shutting down; deploy again.")
        }
        let status = "\(baseURL(of: request))\(id)/operationStatuses/\(operationID)?api-version=\(apiVersion)"
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

    private func scope(group: String, deployment: String) async throws -> TemplateScope {
        guard let document = try await api.documents.document(id: "/subscriptions/\(api.subscriptionID)/resourceGroups/\(group)") else {
            throw AzureErrorResponse(.notFound, code: "ResourceGroupNotFound", message: "Resource group '\(group)' could not be found.")
        }
        return TemplateScope(subscriptionID: api.subscriptionID, tenantID: api.tenantID, resourceGroupName: group,
                             resourceGroup: try JSONText.parse(document.body), deploymentName: deployment)
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
                                          scope: try await scope(group: group, deployment: name)), mode)
        } catch let error as TemplateError {
            throw AzureErrorResponse(.badRequest, code: "InvalidTemplate", message: "Deployment template validation failed: \(error.message)")
        }
    }

    /// Records the deployment as running (and its operation status), clearing the operations of an earlier run.
    private func begin(_ plan: TemplatePlan, id: String, name: String, mode: String, operationID: String) async throws -> JSONValue {
        try await deleteOperations(of: id)
        let now = ISO8601DateFormatter().string(from: Date())
        let record: JSONValue = .object(JSONObject([
            ("id", .string(id)), ("name", .string(name)), ("type", .string("Microsoft.Resources/deployments")),
            ("properties", .object(JSONObject([
                ("provisioningState", .string("Running")), ("timestamp", .string(now)), ("mode", .string(mode)),
                ("parameters", .object(Self.shownParameters(plan))), ("correlationId", .string(UUID().uuidString.lowercased())),
            ]))),
        ]))
        try await api.documents.putDocument(StoredDocument(id: id, type: Self.deploymentType, name: name, body: JSONText.serialize(record)))
        try await api.documents.putDocument(StoredDocument(id: id + "/runner", type: Self.runnerType, name: name,
                                                           body: JSONText.serialize(.object(JSONObject([("node", .string(api.nodeID))])))))
        try await putOperationStatus(id: id, operationID: operationID, status: "Running", error: nil)
        return record
    }

    /// Ends a deployment that could not be started, so no poller waits for it.
    private func failDeployment(id: String, operationID: String, message: String) async {
        let error: JSONValue = .object(JSONObject([("code", .string("ServiceUnavailable")), ("message", .string(message))]))
        if let document = try? await api.documents.document(id: id) { try? await ResourceManagerAPI.markFailed(document, error: error, in: api.documents) }
        try? await putOperationStatus(id: id, operationID: operationID, status: "Failed", error: error)
    }

    /// Parameters as the record shows them: secure ones never echoed.
    private static func shownParameters(_ plan: TemplatePlan) -> JSONObject {
        var parameters = JSONObject()
        for key in plan.parameters.keys {
            let shown: JSONValue = plan.secureParameters.contains(key) ? .null : plan.parameters[key]!
            parameters[key] = .object(JSONObject([("value", shown)]))
        }
        return parameters
    }

    private func putOperationStatus(id: String, operationID: String, status: String, error: JSONValue?) async throws {
        var body = JSONObject([("id", .string("\(id)/operationStatuses/\(operationID)")), ("name", .string(operationID)), ("status", .string(status))])
        if let error { body["error"] = error }
        try await api.documents.putDocument(StoredDocument(id: "\(id)/operationStatuses/\(operationID)", type: Self.operationStatusType,
                                                           name: operationID, body: JSONText.serialize(.object(body))))
    }

    private func deleteOperations(of id: String) async throws {
        for type in [Self.operationType, Self.operationStatusType] {
            for document in try await api.documents.documents(under: id.lowercased() + "/", type: type) {
                _ = try await api.documents.deleteDocument(id: document.id)
            }
        }
    }

    /// One resource's deployment operation, as `deployments/{name}/operations` lists it.
    private func recordOperation(deploymentID: String, resource: TemplatePlan.Resource, started: Date, created: Bool,
                                 error: (code: String, message: String)?) async throws {
        try await recordOperation(deploymentID: deploymentID, target: (resource.id, resource.type, resource.name, resource.apiVersion),
                                  operation: "Create", started: started, statusCode: error == nil ? (created ? "Created" : "OK") : "BadRequest", error: error)
    }

    private func recordOperation(deploymentID: String, target: (id: String, type: String, name: String, apiVersion: String), operation: String,
                                 started: Date, statusCode: String, error: (code: String, message: String)?) async throws {
        let operationID = String(UInt64.random(in: 1_000_000_000_000_000...9_999_999_999_999_999))
        var properties = JSONObject([
            ("provisioningOperation", .string(operation)), ("provisioningState", .string(error == nil ? "Succeeded" : "Failed")),
            ("timestamp", .string(ISO8601DateFormatter().string(from: Date()))),
            ("duration", .string(String(format: "PT%.3fS", Date().timeIntervalSince(started)))),
            ("statusCode", .string(statusCode)),
            ("targetResource", .object(JSONObject([("id", .string(target.id)), ("resourceType", .string(target.type)),
                                                  ("resourceName", .string(target.name)), ("apiVersion", .string(target.apiVersion))]))),
        ])
        if let error {
            properties["statusMessage"] = .object(JSONObject([("error", .object(JSONObject([("code", .string(error.code)), ("message", .string(error.message))])))]))
        }
        let body: JSONValue = .object(JSONObject([
            ("id", .string("\(deploymentID)/operations/\(operationID)")), ("operationId", .string(operationID)), ("properties", .object(properties)),
        ]))
        try await api.documents.putDocument(StoredDocument(id: "\(deploymentID)/operations/\(operationID)", type: Self.operationType,
                                                           name: operationID, body: JSONText.serialize(body)))
    }

    /// Deploys one resource of a wave against the context as it was when the wave began.
    private func deployOne(_ resource: TemplatePlan.Resource, context: PlanningContext, group: String) async throws -> (state: JSONValue, created: Bool) {
        // The action the REST call of this resource would need, at the resource: `Microsoft.KeyVault/vaults/write`,
        // `Microsoft.Authorization/roleAssignments/write` (which Contributor lacks), `Microsoft.Resources/deployments/write`, …
        try await authorize(.control("\(resource.type)/write"), scope: resource.id)
        let existed = try await api.documents.document(id: resource.id) != nil
        if resource.type.lowercased() == Self.deploymentType {
            return (try await deployNested(resource, context: resource.evaluationContext(context), group: group), !existed)
        }
        let body = try TemplateEvaluator.evaluate(resource.definition, context: resource.evaluationContext(context))
        return (try await providers.put(type: resource.type, id: resource.id, name: resource.name, body: body,
                                        apiVersion: resource.apiVersion).state, !existed)
    }

    /// The top-level resource an id belongs to (`…/providers/Ns/type/name`), which resources under it share.
    static func parentID(of id: String) -> String {
        let parts = id.lowercased().split(separator: "/")
        guard let providers = parts.firstIndex(of: "providers"), parts.count >= providers + 4 else { return id.lowercased() }
        return parts[...(providers + 3)].joined(separator: "/")
    }

    /// A `Microsoft.Resources/deployments` resource in a template: its inline template deployed as a deployment of
    /// its own (recorded under its name). With `expressionEvaluationOptions.scope` `inner` the nested template has
    /// its own parameters and variables, given `properties.parameters`; with `outer` (ARM's default) it is
    /// evaluated in the parent's context. Its state (with `outputs`) is what `reference()` of it reads.
    private func deployNested(_ resource: TemplatePlan.Resource, context: any TemplateContext, group: String) async throws -> JSONValue {
        let raw = resource.definition
        let innerScope: Bool = {
            if case .string(let scope) = raw["properties"]["expressionEvaluationOptions"]["scope"] { scope.lowercased() == "inner" } else { false }
        }()
        var body: JSONValue
        if innerScope, case .object(var definition) = raw, case .object(var properties) = raw["properties"] {
            let template = properties["template"]
            properties["template"] = nil
            definition["properties"] = .object(properties)
            body = try TemplateEvaluator.evaluate(.object(definition), context: context)
            if case .object(var evaluated) = body, case .object(var evaluatedProperties) = body["properties"] {
                evaluatedProperties["template"] = template
                evaluated["properties"] = .object(evaluatedProperties)
                body = .object(evaluated)
            }
        } else {
            body = try TemplateEvaluator.evaluate(raw, context: context)
        }
        guard case .object = body["properties"]["template"] else {
            throw AzureErrorResponse(.badRequest, code: "InvalidTemplate",
                                     message: "The nested deployment '\(resource.name)' needs an inline properties.template (templateLink is not supported).")
        }
        let mode: String = { if case .string(let mode) = body["properties"]["mode"] { mode } else { "Incremental" } }()
        let plan: TemplatePlan
        do {
            plan = try TemplatePlan.make(template: body["properties"]["template"], parameterValues: innerScope ? body["properties"]["parameters"] : .null,
                                         scope: try await scope(group: group, deployment: resource.name))
        } catch let error as TemplateError {
            throw AzureErrorResponse(.badRequest, code: "InvalidTemplate", message: "The nested deployment '\(resource.name)' is not valid: \(error.message)")
        }
        let record = try await deploy(plan, id: resource.id, name: resource.name, group: group, mode: mode)
        if record["properties"]["provisioningState"] != .string("Succeeded") {
            let error = record["properties"]["error"]
            let code: String = { if case .string(let code) = error["code"] { code } else { "DeploymentFailed" } }()
            let message: String = { if case .string(let message) = error["message"] { message } else { "the nested deployment failed" } }()
            throw AzureErrorResponse(.badRequest, code: code, message: message)
        }
        return record
    }

    /// Fetches what the `list*()` calls in `value` return (as the caller, who needs write access to list secrets),
    /// so the expressions can then be evaluated. Registries answer `listCredentials`.
    private func fetchLists(in value: JSONValue, context: inout PlanningContext, evaluatingIn scoped: any TemplateContext) async throws {
        for call in TemplateEvaluator.listCalls(in: value, context: scoped) {
            let id = context.resolve(call.resourceID)
            try await authorize(.control("\(ResourceProviders.resourceType(of: id))/\(call.function)/action"), scope: id)
            guard call.function.lowercased() == "listcredentials", let registry = try await api.registries.get(id: id),
                  case .string(let registryID) = registry["id"] else {
                throw AzureErrorResponse(.badRequest, code: "InvalidTemplate",
                                         message: "\(call.function)() is not supported for '\(call.resourceID)' (registries answer listCredentials).")
            }
            context.recordList(call.function, resourceID: call.resourceID, result: try await api.registries.listCredentials(id: registryID))
        }
    }

    static func message(of error: any Error) -> String {
        switch error {
        case let error as TemplateError: error.message
        case let error as AzureErrorResponse: error.message
        default: "an internal error"
        }
    }

    /// Complete mode: resources of the group that the template does not (or no longer) declare are deleted
    /// (vaults soft-deleted), each recorded as a `Delete` operation. Returns the failure, if one.
    private func removeUnlisted(keeping deployed: Set<String>, deploymentID: String, group: String) async -> JSONValue? {
        do {
            let documents = try await api.documents.documents(under: groupID(group).lowercased() + "/", type: nil)
            // Children (replications) before their parents, so a parent's deletion finds nothing left to cascade.
            for document in documents.sorted(by: { $0.id.count > $1.id.count })
            where ResourceListing.listedTypes[document.type] != nil && !deployed.contains(document.id) {
                guard try await api.documents.document(id: document.id) != nil else { continue }  // gone with its parent
                let started = Date()
                let type = ResourceListing.listedTypes[document.type]!
                try await authorize(.control("\(type)/delete"), scope: document.id)
                _ = try await providers.delete(type: type, id: document.id, name: document.name)
                try await recordOperation(deploymentID: deploymentID, target: (document.id, type, document.name, ""), operation: "Delete",
                                          started: started, statusCode: "OK", error: nil)
            }
            return nil
        } catch {
            let message = (error as? AzureErrorResponse)?.message ?? "a resource could not be deleted"
            return .object(JSONObject([("code", .string("DeploymentFailed")),
                                       ("message", .string("Complete mode could not remove a resource the template does not declare: \(message)"))]))
        }
    }

    /// Runs a deployment begun by a PUT to its end; whatever happens, the record and the operation status end
    /// in a final state (a failure of the store itself included), so no poller waits forever.
    func runDeployment(_ plan: TemplatePlan, id: String, name: String, group: String, mode: String, operationID: String) async {
        let record: JSONValue
        do {
            record = try await deploy(plan, id: id, name: name, group: group, mode: mode)
        } catch {
            let failure: JSONValue = .object(JSONObject([("code", .string("InternalServerError")), ("message", .string("the deployment could not be completed"))]))
            try? await putOperationStatus(id: id, operationID: operationID, status: "Failed", error: failure)
            return
        }
        let succeeded = record["properties"]["provisioningState"] == .string("Succeeded")
        try? await putOperationStatus(id: id, operationID: operationID, status: succeeded ? "Succeeded" : "Failed",
                                      error: succeeded ? nil : record["properties"]["error"])
    }

    /// Deploys the plan's resources in order, then evaluates outputs. A failure stops the deployment and names the resource.
    private func deploy(_ plan: TemplatePlan, id: String, name: String, group: String, mode: String) async throws -> JSONValue {
        let started = Date()
        var context = PlanningContext(scope: try await scope(group: group, deployment: name), parameters: plan.parameters,
                                      variableDefinitions: plan.variables)
        var outputResources: [JSONValue] = []
        var failure: JSONValue?
        // In dependency order, in waves: every resource whose dependencies are done deploys at once, except that
        // resources under the same parent (a vault's access policies, a registry's replications) go one after
        // another, since each rewrites its parent. A resource that fails only because access it needs is not
        // granted yet (a customer-managed key whose access policy a sibling grants) is retried once, when
        // nothing else is left to start, as Azure's resource providers retry.
        var pending = plan.resources
        var deferred: [TemplatePlan.Resource] = []
        var deployed: Set<Int> = []
        var retried: Set<Int> = []
        while failure == nil {
            var ready = pending.filter { $0.dependsOn.allSatisfy(deployed.contains) }
            if ready.isEmpty {
                ready = deferred
                deferred = []
            }
            guard !ready.isEmpty else { break }
            pending.removeAll { candidate in ready.contains { $0.index == candidate.index } }
            var outcomes: [(resource: TemplatePlan.Resource, started: Date, result: Result<(state: JSONValue, created: Bool), any Error>)] = []
            var runnable: [TemplatePlan.Resource] = []
            for resource in ready {
                do {
                    let scoped = resource.evaluationContext(context)
                    try await fetchLists(in: resource.definition, context: &context, evaluatingIn: scoped)
                    runnable.append(resource)
                } catch {
                    outcomes.append((resource, Date(), .failure(error)))
                }
            }
            let snapshot = context
            let lanes = Dictionary(grouping: runnable, by: { Self.parentID(of: $0.id) }).values
            await withTaskGroup(of: [(TemplatePlan.Resource, Date, Result<(state: JSONValue, created: Bool), any Error>)].self) { tasks in
                for lane in lanes {
                    tasks.addTask {
                        var results: [(TemplatePlan.Resource, Date, Result<(state: JSONValue, created: Bool), any Error>)] = []
                        for resource in lane.sorted(by: { $0.index < $1.index }) {
                            let started = Date()
                            do {
                                results.append((resource, started, .success(try await deployOne(resource, context: snapshot, group: group))))
                            } catch {
                                results.append((resource, started, .failure(error)))
                            }
                        }
                        return results
                    }
                }
                for await results in tasks { outcomes += results.map { ($0.0, $0.1, $0.2) } }
            }
            for outcome in outcomes.sorted(by: { $0.resource.index < $1.resource.index }) {
                let resource = outcome.resource
                switch outcome.result {
                case .success(let result):
                    context.recordDeployed(id: resource.id, name: resource.name, state: result.state, copy: resource.copy)
                    deployed.insert(resource.index)
                    if resource.type.lowercased() == Self.deploymentType, case .array(let inner) = result.state["properties"]["outputResources"] {
                        outputResources += inner
                    }
                    outputResources.append(.object(JSONObject([("id", .string(resource.id))])))
                    try await recordOperation(deploymentID: id, resource: resource, started: outcome.started, created: result.created, error: nil)
                case .failure(let error as AzureErrorResponse) where error.code == "CustomerManagedKeyInaccessible" && !retried.contains(resource.index):
                    retried.insert(resource.index)
                    deferred.append(resource)
                case .failure(let error):
                    let (code, message): (String, String) = switch error {
                    case let error as AzureErrorResponse: (error.code, error.message)
                    case let error as TemplateError: ("InvalidTemplate", error.message)
                    default: ("InternalServerError", "the resource could not be deployed")
                    }
                    try await recordOperation(deploymentID: id, resource: resource, started: outcome.started, created: false, error: (code, message))
                    if failure == nil {
                        failure = .object(JSONObject([
                            ("code", .string("DeploymentFailed")),
                            ("message", .string("At least one resource deployment operation failed: \(resource.type) '\(resource.name)': (\(code)) \(message)")),
                            ("details", .array([.object(JSONObject([("code", .string(code)), ("message", .string(message)), ("target", .string(resource.id))]))])),
                        ]))
                    }
                }
            }
        }
        if failure == nil, mode.lowercased() == "complete" {
            failure = await removeUnlisted(keeping: Set(outputResources.compactMap { if case .string(let id) = $0["id"] { id.lowercased() } else { nil } }),
                                           deploymentID: id, group: group)
        }
        var outputs = JSONObject()
        if failure == nil, case .object(let definitions) = plan.outputs {
            for key in definitions.keys {
                do {
                    let current = context
                    try await fetchLists(in: definitions[key]!, context: &context, evaluatingIn: current)
                    let value = try TemplatePlan.evaluateOutput(definitions[key]!, context: context)
                    // Secure outputs are evaluated (their errors count) but never kept, as in Azure: anyone who may read
                    // the deployment would read them (a `listCredentials()` password, say).
                    let type = definitions[key]!["type"]
                    if case .string(let name) = type, ["securestring", "secureobject"].contains(name.lowercased()) {
                        outputs[key] = .object(JSONObject([("type", type)]))
                    } else {
                        outputs[key] = .object(JSONObject([("type", type), ("value", value)]))
                    }
                } catch {
                    failure = .object(JSONObject([("code", .string("DeploymentOutputEvaluationFailed")),
                                                  ("message", .string("The output '\(key)' could not be evaluated: \(Self.message(of: error))"))]))
                }
            }
        }
        var properties = JSONObject([
            ("provisioningState", .string(failure == nil ? "Succeeded" : "Failed")),
            ("timestamp", .string(ISO8601DateFormatter().string(from: Date()))),
            ("duration", .string(String(format: "PT%.3fS", Date().timeIntervalSince(started)))),
            ("mode", .string(mode)), ("parameters", .object(Self.shownParameters(plan))), ("outputs", .object(outputs)),
            ("outputResources", .array(outputResources)), ("correlationId", .string(UUID().uuidString.lowercased())),
        ])
        if let failure { properties["error"] = failure }
        let record: JSONValue = .object(JSONObject([
            ("id", .string(id)), ("name", .string(name)), ("type", .string("Microsoft.Resources/deployments")), ("properties", .object(properties)),
        ]))
        try await api.documents.putDocument(StoredDocument(id: id, type: Self.deploymentType, name: name, body: JSONText.serialize(record)))
        return record
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
        return failed
    }

    /// Marks a deployment record and its running operation statuses `Failed` with `error`.
    static func markFailed(_ document: StoredDocument, error: JSONValue, in documents: any DocumentStore) async throws {
        guard case .object(var record) = try JSONText.parse(document.body), case .object(var properties) = record["properties"] else { return }
        properties["provisioningState"] = .string("Failed")
        properties["error"] = error
        record["properties"] = .object(properties)
        try await documents.putDocument(StoredDocument(id: document.id, type: document.type, name: document.name, body: JSONText.serialize(.object(record))))
        for status in try await documents.documents(under: document.id.lowercased() + "/", type: ARMExchange.operationStatusType) {
            guard case .object(var body) = try JSONText.parse(status.body), body["status"] == .string("Running") else { continue }
            body["status"] = .string("Failed")
            body["error"] = error
            try await documents.putDocument(StoredDocument(id: status.id, type: status.type, name: status.name, body: JSONText.serialize(.object(body))))
        }
    }
}
