import AzureErrors
import CofferStorage
import Foundation
import Identity
import JMESPath
import TemplateLanguage

/// Who a deployment acts as: each resource it deploys is authorized as the deploying principal's own REST call
/// would be. A value, so the work that outlives the request holds the caller's claims, not the request.
package struct Caller: Sendable {
    package let claims: AccessTokenClaims
    package let directory: Directory

    package init(claims: AccessTokenClaims, directory: Directory) {
        self.claims = claims
        self.directory = directory
    }

    package func authorize(_ action: AzureAction, scope: String) async throws {
        guard try await directory.permits(claims.oid, action, at: scope) else { throw authorizationFailed(action.name, scope: scope) }
    }

    package func authorizationFailed(_ action: String, scope: String) -> AzureErrorResponse {
        AzureErrorResponse(.forbidden, code: "AuthorizationFailed",
                           message: "The client '\(claims.appid)' with object id '\(claims.oid)' does not have authorization to perform action '\(action)' over scope '\(scope.prefix(300))' or the scope is invalid.")
    }

    package func authorizeLinked(_ action: AzureAction, _ scope: String) async throws {
        guard try await directory.permits(claims.oid, action, at: scope) else {
            throw AzureErrorResponse(.forbidden, code: "LinkedAuthorizationFailed",
                                     message: "The client '\(claims.appid)' with object id '\(claims.oid)' does not have permission to perform action "
                                         + "'\(action.name)' on the linked scope '\(scope.prefix(300))'.")
        }
    }
}

