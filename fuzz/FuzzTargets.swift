// libFuzzer entry point for Coffer's request parsers. `scripts/fuzz` builds this file with the parsers' own
// sources under `-sanitize=fuzzer,address`; the target is chosen by COFFER_FUZZ_TARGET. Every target must
// return for any input: a trap, an overflow or a stack exhaustion is a server crash waiting for a request.
import Crypto
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
    // Resource-manager bodies: comments, unquoted names, single quotes, trailing commas.
    "arm-json": { bytes in _ = try? JSONText.parse(String(decoding: bytes, as: UTF8.self), syntax: .lenient) },
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
    "iso-duration": { bytes in
        // A rotation policy's durations, then the date arithmetic the maintenance pass does with them.
        guard let duration = ISODuration(String(decoding: bytes, as: UTF8.self)) else { return }
        _ = Int64(1_800_000_000) + duration.seconds
    },
    "arm-filter": { bytes in
        guard let conditions = try? ResourceFilter.parse(String(decoding: bytes, as: UTF8.self)) else { return }
        for condition in conditions { _ = condition.matches(fuzzResource) }
    },
    "jwt": { bytes in
        // A bearer token; 64 zero bytes are the stand-in's valid signature, so claims are reached too.
        let token = String(decoding: bytes, as: UTF8.self)
        let verifier = TokenVerifier(publicKey: P256.Signing.PrivateKey().publicKey)
        guard let claims = try? verifier.decodeVerified(token, as: TokenClaims.self) else { return }
        _ = try? verifier.checkValidity(exp: claims.exp, nbf: claims.nbf, now: 1_800_000_000)
    },
    "sealed-header": { bytes in
        // A stored object's header, and the sizes a storage backend reports for it (the first 8 bytes, any value).
        guard let header = try? SealedObjectHeader(parsing: bytes) else { return }
        let reported = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } & UInt64(Int64.max)
        for size in [Int64(bytes.count), Int64(reported), Int64.max] {
            guard let length = SealedObjectFormat.plaintextLength(objectSize: size, header: header) else { continue }
            let count = SealedObjectFormat.segmentCount(plaintextLength: length, segmentSize: header.segmentSize)
            if count > 0 { _ = SealedObjectFormat.segmentRange(index: count - 1, plaintextLength: length, header: header) }
        }
    },
    "s3-xml": { bytes in
        // What the S3 driver reads from a ListObjectsV2, CreateMultipartUpload or error answer.
        let xml = Substring(String(decoding: bytes, as: UTF8.self))
        for block in S3XML.blocks("Contents", in: xml) {
            _ = S3XML.value("Key", in: block)
            _ = S3XML.value("Size", in: block).flatMap(Int64.init)
        }
        _ = S3XML.blocks("CommonPrefixes", in: xml).compactMap { S3XML.value("Prefix", in: $0) }
        _ = S3XML.value("IsTruncated", in: xml)
        _ = S3XML.value("NextContinuationToken", in: xml)
        _ = S3XML.value("UploadId", in: xml)
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
let fuzzResource: JSONValue = .object(JSONObject([
    ("id", .string("/subscriptions/sub/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v")), ("name", .string("v")),
    ("type", .string("Microsoft.KeyVault/vaults")), ("location", .string("west europe")), ("tags", .object(JSONObject([("env", .string("ci"))]))),
]))
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
