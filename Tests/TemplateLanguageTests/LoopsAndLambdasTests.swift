import JMESPath
import Testing
@testable import TemplateLanguage

@Suite struct CopyLoopTests {
    func template(_ text: String) throws -> JSONValue { try JSONText.parse(text) }

    @Test func resourceLoopsMakeInstancesAndDependOnEachOther() throws {
        let plan = try TemplatePlan.make(template: try template("""
            {"parameters": {"names": {"type": "array", "defaultValue": ["a", "b", "c"]}},
             "resources": [
               {"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2018-11-30",
                "name": "[concat('id-', parameters('names')[copyIndex()])]", "location": "westeurope",
                "copy": {"name": "ids", "count": "[length(parameters('names'))]"}},
               {"type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01", "name": "[concat('vault', copyIndex(1))]",
                "copy": {"name": "vaults", "count": 3, "mode": "serial", "batchSize": 2}, "dependsOn": ["ids"]}
             ]}
            """), parameterValues: .null, scope: scope)
        #expect(plan.resources.map(\.name) == ["id-a", "id-b", "id-c", "vault1", "vault2", "vault3"])
        let ids = Set(plan.resources.prefix(3).map(\.index))
        #expect(Set(plan.resources[3].dependsOn) == ids)
        // Serial in batches of two: the third vault waits for the first two.
        #expect(Set(plan.resources[5].dependsOn) == ids.union([plan.resources[3].index, plan.resources[4].index]))
        // At deployment time each instance's body sees its own index.
        let context = PlanningContext(scope: scope, parameters: plan.parameters, variableDefinitions: plan.variables)
        let body = try TemplateEvaluator.evaluate(plan.resources[1].definition, context: plan.resources[1].evaluationContext(context))
        #expect(body["name"] == .string("id-b") && body["copy"] == .null)
    }

    @Test func propertyVariableAndOutputLoops() throws {
        let document = try template("""
            {"variables": {"copy": [{"name": "ports", "count": 3, "input": "[add(8000, copyIndex('ports'))]"}],
                           "rules": {"copy": [{"name": "ipRules", "count": 2, "input": {"value": "[concat('10.0.0.', copyIndex('ipRules'))]"}}]}},
             "resources": [],
             "outputs": {"squares": {"type": "array", "copy": {"count": 3, "input": "[mul(copyIndex(), copyIndex())]"}}}}
            """)
        let plan = try TemplatePlan.make(template: document, parameterValues: .null, scope: scope)
        let context = PlanningContext(scope: scope, parameters: plan.parameters, variableDefinitions: plan.variables)
        #expect(try context.variable("ports") == .array([.number(8000), .number(8001), .number(8002)]))
        #expect(try TemplateEvaluator.evaluate(.string("[variables('rules').ipRules[1].value]"), context: context) == .string("10.0.0.1"))
        #expect(try TemplatePlan.evaluateOutput(plan.outputs["squares"], context: context) == .array([.number(0), .number(1), .number(4)]))
    }

    @Test func referencesGivesEveryInstanceOfALoopInOrder() throws {
        var context = PlanningContext(scope: scope, parameters: JSONObject(), variableDefinitions: JSONObject())
        for index in [1, 0] {
            context.recordDeployed(id: "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id\(index)",
                                   name: "id\(index)", state: try JSONText.parse("{\"properties\":{\"principalId\":\"p\(index)\"}}"),
                                   copy: ("ids", index))
        }
        #expect(try evaluateIn(context, "[map(references('ids'), lambda('r', lambdaVariables('r').principalId))]") == .array([.string("p0"), .string("p1")]))
        #expect(try evaluateIn(context, "[length(references('ids', 'Full'))]") == .number(2))
        #expect(throws: TemplateError.self) { try evaluateIn(context, "[references('nothing')]") }
        #expect(try evaluateIn(context, "[managementGroupResourceId('mg1', 'Microsoft.Authorization/policyDefinitions', 'p')]")
                == .string("/providers/Microsoft.Management/managementGroups/mg1/providers/Microsoft.Authorization/policyDefinitions/p"))
        #expect(throws: TemplateError.self) { try evaluateIn(context, "[managementGroup()]") }
        #expect(try evaluateIn(context, "[toLogicalZone('sub1', 'westeurope', '1')]") == .string(""))
    }

    func evaluateIn(_ context: PlanningContext, _ expression: String) throws -> JSONValue {
        try TemplateEvaluator.evaluate(.string(expression), context: context)
    }

    @Test func loopMistakesAreRefused() throws {
        #expect(throws: TemplateError.self) { try evaluate("[copyIndex()]") }
        #expect(throws: TemplateError.self) {
            try TemplatePlan.make(template: try template("""
                {"resources": [{"type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01", "name": "same", "copy": {"name": "l", "count": 2}}]}
                """), parameterValues: .null, scope: scope)
        }
        #expect(throws: TemplateError.self) {
            try TemplatePlan.make(template: try template("""
                {"resources": [{"type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01", "name": "[concat('v', copyIndex())]",
                                "copy": {"name": "l", "count": 801}}]}
                """), parameterValues: .null, scope: scope)
        }
    }
}