/// Runs a deployment's plan: resources in dependency order through the same providers as the REST API, each
/// recorded as a deployment operation, outputs evaluated, Complete mode's removals; and the records of it.
package struct DeploymentRunner: Sendable {
    package static let deploymentType = ControlPlaneServices.deploymentType
    package static let operationStatusType = "microsoft.resources/deployments/operationstatuses"
    package static let operationType = "microsoft.resources/deployments/operations"
    /// Which node runs a deployment (kept beside its record, never shown to clients).
    package static let runnerType = "coffer/deploymentrunners"

    package let plane: ControlPlaneServices
    package let caller: Caller
    /// This process, named in the records of the deployments it runs.
    package let nodeID: String

    package init(plane: ControlPlaneServices, caller: Caller, nodeID: String) {
        self.plane = plane
        self.caller = caller
        self.nodeID = nodeID
    }

    package var providers: ResourceProviders { ResourceProviders(plane: plane, authorizeLinked: { [caller] in try await caller.authorizeLinked($0, $1) }) }

    package func authorize(_ action: AzureAction, scope: String) async throws { try await caller.authorize(action, scope: scope) }

    package func groupID(_ name: String) -> String { "/subscriptions/\(plane.subscriptionID)/resourceGroups/\(name)" }

    package func scope(group: String, deployment: String) async throws -> TemplateScope {
        guard let document = try await plane.documents.document(id: "/subscriptions/\(plane.subscriptionID)/resourceGroups/\(group)") else {
            throw AzureErrorResponse(.notFound, code: "ResourceGroupNotFound", message: "Resource group '\(group)' could not be found.")
        }
        return TemplateScope(subscriptionID: plane.subscriptionID, tenantID: plane.tenantID, resourceGroupName: group,
                             resourceGroup: try JSONText.parse(document.body), deploymentName: deployment)
    }

    /// Records the deployment as running (and its operation status), clearing the operations of an earlier run.
    package func begin(_ plan: TemplatePlan, id: String, name: String, mode: String, operationID: String) async throws -> JSONValue {
        try await deleteOperations(of: id)
        let now = ISO8601DateFormatter().string(from: Date())
        let record: JSONValue = .object(JSONObject([
            ("id", .string(id)), ("name", .string(name)), ("type", .string("Microsoft.Resources/deployments")),
            ("properties", .object(JSONObject([
                ("provisioningState", .string("Running")), ("timestamp", .string(now)), ("mode", .string(mode)),
                ("parameters", .object(Self.shownParameters(plan))), ("correlationId", .string(UUID().uuidString.lowercased())),
            ]))),
        ]))
        try await plane.documents.putDocument(StoredDocument(id: id, type: Self.deploymentType, name: name, body: JSONText.serialize(record)))
        try await plane.documents.putDocument(StoredDocument(id: id + "/runner", type: Self.runnerType, name: name,
                                                           body: JSONText.serialize(.object(JSONObject([("node", .string(nodeID))])))))
        try await putOperationStatus(id: id, operationID: operationID, status: "Running", error: nil)
        return record
    }

    /// Ends a deployment that could not be started, so no poller waits for it.
    package func failDeployment(id: String, operationID: String, message: String) async {
        let error: JSONValue = .object(JSONObject([("code", .string("ServiceUnavailable")), ("message", .string(message))]))
        if let document = try? await plane.documents.document(id: id) { try? await Self.markFailed(document, error: error, in: plane.documents) }
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
        try await plane.documents.putDocument(StoredDocument(id: "\(id)/operationStatuses/\(operationID)", type: Self.operationStatusType,
                                                           name: operationID, body: JSONText.serialize(.object(body))))
    }

    package func deleteOperations(of id: String) async throws {
        for type in [Self.operationType, Self.operationStatusType] {
            for document in try await plane.documents.documents(under: id.lowercased() + "/", type: type) {
                _ = try await plane.documents.deleteDocument(id: document.id)
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
        try await plane.documents.putDocument(StoredDocument(id: "\(deploymentID)/operations/\(operationID)", type: Self.operationType,
                                                           name: operationID, body: JSONText.serialize(body)))
    }

    /// Deploys one resource of a wave against the context as it was when the wave began.
    private func deployOne(_ resource: TemplatePlan.Resource, context: PlanningContext, group: String) async throws -> (state: JSONValue, created: Bool) {
        // The action the REST call of this resource would need, at the resource: `Microsoft.KeyVault/vaults/write`,
        // `Microsoft.Authorization/roleAssignments/write` (which Contributor lacks), `Microsoft.Resources/deployments/write`, …
        try await authorize(.control("\(resource.type)/write"), scope: resource.id)
        let existed = try await plane.documents.document(id: resource.id) != nil
        if resource.type.lowercased() == Self.deploymentType {
            return (try await deployNested(resource, context: resource.evaluationContext(context), group: group), !existed)
        }
        let body = try TemplateEvaluator.evaluate(resource.definition, context: resource.evaluationContext(context))
        return (try await providers.put(type: resource.type, id: resource.id, name: resource.name, body: body,
                                        apiVersion: resource.apiVersion).state, !existed)
    }

    /// The top-level resource an id belongs to (`…/providers/Ns/type/name`), which resources under it share.
    package static func parentID(of id: String) -> String {
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
            guard call.function.lowercased() == "listcredentials", let registryID = try await plane.registries.get(id: id)?.id else {
                throw AzureErrorResponse(.badRequest, code: "InvalidTemplate",
                                         message: "\(call.function)() is not supported for '\(call.resourceID)' (registries answer listCredentials).")
            }
            context.recordList(call.function, resourceID: call.resourceID, result: try await plane.registries.listCredentials(id: registryID))
        }
    }

    package static func message(of error: any Error) -> String {
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
            let documents = try await plane.documents.documents(under: groupID(group).lowercased() + "/", type: nil)
            // Children (replications) before their parents, so a parent's deletion finds nothing left to cascade.
            for document in documents.sorted(by: { $0.id.count > $1.id.count })
            where ResourceListing.listedTypes[document.type] != nil && !deployed.contains(document.id) {
                guard try await plane.documents.document(id: document.id) != nil else { continue }  // gone with its parent
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
    package func runDeployment(_ plan: TemplatePlan, id: String, name: String, group: String, mode: String, operationID: String) async {
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
        try await plane.documents.putDocument(StoredDocument(id: id, type: Self.deploymentType, name: name, body: JSONText.serialize(record)))
        return record
    }

    /// Marks a deployment record and its running operation statuses failed.
    package static func markFailed(_ document: StoredDocument, error: JSONValue, in documents: any DocumentStore) async throws {
        guard case .object(var record) = try JSONText.parse(document.body), case .object(var properties) = record["properties"] else { return }
        properties["provisioningState"] = .string("Failed")
        properties["error"] = error
        record["properties"] = .object(properties)
        try await documents.putDocument(StoredDocument(id: document.id, type: document.type, name: document.name, body: JSONText.serialize(.object(record))))
        for status in try await documents.documents(under: document.id.lowercased() + "/", type: operationStatusType) {
            guard case .object(var body) = try JSONText.parse(status.body), body["status"] == .string("Running") else { continue }
            body["status"] = .string("Failed")
            body["error"] = error
            try await documents.putDocument(StoredDocument(id: status.id, type: status.type, name: status.name, body: JSONText.serialize(.object(body))))
        }
    }
}
