import AzureHTTP
import CofferTelemetry
import Foundation
import HTTPTypes
import Hummingbird
import Identity
import KeyVault

/// The Key Vault keys data plane (api-version 7.0–7.6) at `https://<vault>.<suffix>`,
/// authenticated exactly as Azure does it: a challenge for the token, then access policies or roles.
public struct KeyVaultAPI: Sendable {
    let vaults: VaultService
    let directory: Directory
    let tenantID: String
    /// The host suffix of vaults (`vault.localhost`): tokens for `https://<suffix>[:port]` are accepted.
    let vaultHostSuffix: String
    /// The port clients reach vaults on: with the suffix, the vault audience (`https://vault.localhost:8443`).
    let port: Int

    public init(vaults: VaultService, directory: Directory, tenantID: String, vaultHostSuffix: String, port: Int) {
        self.port = port
        self.vaults = vaults
        self.directory = directory
        self.tenantID = tenantID
        self.vaultHostSuffix = vaultHostSuffix
    }

    /// - Parameters:
    ///   - vaultName: the vault the host names.
    ///   - identityBase: where clients get tokens (`https://localhost:8443`), for the challenge.
    public func respond(to request: Request, context: some RequestContext, vaultName: String, identityBase: String) async throws -> Response {
        // The audience and the vault's URL (its keys' `kid`s) are this server's configuration, never the request's Host.
        let resource = "https://\(vaultHostSuffix):\(port)"
        do {
            guard let token = bearerToken(of: request) else {
                throw AzureErrorResponse(.unauthorized, code: "Unauthorized", message: "AKV10000: Request is missing a Bearer or PoP token.",
                                         headers: [.wwwAuthenticate: "Bearer authorization=\"\(identityBase)/\(tenantID)\", resource=\"\(resource)\""])
            }
            let claims: AccessTokenClaims
            do {
                claims = try directory.verify(token, tenantID: tenantID,
                                              audiences: [resource, "https://\(vaultHostSuffix)", "https://vault.azure.net"])
            } catch {
                throw AzureErrorResponse(.unauthorized, code: "Unauthorized", message: "AKV10022: Invalid token: \(error.message).",
                                         headers: [.wwwAuthenticate: "Bearer authorization=\"\(identityBase)/\(tenantID)\", resource=\"\(resource)\""])
            }
            guard let version = request.uri.queryParameters.get("api-version") else {
                throw AzureErrorResponse(.badRequest, code: "BadParameter", message: "The api-version query parameter is required.")
            }
            guard Self.isSupported(version: version) else {
                throw AzureErrorResponse(.badRequest, code: "BadParameter", message: "The specified version (\(version.prefix(20))) is not recognized. Consider using 7.0 to 7.6 or 2025-07-01.")
            }
            // A vault that does not exist answers as one the caller may not use: otherwise any token holder could
            // learn which vault names exist.
            guard let vault = try await vaults.vault(named: vaultName) else {
                throw AzureErrorResponse(.forbidden, code: "Forbidden", message: "The user, group or application "
                                         + "'appid=\(claims.appid);oid=\(claims.oid)' does not have keys permission on key vault "
                                         + "'\(vaultName.prefix(24))', or the vault does not exist.")
            }
            let exchange = VaultExchange(api: self, request: request, claims: claims, vault: vault, baseURL: "https://\(vaultName.lowercased()).\(vaultHostSuffix):\(port)", apiVersion: version)
            return try await exchange.dispatch()
        } catch let error as KeyVaultError {
            throw Self.wire(error)
        }
    }

    /// 7.0 to 7.6 (and their previews), 2016-10-01, and the date-named versions that followed 7.6.
    static func isSupported(version: String) -> Bool {
        let release = version.split(separator: "-").first.map(String.init) ?? version
        if let minor = release.split(separator: ".").last.flatMap({ Int($0) }), release.hasPrefix("7."), (0...6).contains(minor) { return true }
        if version == "2016-10-01" { return true }
        let date = version.prefix(10)
        return date.count == 10 && date >= "2025-07-01" && date.allSatisfy { $0.isNumber || $0 == "-" }
    }

    /// The one table from vault errors to Azure's statuses and codes.
    static func wire(_ error: KeyVaultError) -> AzureErrorResponse {
        let status: HTTPResponse.Status = switch error.code {
        case .unauthorized: .unauthorized
        case .forbidden, .operationNotAllowed: .forbidden
        case .keyDisabled: .forbidden
        case .vaultNotFound, .keyNotFound: .notFound
        case .badParameter, .invalidVault: .badRequest
        case .conflict, .deletedButRecoverable, .vaultNameTaken: .conflict
        case .notDeleted: .conflict
        }
        return AzureErrorResponse(status, code: error.code.rawValue, message: error.message)
    }
}

