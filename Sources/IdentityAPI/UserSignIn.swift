import AzureHTTP
import CofferTelemetry
import Foundation
import HTTPTypes
import Hummingbird
import Identity
import WebPage

/// People signing in: the authorization endpoint (a sign-in page, then a code for the client's redirect URI) and the
/// token endpoint's `authorization_code` (with PKCE) and `password` grants, shaped like Entra ID's v2 endpoints so
/// MSAL-based clients (`az login -u`) and the web console use one flow.
extension IdentityAPI {
    /// An authorization request whose client and redirect URI are known: errors past this point may go back to it.
    struct AuthorizationRequest {
        let client: PublicClient
        let redirectURI: String
        let state: String?
        let scope: String
        let codeChallenge: String
        let nonce: String?

        /// The hidden fields that carry the request through the sign-in form.
        var fields: [(String, String)] {
            [("client_id", client.clientID), ("redirect_uri", redirectURI), ("response_type", "code"), ("scope", scope),
             ("code_challenge", codeChallenge), ("code_challenge_method", "S256")]
                + (state.map { [("state", $0)] } ?? []) + (nonce.map { [("nonce", $0)] } ?? [])
        }
    }

    enum AuthorizationFailure: Error {
        /// The client or redirect URI is unknown: shown here, never sent anywhere.
        case page(String)
        /// Sent back to the client's redirect URI as `error` and `error_description`.
        case redirect(String, String, AuthorizationRequest?)
    }

    /// Reads and checks an authorization request's parameters (query or form).
    func authorizationRequest(_ parameters: [String: String]) throws(AuthorizationFailure) -> AuthorizationRequest {
        guard let clientID = parameters["client_id"]?.lowercased(), let client = publicClients.first(where: { $0.clientID == clientID }) else {
            throw .page("AADSTS700016: the application is not known to this directory.")
        }
        guard let redirectURI = parameters["redirect_uri"], redirectURI.utf8.count <= 512, client.allows(redirectURI: redirectURI) else {
            throw .page("AADSTS50011: the redirect URI is not one registered for \(client.displayName).")
        }
        let state = parameters["state"].map { String($0.prefix(512)) }
        func fail(_ error: String, _ description: String) -> AuthorizationFailure {
            .redirect(error, description, AuthorizationRequest(client: client, redirectURI: redirectURI, state: state, scope: "", codeChallenge: "", nonce: nil))
        }
        guard parameters["response_type"] == "code" else { throw fail("unsupported_response_type", "AADSTS700054: response_type must be code.") }
        guard let challenge = parameters["code_challenge"], challenge.utf8.count == 43, parameters["code_challenge_method"] == "S256" else {
            throw fail("invalid_request", "AADSTS9002325: Proof Key for Code Exchange (code_challenge with code_challenge_method S256) is required.")
        }
        let scope = String((parameters["scope"] ?? "openid").prefix(1024))
        return AuthorizationRequest(client: client, redirectURI: redirectURI, state: state, scope: scope, codeChallenge: challenge,
                                    nonce: parameters["nonce"].map { String($0.prefix(256)) })
    }

    /// `GET /{tenant}/oauth2/v2.0/authorize`: the sign-in page.
    func authorizePage(_ request: Request) -> Response {
        var parameters: [String: String] = [:]
        for (name, value) in request.uri.queryParameters { parameters[String(name)] = String(value) }
        do {
            return signInPage(try authorizationRequest(parameters), userName: String((parameters["login_hint"] ?? "").prefix(113)), error: nil)
        } catch {
            return authorizationFailure(error)
        }
    }

