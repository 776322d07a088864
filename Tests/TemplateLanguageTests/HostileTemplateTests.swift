import JMESPath
import Testing
@testable import TemplateLanguage

/// Templates are requests: numbers, nesting and variables in them must end in a TemplateError, never a trap or a
/// stack overflow (issue 11: `string(add(9223372036854775807, 1))` and a self-referring variable crashed the server).
@Suite struct HostileTemplateTests {
    @Test func arithmeticIsCheckedAndExact() throws {
        for hostile in ["add(9223372036854775807, 1)", "string(add(9223372036854775807, 1))", "mul(4611686018427387904, 4)",
                        "sub(-9007199254740992, 1)", "mul(94906267, 94906267)", "div(1, 0)", "mod(1, 0)", "int('99999999999999999999')",
                        "add(json('1e308'), 1)", "range(9007199254740992, 10)", "substring('abc', 9007199254740992, 9007199254740992)",
                        "padLeft('a', 9007199254740992, '0')", "format('{0:D999999999999}', 1)", "format('{}', 1)", "format('{:x}', 1)",
                        "createArray(1, 2)[json('1e300')]", "createArray(1, 2)[json('-1')]", "dateTimeAdd('2020-01-01T00:00:00Z', 'P99999999999999999999D')",
                        "dateTimeAdd('2020-01-01T00:00:00Z', 'P999999999W999999999W')"] {
            #expect(throws: TemplateError.self, "\(hostile)") { _ = try evaluate("[\(hostile)]") }
        }
        #expect(try evaluate("[add(9007199254740000, 992)]") == .number(9_007_199_254_740_992))
        #expect(try evaluate("[div(-7, 2)]") == .number(-3))
        #expect(try evaluate("[mod(-7, 2)]") == .number(-1))
        #expect(try evaluate("[join(createArray(json('1e300'), 2), ',')]") == .string("1e+300,2"))
        #expect(try evaluate("[tryGet(createArray(1, 2), json('1e300'))]") == .null)
    }

    @Test func nestingIsBounded() throws {
        let deep = String(repeating: "concat(", count: 100_000) + "'a'" + String(repeating: ")", count: 100_000)
        #expect(throws: TemplateError.self) { _ = try evaluate("[\(deep)]") }
        let indexes = "createArray(1)" + String(repeating: "[createArray(0)", count: 100_000) + String(repeating: "[0]]", count: 100_000)
        #expect(throws: TemplateError.self) { _ = try evaluate("[\(indexes)]") }
        let fine = String(repeating: "concat(", count: 50) + "'a'" + String(repeating: ")", count: 50)
        #expect(try evaluate("[\(fine)]") == .string("a"))
    }

    @Test func variablesThatReferToEachOtherAreRefusedAtValidation() throws {
        let templates = [
            #"{"variables": {"a": "[variables('a')]"}, "resources": []}"#,
            #"{"variables": {"a": "[concat(variables('b'), 'x')]", "B": "[variables('A')]"}, "resources": []}"#,
            #"{"variables": {"a": {"nested": ["[variables('c')]"]}, "c": "[variables('a').nested]"}, "resources": []}"#,
            #"{"variables": {"copy": [{"name": "loop", "count": 2, "input": "[variables('loop')]"}]}, "resources": []}"#,
        ]
        for text in templates {
            let error = #expect(throws: TemplateError.self, "\(text)") {
                try TemplatePlan.make(template: try JSONText.parse(text), parameterValues: .null, scope: scope)
            }
            #expect(error?.message.contains("refer to each other") == true, "\(error?.message ?? "")")
        }
        // A name computed at evaluation escapes the static check: evaluating it is still an error, not a crash.
        let computed = try JSONText.parse(#"{"variables": {"ab": "[variables(concat('a', 'b'))]"}, "outputs": {}, "resources": []}"#)
        let plan = try TemplatePlan.make(template: computed, parameterValues: .null, scope: scope)
        let context = PlanningContext(scope: scope, parameters: plan.parameters, variableDefinitions: plan.variables)
        #expect(throws: TemplateError.self) { _ = try context.variable("ab") }
        // Variables that use each other without a cycle still work.
        let chain = try JSONText.parse(#"{"variables": {"a": "x", "b": "[concat(variables('a'), 'y')]", "c": "[variables('b')]"}, "resources": []}"#)
        let chained = try TemplatePlan.make(template: chain, parameterValues: .null, scope: scope)
        let chainContext = PlanningContext(scope: scope, parameters: chained.parameters, variableDefinitions: chained.variables)
        #expect(try chainContext.variable("c") == .string("xy"))
    }
}
