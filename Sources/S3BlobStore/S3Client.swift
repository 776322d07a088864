import AsyncHTTPClient
import CofferStorage
import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// Where an S3-compatible store is and how to reach it.
public struct S3Configuration: Sendable {
    /// `https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:9000`, …
    public var endpoint: URL
    public var bucket: String
    /// Keys start with this (e.g. `coffer/`); empty for the bucket's root.
    public var prefix: String
    public var region: String
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// `https://endpoint/bucket/key` (MinIO, Ceph, moto) rather than `https://bucket.endpoint/key`.
    public var pathStyle: Bool
    /// Server-side encryption to ask the store for on every object written (`AES256` or `aws:kms`), on top of
    /// Coffer's own; and the KMS key for `aws:kms`. Optional: the store only ever sees ciphertext anyway.
    public var serverSideEncryption: String?
    public var serverSideEncryptionKeyID: String?

    public init(endpoint: URL, bucket: String, prefix: String = "", region: String, accessKeyID: String, secretAccessKey: String,
                sessionToken: String? = nil, pathStyle: Bool = true) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.prefix = prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/"
        self.region = region
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.pathStyle = pathStyle
    }

    /// From `s3://bucket/prefix` and the usual AWS variables: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, `AWS_REGION` (or `AWS_DEFAULT_REGION`), and `AWS_ENDPOINT_URL_S3` (or
    /// `AWS_ENDPOINT_URL`) for a store other than AWS's. `COFFER_S3_ADDRESSING=virtual` asks for virtual-host addressing;
    /// `COFFER_S3_SSE` (`AES256`, `aws:kms`) and `COFFER_S3_SSE_KMS_KEY_ID` ask the store to encrypt on its side too.
    public static func from(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> S3Configuration {
        guard let components = URLComponents(string: url), components.scheme == "s3", let bucket = components.host, !bucket.isEmpty else {
            throw StorageError(.invalidKey, "the blob store URL must look like s3://bucket[/prefix]")
        }
        guard let key = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"] else {
            throw StorageError(.ioFailure, "S3 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
        }
        let region = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1"
        let endpointText = environment["AWS_ENDPOINT_URL_S3"] ?? environment["AWS_ENDPOINT_URL"] ?? "https://s3.\(region).amazonaws.com"
        guard let endpoint = URL(string: endpointText), endpoint.host != nil else {
            throw StorageError(.invalidKey, "the S3 endpoint \(endpointText) is not a URL")
        }
        let prefix = components.path.drop { $0 == "/" }
        var configuration = S3Configuration(endpoint: endpoint, bucket: bucket, prefix: String(prefix), region: region, accessKeyID: key,
                                            secretAccessKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"],
                                            pathStyle: environment["COFFER_S3_ADDRESSING"] != "virtual")
        configuration.serverSideEncryption = environment["COFFER_S3_SSE"]
        configuration.serverSideEncryptionKeyID = environment["COFFER_S3_SSE_KMS_KEY_ID"]
        if let sse = configuration.serverSideEncryption, !["AES256", "aws:kms", "aws:kms:dsse"].contains(sse) {
            throw StorageError(.invalidKey, "COFFER_S3_SSE must be AES256, aws:kms or aws:kms:dsse")
        }
        return configuration
    }
}

/// Signed HTTP calls to one bucket, retried with backoff when the store is busy or briefly gone.
final class S3Client: Sendable {
    struct Reply {
        let status: Int
        let headers: HTTPHeaders
        let body: ByteBuffer
        var text: Substring { Substring(String(buffer: body)) }
    }

    /// One client for every store, living as long as the process (so no store has to shut it down). It does not
    /// retry failed connections itself — the driver does, with its own backoff — so an object store that is gone
    /// is noticed in about a second rather than at the request's deadline.
    private static let sharedHTTP: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(5)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    let configuration: S3Configuration
    private let signer: SignatureV4
    private let http: HTTPClient
    private let attempts: Int

    init(configuration: S3Configuration, attempts: Int = 5) {
        self.configuration = configuration
        self.signer = SignatureV4(accessKeyID: configuration.accessKeyID, secretAccessKey: configuration.secretAccessKey,
                                  sessionToken: configuration.sessionToken, region: configuration.region)
        self.http = Self.sharedHTTP
        self.attempts = attempts
    }

