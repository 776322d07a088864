// libFuzzer entry point for Coffer's request parsers. `scripts/fuzz` builds this file with the parsers' own
// sources under `-sanitize=fuzzer,address`; the target is chosen by COFFER_FUZZ_TARGET. Every target must
// return for any input: a trap, an overflow or a stack exhaustion is a server crash waiting for a request.
import Foundation
import JMESPath
import OCIModels
import TemplateLanguage

let targets: [String: ([UInt8]) -> Void] = [
    "content-range": { bytes in _ = ChunkRange(header: String(decoding: bytes, as: UTF8.self)) },
    "range": { bytes in _ = ByteRangeRequest(header: String(decoding: bytes, as: UTF8.self)) },
    "content-type": { bytes in _ = mediaType(ofContentType: String(decoding: bytes, as: UTF8.self)) },
    "decimal": { bytes in _ = decimal(String(decoding: bytes, as: UTF8.self)) },
    "strict-json": { bytes in _ = try? StrictJSON.validate(bytes) },
    "manifest": { bytes in
        // The first byte picks the declared Content-Type, as a client would send it with the body.
        let types = [nil, ";", "", MediaTypes.ociManifest, MediaTypes.ociIndex, MediaTypes.dockerManifest, "application/json; charset=utf-8"]
        let declared = bytes.first.map { types[Int($0) % types.count] } ?? nil
        _ = try? ParsedManifest(bytes: Array(bytes.dropFirst()), contentType: declared)
    },
    "names": { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        _ = try? RepositoryName(text)
        _ = try? ManifestReference(parsing: text)
        _ = try? Digest(parsing: text)
    },
    "scope": { bytes in _ = AccessGrant(scope: String(decoding: bytes, as: UTF8.self)) },
    "credentials": { bytes in
        // An Authorization header and a form body, as the token endpoints read them.
        let text = String(decoding: bytes, as: UTF8.self)
        _ = CredentialParsing.basic(text)
        _ = CredentialParsing.basic("Basic " + text)
        _ = CredentialParsing.form(text)
    },
    "route": { bytes in _ = OCIRoute(path: String(decoding: bytes, as: UTF8.self)) },
    "json-text": { bytes in _ = try? JSONText.parse(String(decoding: bytes, as: UTF8.self)) },
    "jmespath": { bytes in
        // An expression, then (after the first newline) a document to search.
        let text = String(decoding: bytes, as: UTF8.self)
        let parts = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        guard let expression = try? Expression(String(parts[0])) else { return }
        let document = parts.count > 1 ? (try? JSONText.parse(String(parts[1]))) ?? .null : .null
        _ = try? expression.search(document)
    },
    "template-expression": { bytes in
        _ = try? TemplateEvaluator.evaluate(expression: String(decoding: bytes, as: UTF8.self), context: fuzzPlanningContext)
    },
    "template-plan": { bytes in
        // A deployment's template, as a request body carries it.
        guard let template = try? JSONText.parse(String(decoding: bytes, as: UTF8.self)) else { return }
        _ = try? TemplatePlan.make(template: template, parameterValues: .null, scope: fuzzScope)
    },
]

let fuzzScope = TemplateScope(subscriptionID: "sub", tenantID: "tenant", resourceGroupName: "rg",
                              resourceGroup: .object(JSONObject([("id", .string("/subscriptions/sub/resourceGroups/rg")), ("name", .string("rg")),
                                                                 ("location", .string("westeurope"))])),
                              deploymentName: "fuzz")
let fuzzPlanningContext = PlanningContext(
    scope: fuzzScope, parameters: JSONObject([("p", .string("value"))]),
    variableDefinitions: JSONObject([("v", .string("[concat('a', parameters('p'))]")), ("n", .number(3))]))

let selected: ([UInt8]) -> Void = {
    let name = ProcessInfo.processInfo.environment["COFFER_FUZZ_TARGET"] ?? ""
    guard let target = targets[name] else {
        FileHandle.standardError.write(Data("COFFER_FUZZ_TARGET must be one of: \(targets.keys.sorted().joined(separator: ", "))\n".utf8))
        exit(2)
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    selected(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
