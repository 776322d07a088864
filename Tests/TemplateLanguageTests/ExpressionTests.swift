import JMESPath
import Testing
@testable import TemplateLanguage

/// A fixed deployment: the seed's parameters, one resource group, one deployed identity.
struct FixedContext: TemplateContext {
    var parameters: [String: JSONValue] = [
        "vault_name": .string("cmkvault"), "registry_name": .string("myregistry"), "identity_name": .string("cmkidentity"),
        "kek_id": .string("https://cmkvault.vault.localhost:8443/keys/kek/0123"),
    ]
    var variables: [String: JSONValue] = ["prefix": .string("coffer")]
    var resourceGroup: JSONValue = try! JSONText.parse("{\"id\":\"/subscriptions/sub1/resourceGroups/rg1\",\"name\":\"rg1\",\"location\":\"westeurope\"}")
    var subscription: JSONValue = try! JSONText.parse("{\"id\":\"/subscriptions/sub1\",\"subscriptionId\":\"sub1\",\"tenantId\":\"tenant1\"}")
    var tenant: JSONValue = try! JSONText.parse("{\"tenantId\":\"tenant1\"}")
    var deployment: JSONValue = try! JSONText.parse("{\"name\":\"d1\"}")
    var environment: JSONValue = try! JSONText.parse("{\"name\":\"Coffer\"}")
    var resources: [String: JSONValue] = [
        "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/cmkidentity":
            try! JSONText.parse("{\"tenantId\":\"tenant1\",\"principalId\":\"p-1\",\"clientId\":\"c-1\"}"),
    ]

    func parameter(_ name: String) throws(TemplateError) -> JSONValue {
        guard let key = parameters.keys.first(where: { $0.lowercased() == name.lowercased() }) else { throw TemplateError("no parameter \(name)") }
        return parameters[key]!
    }
    func variable(_ name: String) throws(TemplateError) -> JSONValue {
        guard let value = variables[name] else { throw TemplateError("no variable \(name)") }
        return value
    }
    func reference(_ resourceID: String, apiVersion: String?, full: Bool) throws(TemplateError) -> JSONValue {
        guard let key = resources.keys.first(where: { $0.lowercased() == resourceID.lowercased() }) else { throw TemplateError("no resource \(resourceID)") }
        return full ? .object(JSONObject([("properties", resources[key]!)])) : resources[key]!
    }
    func list(_ function: String, resourceID: String, apiVersion: String) throws(TemplateError) -> JSONValue { .null }
}

func evaluate(_ expression: String, _ context: FixedContext = FixedContext()) throws -> JSONValue {
    try TemplateEvaluator.evaluate(.string(expression), context: context)
}