    /// One call on an object (`key` relative to the bucket) or on the bucket itself (`key` nil).
    func send(_ method: HTTPMethod, key: String?, query: [(String, String)] = [], headers extra: [String: String] = [:],
              body: ByteBuffer? = nil, maximumResponse: Int = 16 * 1024 * 1024) async throws -> Reply {
        let endpoint = configuration.endpoint
        let port = endpoint.port.map { ":\($0)" } ?? ""
        let host: String
        var path: String
        if configuration.pathStyle {
            host = "\(endpoint.host!)\(port)"
            path = "/\(configuration.bucket)" + (key.map { "/\($0)" } ?? "/")
        } else {
            host = "\(configuration.bucket).\(endpoint.host!)\(port)"
            path = "/" + (key ?? "")
        }
        if configuration.pathStyle, key == nil { path = "/\(configuration.bucket)" }
        let payloadHash = body.map { buffer in SignatureV4.hex(buffer.withUnsafeReadableBytes { SHA256.hash(data: $0) }) } ?? SignatureV4.emptyPayloadHash
        let queryText = query.map { "\(SignatureV4.encode($0.0))=\(SignatureV4.encode($0.1))" }.joined(separator: "&")
        let url = "\(endpoint.scheme ?? "https")://\(host)\(SignatureV4.encode(path, keepSlash: true))" + (queryText.isEmpty ? "" : "?\(queryText)")
        var lastError: (any Error)?
        for attempt in 0..<attempts {
            if attempt > 0 {
                // Exponential backoff with jitter: 100 ms, 200 ms, 400 ms, … (S3's advice for 503 SlowDown and 5xx).
                try await Task.sleep(for: .milliseconds(Int(100 * pow(2, Double(attempt - 1))) + Int.random(in: 0...50)))
            }
            var signedHeaders = extra.reduce(into: ["host": host]) { $0[$1.key.lowercased()] = $1.value }
            for (name, value) in signer.sign(method: method.rawValue, path: path, query: query, headers: signedHeaders, payloadHash: payloadHash) {
                signedHeaders[name] = value
            }
            var request = HTTPClientRequest(url: url)
            request.method = method
            for (name, value) in signedHeaders where name != "host" { request.headers.add(name: name, value: value) }
            if let body { request.body = .bytes(body) }
            do {
                let response = try await http.execute(request, timeout: .seconds(120))
                let bytes = try await response.body.collect(upTo: maximumResponse)
                let status = Int(response.status.code)
                if status >= 500 || status == 429 {
                    lastError = StorageError(.ioFailure, "the object store answered \(status)")
                    continue
                }
                return Reply(status: status, headers: response.headers, body: bytes)
            } catch let error as StorageError {
                throw error
            } catch {
                lastError = error
            }
        }
        throw StorageError(.ioFailure, "the object store is unavailable (\(attempts) attempts): \(lastError.map { String(describing: type(of: $0)) } ?? "no answer")")
    }

    /// Keys under `prefix` (relative to the bucket), every page, in S3's (byte) order; with `delimiter`, the common prefixes instead.
    func list(prefix: String, delimiter: String? = nil) async throws -> [(key: String, size: Int64)] {
        var results: [(String, Int64)] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let delimiter { query.append(("delimiter", delimiter)) }
            if let token { query.append(("continuation-token", token)) }
            let reply = try await send(.GET, key: nil, query: query)
            guard reply.status == 200 else { throw StorageError(.ioFailure, "listing the object store failed (\(reply.status))") }
            if delimiter != nil {
                results += S3XML.blocks("CommonPrefixes", in: reply.text).compactMap { S3XML.value("Prefix", in: $0) }.map { ($0, 0) }
            } else {
                results += S3XML.blocks("Contents", in: reply.text).compactMap { block in
                    guard let key = S3XML.value("Key", in: block), let size = S3XML.value("Size", in: block).flatMap(Int64.init) else { return nil }
                    return (key, size)
                }
            }
            token = S3XML.value("IsTruncated", in: reply.text) == "true" ? S3XML.value("NextContinuationToken", in: reply.text) : nil
        } while token != nil
        return results
    }
}
