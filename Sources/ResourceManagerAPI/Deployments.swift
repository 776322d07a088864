import AzureHTTP
import CofferStorage
import Foundation
import Hummingbird
import JMESPath
import TemplateLanguage

/// `Microsoft.Resources/deployments` at resource-group scope: validate, deploy (in dependency order),
/// and the deployment records. Deployments run to completion before the PUT answers, so the
/// response carries the final state (`Succeeded` or `Failed` with the failing resource named).
extension ARMExchange {
    static let deploymentType = "microsoft.resources/deployments"

    func deploymentRequest(group: String, rest: [String]) async throws -> Response {
        let groupScope = "/subscriptions/\(api.subscriptionID)/resourceGroups/\(group)"
        if rest.isEmpty, request.method == .get {
            try await authorize(scope: groupScope, write: false)
            let records = try await api.documents.documents(under: groupScope.lowercased() + "/providers/microsoft.resources/deployments/",
                                                            type: Self.deploymentType)
            return jsonResponse(.object(JSONObject([("value", .array(try records.map { try JSONText.parse($0.body) }))])))
        }
        let name = rest[0]
        let id = "\(groupScope)/providers/Microsoft.Resources/deployments/\(name)"
        switch (request.method, rest.count) {
        case (.get, 1):
            try await authorize(scope: groupScope, write: false)
            guard let record = try await api.documents.document(id: id) else {
                throw AzureErrorResponse(.notFound, code: "DeploymentNotFound", message: "Deployment '\(name)' could not be found.")
            }
            return jsonResponse(try JSONText.parse(record.body))
        case (.delete, 1):
            try await authorize(scope: groupScope, write: true)
            return AzureJSON.empty(try await api.documents.deleteDocument(id: id) ? .ok : .noContent)
        case (.post, 2) where rest[1].lowercased() == "validate":
            try await authorize(scope: groupScope, write: true)
            let (plan, _) = try await makePlan(group: group, name: name)
            return jsonResponse(.object(JSONObject([
                ("id", .string(id)), ("name", .string(name)), ("type", .string("Microsoft.Resources/deployments")),
                ("properties", .object(JSONObject([
                    ("provisioningState", .string("Succeeded")),
                    ("validatedResources", .array(plan.resources.map { .object(JSONObject([("id", .string($0.id))])) })),
                ]))),
            ])))
        case (.put, 1):
            try await authorize(scope: groupScope, write: true)
            let (plan, mode) = try await makePlan(group: group, name: name)
            let existed = try await api.documents.document(id: id) != nil
            let record = try await deploy(plan, id: id, name: name, group: group, mode: mode)
            return jsonResponse(record, status: existed ? .ok : .created)
        default:
            throw AzureErrorResponse(.notFound, code: "NotFound", message: "no deployment operation at \(request.method.rawValue) \(request.uri.path.prefix(200))")
        }
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

    /// Deploys the plan's resources in order, then evaluates outputs. A failure stops the deployment and names the resource.
    private func deploy(_ plan: TemplatePlan, id: String, name: String, group: String, mode: String) async throws -> JSONValue {
        let started = Date()
        var context = PlanningContext(scope: try await scope(group: group, deployment: name), parameters: plan.parameters,
                                      variableDefinitions: plan.variables)
        let deployer = ResourceDeployer(api: api)
        var outputResources: [JSONValue] = []
        var failure: JSONValue?
        // In dependency order. A resource that fails only because access it needs is not granted yet (a
        // customer-managed key whose access policy comes later in the same template) is retried once,
        // after the others, as Azure's resource providers retry.
        var pending = plan.resources
        var deployed: Set<Int> = []
        var retried: Set<Int> = []
        while let position = pending.firstIndex(where: { $0.dependsOn.allSatisfy(deployed.contains) }) {
            let resource = pending.remove(at: position)
            do {
                try await authorize(scope: resource.id, write: true)
                let body = try TemplateEvaluator.evaluate(resource.definition, context: context)
                let state = try await deployer.put(type: resource.type, id: resource.id, name: resource.name, body: body)
                context.deployedResources[resource.id.lowercased()] = state
                deployed.insert(resource.index)
                outputResources.append(.object(JSONObject([("id", .string(resource.id))])))
            } catch let error as AzureErrorResponse where error.code == "CustomerManagedKeyInaccessible" && !retried.contains(resource.index)
                && pending.contains(where: { !$0.dependsOn.contains(resource.index) }) {
                retried.insert(resource.index)
                pending.append(resource)
            } catch {
                let (code, message): (String, String) = switch error {
                case let error as AzureErrorResponse: (error.code, error.message)
                case let error as TemplateError: ("InvalidTemplate", error.message)
                default: ("InternalServerError", "the resource could not be deployed")
                }
                failure = .object(JSONObject([
                    ("code", .string("DeploymentFailed")),
                    ("message", .string("At least one resource deployment operation failed: \(resource.type) '\(resource.name)': (\(code)) \(message)")),
                    ("details", .array([.object(JSONObject([("code", .string(code)), ("message", .string(message)), ("target", .string(resource.id))]))])),
                ]))
                break
            }
        }
        var outputs = JSONObject()
        if failure == nil, case .object(let definitions) = plan.outputs {
            for key in definitions.keys {
                do {
                    let value = try TemplateEvaluator.evaluate(definitions[key]!["value"], context: context)
                    outputs[key] = .object(JSONObject([("type", definitions[key]!["type"]), ("value", value)]))
                } catch {
                    failure = .object(JSONObject([("code", .string("DeploymentOutputEvaluationFailed")),
                                                  ("message", .string("The output '\(key)' could not be evaluated: \(error.message)"))]))
                }
            }
        }
        var parameters = JSONObject()
        for key in plan.parameters.keys {
            let shown: JSONValue = plan.secureParameters.contains(key) ? .null : plan.parameters[key]!
            parameters[key] = .object(JSONObject([("value", shown)]))
        }
        var properties = JSONObject([
            ("provisioningState", .string(failure == nil ? "Succeeded" : "Failed")),
            ("timestamp", .string(ISO8601DateFormatter().string(from: Date()))),
            ("duration", .string(String(format: "PT%.3fS", Date().timeIntervalSince(started)))),
            ("mode", .string(mode)), ("parameters", .object(parameters)), ("outputs", .object(outputs)),
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
