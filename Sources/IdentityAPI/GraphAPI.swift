import AzureHTTP
import CofferTelemetry
import CofferStorage
import Foundation
import HTTPTypes
import Hummingbird
import Identity

/// The part of Microsoft Graph that `az` and the Azure SDKs use to find and manage principals: `me`,
/// `servicePrincipals`, `applications` (with `addPassword` and `removePassword`) and `directoryObjects/getByIds`,
/// served at its own host (its tokens have their own audience).
///
/// Authorization: who holds any role in the subscription may read the directory (any token may read its own
/// principal); writes need `Microsoft.Authorization/roleAssignments/write` at the subscription (Owner, User Access
/// Administrator), because a password for another principal is that principal's rights.
public struct GraphAPI: Sendable {
    let directory: Directory
    let tenantID: String
    let subscriptionID: String
    /// The audiences Graph tokens are issued for (this Graph's base address); configured, never read from a request.
    let audiences: Set<String>
    /// This Graph's base address, for `@odata.context`.
    let base: String

    static let writeAction = AzureAction.control("Microsoft.Authorization/roleAssignments/write")
    static let maximumPasswords = 20
    static let readAction = AzureAction.control("Microsoft.Authorization/roleAssignments/read")

    public init(directory: Directory, tenantID: String, subscriptionID: String, base: String) {
        self.directory = directory
        self.tenantID = tenantID
        self.subscriptionID = subscriptionID
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.audiences = [self.base, "https://graph.microsoft.com"]
    }

    /// The path as a template (`/v1.0/applications/{id}/addpassword`), for access logs and metrics: only Graph's
    /// own words are kept, every other segment is a placeholder.
    static func routeTemplate(_ segments: [String]) -> String {
        guard let version = segments.first, ["v1.0", "beta"].contains(version) else { return "/{unknown}" }
        let rest = Array(segments.dropFirst())
        // The shapes this API answers: a collection, an object of it, an action on the object; nothing else is named.
        guard let collection = rest.first, ["me", "serviceprincipals", "applications", "directoryobjects", "users"].contains(collection) else {
            return "/\(version)/{unknown}"
        }
        switch rest.count {
        case 1: return "/\(version)/\(collection)"
        case 2: return "/\(version)/\(collection)/" + (rest[1] == "getbyids" ? "getbyids" : "{id}")
        case 3 where ["addpassword", "removepassword"].contains(rest[2]): return "/\(version)/\(collection)/{id}/\(rest[2])"
        default: return "/\(version)/\(collection)/{unknown}"
        }
    }

