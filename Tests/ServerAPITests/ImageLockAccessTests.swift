import CofferStorage
import Foundation
import HTTPTypes
import HummingbirdTesting
import Identity
import JMESPath
import NIOCore
import OCIModels
import Testing
@testable import CofferServer
@testable import ControlPlane
@testable import ResourceManagerAPI

/// Who may change image locks, and what holds them: `*` stands for what its holder may do (never for actions it
/// was not given), AcrPush does not unlock, imports respect locks; and registries stored before the model was
/// typed keep serving.
@Suite struct ImageLockAccessTests {
    /// A registry with one pushed image (`app:v1`), reached path-style through the admin's Basic credentials.
    struct Setup {
        let fixture: ControlPlaneFixture
        let owner: String
        let group: String
        let basic: String

        init() async throws {
            fixture = try await ControlPlaneFixture.make()
            group = "\(fixture.subscription)/resourceGroups/locks"
            owner = try fixture.token(for: try await fixture.principal("owner", roles: [(.owner, fixture.subscription)]))
            let credentials = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: URL(fileURLWithPath: fixture.server.configuration.path("admin-credentials.json"))))
            basic = "Basic " + Data("coffer-admin:\(try #require(credentials["password"]))".utf8).base64EncodedString()
        }

        func registry(_ name: String) -> String { "\(group)/providers/Microsoft.ContainerRegistry/registries/\(name)" }

        func token(_ client: any TestClientProtocol, _ scope: String, authorization: String? = nil) async throws -> (token: String, actions: [String]) {
            let issued = try await client.execute(uri: "/oauth2/token?service=localhost:8443&scope=\(scope)", method: .get,
                                                  headers: [.authorization: authorization ?? basic])
            #expect(issued.status == .ok, "\(String(buffer: issued.body))")
            let token = try #require(try JSONSerialization.jsonObject(with: Data(buffer: issued.body)) as? [String: Any])["token"] as! String
            let payload = String(token.split(separator: ".")[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            let padded = payload + String(repeating: "=", count: (4 - payload.count % 4) % 4)
            let data = try #require(Data(base64Encoded: padded))
            let claims = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let access = (claims["access"] as? [[String: Any]]) ?? []
            return (token, access.flatMap { ($0["actions"] as? [String]) ?? [] })
        }

        func push(_ client: any TestClientProtocol, _ path: String, tag: String, token: String) async throws {
            let config = Array("{\"tag\":\"\(tag)\"}".utf8)
            let configDigest = Digest.of(config).description
            #expect(try await client.execute(uri: "/v2/\(path)/blobs/uploads/?digest=\(configDigest)", method: .post,
                                             headers: [.authorization: "Bearer \(token)"], body: ByteBuffer(bytes: config)).status == .created)
            let manifest = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(configDigest)","size":\#(config.count)},"layers":[]}"#
            #expect(try await client.execute(uri: "/v2/\(path)/manifests/\(tag)", method: .put,
                                             headers: [.authorization: "Bearer \(token)", .contentType: "application/vnd.oci.image.manifest.v1+json"],
                                             body: ByteBuffer(string: manifest)).status == .created)
        }
    }

    @Test func aStarScopeNeverStandsForMetadataWriteItsHolderLacks() async throws {
        let setup = try await Setup()
        let registry = setup.registry("starreg")
        try await setup.fixture.test { client in
            try await client.armOK(.put, setup.group, token: setup.owner, body: #"{"location":"westeurope"}"#)
            try await client.armOK(.put, registry, token: setup.owner, body: #"{"location":"westeurope","sku":{"name":"Premium"}}"#)
            try await setup.push(client, "starreg/app", tag: "v1", token: try await setup.token(client, "repository:starreg/app:pull,push").token)
            try await client.armOK(.put, "\(registry)/scopeMaps/content", token: setup.owner, body: """
                {"properties":{"actions":["repositories/app/content/read","repositories/app/content/write","repositories/app/content/delete"]}}
                """)
            try await client.armOK(.put, "\(registry)/tokens/citoken", token: setup.owner, body: #"{"properties":{"scopeMapId":"\#(registry)/scopeMaps/content"}}"#)
            let generated = try await client.armOK(.post, "\(registry)/generateCredentials", token: setup.owner,
                                                   body: #"{"tokenId":"\#(registry)/tokens/citoken","name":"password1"}"#)
            guard case .array(let passwords) = try JSONText.parse(String(buffer: generated.body))["passwords"],
                  case .string(let password)? = passwords.first?["value"] else { throw SetupError("no password") }
            let tokenBasic = "Basic " + Data("citoken:\(password)".utf8).base64EncodedString()
            let star = try await setup.token(client, "repository:starreg/app:*", authorization: tokenBasic)
            #expect(Set(star.actions) == ["pull", "push", "delete"], "\(star.actions)")
            let patched = try await client.execute(uri: "/acr/v1/starreg/app", method: .patch,
                                                   headers: [.authorization: "Bearer \(star.token)", .contentType: "application/json"],
                                                   body: ByteBuffer(string: #"{"writeEnabled":false}"#))
            #expect(patched.status == .forbidden, "\(String(buffer: patched.body))")
        }
    }

    @Test func acrPushDoesNotUnlockButContributorDoes() async throws {
        let setup = try await Setup()
        let pusher = try await setup.fixture.principal("pusher", roles: [(.acrPush, setup.fixture.subscription)])
        let contributor = try await setup.fixture.principal("contributor", roles: [(.contributor, setup.fixture.subscription)])
        let write = [RegistryDataAction.metadataWrite]
        #expect(try await setup.fixture.directory.permitted(pusher.objectId, among: write, at: setup.fixture.subscription).isEmpty)
        #expect(try await setup.fixture.directory.permitted(contributor.objectId, among: write, at: setup.fixture.subscription) == Set(write))
        try await setup.fixture.server.close()
    }

    @Test func importsRespectLocks() async throws {
        let setup = try await Setup()
        try await setup.fixture.test { client in
            try await client.armOK(.put, setup.group, token: setup.owner, body: #"{"location":"westeurope"}"#)
            for name in ["importsrc", "importdst"] {
                try await client.armOK(.put, setup.registry(name), token: setup.owner, body: #"{"location":"westeurope","sku":{"name":"Basic"}}"#)
            }
            let token = try await setup.token(client, "repository:importsrc/app:pull,push,metadata_write&scope=repository:importdst/app:pull,push,metadata_write").token
            try await setup.push(client, "importsrc/app", tag: "v1", token: token)
            try await setup.push(client, "importdst/app", tag: "v1", token: token)
            let body = #"{"source":{"resourceId":"\#(setup.registry("importsrc"))","sourceImage":"app:v1"},"targetTags":["app:v1"],"mode":"Force"}"#
            func patch(_ path: String, _ change: String) async throws {
                #expect(try await client.execute(uri: path, method: .patch, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                                                 body: ByteBuffer(string: change)).status == .ok)
            }
            try await patch("/acr/v1/importdst/app/_tags/v1", #"{"writeEnabled":false}"#)
            let refused = try await client.arm(.post, "\(setup.registry("importdst"))/importImage", token: setup.owner, body: body)
            #expect(refused.status == .conflict && String(buffer: refused.body).contains("ImageLocked"), "\(String(buffer: refused.body))")
            try await patch("/acr/v1/importdst/app/_tags/v1", #"{"writeEnabled":true}"#)
            try await patch("/acr/v1/importsrc/app", #"{"readEnabled":false}"#)
            let unreadable = try await client.arm(.post, "\(setup.registry("importdst"))/importImage", token: setup.owner, body: body)
            #expect(unreadable.status == .conflict, "\(String(buffer: unreadable.body))")
            try await patch("/acr/v1/importsrc/app", #"{"readEnabled":true}"#)
            let imported = try await client.arm(.post, "\(setup.registry("importdst"))/importImage", token: setup.owner, body: body)
            #expect((200..<300).contains(imported.status.code), "\(String(buffer: imported.body))")
        }
    }

    @Test func aRegistryStoredBeforeTheTypedModelKeepsServing() async throws {
        let setup = try await Setup()
        let id = setup.registry("oldreg")
        try await setup.fixture.test { client in
            try await client.armOK(.put, setup.group, token: setup.owner, body: #"{"location":"westeurope"}"#)
            try await client.armOK(.put, id, token: setup.owner, body: #"{"location":"westeurope","sku":{"name":"Basic"}}"#)
            // What the untyped version stored when a client sent it.
            let documents = setup.fixture.api.documents
            let stored = try #require(try await documents.document(id: id))
            var old = try JSONText.parse(stored.body)
            if case .object(var object) = old, case .object(var properties) = old["properties"] {
                properties["adminUserEnabled"] = .string("yes")
                properties["zoneRedundancy"] = .object(JSONObject([("x", .number(1))]))
                object["properties"] = .object(properties)
                object["tags"] = .object(JSONObject([("team", .number(7)), ("owner", .string("platform"))]))
                old = .object(object)
            }
            try await documents.putDocument(StoredDocument(id: stored.id, type: stored.type, name: stored.name, body: JSONText.serialize(old)))
            let shown = try JSONText.parse(String(buffer: try await client.armOK(.get, id, token: setup.owner).body))
            #expect(shown["properties"]["adminUserEnabled"] == .null && shown["properties"]["zoneRedundancy"] == .null)
            #expect(shown["tags"] == .object(JSONObject([("owner", .string("platform"))])))
            #expect(shown["properties"]["loginServer"] == .string("oldreg.cr.localhost:8443"))
            // A PUT sets it right.
            try await client.armOK(.put, id, token: setup.owner, body: #"{"properties":{"adminUserEnabled":true}}"#)
            let fixed = try JSONText.parse(String(buffer: try await client.armOK(.get, id, token: setup.owner).body))
            #expect(fixed["properties"]["adminUserEnabled"] == .bool(true))
        }
    }
}