/// One data-plane request.
struct VaultExchange {
    let api: KeyVaultAPI
    let request: Request
    let claims: AccessTokenClaims
    let vault: VaultResource
    let baseURL: String
    let apiVersion: String

    init(api: KeyVaultAPI, request: Request, claims: AccessTokenClaims, vault: VaultResource, baseURL: String, apiVersion: String) {
        self.api = api
        self.request = request
        self.claims = claims
        self.vault = vault
        self.baseURL = baseURL
        self.apiVersion = apiVersion
    }

    private var service: VaultService { api.vaults }

    func dispatch() async throws -> Response {
        // Paths keep empty components: the SDKs write `/keys/<name>//wrapkey` for "latest version".
        let parts = request.uri.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        let collection = parts.first?.lowercased() ?? ""
        let rest = Array(parts.dropFirst())
        RequestRecord.noteRoute(Self.routeTemplate(collection: collection, rest: rest))
        switch (collection, request.method, rest.count) {
        case ("keys", .get, 0):
            try await authorize(.list)
            return try page(try await service.listKeys(vault: vault, after: skipToken(), limit: maxResults(), baseURL: baseURL), path: "/keys")
        case ("keys", .post, 2) where rest[1].lowercased() == "create":
            try await authorize(.create)
            let body = try await AzureJSON.decode(CreateKeyRequest.self, from: request)
            return try AzureJSON.response(try await service.createKey(vault: vault, name: rest[0], request: body, baseURL: baseURL))
        case ("keys", .post, 2) where rest[1].lowercased() == "rotate":
            try await authorize(.rotate)
            return try AzureJSON.response(try await service.rotateKey(vault: vault, name: rest[0], baseURL: baseURL))
        case ("keys", .post, 1) where rest[0].lowercased() == "restore":
            try await authorize(.restore)
            struct Body: Decodable { let value: String }
            let body = try await AzureJSON.decode(Body.self, from: request)
            return try AzureJSON.response(try await service.restoreKey(vault: vault, blob: body.value, baseURL: baseURL))
        case ("keys", .put, 1):
            try await authorize(.import)
            let body = try await AzureJSON.decode(ImportKeyRequest.self, from: request)
            return try AzureJSON.response(try await service.importKey(vault: vault, name: rest[0], request: body, baseURL: baseURL))
        case ("keys", .post, 2) where rest[1].lowercased() == "backup":
            try await authorize(.backup)
            return try AzureJSON.response(["value": try await service.backupKey(vault: vault, name: rest[0])])
        case ("keys", .get, 2) where rest[1].lowercased() == "rotationpolicy":
            try await authorize(.getrotationpolicy)
            return try AzureJSON.response(try await service.rotationPolicy(vault: vault, name: rest[0], baseURL: baseURL))
        case ("keys", .put, 2) where rest[1].lowercased() == "rotationpolicy":
            try await authorize(.setrotationpolicy)
            let body = try await AzureJSON.decode(KeyRotationPolicy.self, from: request)
            return try AzureJSON.response(try await service.setRotationPolicy(vault: vault, name: rest[0], policy: body, baseURL: baseURL))
        case ("keys", .get, 2) where rest[1].lowercased() == "versions":
            try await authorize(.list)
            let page = try await service.listKeyVersions(vault: vault, name: rest[0], after: skipToken(), limit: maxResults(), baseURL: baseURL)
            return try self.page(page, path: "/keys/\(rest[0])/versions")
        case ("keys", .get, 1), ("keys", .get, 2):
            try await authorize(.get)
            return try AzureJSON.response(try await service.getKey(vault: vault, name: rest[0], version: rest.count > 1 ? rest[1] : nil, baseURL: baseURL))
        case ("keys", .patch, 1), ("keys", .patch, 2):
            try await authorize(.update)
            let body = try await AzureJSON.decode(UpdateKeyRequest.self, from: request)
            return try AzureJSON.response(try await service.updateKey(vault: vault, name: rest[0], version: rest.count > 1 ? rest[1] : nil,
                                                                      request: body, baseURL: baseURL))
        case ("keys", .delete, 1):
            try await authorize(.delete)
            return try AzureJSON.response(try await service.deleteKey(vault: vault, name: rest[0], baseURL: baseURL))
        case ("keys", .post, 3), ("keys", .post, 2):
            let operationName = rest.last!.lowercased()
            guard let operation = Self.operations[operationName] else { throw notFound() }
            try await authorize(operation.permission)
            let version = rest.count == 3 ? rest[1] : nil
            if operation == .verify {
                let body = try await AzureJSON.decode(VerifyRequest.self, from: request)
                return try AzureJSON.response(try await service.verify(vault: vault, name: rest[0], version: version, request: body, baseURL: baseURL))
            }
            let body = try await AzureJSON.decode(KeyOperationRequest.self, from: request)
            return try AzureJSON.response(try await service.perform(operation, vault: vault, name: rest[0], version: version, request: body, baseURL: baseURL))
        case ("deletedkeys", .get, 0):
            try await authorize(.list)
            return try page(try await service.listDeletedKeys(vault: vault, after: skipToken(), limit: maxResults(), baseURL: baseURL), path: "/deletedkeys")
        case ("deletedkeys", .get, 1):
            try await authorize(.get)
            return try AzureJSON.response(try await service.deletedKey(vault: vault, name: rest[0], baseURL: baseURL))
        case ("deletedkeys", .post, 2) where rest[1].lowercased() == "recover":
            try await authorize(.recover)
            return try AzureJSON.response(try await service.recoverKey(vault: vault, name: rest[0], baseURL: baseURL))
        case ("deletedkeys", .delete, 1):
            try await authorize(.purge)
            try await service.purgeKey(vault: vault, name: rest[0])
            return AzureJSON.empty(.noContent)
        default:
            throw notFound()
        }
    }

