import Crypto
import Foundation

/// AWS Signature Version 4 for S3 requests: the canonical request, the string to sign and the signing key
/// derived per day, region and service, as AWS documents them.
struct SignatureV4: Sendable {
    let accessKeyID: String
    let secretAccessKey: String
    let sessionToken: String?
    let region: String
    let service = "s3"

    /// The headers to add to a request: `x-amz-date`, `x-amz-content-sha256`, the session token if any, and
    /// `Authorization`. `headers` are the request's other headers to sign (lowercased names; `host` included).
    func sign(method: String, path: String, query: [(String, String)], headers: [String: String], payloadHash: String,
              date: Date = Date()) -> [String: String] {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let amzDate = formatter.string(from: date)
        let day = String(amzDate.prefix(8))
        var signed = headers
        signed["x-amz-date"] = amzDate
        signed["x-amz-content-sha256"] = payloadHash
        if let sessionToken { signed["x-amz-security-token"] = sessionToken }
        let names = signed.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(signed[$0]!.trimmingCharacters(in: .whitespaces))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let canonicalQuery = query.map { (Self.encode($0.0), Self.encode($0.1)) }.sorted { $0 < $1 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let canonicalRequest = [method, Self.encode(path, keepSlash: true), canonicalQuery, canonicalHeaders, signedHeaders, payloadHash]
            .joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Self.hex(SHA256.hash(data: Array(canonicalRequest.utf8)))].joined(separator: "\n")
        var key = SymmetricKey(data: Array("AWS4\(secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        var added = signed.filter { headers[$0.key] == nil }
        added["authorization"] = "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return added
    }

    static let emptyPayloadHash = hex(SHA256.hash(data: [UInt8]()))

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// RFC 3986 percent-encoding of everything but the unreserved characters (and `/` in paths).
    static func encode(_ text: String, keepSlash: Bool = false) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x2D, 0x2E, 0x5F, 0x7E: result.append(Character(UnicodeScalar(byte)))
            case 0x2F where keepSlash: result.append("/")
            default: result += String(format: "%%%02X", byte)
            }
        }
        return result
    }
}