    /// `POST /{tenant}/oauth2/v2.0/authorize`: checks the name and password, then sends the browser back with a code.
    func authorizeSubmit(_ request: Request) async throws -> Response {
        // A sign-in form posted from another site would sign the victim's browser in as the attacker.
        if let origin = request.headers[.origin], origin != base {
            return WebResponse.html(signInDocument(body: [.element("p", [.class("notice notice-error")], [.text("This form may only be sent from \(base).")])]),
                                    status: .forbidden)
        }
        var request = request
        let body = try await request.collectBody(upTo: 64 * 1024)
        let parameters = CredentialParsing.form(String(buffer: body)).compactMapValues(\.first)
        let authorization: AuthorizationRequest
        do {
            authorization = try authorizationRequest(parameters)
        } catch {
            return authorizationFailure(error)
        }
        let userName = String((parameters["username"] ?? "").prefix(113))
        let user: DirectoryUser?
        do {
            user = try await directory.authenticateUser(userPrincipalName: userName, password: parameters["password"] ?? "", tenantID: tenantID)
        } catch let locked as SignInLocked {
            return signInPage(authorization, userName: userName, status: .tooManyRequests,
                              error: "AADSTS50053: too many failed sign-ins for this name; try again in \(locked.seconds) seconds.")
        } catch is SignInBusy {
            return signInPage(authorization, userName: userName, status: .serviceUnavailable,
                              error: "AADSTS90033: the sign-in service is busy; try again in a few seconds.")
        }
        guard let user else {
            return signInPage(authorization, userName: userName, status: .unauthorized, error: "AADSTS50126: the user name or password is not right.")
        }
        RequestRecord.notePrincipal(user.objectId)
        let code = try await directory.issueAuthorizationCode(Directory.CodeGrant(
            clientID: authorization.client.clientID, redirectURI: authorization.redirectURI, codeChallenge: authorization.codeChallenge,
            scope: authorization.scope, nonce: authorization.nonce, userObjectID: user.objectId, expires: Int64(Date().timeIntervalSince1970) + Directory.codeLifetime))
        return WebResponse.redirect(to: Self.redirectURI(authorization.redirectURI, [("code", code)] + (authorization.state.map { [("state", $0)] } ?? [])),
                                    status: .found)
    }

    private func authorizationFailure(_ failure: AuthorizationFailure) -> Response {
        switch failure {
        case .page(let message):
            return WebResponse.html(signInDocument(body: [.element("h1", [], [.text("Sign-in cannot start")]),
                                                          .element("p", [.class("notice notice-error")], [.text(message)])]), status: .badRequest)
        case .redirect(let error, let description, let request):
            guard let request else { return authorizationFailure(.page(description)) }
            return WebResponse.redirect(to: Self.redirectURI(request.redirectURI, [("error", error), ("error_description", description)]
                                                                + (request.state.map { [("state", $0)] } ?? [])), status: .found)
        }
    }

    private func signInPage(_ request: AuthorizationRequest, userName: String, status: HTTPResponse.Status = .ok, error: String?) -> Response {
        let hidden = request.fields.map { HTML.element("input", [.init("type", "hidden"), .init("name", $0.0), .init("value", $0.1)]) }
        let form = HTML.element("form", [.init("method", "post"), .init("action", "/\(tenantID)/oauth2/v2.0/authorize"), .init("id", "signin-form")], hidden + [
            .element("label", [.init("for", "username")], [.text("User name")]),
            .element("input", [.init("type", "text"), .init("id", "username"), .init("name", "username"), .init("value", userName),
                               .init("autocomplete", "username"), .init("placeholder", "alice@coffer.localhost"), .flag("required")]),
            .element("label", [.init("for", "password")], [.text("Password")]),
            .element("input", [.init("type", "password"), .init("id", "password"), .init("name", "password"), .init("autocomplete", "current-password"), .flag("required")]),
            .element("button", [.init("type", "submit"), .init("id", "signin")], [.text("Sign in")]),
        ])
        var body: [HTML] = [.element("h1", [], [.text("Sign in to Coffer")]),
                            .element("p", [.class("muted")], [.text("\(request.client.displayName) asks you to sign in.")])]
        if let error { body.append(.element("p", [.class("notice notice-error"), .init("id", "signin-error")], [.text(error)])) }
        body.append(form)
        // A form's redirect is held to `form-action` too: a client sent back elsewhere (az's loopback) is named there.
        let target = URLComponents(string: request.redirectURI).flatMap { components -> String? in
            guard let scheme = components.scheme, let host = components.host else { return nil }
            return "\(scheme)://\(host)" + (components.port.map { ":\($0)" } ?? "")
        }
        return WebResponse.html(signInDocument(body: body), status: status, formTargets: target.map { [$0] } ?? [])
    }

    private func signInDocument(body: [HTML]) -> String {
        HTML.document(language: "en", WebResponse.head(title: "Sign in · Coffer"),
                      [.element("main", [.class("signin")], [.element("div", [.class("card")], body)])])
    }

    /// `uri` with `parameters` added to its query.
    static func redirectURI(_ uri: String, _ parameters: [(String, String)]) -> String {
        var components = URLComponents(string: uri) ?? URLComponents()
        components.queryItems = (components.queryItems ?? []) + parameters.map { URLQueryItem(name: $0.0, value: $0.1) }
        // `+` in a value would read as a space.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        return components.string ?? uri
    }

    // MARK: token endpoint grants for users