    /// The path as a template (`/keys/{name}/{version}/wrapkey`), for access logs and metrics: only this API's own
    /// words are kept, every other segment is a placeholder.
    static func routeTemplate(collection: String, rest: [String]) -> String {
        let base = ["keys", "deletedkeys"].contains(collection) ? "/" + collection : "/{collection}"
        let last = rest.last?.lowercased() ?? ""
        let isVerb = routeVerbs.contains(last) || operations[last] != nil
        switch rest.count {
        case 0: return base
        case 1: return base + (last == "restore" ? "/restore" : "/{name}")
        case 2: return base + "/{name}/" + (isVerb ? last : "{version}")
        case 3: return base + "/{name}/{version}/" + (isVerb ? last : "{operation}")
        default: return base + "/{name}/…"
        }
    }

    private static let routeVerbs: Set<String> = ["create", "rotate", "backup", "rotationpolicy", "versions", "recover", "restore"]

    static var operations: [String: VaultService.Operation] {
        ["encrypt": .encrypt, "decrypt": .decrypt, "wrapkey": .wrapKey, "unwrapkey": .unwrapKey, "sign": .sign, "verify": .verify]
    }

    private func authorize(_ permission: KeyPermission) async throws {
        try await service.authorize(claims, vault: vault, permission: permission)
    }

    private func notFound() -> AzureErrorResponse {
        AzureErrorResponse(.notFound, code: "NotFound", message: "no Key Vault operation at \(request.method.rawValue) \(request.uri.path.prefix(200))")
    }

    private func maxResults() throws -> Int {
        guard let text = request.uri.queryParameters.get("maxresults") else { return 25 }
        guard let value = Int(text), (1...25).contains(value) else {
            throw AzureErrorResponse(.badRequest, code: "BadParameter", message: "maxresults must be between 1 and 25")
        }
        return value
    }

    private func skipToken() -> String? {
        request.uri.queryParameters.get("$skiptoken").flatMap { Base64URL.decode($0) }.map { String(decoding: $0, as: UTF8.self) }
    }

    private func page(_ page: KeyPage<KeyItem>, path: String) throws -> Response {
        let next = try page.next.map { token in
            var components = URLComponents()
            components.queryItems = [
                URLQueryItem(name: "api-version", value: apiVersion), URLQueryItem(name: "$skiptoken", value: Base64URL.encode(Array(token.utf8))),
                URLQueryItem(name: "maxresults", value: String(try maxResults())),
            ]
            return baseURL + path + "?" + (components.percentEncodedQuery ?? "")
        }
        return try AzureJSON.response(KeyListPage(value: page.items, nextLink: next))
    }
}

private struct KeyListPage: Encodable {
    let value: [KeyItem]
    let nextLink: String?
}