@Suite struct ExpressionTests {
    @Test func theSeedTemplatesExpressions() throws {
        #expect(try evaluate("[parameters('registry_name')]") == .string("myregistry"))
        #expect(try evaluate("[resourceGroup().location]") == .string("westeurope"))
        // resourceID in the seed's spelling: function names are case-insensitive.
        #expect(try evaluate("[resourceID('Microsoft.ManagedIdentity/userAssignedIdentities', parameters('identity_name'))]")
                == .string("/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/cmkidentity"))
        #expect(try evaluate("[reference(resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', parameters('identity_name')), '2018-11-30').clientId]")
                == .string("c-1"))
        #expect(try evaluate("[concat(parameters('vault_name'), '/add')]") == .string("cmkvault/add"))
        #expect(try evaluate("[subscription().tenantId]") == .string("tenant1"))
    }

    @Test func objectKeysAreExpressionsToo() throws {
        let value = try JSONText.parse("""
            {"userAssignedIdentities": {"[resourceID('Microsoft.ManagedIdentity/userAssignedIdentities', parameters('identity_name'))]": {}},
             "literal": "[[not an expression]"}
            """)
        let result = try TemplateEvaluator.evaluate(value, context: FixedContext())
        guard case .object(let identities) = result["userAssignedIdentities"] else { Issue.record("not an object"); return }
        #expect(identities.keys == ["/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/cmkidentity"])
        #expect(result["literal"] == .string("[not an expression]"))
    }

    @Test func numbersFormatAsDotNetDoes() throws {
        let cases: [(String, String)] = [
            ("[format('{0:N0}', 8175133)]", "8,175,133"),
            ("[format('{0:N}', 1234.5)]", "1,234.50"),
            ("[format('{0:N1}', -1234567.25)]", "-1,234,567.3"),
            ("[format('{0:F3}', 2.5)]", "2.500"),
            ("[format('{0:F0}', 2.5)]", "3"),
            ("[format('{0:D5}', -42)]", "-00042"),
            ("[format('{0:X}', 255)]", "FF"),
            ("[format('{0:x4}', 255)]", "00ff"),
            ("[format('{0:P1}', 0.1234)]", "12.3 %"),
            ("[format('{0:E2}', 12345)]", "1.23E+004"),
            ("[format('{0:G}', 12.5)]", "12.5"),
            ("[format('{0:N0} of {1}', 1000, 'items')]", "1,000 of items"),
            ("[format('{0:N2}', json('1e-200'))]", "0.00"),
        ]
        for (expression, expected) in cases {
            #expect(try evaluate(expression) == .string(expected), "\(expression)")
        }
        #expect(throws: TemplateError.self) { try evaluate("[format('{0:D3}', 1.5)]") }
        // Beyond Decimal's range the exact value is written, as .NET Core does: 301 integer digits.
        guard case .string(let huge) = try evaluate("[format('{0:F1}', json('-1e300'))]") else { Issue.record("not a string"); return }
        #expect(huge.hasPrefix("-1000000000000000052504") && huge.hasSuffix(".0") && huge.count == 304)
    }

    @Test func referencesAreFoundForImplicitDependencies() throws {
        let value = try JSONText.parse("""
            {"identity": "[reference(resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', parameters('identity_name')), '2018-11-30').principalId]"}
            """)
        #expect(TemplateEvaluator.referencedResources(in: value, context: FixedContext())
                == [.string("/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/cmkidentity")])
    }

    @Test func functionsAcrossTheLibrary() throws {
        let cases: [(String, JSONValue)] = [
            ("[concat('a', 'b', string(3))]", .string("ab3")),
            ("[concat(createArray(1, 2), createArray(3))]", try JSONText.parse("[1,2,3]")),
            ("[format('{0}-{1:D3}', 'x', 7)]", .string("x-007")),
            ("[toUpper(substring('coffer', 1, 3))]", .string("OFF")),
            ("[length(split('a,b,c', ','))]", .number(3)),
            ("[if(equals('ABC', 'abc'), 'same', 'different')]", .string("same")),
            ("[and(true(), not(false()))]", .bool(true)),
            ("[add(mul(2, 3), div(9, 2))]", .number(10)),
            ("[union(createObject('a', 1), createObject('b', 2)).b]", .number(2)),
            ("[first(skip(range(5, 3), 1))]", .number(6)),
            ("[json('{\"k\": [true]}').k[0]]", .bool(true)),
            ("[contains(createArray('x', 'y'), 'Y')]", .bool(true)),
            ("[padLeft('7', 3, '0')]", .string("007")),
            ("[uniqueString('test')]", .string("rbgf3xv4ufgzg")),
            ("[guid('a', 'b', 'c')]", .string("a98fa280-e03f-5afa-8d8e-92d0a9c201e8")),
            ("[subscriptionResourceId('Microsoft.Features/providers/features', 'Microsoft.ContainerRegistry', 'PrivatePreview')]",
             .string("/subscriptions/sub1/providers/Microsoft.Features/providers/Microsoft.ContainerRegistry/features/PrivatePreview")),
            ("[resourceId('rg2', 'Microsoft.KeyVault/vaults/accessPolicies', 'v1', 'add')]",
             .string("/subscriptions/sub1/resourceGroups/rg2/providers/Microsoft.KeyVault/vaults/v1/accessPolicies/add")),
            ("[variables('prefix')]", .string("coffer")),
            ("['it''s']", .string("it's")),
        ]
        for (expression, expected) in cases {
            #expect(try evaluate(expression) == expected, "\(expression)")
        }
    }

    @Test func errorsNameTheExpression() {
        for bad in ["[parameters('nope')]", "[unknownFunction()]", "[concat('a']", "[resourceId('Microsoft.KeyVault/vaults')]",
                    "[div(1, 0)]", "[parameters('registry_name').missing]"] {
            do {
                _ = try evaluate(bad)
                Issue.record("\(bad) should fail")
            } catch let error as TemplateError {
                #expect(error.message.contains("'"), "\(error.message)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }
}
