import Foundation
import Hummingbird
import AzureHTTP

/// Azure's cloud metadata document (`GET /metadata/endpoints?api-version=…`): what `az cloud register
/// --endpoint-resource-manager <base>` reads to find every other endpoint and suffix. Every address comes from the
/// configuration, never from the request's `Host`.
struct CloudMetadata: Encodable, Sendable {
    struct Authentication: Encodable, Sendable {
        let loginEndpoint: String
        let audiences: [String]
        let tenant: String
        let identityProvider: String
    }

    struct Suffixes: Encodable, Sendable {
        let keyVaultDns: String
        let acrLoginServer: String
    }

    let name: String
    let resourceManager: String
    let portal: String
    let authentication: Authentication
    let microsoftGraphResourceId: String
    let graph: String
    let suffixes: Suffixes

    init(port: Int, graphHost: String, vaultHostSuffix: String, registryHostSuffix: String) {
        let base = "https://localhost:\(port)"
        name = "Coffer"
        resourceManager = base + "/"
        portal = base + "/"
        authentication = Authentication(loginEndpoint: base, audiences: [base + "/"], tenant: "common", identityProvider: "AAD")
        microsoftGraphResourceId = "https://\(graphHost):\(port)/"
        graph = microsoftGraphResourceId
        // az puts these after a resource's name (`https://<vault><keyVaultDns>`), so the port goes with them.
        suffixes = Suffixes(keyVaultDns: ".\(vaultHostSuffix):\(port)", acrLoginServer: ".\(registryHostSuffix):\(port)")
    }

    /// Whether a request asks for this document. az appends `/metadata/endpoints` to the address it was given, which
    /// usually ends in `/`, so the path may begin with two slashes.
    static func isRequested(path: String) -> Bool {
        path == "/metadata/endpoints" || path == "//metadata/endpoints"
    }

    func response() throws -> Response {
        try AzureJSON.response(self)
    }
}
