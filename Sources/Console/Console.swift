import CofferStorage
import CofferTelemetry
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Identity
import RegistryService
import WebPage

/// The web console at `/console/` on the base address: server-rendered pages over this server's own APIs, for people
/// signed in through the identity service's authorization-code flow with PKCE.
public struct Console: Sendable {
    let directory: Directory
    let sessions: ConsoleSessions
    let addresses: ConsoleAddresses
    let tenantID: String
    let subscriptionID: String
    /// The key-access audit of this process (the console lists a registry's recent events to who may read the registry).
    let keyAudit: KeyAccessAudit

    static let sessionCookie = "__Host-coffer-session"
    static let signInCookie = "__Host-coffer-signin"

    public init(directory: Directory, documents: any DocumentStore, addresses: ConsoleAddresses, tenantID: String,
                subscriptionID: String, keyAudit: KeyAccessAudit) {
        self.directory = directory
        self.sessions = ConsoleSessions(store: documents)
        self.addresses = addresses
        self.tenantID = tenantID
        self.subscriptionID = subscriptionID
        self.keyAudit = keyAudit
    }

    /// Whether a path on the base address is the console's.
    public static func handles(path: String) -> Bool {
        path == "/" || path == "/console" || path.hasPrefix("/console/")
    }

    /// Answers a console request. `send` passes a request to this server's APIs in-process.
    /// - Parameter authority: the `Host` the browser used; the console answers only on its configured base address
    ///   (its cookies and redirect URI are bound to it) and sends the browser there otherwise.
    public func respond(to request: Request, authority: String?, send: @escaping @Sendable (Request) async throws -> InProcessResponse) async throws -> Response {
        let path = request.uri.path
        RequestRecord.noteAPI("console")
        if path == WebAssets.stylesheetPath {
            RequestRecord.noteRoute(path)
            return WebResponse.asset(WebAssets.stylesheet, contentType: "text/css; charset=utf-8")
        }
        if path == WebAssets.scriptPath {
            RequestRecord.noteRoute(path)
            return WebResponse.asset(WebAssets.script, contentType: "text/javascript; charset=utf-8")
        }
        guard authority?.lowercased() == addresses.baseAuthority else {
            RequestRecord.noteRoute("/console/{elsewhere}")
            return WebResponse.redirect(to: addresses.base + "/console/", status: .found)
        }
        switch (request.method, path) {
        case (.get, "/"), (.get, "/console"):
            RequestRecord.noteRoute(path)
            return WebResponse.redirect(to: "/console/", status: .found)
        case (.get, "/console/signin"):
            RequestRecord.noteRoute(path)
            return startSignIn()
        case (.get, "/console/callback"):
            RequestRecord.noteRoute(path)
            return try await finishSignIn(request, send: send)
        case (.get, "/console/signed-out"):
            RequestRecord.noteRoute(path)
            return page(title: "Signed out", user: nil, formToken: nil, [
                H.h1("You are signed out"), H.p([], [H.a("/console/signin", "Sign in again", [.init("id", "signin-again")])]),
            ])
        default:
            break
        }
        // Everything else is for a signed-in user.
        let cookie = Self.cookie(Self.sessionCookie, in: request)
        guard let cookie, let session = try await sessions.session(cookie: cookie),
              let user = try await directory.user(objectID: session.userObjectID, tenantID: tenantID), user.accountEnabled else {
            RequestRecord.noteRoute("/console/{signin-needed}")
            if request.method == .get { return WebResponse.redirect(to: "/console/signin", status: .found) }
            return errorPage(.forbidden, "Your session has ended; sign in again.", user: nil)
        }
        RequestRecord.notePrincipal(user.objectId)
        let caller = ConsoleCaller(user: user, directory: directory, addresses: addresses, tenantID: tenantID, send: send)
        let context = PageContext(caller: caller, user: user, formToken: session.formToken, query: Self.query(request))
        if request.method == .post {
            var request = request
            let buffer = try await request.collectBody(upTo: 64 * 1024)
            let form = CredentialParsing.form(String(buffer: buffer)).compactMapValues(\.first)
            // The form token proves the post comes from a page this server rendered for this session; the origin
            // check refuses a cross-site post before anything is read.
            guard request.headers[.origin].map({ $0 == addresses.base }) ?? true,
                  let token = form["form_token"], ConsoleSessions.sameToken(token, session.formToken) else {
                RequestRecord.noteRoute("/console/{forged}")
                return errorPage(.forbidden, "This form was not sent from a page of this console (its form token is missing or wrong).", user: user)
            }
            if path == "/console/signout" {
                RequestRecord.noteRoute(path)
                try await sessions.end(cookie: cookie)
                return WebResponse.redirect(to: "/console/signed-out", headers: [(.setCookie, Self.expiredCookie(Self.sessionCookie))])
            }
            return try await ConsoleActions(context: context, form: form, console: self).perform(path: path)
        }
        guard request.method == .get else { return errorPage(.methodNotAllowed, "Use GET or a form of this console.", user: user) }
        return try await ConsolePages(context: context, console: self).render(path: path)
    }

    // MARK: sign-in

    /// Sends the browser to the identity service's authorization endpoint with a fresh state and PKCE challenge; the
    /// state and verifier wait in a short-lived cookie only this origin reads.
    private func startSignIn() -> Response {
        let state = ConsoleSessions.randomToken()
        let verifier = ConsoleSessions.randomToken() + ConsoleSessions.randomToken()
        var components = URLComponents()
        components.path = "/\(tenantID)/oauth2/v2.0/authorize"
        components.queryItems = [
            URLQueryItem(name: "client_id", value: PublicClient.consoleClientID), URLQueryItem(name: "response_type", value: "code"),
            URLQueryItem(name: "redirect_uri", value: addresses.base + "/console/callback"),
            URLQueryItem(name: "scope", value: "openid profile \(addresses.base)/.default"), URLQueryItem(name: "state", value: state),
            URLQueryItem(name: "code_challenge", value: Directory.challenge(of: verifier)), URLQueryItem(name: "code_challenge_method", value: "S256"),
        ]
        let cookie = "\(Self.signInCookie)=\(state).\(verifier); Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=600"
        return WebResponse.redirect(to: components.string ?? "/", status: .found, headers: [(.setCookie, cookie)])
    }

