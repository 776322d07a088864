import JMESPath
import Testing

/// Azure Resource Manager reads bodies with Json.NET, which accepts more than RFC 8259; `az deployment group create`
/// depends on it (it splices the template file's text after an unquoted `template:`). The strict parser stays strict.
@Suite struct LenientJSONTests {
    /// The body az sends for `deployment group create --template-file`, with a template that carries comments.
    static let azDeploymentBody = """
        {"properties": {template: {
          // the registry
          "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
          /* a block
             comment */ "contentVersion": '1.0.0.0',
          "resources": [ {"type": "x", 'name': "y",}, ],
        }, "parameters": {}, "mode": "Incremental"}}
        """

    @Test func armBodiesParseAsAzureReadsThem() throws {
        let value = try JSONText.parse(Self.azDeploymentBody, syntax: .lenient)
        let template = value["properties"]["template"]
        #expect(template["contentVersion"] == .string("1.0.0.0"))
        #expect(template["$schema"] == .string("https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"))
        #expect(template["resources"] == .array([.object(JSONObject([("type", .string("x")), ("name", .string("y"))]))]))
        #expect(value["properties"]["mode"] == .string("Incremental"))
        #expect(try JSONText.parse("{a_1$: 'it\\'s', b: \"line\nbreak\"} // done", syntax: .lenient)
            == .object(JSONObject([("a_1$", .string("it's")), ("b", .string("line\nbreak"))])))
    }

    @Test func theStrictParserRefusesWhatOnlyTheLenientOneTakes() {
        for text in ["{a: 1}", "{\"a\": 1,}", "[1,]", "['a']", "[1] // c", "/* c */ [1]", "{'a': 1}"] {
            #expect(throws: JSONText.ParseError.self) { try JSONText.parse(text) }
            #expect(throws: Never.self) { try JSONText.parse(text, syntax: .lenient) }
        }
    }

    @Test func whatEvenArmRefusesIsAnErrorWithItsPosition() throws {
        let cases: [(String, String)] = [
            ("{\"a\": 1\n  \"b\": 2}", "line 2, position 3"),   // a missing comma
            ("[1, 2 /* never closed", "unterminated /* comment"),
            ("{a b: 1}", "line 1, position 4"),
            ("[,]", "line 1, position 2"),                      // a comma alone is not a trailing comma
            ("{\"a\": 1,,}", "line 1, position 9"),
            ("{-a: 1}", "expected a key"),
        ]
        for (text, expected) in cases {
            do {
                _ = try JSONText.parse(text, syntax: .lenient)
                Issue.record("\(text) parsed")
            } catch {
                #expect(error.description.contains(expected), "\(text): \(error.description)")
                #expect(error.description.contains("at line "), "\(text): \(error.description)")
            }
        }
    }

    @Test func nestingIsBoundedInTheLenientSyntaxToo() {
        let hostile = String(repeating: "{a:", count: 300_000) + "1" + String(repeating: "}", count: 300_000)
        #expect(throws: JSONText.ParseError.self) { try JSONText.parse(hostile, syntax: .lenient) }
        let comments = String(repeating: "/**/", count: 100_000) + "[1]"
        #expect(throws: Never.self) { try JSONText.parse(comments, syntax: .lenient) }
    }
}
