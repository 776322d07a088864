import CofferTelemetry
import Foundation
import HTTPTypes
import Hummingbird
import Identity
import WebPage

/// The console's actions. Each is a posted form (with the session's form token, checked before this runs) that
/// first answers with a confirmation page and acts only when that page's form comes back with `confirmed=yes`;
/// each acts through the API call a client would make, as the user, so the API authorizes it.
struct ConsoleActions {
    let context: PageContext
    let form: [String: String]
    let console: Console

    var caller: ConsoleCaller { context.caller }
    var pages: ConsolePages { ConsolePages(context: context, console: console) }

    /// What a finished action says on the page it returns to (by a fixed key, so no text travels in the address).
    static let notices: [String: String] = [
        "rotated": "The registry's master key is now wrapped under the key you chose.",
        "tag-deleted": "The tag was deleted.",
        "manifest-deleted": "The manifest was deleted.",
        "admin-enabled": "The admin user is enabled.",
        "key-recovered": "The key was recovered.",
    ]

    func perform(path: String) async throws -> Response {
        RequestRecord.noteRoute(Self.routes.contains(path) ? path : "/console/actions/{unknown}")
        guard Self.routes.contains(path) else { return pages.fail(.notFound, "There is no such action.") }
        let resourceType = path == "/console/actions/recover-key" ? "Microsoft.KeyVault/vaults" : "Microsoft.ContainerRegistry/registries"
        guard let id = ConsolePages.resourceID(form["id"], type: resourceType) else { return pages.fail(.badRequest, "The form names no valid resource.") }
        guard form["confirmed"] == "yes" else { return confirmation(path: path, id: id) }
        switch path {
        case "/console/actions/rotate-key": return try await rotateKey(id)
        case "/console/actions/enable-admin": return try await enableAdmin(id)
        case "/console/actions/show-credentials": return try await credentials(id, regenerate: nil)
        case "/console/actions/regenerate-password": return try await credentials(id, regenerate: form["name"] == "password2" ? "password2" : "password")
        case "/console/actions/delete-tag": return try await deleteTag(id)
        case "/console/actions/delete-manifest": return try await deleteManifest(id)
        default: return try await recoverKey(id)
        }
    }

    static let routes: Set<String> = ["/console/actions/rotate-key", "/console/actions/enable-admin", "/console/actions/show-credentials",
                                      "/console/actions/regenerate-password", "/console/actions/delete-tag", "/console/actions/delete-manifest",
                                      "/console/actions/recover-key"]

    /// The page that asks "are you sure", carrying the form's fields on.
    private func confirmation(path: String, id: String) -> Response {
        let name = ConsolePages.lastSegment(id)
        let question: String = switch path {
        case "/console/actions/rotate-key": "Rewrap the master key of registry \(name) under \(form["key_identifier"] ?? "")?"
        case "/console/actions/enable-admin": "Enable the admin user of registry \(name)? Anyone with its password can push and pull."
        case "/console/actions/show-credentials": "Show the admin passwords of registry \(name)?"
        case "/console/actions/regenerate-password": "Renew the admin password of registry \(name)? Clients using the old one stop working."
        case "/console/actions/delete-tag": "Delete the tag \(form["repository"] ?? ""):\(form["tag"] ?? "") of registry \(name)?"
        case "/console/actions/delete-manifest": "Delete the manifest \(form["digest"] ?? "") of \(form["repository"] ?? "") in registry \(name), with every tag on it?"
        default: "Recover the deleted key \(form["key"] ?? "") of vault \(name)?"
        }
        let carried = form.filter { $0.key != "form_token" && $0.key != "confirmed" }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return pages.page("Confirm", [
            H.h1("Confirm"),
            H.p([.init("id", "question")], [.text(question)]),
            H.div([.class("actions")], [
                pages.actionForm(path, "Confirm", id: "confirm", fields: carried + [("confirmed", "yes")],
                                 danger: path.contains("delete") || path.contains("regenerate")),
                H.a(backLink(id), "Cancel", [.init("id", "cancel")]),
            ]),
        ])
    }

    private func backLink(_ id: String, notice: String? = nil) -> String {
        var values = ["id": id]
        let page: String
        switch (form["repository"], form["digest"]) {
        case (let repository?, _) where form["tag"] != nil:
            values["repository"] = repository
            page = "/console/repository"
        case (let repository?, _?):
            values["repository"] = repository
            page = "/console/repository"
        default:
            page = id.lowercased().contains("/microsoft.keyvault/") ? "/console/vault" : "/console/registry"
        }
        if let notice { values["notice"] = notice }
        return page + "?" + ConsolePages.query(values)
    }

