import Envelope
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// The base address's catalog lists every registry's repositories as `<registry>/<repository>`, in order, page by
/// page, each page read with per-registry queries that stop at the page's size.
@Suite struct PathStyleCatalogTests {
    @Test func pagesWalkEveryRegistryInOrder() async throws {
        let fixture = try await Fixture.make()
        // `a-b` sorts before `a` as a prefix (`-` < `/`): the order is of the full names, not of the registry names.
        for name in ["zz", "a", "a-b"] {
            try await fixture.server.registry.createRegistry(name: name, keyWrapperID: ServiceManagedKeyWrapper.identifier)
        }
        let repositories = ["coffer/app", "coffer/base/x", "a/one", "a/two", "a/three", "a-b/r", "zz/last"]
        try await fixture.test { client in
            let token = try await client.token(fixture, scopes: repositories.map { "repository:\($0):pull,push" } + ["registry:catalog:*"])
            for repository in repositories {
                let manifest = try await pushImage(client, token: token, repository: repository)
                #expect(try await client.send(.put, "/v2/\(repository)/manifests/v1", token: token, headers: [.contentType: "application/vnd.oci.image.manifest.v1+json"],
                                              body: manifest).status == .created)
            }
            let whole = try await client.send(.get, "/v2/_catalog", token: token)
            let all = try JSONDecoder().decode([String: [String]].self, from: Data(buffer: whole.body))["repositories"] ?? []
            #expect(all == repositories.sorted())
            for size in 1...4 {
                var walked: [String] = []
                var path: String? = "/v2/_catalog?n=\(size)"
                var pages = 0
                while let next = path, pages < 20 {
                    let page = try await client.send(.get, next, token: token)
                    let names = try JSONDecoder().decode([String: [String]].self, from: Data(buffer: page.body))["repositories"] ?? []
                    #expect(names.count <= size)
                    walked += names
                    path = page.headers[HTTPField.Name("Link")!].flatMap { link in
                        link.split(separator: ">").first.map { String($0.dropFirst()) }
                    }
                    pages += 1
                }
                #expect(walked == all, "pages of \(size)")
            }
            // A `last` between registries, or naming no repository, continues from where it sorts.
            func page(_ path: String) async throws -> [String] {
                let answer = try await client.send(.get, path, token: token)
                return try JSONDecoder().decode([String: [String]].self, from: Data(buffer: answer.body))["repositories"] ?? []
            }
            #expect(try await page("/v2/_catalog?n=2&last=a%2Ftwo") == ["coffer/app", "coffer/base/x"])
            #expect(try await page("/v2/_catalog?n=1&last=b") == ["coffer/app"])
            #expect(try await page("/v2/_catalog?n=5&last=coffer%2Fbase%2Fx") == ["zz/last"])
        }
    }
}