@Suite struct LambdaAndNewerFunctionTests {
    @Test(arguments: [
        ("[filter(createArray(1, 2, 3, 4), lambda('n', greater(lambdaVariables('n'), 2)))]", "[3,4]"),
        ("[map(createArray('a', 'b'), lambda('s', toUpper(lambdaVariables('s'))))]", "[\"A\",\"B\"]"),
        ("[map(createArray('a', 'b'), lambda('s', 'i', concat(lambdaVariables('s'), string(lambdaVariables('i')))))]", "[\"a0\",\"b1\"]"),
        ("[reduce(createArray(1, 2, 3), 10, lambda('sum', 'n', add(lambdaVariables('sum'), lambdaVariables('n'))))]", "16"),
        ("[sort(createArray(3, 1, 2), lambda('a', 'b', less(lambdaVariables('a'), lambdaVariables('b'))))]", "[1,2,3]"),
        ("[toObject(createArray('x', 'y'), lambda('k', lambdaVariables('k')), lambda('k', length(lambdaVariables('k'))))]", "{\"x\":1,\"y\":1}"),
        ("[mapValues(createObject('a', 1, 'b', 2), lambda('v', mul(lambdaVariables('v'), 10)))]", "{\"a\":10,\"b\":20}"),
        ("[groupBy(createArray('apple', 'avocado', 'bean'), lambda('s', substring(lambdaVariables('s'), 0, 1)))]", "{\"a\":[\"apple\",\"avocado\"],\"b\":[\"bean\"]}"),
        ("[dateTimeAdd('2020-04-07T14:53:14Z', 'P3Y')]", "\"2023-04-07T14:53:14Z\""),
        ("[dateTimeAdd('2020-04-07T14:53:14Z', '-PT9H')]", "\"2020-04-07T05:53:14Z\""),
        ("[dateTimeAdd('2020-04-07T14:53:14Z', 'P1D', 'yyyy-MM-dd')]", "\"2020-04-08\""),
        ("[dateTimeToEpoch('2023-05-02T15:16:13Z')]", "1683040573"),
        ("[dateTimeFromEpoch(1683040573)]", "\"2023-05-02T15:16:13Z\""),
        ("[flatten(createArray(createArray(1, 2), createArray(3)))]", "[1,2,3]"),
        ("[indexFromEnd(createArray('a', 'b', 'c'), 1)]", "\"c\""),
        ("[tryIndexFromEnd(createArray('a'), 5)]", "null"),
        ("[tryGet(createObject('a', createObject('b', 7)), 'a', 'b')]", "7"),
        ("[tryGet(createObject('a', 1), 'missing')]", "null"),
        ("[objectKeys(createObject('a', 1, 'b', 2))]", "[\"a\",\"b\"]"),
        ("[shallowMerge(createArray(createObject('a', 1, 'b', 1), createObject('b', 2)))]", "{\"a\":1,\"b\":2}"),
        ("[join(createArray('a', 'b', 'c'), ',')]", "\"a,b,c\""),
        ("[dataUri('Hello')]", "\"data:text/plain;charset=utf8;base64,SGVsbG8=\""),
        ("[dataUriToString('data:;base64,SGVsbG8sIFdvcmxkIQ==')]", "\"Hello, World!\""),
    ])
    func evaluates(expression: String, expected: String) throws {
        #expect(try evaluate(expression) == (try JSONText.parse(expected)), "\(expression)")
    }

    @Test func utcNowFollowsDotNetFormats() throws {
        guard case .string(let compact) = try evaluate("[utcNow()]"), case .string(let universal) = try evaluate("[utcNow('u')]") else {
            Issue.record("utcNow() must give strings")
            return
        }
        // Default yyyyMMddTHHmmssZ, as ARM: 20190305T175318Z.
        #expect(compact.count == 16 && compact.dropFirst(8).first == "T" && compact.hasSuffix("Z"))
        #expect(universal.count == 20 && Array(universal)[10] == " " && universal.hasSuffix("Z"))
    }

    @Test func lambdaMistakesAreRefused() {
        #expect(throws: TemplateError.self) { try evaluate("[map(createArray(1), 'notALambda')]") }
        #expect(throws: TemplateError.self) { try evaluate("[lambdaVariables('x')]") }
        #expect(throws: TemplateError.self) { try evaluate("[dateTimeAdd('yesterday', 'P1D')]") }
    }
}
