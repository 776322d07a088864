import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Identity
import NIOCore
import Testing
@testable import CofferServer

extension TestClientProtocol {
    func vault(_ method: HTTPRequest.Method, _ path: String, token: String?, body: String? = nil, apiVersion: String? = "7.4") async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if body != nil { headers[.contentType] = "application/json" }
        let query = apiVersion.map { "?api-version=\($0)" } ?? ""
        return try await execute(uri: path + query, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
    }
}

/// The key vault's HTTP API in-process: authentication, the challenge, authorization before existence, access
/// policies, and hostile bodies, each answered in Azure's error shape.
@Suite struct VaultHTTPTests {
    static let vaultAudience = "https://vault.localhost:8443"

    /// A vault `httpvault` whose access policies give `reader` only `get` on keys, and `admin` (Owner) everything.
    static func setUp(_ fixture: ControlPlaneFixture) async throws -> (admin: Principal, reader: Principal, stranger: Principal) {
        let group = "\(fixture.subscription)/resourceGroups/vault-http"
        let admin = try await fixture.principal("admin", roles: [(.owner, fixture.subscription)])
        let reader = try await fixture.principal("reader")
        let stranger = try await fixture.principal("stranger")
        let armToken = try fixture.token(for: admin)
        try await fixture.server.testApplication().test(.router) { client in
            try await client.armOK(.put, group, token: armToken, body: #"{"location":"westeurope"}"#)
            try await client.armOK(.put, "\(group)/providers/Microsoft.KeyVault/vaults/httpvault", token: armToken, body: """
                {"location":"westeurope","properties":{"tenantId":"\(fixture.tenantID)","sku":{"family":"A","name":"standard"},"accessPolicies":[
                  {"tenantId":"\(fixture.tenantID)","objectId":"\(admin.objectId)","permissions":{"keys":["all"]}},
                  {"tenantId":"\(fixture.tenantID)","objectId":"\(reader.objectId)","permissions":{"keys":["get"]}}]}}
                """)
        }
        return (admin, reader, stranger)
    }

    static func json(_ response: TestResponse) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any] ?? [:]
    }

    static func errorCode(_ response: TestResponse) throws -> String? {
        (try json(response)["error"] as? [String: Any])?["code"] as? String
    }

    @Test func aRequestWithoutATokenGetsTheChallengeWithTheConfiguredAudience() async throws {
        let fixture = try await ControlPlaneFixture.make()
        _ = try await Self.setUp(fixture)
        // The host says another port: the challenge still names the configured audience, never one built from Host.
        try await fixture.test(at: "httpvault.vault.localhost:9999") { client in
            let response = try await client.vault(.get, "/keys", token: nil)
            #expect(response.status == .unauthorized)
            #expect(try Self.errorCode(response) == "Unauthorized")
            let challenge = response.headers[.wwwAuthenticate] ?? ""
            #expect(challenge.contains("resource=\"\(Self.vaultAudience)\""), "\(challenge)")
            #expect(challenge.contains("authorization=\"https://localhost:8443/\(fixture.tenantID)\""), "\(challenge)")
        }
    }

    @Test func tokensForOtherAudiencesAreRefusedWhateverTheHostSays() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let (admin, _, _) = try await Self.setUp(fixture)
        let resourceManagerToken = try fixture.token(for: admin)
        let hostChosenToken = try fixture.token(for: admin, audience: "https://vault.localhost:9999")
        let vaultToken = try fixture.token(for: admin, audience: Self.vaultAudience)
        try await fixture.test(at: "httpvault.vault.localhost:9999") { client in
            for token in [resourceManagerToken, hostChosenToken] {
                let response = try await client.vault(.get, "/keys", token: token)
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains("AKV10022"))
            }
            // The positive control: the configured audience opens it.
            #expect(try await client.vault(.get, "/keys", token: vaultToken).status == .ok)
        }
    }

    @Test func aMissingVaultAnswersLikeAClosedOne() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let (_, _, stranger) = try await Self.setUp(fixture)
        let token = try fixture.token(for: stranger, audience: Self.vaultAudience)
        let closed = try await Self.statusAndCode(fixture, authority: "httpvault.vault.localhost:8443", token: token)
        let missing = try await Self.statusAndCode(fixture, authority: "novault.vault.localhost:8443", token: token)
        try await fixture.server.close()
        #expect(closed.status == .forbidden && closed.code == "Forbidden")
        #expect(missing.status == closed.status && missing.code == closed.code)
    }

    static func statusAndCode(_ fixture: ControlPlaneFixture, authority: String, token: String) async throws -> (status: HTTPResponse.Status, code: String?) {
        let application = Application(responder: AtAuthority(authority: authority, inner: fixture.server.responder),
                                      configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        return try await application.test(.router) { client in
            let response = try await client.vault(.get, "/keys/k1", token: token)
            return (response.status, try Self.errorCode(response))
        }
    }

    @Test func keyIdentifiersNameTheConfiguredVaultURLWhateverTheHostSays() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let (admin, _, _) = try await Self.setUp(fixture)
        let adminToken = try fixture.token(for: admin, audience: Self.vaultAudience)
        // The vault's name in another case, another port: a `kid` is what CMK registries store, so it must not follow the Host.
        try await fixture.test(at: "HttpVault.vault.localhost:9999") { client in
            let created = try await client.vault(.post, "/keys/k1/create", token: adminToken, body: #"{"kty":"RSA","key_size":2048}"#)
            #expect(created.status == .ok, "\(String(buffer: created.body))")
            let kid = try #require((try Self.json(created)["key"] as? [String: Any])?["kid"] as? String)
            #expect(kid.hasPrefix("https://httpvault.vault.localhost:8443/keys/k1/"), "\(kid)")
        }
    }

    @Test func accessPoliciesDecideEachOperation() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let (admin, reader, stranger) = try await Self.setUp(fixture)
        let adminToken = try fixture.token(for: admin, audience: Self.vaultAudience)
        let readerToken = try fixture.token(for: reader, audience: Self.vaultAudience)
        let strangerToken = try fixture.token(for: stranger, audience: Self.vaultAudience)
        try await fixture.test(at: "httpvault.vault.localhost:8443") { client in
            let created = try await client.vault(.post, "/keys/k1/create", token: adminToken, body: #"{"kty":"oct-HSM","key_size":256}"#)
            #expect(created.status == .ok, "\(String(buffer: created.body))")
            // `get` only: reads the key, may not create, list, delete or encrypt.
            #expect(try await client.vault(.get, "/keys/k1", token: readerToken).status == .ok)
            for (method, path, body) in [(HTTPRequest.Method.post, "/keys/k2/create", #"{"kty":"oct-HSM","key_size":256}"#),
                                         (.get, "/keys", nil), (.delete, "/keys/k1", nil),
                                         (.post, "/keys/k1//encrypt", #"{"alg":"A256GCM","value":"aGVsbG8"}"#)] {
                let response = try await client.vault(method, path, token: readerToken, body: body)
                #expect(response.status == .forbidden, "\(method) \(path) answered \(response.status)")
                #expect(try Self.errorCode(response) == "Forbidden")
            }
            // No policy at all: not even a read.
            #expect(try await client.vault(.get, "/keys/k1", token: strangerToken).status == .forbidden)
        }
    }

    @Test func hostileBodiesAreAzureShaped400s() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let (admin, _, _) = try await Self.setUp(fixture)
        let token = try fixture.token(for: admin, audience: Self.vaultAudience)
        try await fixture.test(at: "httpvault.vault.localhost:8443") { client in
            #expect(try await client.vault(.post, "/keys/aes/create", token: token, body: #"{"kty":"oct-HSM","key_size":256}"#).status == .ok)
            let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
            let cases: [(String, String, String?)] = [
                ("/keys/aes//encrypt", #"{"alg":"A256GCM","value":"aGVsbG8","iv":"AAAAAAAAAAAAAAAA"}"#, "7.4"),  // a caller's nonce
                ("/keys/aes//encrypt", #"{"alg":"A256GCM","value":"aGVsbG8""#, "7.4"),                               // truncated JSON
                ("/keys/aes//encrypt", deep, "7.4"),                                                                 // nesting
                ("/keys/rsa/create", #"{"kty":"RSA","key_size":-1}"#, "7.4"),                                        // a size no key has
                ("/keys/aes//encrypt", #"{"alg":"A256GCM","value":"aGVsbG8"}"#, nil),                                // no api-version
                ("/keys/aes//encrypt", #"{"alg":"A256GCM","value":"aGVsbG8"}"#, "1.0"),                              // an unknown one
            ]
            for (path, body, version) in cases {
                let response = try await client.vault(.post, path, token: token, body: body, apiVersion: version)
                #expect(response.status == .badRequest, "\(path) \(body.prefix(60)) answered \(response.status): \(String(buffer: response.body).prefix(200))")
                #expect(try Self.errorCode(response) != nil, "not Azure's error shape: \(String(buffer: response.body).prefix(200))")
            }
            // The positive control: the same call without the caller's nonce encrypts, with a nonce of the vault's.
            let encrypted = try await client.vault(.post, "/keys/aes//encrypt", token: token, body: #"{"alg":"A256GCM","value":"aGVsbG8"}"#)
            #expect(encrypted.status == .ok)
            #expect((try Self.json(encrypted)["iv"] as? String)?.isEmpty == false)
        }
    }

    /// Access policies naming unknown permissions or ids that are not GUIDs were stored and never matched anything
    /// (issue 16: `set-policy --key-permissions fly` was accepted): now a 400 names the value, through every path.
    @Test func accessPoliciesWithUnknownPermissionsOrBadIdsAreRefused() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let (admin, _, _) = try await Self.setUp(fixture)
        let token = try fixture.token(for: admin)
        let vault = "\(fixture.subscription)/resourceGroups/vault-http/providers/Microsoft.KeyVault/vaults/httpvault"
        let tenant = fixture.tenantID, object = admin.objectId
        @Sendable func policy(objectId: String = object, keys: String = #"["get"]"#) -> String {
            #"{"properties":{"accessPolicies":[{"tenantId":"\#(tenant)","objectId":"\#(objectId)","permissions":{"keys":\#(keys)}}]}}"#
        }
        try await fixture.test { client in
            for (body, named) in [(policy(keys: #"["get","fly"]"#), "keys[1]: 'fly'"), (policy(objectId: "x"), "objectId: 'x'")] {
                let added = try await client.arm(.put, vault + "/accessPolicies/add", token: token, body: body)
                #expect(added.status == .badRequest, "\(String(buffer: added.body))")
                #expect(String(buffer: added.body).contains(named), "\(String(buffer: added.body))")
            }
            let created = try await client.arm(.put, "\(fixture.subscription)/resourceGroups/vault-http/providers/Microsoft.KeyVault/vaults/other",
                                               token: token, body: #"{"location":"westeurope","properties":{"tenantId":"\#(tenant)","sku":{"family":"A","name":"standard"},"accessPolicies":[{"tenantId":"\#(tenant)","objectId":"\#(object)","permissions":{"keys":["Fly"]}}]}}"#)
            #expect(created.status == .badRequest && String(buffer: created.body).contains("'Fly'"), "\(String(buffer: created.body))")
            // The positive control: names in any case, and the vault's policies hold what was added.
            let good = try await client.arm(.put, vault + "/accessPolicies/add", token: token, body: policy(keys: #"["Get","wrapKey","UNWRAPKEY"]"#))
            #expect(good.status == .ok || good.status == .created, "\(String(buffer: good.body))")
            #expect(String(buffer: try await client.armOK(.get, vault, token: token).body).contains("UNWRAPKEY"))
        }
    }
}