    /// `grant_type=authorization_code`: a code, the verifier of its challenge, its client and redirect URI.
    func redeemCode(_ form: [String: String]) async throws -> Response {
        guard let code = form["code"], let clientID = form["client_id"], let redirectURI = form["redirect_uri"], let verifier = form["code_verifier"] else {
            return try Self.oauthError(.badRequest, "invalid_request", "AADSTS900144: code, client_id, redirect_uri and code_verifier are required", code: 900144)
        }
        guard let grant = try await directory.redeemAuthorizationCode(code, clientID: clientID, redirectURI: redirectURI, verifier: verifier),
              let user = try await directory.user(objectID: grant.userObjectID, tenantID: tenantID), user.accountEnabled else {
            return try Self.oauthError(.badRequest, "invalid_grant", "AADSTS70008: the code is not valid: expired, used, or issued for another client, redirect URI or verifier", code: 70008)
        }
        return try userTokens(user, clientID: grant.clientID, scope: form["scope"] ?? grant.scope, nonce: grant.nonce)
    }

    /// `grant_type=password` (resource owner password credentials), for public clients (`az login -u … -p …`).
    func passwordGrant(_ form: [String: String]) async throws -> Response {
        guard let clientID = form["client_id"]?.lowercased(), publicClients.contains(where: { $0.clientID == clientID }) else {
            return try Self.oauthError(.badRequest, "unauthorized_client", "AADSTS700016: the application is not known to this directory", code: 700016)
        }
        guard let name = form["username"], let password = form["password"] else {
            return try Self.oauthError(.badRequest, "invalid_request", "AADSTS900144: username and password are required", code: 900144)
        }
        let user: DirectoryUser?
        do {
            user = try await directory.authenticateUser(userPrincipalName: String(name.prefix(113)), password: password, tenantID: tenantID)
        } catch let locked as SignInLocked {
            return try Self.oauthError(.badRequest, "invalid_grant", "AADSTS50053: too many failed sign-ins for this name; try again in \(locked.seconds) seconds.", code: 50053)
        } catch is SignInBusy {
            return try Self.oauthError(.serviceUnavailable, "temporarily_unavailable", "AADSTS90033: the sign-in service is busy; retry shortly.", code: 90033)
        }
        guard let user else {
            return try Self.oauthError(.badRequest, "invalid_grant", "AADSTS50126: Error validating credentials due to invalid username or password.", code: 50126)
        }
        return try userTokens(user, clientID: clientID, scope: form["scope"] ?? "", nonce: nil)
    }

    /// `grant_type=refresh_token`: a refresh token this service issued, for the client it was issued to.
    func refreshGrant(_ form: [String: String]) async throws -> Response {
        guard let clientID = form["client_id"]?.lowercased(), publicClients.contains(where: { $0.clientID == clientID }), let token = form["refresh_token"],
              let user = try await directory.redeemRefreshToken(token, tenantID: tenantID, clientID: clientID) else {
            return try Self.oauthError(.badRequest, "invalid_grant", "AADSTS700082: the refresh token is not valid (expired, revoked, or another client's)", code: 700082)
        }
        return try userTokens(user, clientID: clientID, scope: form["scope"] ?? "", nonce: nil)
    }

    /// An access token for the scope's resource (`<resource>/.default` or `<resource>/user_impersonation`; this
    /// resource manager when none is named) and an ID token.
    private func userTokens(_ user: DirectoryUser, clientID: String, scope: String, nonce: String?) throws -> Response {
        RequestRecord.notePrincipal(user.objectId)
        let scopes = scope.split(separator: " ").map(String.init)
        let resourceScope = scopes.first { $0.hasSuffix("/.default") || $0.hasSuffix("/user_impersonation") }
        let resource = resourceScope.map { String($0[..<$0.lastIndex(of: "/")!]) } ?? base
        let issued = try directory.issueToken(for: user, clientID: clientID, resource: resource, issuer: issuer)
        // The scopes granted, as asked (MSAL files the token under them) and as Entra names them.
        let granted = ([resource + (resource.hasSuffix("/") ? "" : "/") + "user_impersonation"] + (resourceScope.map { [$0] } ?? []))
        let clientInfo = try JSONEncoder().encode(["uid": user.objectId, "utid": user.tenantId])
        return try AzureJSON.response([
            "token_type": OpenIDValue.string("Bearer"), "scope": .string(granted.joined(separator: " ")),
            "refresh_token": .string(try directory.issueRefreshToken(for: user, clientID: clientID, issuer: issuer)),
            "expires_in": .number(issued.expiresIn), "ext_expires_in": .number(issued.expiresIn), "access_token": .string(issued.token),
            "id_token": .string(try directory.issueIDToken(for: user, clientID: clientID, issuer: issuer, nonce: nonce)),
            "client_info": .string(Base64URL.encode(Array(clientInfo))),
        ], headers: [.cacheControl: "no-store"])
    }
}
