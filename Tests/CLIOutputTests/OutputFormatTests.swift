import JMESPath
import Testing
@testable import CLIOutput

@Suite struct OutputFormatTests {
    let key = try! JSONText.parse("""
        {"key": {"kid": "https://v.vault.localhost:8443/keys/k/1", "kty": "RSA"}, "attributes": {"enabled": true, "created": 5}, "tags": null}
        """)

    @Test func queryThenTsvGivesTheBareValue() throws {
        #expect(try OutputFormat.tsv.render(key, query: "key.kid") == "https://v.vault.localhost:8443/keys/k/1")
        #expect(try OutputFormat.tsv.render(key, query: "attributes") == "True\t5")
        // As az does: each item of a top-level list is a row of its own.
        #expect(try OutputFormat.tsv.render(key, query: "[key.kty, attributes.enabled, tags]") == "RSA\nTrue\n")
        #expect(try OutputFormat.tsv.render(key, query: "[[key.kty, attributes.enabled]]") == "RSA\tTrue")
        #expect(try OutputFormat.tsv.render(.array([.string("a"), .string("b")]), query: nil) == "a\nb")
    }

    @Test func jsonIsIndentedAndOrdered() throws {
        #expect(try OutputFormat.json.render(key, query: "attributes") == "{\n  \"enabled\": true,\n  \"created\": 5\n}")
        #expect(OutputFormat.none.render(key) == "")
    }

    @Test func tableHasHeadersAndScalarColumns() throws {
        let rows = try JSONText.parse("[{\"name\": \"rg1\", \"location\": \"westeurope\", \"tags\": {}}, {\"name\": \"longer-name\", \"location\": \"x\"}]")
        #expect(OutputFormat.table.render(rows) == """
            Name         Location
            -----------  ----------
            rg1          westeurope
            longer-name  x
            """)
    }

    @Test func yamlNestsAndQuotesWhenNeeded() throws {
        let value = try JSONText.parse("{\"a\": {\"b\": [1, \"two words\", {\"c\": true}]}, \"d\": \"true\"}")
        #expect(OutputFormat.yaml.render(value) == """
            a:
              b:
              - 1
              - "two words"
              - c: true
            d: "true"
            """)
    }

    @Test func badQueriesAreErrors() {
        #expect(throws: JMESPathError.self) { try OutputFormat.json.render(key, query: "key.[") }
    }
}
