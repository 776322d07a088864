import Foundation
import JMESPath
import Testing
@testable import TemplateLanguage

let scope = TemplateScope(subscriptionID: "sub1", tenantID: "tenant1", resourceGroupName: "rg1",
                          resourceGroup: try! JSONText.parse("{\"id\":\"/subscriptions/sub1/resourceGroups/rg1\",\"name\":\"rg1\",\"location\":\"westeurope\"}"),
                          deploymentName: "d1")

func seedTemplate() throws -> JSONValue {
    let url = Bundle.module.url(forResource: "CMKtemplate", withExtension: "json", subdirectory: "Templates")!
    return try JSONText.parse(String(contentsOf: url, encoding: .utf8))
}

func parameters(_ pairs: [(String, String)]) -> JSONValue {
    .object(JSONObject(pairs.map { ($0.0, JSONValue.object(JSONObject([("value", .string($0.1))]))) }))
}

@Suite struct TemplatePlanTests {
    let seedParameters = parameters([("registry_name", "myregistry"), ("identity_name", "cmkidentity"), ("vault_name", "cmkvault"),
                                     ("kek_id", "https://cmkvault.vault.localhost:8443/keys/kek/0123")])

    @Test func theSeedTemplatePlansInDependencyOrder() throws {
        let plan = try TemplatePlan.make(template: try seedTemplate(), parameterValues: seedParameters, scope: scope)
        #expect(plan.resources.map(\.type) == ["Microsoft.ManagedIdentity/userAssignedIdentities", "Microsoft.ContainerRegistry/registries",
                                               "Microsoft.KeyVault/vaults/accessPolicies"])
        #expect(plan.resources[2].id == "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/cmkvault/accessPolicies/add")
        #expect(plan.resources[1].dependsOn == [2])

        // At deployment time the registry's body evaluates against the deployed identity.
        var context = PlanningContext(scope: scope, parameters: plan.parameters, variableDefinitions: JSONObject())
        context.recordDeployed(id: plan.resources[0].id, name: plan.resources[0].name, state: try JSONText.parse("""
            {"id": "\(plan.resources[0].id)", "properties": {"tenantId": "tenant1", "principalId": "p-1", "clientId": "c-1"}}
            """))
        let registry = try TemplateEvaluator.evaluate(plan.resources[1].definition, context: context)
        #expect(registry["properties"]["encryption"]["keyVaultProperties"]["identity"] == .string("c-1"))
        #expect(registry["properties"]["encryption"]["keyVaultProperties"]["KeyIdentifier"] == .string("https://cmkvault.vault.localhost:8443/keys/kek/0123"))
        #expect(registry["location"] == .string("westeurope"))
        let policy = try TemplateEvaluator.evaluate(plan.resources[2].definition, context: context)
        guard case .array(let policies) = policy["properties"]["accessPolicies"] else { Issue.record("no policies"); return }
        #expect(policies.first?["objectId"] == .string("p-1") && policies.first?["tenantId"] == .string("tenant1"))
    }

    @Test func referenceByNameMeansTheTemplatesResource() throws {
        var context = PlanningContext(scope: scope, parameters: JSONObject(), variableDefinitions: JSONObject())
        let id = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/appId"
        context.recordDeployed(id: id, name: "appId", state: try JSONText.parse("{\"properties\":{\"principalId\":\"p-9\"}}"))
        for expression in ["[reference('appid').principalId]", "[reference('\(id)').principalId]"] {
            #expect(try TemplateEvaluator.evaluate(.string(expression), context: context) == .string("p-9"))
        }
        #expect(throws: TemplateError.self) { try TemplateEvaluator.evaluate(.string("[reference('other')]"), context: context) }
    }

    @Test func parameterRulesAreEnforced() throws {
        #expect(throws: TemplateError.self) {
            try TemplatePlan.make(template: try seedTemplate(), parameterValues: parameters([("registry_name", "r")]), scope: scope)
        }
        #expect(throws: TemplateError.self) {
            try TemplatePlan.make(template: try seedTemplate(), parameterValues: parameters([("kek_id", "k"), ("nope", "x")]), scope: scope)
        }
        let template = try JSONText.parse("""
            {"parameters": {"size": {"type": "int", "defaultValue": 2, "minValue": 1, "maxValue": 3},
                            "tier": {"type": "string", "allowedValues": ["Basic", "Premium"], "defaultValue": "Premium"},
                            "secret": {"type": "secureString", "defaultValue": "[concat('s', parameters('tier'))]"}},
             "resources": []}
            """)
        let plan = try TemplatePlan.make(template: template, parameterValues: parameters([("size", "3")]), scope: scope)
        #expect(plan.parameters["size"] == .number(3) && plan.parameters["secret"] == .string("sPremium") && plan.secureParameters == ["secret"])
        for bad in [[("size", "4")], [("size", "x")], [("tier", "Gold")]] {
            #expect(throws: TemplateError.self) { try TemplatePlan.make(template: template, parameterValues: parameters(bad), scope: scope) }
        }
    }

    @Test func cyclesUnknownTypesAndBadNamesAreRefused() throws {
        let cycle = try JSONText.parse("""
            {"resources": [
              {"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2018-11-30", "name": "a", "dependsOn": ["b"]},
              {"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2018-11-30", "name": "b", "dependsOn": ["a"]}]}
            """)
        #expect(throws: TemplateError.self) { try TemplatePlan.make(template: cycle, parameterValues: .null, scope: scope) }
        let unknown = try JSONText.parse("{\"resources\": [{\"type\": \"Microsoft.Compute/virtualMachines\", \"apiVersion\": \"2023-01-01\", \"name\": \"vm\"}]}")
        #expect(throws: TemplateError.self) { try TemplatePlan.make(template: unknown, parameterValues: .null, scope: scope) }
        let badVersion = try JSONText.parse("{\"resources\": [{\"type\": \"Microsoft.KeyVault/vaults\", \"apiVersion\": \"latest\", \"name\": \"v\"}]}")
        #expect(throws: TemplateError.self) { try TemplatePlan.make(template: badVersion, parameterValues: .null, scope: scope) }
        let badName = try JSONText.parse("{\"resources\": [{\"type\": \"Microsoft.KeyVault/vaults/accessPolicies\", \"apiVersion\": \"2018-02-14\", \"name\": \"v\"}]}")
        #expect(throws: TemplateError.self) { try TemplatePlan.make(template: badName, parameterValues: .null, scope: scope) }
        let skipped = try JSONText.parse("""
            {"resources": [{"condition": "[equals('a', 'b')]", "type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01", "name": "v"}]}
            """)
        #expect(try TemplatePlan.make(template: skipped, parameterValues: .null, scope: scope).resources.isEmpty)
    }
}