    /// The authorization endpoint's answer: checks the state against the cookie, redeems the code with the verifier at
    /// the token endpoint (in-process, as any client would), and starts a session for the user its token names.
    private func finishSignIn(_ request: Request, send: @escaping @Sendable (Request) async throws -> InProcessResponse) async throws -> Response {
        let query = Self.query(request)
        // Only an answer to a sign-in this browser started is read; what it says is not echoed (a crafted link would
        // put its words on this origin's page).
        guard let pending = Self.cookie(Self.signInCookie, in: request), let dot = pending.firstIndex(of: "."),
              let state = query["state"], ConsoleSessions.sameToken(String(pending[..<dot]), state) else {
            return errorPage(.badRequest, "This sign-in was not started here, or took longer than ten minutes. Start again.", user: nil, signInLink: true)
        }
        guard let code = query["code"] else {
            let known: Set<String> = ["access_denied", "invalid_request", "unsupported_response_type", "server_error", "temporarily_unavailable"]
            return errorPage(.badRequest, "Sign-in failed (\(query["error"].flatMap { known.contains($0) ? $0 : nil } ?? "error")). Start again.",
                             user: nil, signInLink: true)
        }
        let verifier = String(pending[pending.index(after: dot)...])
        var form = URLComponents()
        form.queryItems = [URLQueryItem(name: "grant_type", value: "authorization_code"), URLQueryItem(name: "code", value: code),
                           URLQueryItem(name: "client_id", value: PublicClient.consoleClientID),
                           URLQueryItem(name: "redirect_uri", value: addresses.base + "/console/callback"),
                           URLQueryItem(name: "code_verifier", value: verifier), URLQueryItem(name: "scope", value: "openid \(addresses.base)/.default")]
        let body = ByteBuffer(string: (form.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B"))
        let head = HTTPRequest(method: .post, scheme: "https", authority: addresses.baseAuthority, path: "/\(tenantID)/oauth2/v2.0/token",
                               headerFields: [.contentType: "application/x-www-form-urlencoded", .contentLength: String(body.readableBytes)])
        let answer = try await RequestRecord.$current.withValue(nil) { try await send(Request(head: head, body: .init(buffer: body))) }
        guard answer.status == .ok, let token = answer.object["access_token"] as? String,
              let claims = try? directory.verify(token, tenantID: tenantID, audiences: [addresses.base]), claims.idtyp == "user" else {
            return errorPage(.badRequest, "Sign-in failed: \(answer.errorMessage)", user: nil, signInLink: true)
        }
        let (cookie, _) = try await sessions.create(userObjectID: claims.oid)
        RequestRecord.notePrincipal(claims.oid)
        return WebResponse.redirect(to: "/console/", headers: [
            (.setCookie, "\(Self.sessionCookie)=\(cookie); Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=\(ConsoleSessions.lifetime)"),
            (.setCookie, Self.expiredCookie(Self.signInCookie)),
        ])
    }

    static func expiredCookie(_ name: String) -> String {
        "\(name)=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"
    }

    static func cookie(_ name: String, in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0] == name { return String(parts[1]) }
            }
        }
        return nil
    }

    static func query(_ request: Request) -> [String: String] {
        var values: [String: String] = [:]
        for (name, value) in request.uri.queryParameters { values[String(name)] = String(value.prefix(2048)) }
        return values
    }

    // MARK: layout

    func page(title: String, user: DirectoryUser?, formToken: String?, status: HTTPResponse.Status = .ok, _ content: [HTML]) -> Response {
        var header: [HTML] = [H.a("/console/", "Coffer", [.class("brand")])]
        if let user, let formToken {
            header.append(.element("nav", [], [H.a("/console/", "Registries"), H.a("/console/vaults", "Key vaults")]))
            header.append(H.div([.class("who")], [
                H.span([.init("id", "signed-in-user")], [.text(user.displayName + " · " + user.userPrincipalName)]),
                .element("form", [.init("method", "post"), .init("action", "/console/signout")], [
                    .element("input", [.init("type", "hidden"), .init("name", "form_token"), .init("value", formToken)]),
                    .element("button", [.init("type", "submit"), .init("id", "signout")], [.text("Sign out")]),
                ]),
            ]))
        }
        let document = HTML.document(language: "en", WebResponse.head(title: "\(title) · Coffer"), [
            .element("header", [.class("top")], header), .element("main", [], content),
        ])
        return WebResponse.html(document, status: status)
    }

    func errorPage(_ status: HTTPResponse.Status, _ message: String, user: DirectoryUser?, formToken: String? = nil, signInLink: Bool = false) -> Response {
        var content = [H.h1(status == .forbidden ? "Not allowed" : "Something is wrong"),
                       H.p([.class("notice notice-error"), .init("id", "error")], [.text(message)])]
        if signInLink { content.append(H.p([], [H.a("/console/signin", "Sign in")])) }
        return page(title: "Error", user: user, formToken: formToken, status: status, content)
    }
}

/// What a page or action of a signed-in user works with.
struct PageContext: Sendable {
    let caller: ConsoleCaller
    let user: DirectoryUser
    let formToken: String
    let query: [String: String]
}