    public func respond(to request: Request, context: some RequestContext) async throws -> Response {
        RequestRecord.noteRoute(Self.routeTemplate(request.uri.path.split(separator: "/").map { $0.lowercased() }))
        let caller = try authenticate(request)
        let path = request.uri.path.split(separator: "/").map(String.init)
        guard let version = path.first, ["v1.0", "beta"].contains(version.lowercased()) else {
            throw Self.error(.notFound, "Request_ResourceNotFound", "Graph paths start with /v1.0/.")
        }
        let rest = Array(path.dropFirst())
        let lower = rest.map { $0.lowercased() }
        switch (request.method, lower.first, rest.count) {
        case (.get, "me", 1):
            guard caller.idtyp == "user", let user = try await directory.user(objectID: caller.oid, tenantID: tenantID) else {
                throw Self.error(.badRequest, "BadRequest", "/me request is only valid with delegated authentication flow.")
            }
            return try object(Self.present(user))
        case (.get, "users", 1):
            try await requireReader(caller)
            return try collection("users", try await directory.users().map(Self.present))
        case (.get, "users", 2):
            // Who may not read the directory learns nothing of other users, not even whether a name exists.
            let named = rest[1].lowercased()
            if named != caller.oid && named != caller.upn?.lowercased() { try await requireReader(caller) }
            guard let user = try await directory.user(rest[1], tenantID: tenantID) else { throw Self.userNotFound(rest[1]) }
            return try object(Self.present(user))
        case (.post, "users", 1):
            try await requireWriter(caller)
            let body = try await Self.body(request)
            guard let name = body["userPrincipalName"] as? String, let displayName = body["displayName"] as? String,
                  let password = (body["passwordProfile"] as? [String: Any])?["password"] as? String else {
                throw Self.error(.badRequest, "Request_BadRequest", "userPrincipalName, displayName and passwordProfile.password are required.")
            }
            do {
                let user = try await directory.createUser(tenantID: tenantID, userPrincipalName: name, displayName: displayName, password: password)
                return try object(Self.present(user), status: .created)
            } catch let error as UserCreationError {
                throw Self.error(.badRequest, error.code == .nameTaken ? "Request_MultipleObjectsWithSameKeyValue" : "Request_BadRequest", error.message)
            }
        case (.delete, "users", 2):
            try await requireWriter(caller)
            guard let user = try await directory.user(rest[1], tenantID: tenantID), try await directory.deleteUser(user) else { throw Self.userNotFound(rest[1]) }
            return AzureJSON.empty(.noContent)
        case (.get, "serviceprincipals", 1):
            let filter = try GraphFilter.parse(request.uri.queryParameters.get("$filter"))
            let found = try await visiblePrincipals(caller).filter { $0.hasServicePrincipal != false && filter.matches(servicePrincipal: $0) }
            return try collection("servicePrincipals", found.map(servicePrincipal))
        case (.get, "serviceprincipals", 2):
            let principal = try await servicePrincipal(rest[1], caller: caller)
            return try object(servicePrincipal(principal))
        case (.post, "serviceprincipals", 1):
            try await requireWriter(caller)
            let body = try await Self.body(request)
            guard let appID = body["appId"] as? String, var principal = try await application(appID: appID) else {
                throw Self.error(.badRequest, "Request_BadRequest", "The appId of an existing application is required.")
            }
            guard principal.hasServicePrincipal == false else {
                throw Self.error(.conflict, "Request_MultipleObjectsWithSameKeyValue", "The application already has a service principal.")
            }
            principal.hasServicePrincipal = true
            try await directory.save(principal)
            return try object(servicePrincipal(principal), status: .created)
        case (.delete, "serviceprincipals", 2):
            try await requireWriter(caller)
            let principal = try await servicePrincipal(rest[1], caller: caller)
            try await refuseOperatorOrIdentity(principal)
            try await directory.delete(principal, keepingApplication: true)
            return AzureJSON.empty(.noContent)
        case (.get, "applications", 1):
            let filter = try GraphFilter.parse(request.uri.queryParameters.get("$filter"))
            let found = try await visiblePrincipals(caller).filter { $0.kind == .servicePrincipal && filter.matches(application: $0) }
            return try collection("applications", found.map(application))
        case (.get, "applications", 2):
            let principal = try await applicationOrError(rest[1])
            if principal.objectId != caller.oid { try await requireReader(caller) }
            return try object(application(principal))
        case (.post, "applications", 1):
            try await requireWriter(caller)
            let body = try await Self.body(request)
            guard let name = body["displayName"] as? String, !name.isEmpty, name.utf8.count <= 256 else {
                throw Self.error(.badRequest, "Request_BadRequest", "displayName (1 to 256 characters) is required.")
            }
            return try object(application(try await directory.createApplication(tenantID: tenantID, displayName: name)), status: .created)
        case (.patch, "applications", 2):
            try await requireWriter(caller)
            var principal = try await applicationOrError(rest[1])
            if let name = try await Self.body(request)["displayName"] as? String, !name.isEmpty, name.utf8.count <= 256 {
                principal.displayName = name
                try await directory.save(principal)
            }
            return AzureJSON.empty(.noContent)
        case (.delete, "applications", 2):
            try await requireWriter(caller)
            let principal = try await applicationOrError(rest[1])
            try await refuseOperatorOrIdentity(principal)
            try await directory.delete(principal, keepingApplication: false)
            return AzureJSON.empty(.noContent)
        case (.post, "applications", 3) where lower[2] == "addpassword":
            try await requireWriter(caller)
            return try await addPassword(request, to: try await applicationOrError(rest[1]))
        case (.post, "applications", 3) where lower[2] == "removepassword":
            try await requireWriter(caller)
            return try await removePassword(request, from: try await applicationOrError(rest[1]))
        // A service principal's passwords are its application's here: one principal holds both objects.
        case (.post, "serviceprincipals", 3) where lower[2] == "addpassword":
            try await requireWriter(caller)
            return try await addPassword(request, to: try await servicePrincipal(rest[1], caller: caller))
        case (.post, "serviceprincipals", 3) where lower[2] == "removepassword":
            try await requireWriter(caller)
            return try await removePassword(request, from: try await servicePrincipal(rest[1], caller: caller))
        case (.post, "directoryobjects", 2) where lower[1] == "getbyids":
            let body = try await Self.body(request)
            guard let ids = body["ids"] as? [String], ids.count <= 1000 else {
                throw Self.error(.badRequest, "Request_BadRequest", "ids (at most 1000) is required.")
            }
            let wanted = Set(ids.map { $0.lowercased() })
            let types = (body["types"] as? [String])?.map { $0.lowercased() }
            var found: [[String: Any]] = []
            for principal in try await visiblePrincipals(caller) {
                if wanted.contains(principal.objectId), principal.hasServicePrincipal != false,
                   types == nil || types!.contains("serviceprincipal") || types!.contains("microsoft.graph.serviceprincipal") {
                    found.append(servicePrincipal(principal))
                }
                if let applicationID = principal.applicationObjectId ?? (principal.kind == .servicePrincipal ? principal.appId : nil),
                   wanted.contains(applicationID), types == nil || types!.contains("application") || types!.contains("microsoft.graph.application") {
                    found.append(application(principal))
                }
            }
            return try collection("directoryObjects", found)
        default:
            throw Self.error(.notFound, "Request_ResourceNotFound", "No Graph resource at \(request.method.rawValue) \(request.uri.path.prefix(200)).")
        }
    }

