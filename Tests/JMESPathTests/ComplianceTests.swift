import Foundation
import Testing
@testable import JMESPath

/// The official JMESPath compliance suite (checked in under Compliance/, MIT licence beside it):
/// every case, its result or its error kind.
struct ComplianceCase: CustomTestStringConvertible, Sendable {
    let file: String
    let given: JSONValue
    let expression: String
    let result: JSONValue?
    let error: String?
    var testDescription: String { "\(file): \(expression)" }

    static let all: [ComplianceCase] = {
        guard let directory = Bundle.module.url(forResource: "Compliance", withExtension: nil),
              let files = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
        var cases: [ComplianceCase] = []
        for file in files.sorted() where file.hasSuffix(".json") {
            guard let text = try? String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8),
                  case .array(let groups) = try? JSONText.parse(text) else { continue }
            for group in groups {
                guard case .array(let items) = group["cases"] else { continue }
                for item in items {
                    guard case .string(let expression) = item["expression"] else { continue }
                    var error: String?
                    if case .string(let kind) = item["error"] { error = kind }
                    let hasResult: Bool = {
                        if case .object(let object) = item { return object["result"] != nil }
                        return false
                    }()
                    cases.append(ComplianceCase(file: file, given: group["given"], expression: expression,
                                                result: hasResult ? item["result"] : nil, error: error))
                }
            }
        }
        return cases
    }()
}

@Suite struct ComplianceTests {
    @Test func theSuiteIsThere() {
        #expect(ComplianceCase.all.count > 800)
    }

    @Test(arguments: ComplianceCase.all)
    func complianceCase(_ testCase: ComplianceCase) {
        do {
            let value = try Expression(testCase.expression).search(testCase.given)
            if let error = testCase.error {
                Issue.record("expected a \(error) error, got \(JSONText.serialize(value))")
            } else if let expected = testCase.result {
                #expect(value == expected, "got \(JSONText.serialize(value)), expected \(JSONText.serialize(expected))")
            }
        } catch {
            #expect(error.kind.rawValue == testCase.error, "unexpected \(error)")
        }
    }
}

@Suite struct JSONTextTests {
    @Test func keepsKeyOrderAndRoundTrips() throws {
        let value = try JSONText.parse("{\"b\": 1, \"a\": [true, null, \"x\\u00e9\\n\"], \"c\": -2.5e1}")
        guard case .object(let object) = value else { Issue.record("not an object"); return }
        #expect(object.keys == ["b", "a", "c"])
        #expect(JSONText.serialize(value) == "{\"b\":1,\"a\":[true,null,\"xé\\n\"],\"c\":-25}")
        for bad in ["{", "[1,]", "tru", "\"unterminated", "{\"a\" 1}", "1 2"] {
            #expect(throws: JSONText.ParseError.self) { try JSONText.parse(bad) }
        }
    }
}