    private func done(_ id: String, _ notice: String) -> Response {
        WebResponse.redirect(to: backLink(id, notice: notice))
    }

    private func refused(_ answer: InProcessResponse) -> Response {
        pages.fail(answer.status.code >= 400 && answer.status.code < 500 ? answer.status : .badGateway, answer.errorMessage)
    }

    private func rotateKey(_ id: String) async throws -> Response {
        let current = try await caller.arm(.get, id)
        guard current.status == .ok else { return refused(current) }
        var registry = current.object
        var properties = registry["properties"] as? [String: Any] ?? [:]
        var encryption = properties["encryption"] as? [String: Any] ?? [:]
        var keyVault = encryption["keyVaultProperties"] as? [String: Any] ?? [:]
        guard let key = form["key_identifier"], !key.isEmpty, key.utf8.count <= 512 else { return pages.fail(.badRequest, "Name the key to wrap under.") }
        keyVault["keyIdentifier"] = key
        keyVault.removeValue(forKey: "versionedKeyIdentifier")
        keyVault.removeValue(forKey: "lastKeyRotationTimestamp")
        encryption["keyVaultProperties"] = keyVault
        properties["encryption"] = encryption
        properties.removeValue(forKey: "status")
        registry["properties"] = properties
        let answer = try await caller.arm(.put, id, body: registry)
        guard answer.status == .ok || answer.status == .created else { return refused(answer) }
        return done(id, "rotated")
    }

    private func enableAdmin(_ id: String) async throws -> Response {
        let answer = try await caller.arm(.patch, id, body: ["properties": ["adminUserEnabled": true]])
        guard answer.status == .ok else { return refused(answer) }
        return done(id, "admin-enabled")
    }

    /// The admin user's name and passwords (after renewing one when asked), shown once on this page.
    private func credentials(_ id: String, regenerate: String?) async throws -> Response {
        let answer = if let regenerate {
            try await caller.arm(.post, id + "/regenerateCredential", body: ["name": regenerate])
        } else {
            try await caller.arm(.post, id + "/listCredentials")
        }
        guard answer.status == .ok else { return refused(answer) }
        let passwords = answer.object["passwords"] as? [[String: Any]] ?? []
        return pages.page("Admin user", [
            H.p([.class("crumbs")], [H.a(backLink(id), ConsolePages.lastSegment(id))]),
            H.h1("Admin user"),
            H.p([.class("muted")], [.text("These passwords open the registry to push and pull. This page is not stored; keep them in a secret store.")]),
            H.properties([("User name", H.code(answer.object["username"] as? String ?? ""))]
                         + passwords.map { ($0["name"] as? String ?? "", H.span([.class("secret")], [.text($0["value"] as? String ?? "")])) },
                         id: "admin-credentials"),
        ])
    }

    private func deleteTag(_ id: String) async throws -> Response {
        guard let repository = form["repository"], ConsolePages.isRepositoryName(repository), let tag = form["tag"], ConsolePages.isTag(tag) else {
            return pages.fail(.badRequest, "A repository and a tag are required.")
        }
        let registry = ConsolePages.lastSegment(id)
        let token = try await caller.registryToken(registry, scopes: ["repository:\(repository):delete"])
        let answer = try await caller.registry(.delete, registry, "/acr/v1/\(repository)/_tags/\(tag)", token: token)
        guard answer.status.code < 300 else { return refused(answer) }
        return done(id, "tag-deleted")
    }

    private func deleteManifest(_ id: String) async throws -> Response {
        guard let repository = form["repository"], ConsolePages.isRepositoryName(repository), let digest = form["digest"], ConsolePages.isDigest(digest) else {
            return pages.fail(.badRequest, "A repository and a digest are required.")
        }
        let registry = ConsolePages.lastSegment(id)
        let token = try await caller.registryToken(registry, scopes: ["repository:\(repository):delete"])
        let answer = try await caller.registry(.delete, registry, "/v2/\(repository)/manifests/\(digest)", token: token)
        guard answer.status.code < 300 else { return refused(answer) }
        return done(id, "manifest-deleted")
    }

    private func recoverKey(_ id: String) async throws -> Response {
        guard let key = form["key"], ConsolePages.isPlainSegment(key) else { return pages.fail(.badRequest, "A key name is required.") }
        let answer = try await caller.vault(.post, ConsolePages.lastSegment(id), "/deletedkeys/\(key)/recover")
        guard answer.status == .ok else { return refused(answer) }
        return done(id, "key-recovered")
    }
}
