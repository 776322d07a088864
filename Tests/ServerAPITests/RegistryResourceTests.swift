import Foundation
import HummingbirdTesting
import JMESPath
import NIOCore
import OCIModels
import Testing
@testable import CofferServer

/// A registry resource is typed: a property of the wrong type is refused with the path of the field, and what a client
/// invents (or what only the server may say) is not stored.
@Suite struct RegistryResourceTests {
    @Test func wrongTypesAreRefusedAndInventedPropertiesAreNotStored() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let group = "\(fixture.subscription)/resourceGroups/typed"
        let owner = try fixture.token(for: try await fixture.principal("owner", roles: [(.owner, fixture.subscription)]))
        let registry = "\(group)/providers/Microsoft.ContainerRegistry/registries/typedregistry"
        try await fixture.test { client in
            try await client.armOK(.put, group, token: owner, body: #"{"location":"westeurope"}"#)
            let refusals = [
                (#"{"adminUserEnabled":"yes"}"#, "adminUserEnabled"),
                (#"{"policies":{"retentionPolicy":{"days":1e30,"status":"disabled"}}}"#, "policies.retentionPolicy.days"),
                (#"{"networkRuleSet":{"ipRules":"10.0.0.1"}}"#, "networkRuleSet.ipRules"),
                (#"{"encryption":{"keyVaultProperties":{}}}"#, "encryption.status"),
            ]
            for (properties, field) in refusals {
                let response = try await client.arm(.put, registry, token: owner,
                                                    body: #"{"location":"westeurope","sku":{"name":"Premium"},"properties":\#(properties)}"#)
                #expect(response.status == .badRequest, "\(properties)")
                let error = try JSONText.parse(String(buffer: response.body))["error"]
                #expect(error["code"] == .string("InvalidRequestContent"))
                #expect({ if case .string(let message) = error["message"] { message.contains(field) } else { false } }(), "\(error)")
            }
            let tags = try await client.arm(.put, registry, token: owner, body: #"{"location":"westeurope","sku":{"name":"Basic"},"tags":{"team":7}}"#)
            #expect(tags.status == .badRequest)
            // Nothing was created by the refused requests.
            #expect(try await client.arm(.get, registry, token: owner).status == .notFound)

            let created = try await client.arm(.put, registry, token: owner, body: """
                {"location":"westeurope","sku":{"name":"basic"},"properties":{"adminUserEnabled":true,"inventedProperty":{"x":1},
                 "provisioningState":"Failed","loginServer":"elsewhere.example","status":{"displayStatus":"Ready"}}}
                """)
            #expect(created.status == .created, "\(String(buffer: created.body))")
            let shown = try JSONText.parse(String(buffer: try await client.armOK(.get, registry, token: owner).body))
            #expect(shown["properties"]["inventedProperty"] == .null)
            #expect(shown["properties"]["status"] == .null)
            #expect(shown["properties"]["provisioningState"] == .string("Succeeded"))
            #expect(shown["properties"]["loginServer"] == .string("typedregistry.cr.localhost:8443"))
            #expect(shown["properties"]["adminUserEnabled"] == .bool(true))
            #expect(shown["sku"]["name"] == .string("Basic"))
            // An update names only what changes; the rest is kept.
            try await client.armOK(.put, registry, token: owner, body: #"{"properties":{"publicNetworkAccess":"Disabled"}}"#)
            let updated = try JSONText.parse(String(buffer: try await client.armOK(.get, registry, token: owner).body))
            #expect(updated["properties"]["adminUserEnabled"] == .bool(true))
            #expect(updated["properties"]["publicNetworkAccess"] == .string("Disabled"))
            #expect(updated["location"] == .string("westeurope"))
        }
    }

    @Test func replicationsAreTypedToo() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let group = "\(fixture.subscription)/resourceGroups/replicated"
        let owner = try fixture.token(for: try await fixture.principal("owner", roles: [(.owner, fixture.subscription)]))
        let registry = "\(group)/providers/Microsoft.ContainerRegistry/registries/replicated"
        try await fixture.test { client in
            try await client.armOK(.put, group, token: owner, body: #"{"location":"westeurope"}"#)
            try await client.armOK(.put, registry, token: owner, body: #"{"location":"westeurope","sku":{"name":"Premium"}}"#)
            for properties in [#"{"regionEndpointEnabled":"maybe"}"#, #"{"zoneRedundancy":"sometimes"}"#, #"{"zoneRedundancy":{"a":1}}"#] {
                let refused = try await client.arm(.put, "\(registry)/replications/northeurope", token: owner,
                                                   body: #"{"location":"northeurope","properties":\#(properties)}"#)
                #expect(refused.status == .badRequest, "\(properties): \(String(buffer: refused.body))")
            }
            let created = try await client.arm(.put, "\(registry)/replications/northeurope", token: owner,
                                               body: #"{"location":"northeurope","tags":{"Status":"x"},"properties":{"ZoneRedundancy":"Enabled","invented":1}}"#)
            #expect(created.status == .created, "\(String(buffer: created.body))")
            let shown = try JSONText.parse(String(buffer: created.body))
            #expect(shown["properties"]["zoneRedundancy"] == .string("Enabled"))
            #expect(shown["properties"]["regionEndpointEnabled"] == .bool(true))
            #expect(shown["properties"]["invented"] == .null)
            #expect(shown["properties"]["status"]["displayStatus"] == .string("Ready"))
            // Tag names are the client's own, not property names to canonicalize.
            #expect(shown["tags"]["Status"] == .string("x"))
        }
    }

    @Test func tokensAndScopeMapsAreTypedAndNeverShowTheirChecks() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let group = "\(fixture.subscription)/resourceGroups/tokens"
        let owner = try fixture.token(for: try await fixture.principal("owner", roles: [(.owner, fixture.subscription)]))
        let registry = "\(group)/providers/Microsoft.ContainerRegistry/registries/tokenregistry"
        try await fixture.test { client in
            try await client.armOK(.put, group, token: owner, body: #"{"location":"westeurope"}"#)
            try await client.armOK(.put, registry, token: owner, body: #"{"location":"westeurope","sku":{"name":"Premium"}}"#)
            let badMaps = [#"{"properties":{"actions":"repositories/app/content/read"}}"#, #"{"properties":{"actions":[7]}}"#,
                           #"{"properties":{"actions":["repositories/app/content/read"],"description":{"x":1}}}"#]
            for body in badMaps {
                let refused = try await client.arm(.put, "\(registry)/scopeMaps/readers", token: owner, body: body)
                #expect(refused.status == .badRequest, "\(body): \(String(buffer: refused.body))")
            }
            try await client.armOK(.put, "\(registry)/scopeMaps/readers", token: owner,
                                   body: #"{"properties":{"actions":["repositories/app/content/read"],"invented":true}}"#)
            let map = "\(registry)/scopeMaps/readers"
            for body in [#"{"properties":{"scopeMapId":7}}"#, #"{"properties":{"scopeMapId":"\#(map)","status":false}}"#,
                         #"{"properties":{"scopeMapId":"\#(map)","credentials":{"passwords":"password1"}}}"#] {
                let refused = try await client.arm(.put, "\(registry)/tokens/reader", token: owner, body: body)
                #expect(refused.status == .badRequest, "\(body): \(String(buffer: refused.body))")
            }
            try await client.armOK(.put, "\(registry)/tokens/reader", token: owner, body: #"{"properties":{"scopeMapId":"\#(map)"}}"#)
            let generated = try await client.armOK(.post, "\(registry)/generateCredentials", token: owner,
                                                   body: #"{"tokenId":"\#(registry)/tokens/reader","name":"password1"}"#)
            guard case .array(let values) = try JSONText.parse(String(buffer: generated.body))["passwords"] else { throw SetupError("no passwords") }
            #expect(values.count == 1 && values.first?["value"] != .null)
            let shown = String(buffer: try await client.armOK(.get, "\(registry)/tokens/reader", token: owner).body)
            let token = try JSONText.parse(shown)
            #expect(token["properties"]["status"] == .string("enabled"))
            guard case .array(let passwords) = token["properties"]["credentials"]["passwords"] else { throw SetupError("no passwords") }
            #expect(passwords.count == 1 && passwords.first?["name"] == .string("password1"))
            #expect(!shown.contains("check") && !shown.contains("salt"), "\(shown)")
        }
    }
}

/// Image locks hold against the retention policy: an untagged manifest that may not be deleted is kept.
@Suite struct RetentionKeepsLockedManifestsTests {
    @Test func aDeleteLockedUntaggedManifestOutlivesRetention() async throws {
        let fixture = try await ControlPlaneFixture.make()
        let group = "\(fixture.subscription)/resourceGroups/retained"
        let owner = try fixture.token(for: try await fixture.principal("owner", roles: [(.owner, fixture.subscription)]))
        let registry = "\(group)/providers/Microsoft.ContainerRegistry/registries/retained"
        let credentials = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: URL(fileURLWithPath: fixture.server.configuration.path("admin-credentials.json"))))
        let basic = "Basic " + Data("coffer-admin:\(try #require(credentials["password"]))".utf8).base64EncodedString()
        try await fixture.test { client in
            try await client.armOK(.put, group, token: owner, body: #"{"location":"westeurope"}"#)
            try await client.armOK(.put, registry, token: owner, body: """
                {"location":"westeurope","sku":{"name":"Premium"},"properties":{"policies":{"retentionPolicy":{"days":0,"status":"enabled"}}}}
                """)
            let issued = try await client.execute(uri: "/oauth2/token?service=localhost:8443&scope=repository:retained/app:pull,push,metadata_write",
                                                  method: .get, headers: [.authorization: basic])
            let token = try #require(try JSONSerialization.jsonObject(with: Data(buffer: issued.body)) as? [String: Any])["token"] as! String
            var digests: [String] = []
            for index in 0..<2 {
                let config = Array("{\"n\":\(index)}".utf8)
                let configDigest = Digest.of(config).description
                let pushed = try await client.execute(uri: "/v2/retained/app/blobs/uploads/?digest=\(configDigest)", method: .post,
                                                      headers: [.authorization: "Bearer \(token)"], body: ByteBuffer(bytes: config))
                #expect(pushed.status == .created)
                let manifest = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(configDigest)","size":\#(config.count)},"layers":[]}"#.utf8)
                let digest = Digest.of(manifest).description
                let put = try await client.execute(uri: "/v2/retained/app/manifests/\(digest)", method: .put,
                                                   headers: [.authorization: "Bearer \(token)", .contentType: "application/vnd.oci.image.manifest.v1+json"],
                                                   body: ByteBuffer(bytes: manifest))
                #expect(put.status == .created, "\(String(buffer: put.body))")
                digests.append(digest)
            }
            let locked = try await client.execute(uri: "/acr/v1/retained/app/_manifests/\(digests[0])", method: .patch,
                                                  headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                                                  body: ByteBuffer(string: #"{"deleteEnabled":false}"#))
            #expect(locked.status == .ok, "\(String(buffer: locked.body))")
            await fixture.api.applyRetentionPolicies(now: Int64(Date().timeIntervalSince1970) + 60)
            let kept = try await client.execute(uri: "/v2/retained/app/manifests/\(digests[0])", method: .head, headers: [.authorization: "Bearer \(token)"])
            let purged = try await client.execute(uri: "/v2/retained/app/manifests/\(digests[1])", method: .head, headers: [.authorization: "Bearer \(token)"])
            #expect(kept.status == .ok)
            #expect(purged.status == .notFound)
        }
    }
}