    private func addPassword(_ request: Request, to principal: Principal) async throws -> Response {
        guard principal.kind == .servicePrincipal else {
            throw Self.error(.badRequest, "Request_BadRequest", "A managed identity has no passwords.")
        }
        let requested = try await Self.body(request)["passwordCredential"] as? [String: Any] ?? [:]
        let end = try (requested["endDateTime"] as? String).map { text in
            guard let date = AzureDates.parse(text), date.timeIntervalSince1970 > 0, date.timeIntervalSince1970 < 4e9 else {
                throw Self.error(.badRequest, "Request_BadRequest", "endDateTime must be an ISO 8601 date between 1970 and 2096.")
            }
            return Int64(date.timeIntervalSince1970)
        }
        let name = (requested["displayName"] as? String).map { String($0.prefix(256)) }
        guard directory.listedPasswords(of: principal).count < Self.maximumPasswords else {
            throw Self.error(.badRequest, "Request_BadRequest", "An application has at most \(Self.maximumPasswords) passwords; remove one first.")
        }
        let password: ApplicationPassword, secret: String
        do {
            (password, secret) = try await directory.addPassword(to: principal, displayName: name, endDateTime: end)
        } catch let error as StorageError where error.code == .notFound || error.code == .conflict {
            throw Self.error(error.code == .notFound ? .notFound : .conflict, error.code == .notFound ? "Request_ResourceNotFound" : "Request_Conflict",
                             error.message)
        }
        var presented = Self.present(password)
        presented["secretText"] = secret
        return try object(presented)
    }

    private func removePassword(_ request: Request, from principal: Principal) async throws -> Response {
        if try await directory.isBootstrapOperator(principal), directory.listedPasswords(of: principal).count <= 1 {
            throw Self.error(.badRequest, "Request_BadRequest",
                             "The bootstrap operator keeps at least one password: add the new one first (az ad sp credential reset --append), then remove the old.")
        }
        let keyID = try await Self.body(request)["keyId"] as? String
        let removed: Bool
        do {
            if let keyID { removed = try await directory.removePassword(keyID: keyID, from: principal) } else { removed = false }
        } catch let error as StorageError where error.code == .conflict {
            throw Self.error(.conflict, "Request_Conflict", error.message)
        }
        guard removed else {
            throw Self.error(.badRequest, "Request_BadRequest", "No password with this keyId exists.")
        }
        return AzureJSON.empty(.noContent)
    }

    // MARK: authorization

    private func authenticate(_ request: Request) throws -> AccessTokenClaims {
        guard let token = bearerToken(of: request) else {
            throw Self.error(.unauthorized, "InvalidAuthenticationToken", "Access token is empty.")
        }
        do {
            return try directory.verify(token, tenantID: tenantID, audiences: audiences)
        } catch {
            throw Self.error(.unauthorized, "InvalidAuthenticationToken", "Access token validation failure: \(error.message).")
        }
    }

