import JMESPath
import Testing

/// Request bodies and `--query` expressions are parsed recursively: nesting past the limits is an error, not a
/// stack overflow (a JSON body nested a few hundred thousand levels deep crashed the server).
@Suite struct DepthLimitTests {
    @Test func deeplyNestedJSONIsRefused() throws {
        for open in ["[", "{\"a\":"] {
            let close = open == "[" ? "]" : "}"
            let hostile = String(repeating: open, count: 300_000) + "1" + String(repeating: close, count: 300_000)
            #expect(throws: JSONText.ParseError.self) { try JSONText.parse(hostile) }
            let limit = JSONText.maximumDepth
            let deepest = String(repeating: open, count: limit) + "1" + String(repeating: close, count: limit)
            #expect(throws: Never.self) { try JSONText.parse(deepest) }
            let beyond = String(repeating: open, count: limit + 1) + "1" + String(repeating: close, count: limit + 1)
            #expect(throws: JSONText.ParseError.self) { try JSONText.parse(beyond) }
        }
    }

    @Test func deeplyNestedExpressionsAreRefused() throws {
        for (open, close) in [("(", ")"), ("[", "]"), ("{a:", "}")] {
            let hostile = String(repeating: open, count: 100_000) + "a" + String(repeating: close, count: 100_000)
            #expect(throws: JMESPathError.self) { try Expression(hostile) }
        }
        #expect(throws: JMESPathError.self) { try Expression(Array(repeating: "a", count: 50_000).joined(separator: ".")) }
        let value = try JSONText.parse("{\"a\":{\"a\":{\"a\":7}}}")
        #expect(try Expression("((((a.a.a))))").search(value) == .number(7))
    }
}

/// Found by the json-text fuzz target: a high surrogate escape followed by an escape that is not a low surrogate
/// underflowed and trapped (any Azure-shaped request body could carry one).
@Suite struct SurrogateEscapeTests {
    @Test func unpairedSurrogatesAreErrors() throws {
        for text in [#""\ud83d\ud200""#, #""\ud83d\u0041""#, #""\udc00""#, #""\ud83d""#] {
            #expect(throws: JSONText.ParseError.self, "\(text)") { try JSONText.parse(text) }
        }
        #expect(try JSONText.parse(#""\ud83d\ude00""#) == .string("😀"))
    }
}
