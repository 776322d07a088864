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
                        "dateTimeAdd('2020-01-01T00:00:00Z', 'P999999999W999999999W')",
                        // Found by review: abs(Int.min) traps, and -2^53 · 1024 is exactly Int.min.
                        "int('-9223372036854775808')", "mul(-9007199254740992, 1024)", "add(int('-9223372036854775808'), 0)"] {
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

    /// Found by review: numbers in parameter definitions and copy loops were converted with a trapping `Int(_:)`.
    @Test func definitionNumbersNeverTrap() throws {
        let templates = [
            #"{"parameters": {"p": {"type": "string", "defaultValue": "a", "minLength": 1e300}}, "resources": []}"#,
            #"{"parameters": {"p": {"type": "string", "defaultValue": "a", "maxLength": -1e300}}, "resources": []}"#,
        ]
        for text in templates {
            #expect(throws: TemplateError.self, "\(text)") { try TemplatePlan.make(template: try JSONText.parse(text), parameterValues: .null, scope: scope) }
        }
        let serial = try JSONText.parse("""
            {"resources": [{"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2018-11-30",
              "name": "[concat('id', copyIndex())]", "copy": {"name": "l", "count": 3, "mode": "serial", "batchSize": 1e300}}]}
            """)
        #expect(try TemplatePlan.make(template: serial, parameterValues: .null, scope: scope).resources.count == 3)
    }

    /// Found by review: a chain of variables each doubling the one before reached terabytes (and exponential work).
    @Test func valuesAreBoundedAndVariablesEvaluatedOnce() throws {
        var variables = [#""v0": "[padLeft('', 1048576, 'x')]""#]
        for level in 1...25 { variables.append("\"v\(level)\": \"[concat(variables('v\(level - 1)'), variables('v\(level - 1)'))]\"") }
        let bomb = try JSONText.parse("""
            {"variables": {\(variables.joined(separator: ","))}, "resources": [{"type": "Microsoft.ManagedIdentity/userAssignedIdentities",
              "apiVersion": "2018-11-30", "name": "[variables('v25')]"}]}
            """)
        let error = #expect(throws: TemplateError.self) { try TemplatePlan.make(template: bomb, parameterValues: .null, scope: scope) }
        #expect(error?.message.contains("larger than") == true, "\(error?.message ?? "")")
        // Small values through a long chain: evaluated once each, not 2^30 times.
        var small = [#""w0": "a""#]
        for level in 1...30 { small.append("\"w\(level)\": \"[length(concat(string(variables('w\(level - 1)')), string(variables('w\(level - 1)'))))]\"") }
        let chain = try JSONText.parse("{\"variables\": {\(small.joined(separator: ","))}, \"resources\": []}")
        let plan = try TemplatePlan.make(template: chain, parameterValues: .null, scope: scope)
        let context = PlanningContext(scope: scope, parameters: plan.parameters, variableDefinitions: plan.variables)
        #expect(try context.variable("w30") != .null)
    }

    /// Every value is capped, but work is not bounded by size alone: 800 copies of a lambda over 2,000 items each is
    /// millions of calls. A deployment's expressions share one budget of function calls.
    @Test func evaluationWorkIsBounded() throws {
        func loop(count: Int) throws -> JSONValue {
            let template = try JSONText.parse("""
                {"variables": {"copy": [{"name": "sums", "count": \(count),
                  "input": "[length(map(range(0, 2000), lambda('x', add(lambdaVariables('x'), copyIndex('sums')))))]"}]},
                 "resources": []}
                """)
            let plan = try TemplatePlan.make(template: template, parameterValues: .null, scope: scope)
            return try PlanningContext(scope: scope, parameters: plan.parameters, variableDefinitions: plan.variables).variable("sums")
        }
        // The positive control: ten copies (some 60,000 calls) evaluate.
        #expect(try loop(count: 10) == .array(Array(repeating: .number(2000), count: 10)))
        let error = #expect(throws: TemplateError.self) { _ = try loop(count: 800) }
        #expect(error?.message.contains("function calls") == true, "\(error?.message ?? "")")
    }

    @Test func sortIsAStableMergeSort() throws {
        let sorted = try evaluate("[sort(range(0, 10000), lambda('a', 'b', greater(lambdaVariables('a'), lambdaVariables('b'))))]")
        guard case .array(let items) = sorted else { Issue.record("not an array"); return }
        #expect(items.count == 10000 && items.first == .number(9999) && items.last == .number(0))
        let stable = try evaluate("""
            [sort(createArray(createObject('k', 1, 'n', 'a'), createObject('k', 0, 'n', 'b'), createObject('k', 1, 'n', 'c'), createObject('k', 0, 'n', 'd')), lambda('x', 'y', less(lambdaVariables('x').k, lambdaVariables('y').k)))]
            """)
        #expect(JSONText.serialize(stable) == #"[{"k":0,"n":"b"},{"k":0,"n":"d"},{"k":1,"n":"a"},{"k":1,"n":"c"}]"#)
    }

    /// Found by review: a serial loop whose condition skipped instances sliced its batches out of range.
    @Test func serialBatchesCountPlannedInstances() throws {
        let template = try JSONText.parse("""
            {"resources": [{"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2018-11-30",
              "name": "[concat('id', copyIndex())]", "condition": "[greaterOrEquals(copyIndex(), 2)]",
              "copy": {"name": "l", "count": 5, "mode": "serial", "batchSize": 1}}]}
            """)
        let plan = try TemplatePlan.make(template: template, parameterValues: .null, scope: scope)
        #expect(plan.resources.map(\.name) == ["id2", "id3", "id4"])
        #expect(plan.resources.map(\.dependsOn.count) == [0, 1, 1])
    }

    /// Found by review: sizes were checked after the value was built, so one call could build a terabyte.
    @Test func valuesAreMeasuredBeforeTheyAreBuilt() throws {
        let big = "padLeft('', 1048576, 'x')"
        for hostile in ["replace(\(big), 'x', \(big))", "string(map(range(0, 10000), lambda('i', \(big))))",
                        "concat(\(big), \(big), \(big), \(big), \(big))", "join(createArray(\(big), \(big), \(big), \(big), \(big)), '')",
                        "padLeft('', 1048576, concat('e', padLeft('', 100, '\u{0301}')))",
                        "format('{0}{0}{0}{0}{0}', \(big))", "length(createArray(\(big), \(big), \(big), \(big), \(big)))",
                        "length(map(range(0, 10000), lambda('i', \(big))))"] {
            #expect(throws: TemplateError.self, "\(hostile.prefix(80))") { _ = try evaluate("[\(hostile)]") }
        }
        #expect(try evaluate("[length(replace('abcabc', 'b', 'xyz'))]") == .number(10))
    }

    /// Found by review: a memoized variable reading `references()` kept the list as it was when first read.
    @Test func variablesReadingDeploymentStateAreNotMemoized() throws {
        let definitions = try JSONText.parse(#"{"count": "[length(references('loop'))]", "twice": "[mul(variables('count'), 2)]", "fixed": "[add(1, 1)]"}"#)
        guard case .object(let variables) = definitions else { Issue.record("not an object"); return }
        var context = PlanningContext(scope: scope, parameters: JSONObject(), variableDefinitions: variables)
        context.recordDeployed(id: "/x/a0", name: "a0", state: .object(JSONObject()), copy: ("loop", 0))
        #expect(try context.variable("twice") == .number(2))
        context.recordDeployed(id: "/x/a1", name: "a1", state: .object(JSONObject()), copy: ("loop", 1))
        #expect(try context.variable("count") == .number(2))
        #expect(try context.variable("twice") == .number(4))
        #expect(try context.variable("fixed") == .number(2))
    }

    /// The call budget bounds how many calls a deployment makes, not what one costs: `union` and `intersection`
    /// compared every item with every other (two arrays of 50,000 items: ~4·10^9 comparisons, minutes of CPU in one
    /// call, and a deployment may make many such calls). They now bucket by a hash consistent with the template language's equality.
    @Test func setOperationsCostLinearTime() throws {
        let big = "flatten(map(range(0, 5), lambda('i', range(mul(lambdaVariables('i'), 10000), 10000))))"
        #expect(try evaluate("[length(union(\(big), \(big)))]") == .number(50_000))
        #expect(try evaluate("[length(intersection(\(big), skip(\(big), 20000)))]") == .number(30_000))
        // Equality as before: strings whatever their case (the first spelling kept), objects whatever their key order.
        #expect(try evaluate("[union(createArray('A', 'b'), createArray('a', 'c'))]") == .array([.string("A"), .string("b"), .string("c")]))
        #expect(try evaluate("[intersection(createArray('A', 'b', 1), createArray('a', 1))]") == .array([.string("A"), .number(1)]))
        #expect(try evaluate("[length(union(createArray(createObject('a', 1, 'b', 2)), createArray(createObject('b', 2, 'a', 1))))]") == .number(1))
        #expect(try evaluate("[length(union(createArray(createArray('X', 1)), createArray(createArray('x', 1), createArray(1, 'x'))))]") == .number(2))
        // Objects compare exactly: their case variants are different items (and, hashed apart, no longer one bucket).
        #expect(try evaluate("[length(union(createArray(createObject('k', 'A')), createArray(createObject('k', 'a'), createObject('K', 'A'))))]") == .number(3))
        let lower = JSONValue.object(JSONObject([("k", .string("abc"))])), upper = JSONValue.object(JSONObject([("k", .string("ABC"))]))
        #expect(TemplateFunctions.looseHash(lower) != TemplateFunctions.looseHash(upper))
        #expect(TemplateFunctions.looseHash(.array([.string("abc")])) == TemplateFunctions.looseHash(.array([.string("ABC")])))
        // Objects: intersection keeps the keys both hold with equal values, and removing keys one by one (linear
        // each) is no longer how it gets there.
        let keys = "toObject(range(0, 10000), lambda('i', string(lambdaVariables('i'))))"
        #expect(try evaluate("[length(intersection(\(keys), \(keys)))]") == .number(10_000))
        #expect(try evaluate("[intersection(createObject('a', 1, 'b', 2), createObject('b', 2, 'a', 3))]")
                == .object(JSONObject([("b", .number(2))])))
    }

    /// Planning was cubic in resources (every `dependsOn` name looked up against every resource, and the ordering
    /// scanned them all per step); Azure's limit of 800 resources is now enforced and the lookups are indexed.
    @Test func resourcesAreBoundedAndTheirOrderCheap() throws {
        func template(count: Int, dependsOn: String) throws -> JSONValue {
            try JSONText.parse("""
                {"resources": [{"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2018-11-30",
                  "name": "[concat('id', copyIndex())]", "copy": {"name": "ids", "count": \(count)}, "dependsOn": \(dependsOn)},
                 {"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2018-11-30", "name": "last",
                  "copy": {"name": "lasts", "count": 1}}]}
                """)
        }
        // 799 + 1 resources, each naming 1,000 dependencies that match nothing and one that does.
        let plan = try TemplatePlan.make(template: try template(count: 799, dependsOn: "\"[concat(split(padLeft('', 999, ','), ','), createArray('last'))]\""),
                                         parameterValues: .null, scope: scope)
        #expect(plan.resources.count == 800)
        #expect(plan.resources.first?.name == "last")
        #expect(plan.resources.dropFirst().allSatisfy { $0.dependsOn.count == 1 })
        let error = #expect(throws: TemplateError.self) {
            try TemplatePlan.make(template: try template(count: 800, dependsOn: "[]"), parameterValues: .null, scope: scope)
        }
        #expect(error?.message.contains("more than 800 resources") == true, "\(error?.message ?? "")")
    }

    /// Foundation's substring search is quadratic in the worst case (`aaa…ab` in `aaa…a`: 4 s at 20,000 characters);
    /// at a million characters the searches below took hours each. They are linear now.
    @Test func stringSearchesCostLinearTime() throws {
        let hay = "padLeft('', 1000000, 'a')", needle = "concat(padLeft('', 500000, 'a'), 'b')"
        #expect(try evaluate("[contains(\(hay), \(needle))]") == .bool(false))
        #expect(try evaluate("[indexOf(\(hay), \(needle))]") == .number(-1))
        #expect(try evaluate("[lastIndexOf(\(hay), \(needle))]") == .number(-1))
        #expect(try evaluate("[length(replace(\(hay), \(needle), 'x'))]") == .number(1_000_000))
        #expect(try evaluate("[length(split(\(hay), \(needle)))]") == .number(1))
        #expect(try evaluate("[indexOf(concat(\(hay), 'b'), \(needle))]") == .number(500_000))
        // Separators times characters is bounded, so an array of many separators is not a pass each.
        let error = #expect(throws: TemplateError.self) { try evaluate("[split(\(hay), split(padLeft('', 99, ','), ','))]") }
        #expect(error?.message.contains("too much work") == true, "\(error?.message ?? "")")
    }

    /// What the linear searches answer, as Azure Resource Manager (.NET) does.
    @Test func stringSearchesAnswerAsBefore() throws {
        #expect(try evaluate("[indexOf('abcABC', 'C')]") == .number(2))
        #expect(try evaluate("[lastIndexOf('abcABC', 'c')]") == .number(5))
        #expect(try evaluate("[indexOf('abc', '')]") == .number(0))
        #expect(try evaluate("[lastIndexOf('abc', '')]") == .number(3))
        #expect(try evaluate("[indexOf('\u{1F600}x', 'x')]") == .number(1))
        #expect(try evaluate("[lastIndexOf('\u{1F600}\u{1F600}', '\u{1F600}')]") == .number(1))
        #expect(try evaluate("[contains('Hello', 'ell')]") == .bool(true))
        #expect(try evaluate("[contains('Hello', 'ELL')]") == .bool(false))
        #expect(try evaluate("[replace('aaa', 'aa', 'b')]") == .string("ba"))
        #expect(try evaluate("[replace('a-b-c', '-', '+=')]") == .string("a+=b+=c"))
        #expect(try evaluate("[split('a,b;c', createArray(',', ';'))]") == .array([.string("a"), .string("b"), .string("c")]))
        #expect(try evaluate("[split('a::b', ':')]") == .array([.string("a"), .string(""), .string("b")]))
        #expect(try evaluate("[split('\u{1F600}-\u{1F601}', '-')]") == .array([.string("\u{1F600}"), .string("\u{1F601}")]))
    }
}