    private func requireReader(_ caller: AccessTokenClaims) async throws {
        guard try await mayReadDirectory(caller) else {
            throw Self.error(.forbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        }
    }

    /// Who may read the whole directory: a reader of the subscription's role assignments (Reader, Contributor, Owner
    /// there), or a principal who may grant roles somewhere (it must find the principals it grants to). Anyone else sees
    /// only its own principal, as an application without Graph permissions does in Entra: a role on one registry does
    /// not reveal every principal and the resource ids their names carry.
    /// One read of the role assignments: each of the caller's roles is judged on its own (a role held above another
    /// scope is itself one of the caller's assignments).
    private func mayReadDirectory(_ caller: AccessTokenClaims) async throws -> Bool {
        let subscription = "/subscriptions/\(subscriptionID)"
        return try await directory.roleAssignments().contains { assignment in
            guard assignment.principalID == caller.oid, let definition = assignment.role?.definition else { return false }
            return definition.permits(Self.writeAction)
                || (Directory.scope(subscription, isWithin: assignment.scope) && definition.permits(Self.readAction))
        }
    }

    /// The principals the caller may see: all, or only its own.
    private func visiblePrincipals(_ caller: AccessTokenClaims) async throws -> [Principal] {
        let all = try await directory.allPrincipals()
        return try await mayReadDirectory(caller) ? all : all.filter { $0.objectId == caller.oid }
    }

    private func requireWriter(_ caller: AccessTokenClaims) async throws {
        guard try await directory.permits(caller.oid, Self.writeAction, at: "/subscriptions/\(subscriptionID)") else {
            throw Self.error(.forbidden, "Authorization_RequestDenied",
                             "Insufficient privileges to complete the operation: it needs Owner or User Access Administrator on the subscription.")
        }
    }

    private func refuseOperatorOrIdentity(_ principal: Principal) async throws {
        if principal.kind == .managedIdentity {
            throw Self.error(.badRequest, "Request_BadRequest", "A managed identity is deleted with its resource, not through Graph.")
        }
        if try await directory.isBootstrapOperator(principal) {
            throw Self.error(.forbidden, "Authorization_RequestDenied", "The bootstrap operator cannot be deleted.")
        }
    }

    // MARK: lookups

    /// A service principal by object id; a caller without a role may read only its own.
    private func servicePrincipal(_ id: String, caller: AccessTokenClaims) async throws -> Principal {
        if id.lowercased() != caller.oid { try await requireReader(caller) }
        guard let principal = try await directory.allPrincipals().first(where: { $0.objectId == id.lowercased() && $0.hasServicePrincipal != false }) else {
            throw Self.error(.notFound, "Request_ResourceNotFound", "Resource '\(id.prefix(100))' does not exist or one of its queried reference-property objects are not present.")
        }
        return principal
    }

    private func application(appID: String) async throws -> Principal? {
        try await directory.allPrincipals().first { $0.kind == .servicePrincipal && $0.appId == appID.lowercased() }
    }

    /// An application by its object id.
    private func applicationOrError(_ id: String) async throws -> Principal {
        let id = id.lowercased()
        guard let principal = try await directory.allPrincipals().first(where: {
            $0.kind == .servicePrincipal && ($0.applicationObjectId ?? $0.appId) == id
        }) else {
            throw Self.error(.notFound, "Request_ResourceNotFound", "Resource '\(id.prefix(100))' does not exist or one of its queried reference-property objects are not present.")
        }
        return principal
    }

    // MARK: presentation

    func servicePrincipal(_ principal: Principal) -> [String: Any] {
        let managed = principal.kind == .managedIdentity
        var names = [principal.appId]
        if let resource = principal.resourceId { names.append(resource) }
        return [
            "@odata.type": "#microsoft.graph.servicePrincipal", "id": principal.objectId, "appId": principal.appId,
            "displayName": principal.displayName, "appDisplayName": principal.displayName, "servicePrincipalNames": names,
            "servicePrincipalType": managed ? "ManagedIdentity" : "Application", "accountEnabled": true,
            "appOwnerOrganizationId": principal.tenantId, "alternativeNames": principal.resourceId.map { [$0] } ?? [],
            "passwordCredentials": directory.listedPasswords(of: principal).map(Self.present), "keyCredentials": [Any](), "tags": [Any](),
            "signInAudience": "AzureADMyOrg",
        ]
    }

    func application(_ principal: Principal) -> [String: Any] {
        [
            "@odata.type": "#microsoft.graph.application", "id": principal.applicationObjectId ?? principal.appId, "appId": principal.appId,
            "displayName": principal.displayName, "signInAudience": "AzureADMyOrg", "identifierUris": [Any](), "keyCredentials": [Any](),
            "passwordCredentials": directory.listedPasswords(of: principal).map(Self.present),
        ]
    }

    static func present(_ user: DirectoryUser) -> [String: Any] {
        [
            "@odata.type": "#microsoft.graph.user", "id": user.objectId, "userPrincipalName": user.userPrincipalName,
            "displayName": user.displayName, "accountEnabled": user.accountEnabled, "userType": "Member",
            "mail": NSNull(), "createdDateTime": date(user.createdDateTime),
        ]
    }

    static func userNotFound(_ id: String) -> AzureErrorResponse {
        error(.notFound, "Request_ResourceNotFound", "Resource '\(id.prefix(120))' does not exist or one of its queried reference-property objects are not present.")
    }

    static func present(_ password: ApplicationPassword) -> [String: Any] {
        [
            "keyId": password.keyId, "displayName": password.displayName ?? NSNull(), "hint": password.hint, "secretText": NSNull(),
            "customKeyIdentifier": NSNull(), "startDateTime": date(password.startDateTime), "endDateTime": date(password.endDateTime),
        ]
    }

    static func date(_ seconds: Int64) -> String {
        AzureDates.format(Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    private func collection(_ name: String, _ items: [[String: Any]]) throws -> Response {
        try object(["@odata.context": "\(base)/v1.0/$metadata#\(name)", "value": items])
    }

    private func object(_ value: [String: Any], status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])
        return Response(status: status, headers: [.contentType: "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// A JSON object body (at most 64 KiB).
    static func body(_ request: Request) async throws -> [String: Any] {
        var request = request
        let buffer = try await request.collectBody(upTo: 64 * 1024)
        guard buffer.readableBytes > 0 else { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? [String: Any] else {
            throw error(.badRequest, "BadRequest", "The request body must be a JSON object.")
        }
        return object
    }

    static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> AzureErrorResponse {
        AzureErrorResponse(status, code: code, message: message)
    }
}

/// The `$filter` forms az sends to find principals: `servicePrincipalNames/any(c:c eq '…')`, `appId eq '…'`,
/// `displayName eq '…'`, `startswith(displayName,'…')`, `id eq '…'`, joined by `and`.
struct GraphFilter: Sendable {
    enum Condition: Sendable {
        case servicePrincipalName(String)
        case equals(field: String, value: String)
        case displayNameStarts(String)
    }
    var conditions: [Condition] = []

    static func parse(_ text: String?) throws -> GraphFilter {
        guard let text, !text.trimmingCharacters(in: .whitespaces).isEmpty else { return GraphFilter() }
        guard text.utf8.count <= 1024 else { throw invalid(text) }
        var filter = GraphFilter()
        for clause in text.components(separatedBy: " and ").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let lower = clause.lowercased().replacingOccurrences(of: " ", with: "")
            if lower.hasPrefix("serviceprincipalnames/any("), clause.hasSuffix(")"), let quote = clause.firstIndex(of: "'"),
               let value = quoted(clause[quote...].dropLast()) {
                filter.conditions.append(.servicePrincipalName(value))
            } else if lower.hasPrefix("startswith(displayname,"), clause.hasSuffix(")"), let quote = clause.firstIndex(of: "'"),
                      let value = quoted(clause[quote...].dropLast()) {
                filter.conditions.append(.displayNameStarts(value))
            } else {
                let parts = clause.components(separatedBy: " eq ")
                guard parts.count == 2, let value = quoted(Substring(parts[1])) else { throw invalid(text) }
                let field = parts[0].trimmingCharacters(in: .whitespaces).lowercased()
                guard ["appid", "displayname", "id"].contains(field) else { throw invalid(text) }
                filter.conditions.append(.equals(field: field, value: value))
            }
        }
        return filter
    }

    func matches(servicePrincipal principal: Principal) -> Bool {
        conditions.allSatisfy { condition in
            switch condition {
            case .servicePrincipalName(let name): name.lowercased() == principal.appId || name.lowercased() == principal.resourceId
            case .equals("appid", let value): value.lowercased() == principal.appId
            case .equals("id", let value): value.lowercased() == principal.objectId
            case .equals(_, let value): value == principal.displayName
            case .displayNameStarts(let prefix): principal.displayName.lowercased().hasPrefix(prefix.lowercased())
            }
        }
    }

    func matches(application principal: Principal) -> Bool {
        conditions.allSatisfy { condition in
            switch condition {
            case .servicePrincipalName: false
            case .equals("appid", let value): value.lowercased() == principal.appId
            case .equals("id", let value): value.lowercased() == (principal.applicationObjectId ?? principal.appId)
            case .equals(_, let value): value == principal.displayName
            case .displayNameStarts(let prefix): principal.displayName.lowercased().hasPrefix(prefix.lowercased())
            }
        }
    }

    private static func quoted(_ text: Substring) -> String? {
        let text = text.trimmingCharacters(in: .whitespaces)
        guard text.count >= 2, text.hasPrefix("'"), text.hasSuffix("'") else { return nil }
        return String(text.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")
    }

    private static func invalid(_ text: String) -> AzureErrorResponse {
        AzureErrorResponse(.badRequest, code: "Request_UnsupportedQuery", message: "Unsupported query: '\(text.prefix(200))'.")
    }
}
