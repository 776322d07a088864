import ControlPlane
import CofferTelemetry
import Foundation
import HTTPTypes
import Hummingbird
import Identity
import RegistryService
import WebPage

/// The console's pages. Each reads through the signed-in user's own API calls (``ConsoleCaller``); what an API
/// refuses the page says so, and an action is offered only when the user's roles hold the action its API call needs
/// (the API checks again when it is made).
struct ConsolePages {
    let context: PageContext
    let console: Console

    var caller: ConsoleCaller { context.caller }

    func render(path: String) async throws -> Response {
        switch path {
        case "/console/":
            RequestRecord.noteRoute(path)
            return try await registries()
        case "/console/vaults":
            RequestRecord.noteRoute(path)
            return try await vaults()
        case "/console/registry":
            RequestRecord.noteRoute(path)
            return try await registry()
        case "/console/repository":
            RequestRecord.noteRoute(path)
            return try await repository()
        case "/console/manifest":
            RequestRecord.noteRoute(path)
            return try await manifest()
        case "/console/vault":
            RequestRecord.noteRoute(path)
            return try await vault()
        default:
            RequestRecord.noteRoute("/console/{unknown}")
            return fail(.notFound, "There is no console page at this address.")
        }
    }

    func page(_ title: String, _ content: [HTML]) -> Response {
        var content = content
        if let notice = context.query["notice"].flatMap(ConsoleActions.notices.index(forKey:)).map({ ConsoleActions.notices[$0].value }) {
            content.insert(H.p([.class("notice notice-ok"), .init("id", "notice")], [.text(notice)]), at: min(1, content.count))
        }
        return console.page(title: title, user: context.user, formToken: context.formToken, content)
    }

    func fail(_ status: HTTPResponse.Status, _ message: String) -> Response {
        console.errorPage(status, message, user: context.user, formToken: context.formToken)
    }

    // MARK: registries

    /// The resources of `type` the user may read: the subscription's list when its roles open it, else the lists of
    /// each resource group and the resources themselves that its role assignments name (each read through the API).
    func visibleResources(_ type: String) async throws -> [[String: Any]] {
        let whole = try await caller.arm(.get, "/subscriptions/\(console.subscriptionID)/providers/\(type)")
        if whole.status == .ok { return Self.sortedByName(whole.object["value"] as? [[String: Any]] ?? []) }
        var found: [String: [String: Any]] = [:]
        let scopes = Set(try await console.directory.roleAssignments().filter { $0.principalID == context.user.objectId }.map { $0.scope.lowercased() })
        for scope in scopes.sorted() {
            let parts = scope.split(separator: "/").map(String.init)
            if parts.count == 4, parts[2] == "resourcegroups" {
                let answer = try await caller.arm(.get, "\(scope)/providers/\(type)")
                for item in answer.status == .ok ? answer.object["value"] as? [[String: Any]] ?? [] : [] { found[(item["id"] as? String ?? "").lowercased()] = item }
            } else if parts.count >= 8, "\(parts[5])/\(parts[6])" == type.lowercased(), let id = Self.resourceID("/" + parts.prefix(8).joined(separator: "/"), type: type) {
                let answer = try await caller.arm(.get, id)
                if answer.status == .ok { found[id] = answer.object }
            }
        }
        return Self.sortedByName(Array(found.values))
    }

    static func sortedByName(_ items: [[String: Any]]) -> [[String: Any]] {
        items.sorted { ($0["name"] as? String ?? "") < ($1["name"] as? String ?? "") }
    }

    private func registries() async throws -> Response {
        let list = try await visibleResources("Microsoft.ContainerRegistry/registries")
        let rows: [[HTML]] = list.map { registry in
            let id = registry["id"] as? String ?? ""
            let properties = registry["properties"] as? [String: Any] ?? [:]
            let encryption = properties["encryption"] as? [String: Any]
            let customer = (encryption?["status"] as? String)?.lowercased() == "enabled"
            return [
                H.a("/console/registry?" + Self.query(["id": id]), registry["name"] as? String ?? "", [.class("registry-link")]),
                H.text(Self.group(of: id)),
                H.code(properties["loginServer"] as? String ?? ""),
                H.text((registry["sku"] as? [String: Any])?["name"] as? String ?? ""),
                H.text(customer ? "Customer-managed key" : "Service-managed key"),
                customer ? Self.statusBadge(properties) : H.badge("Ready", tone: "good"),
            ]
        }
        let content: [HTML] = [
            H.h1("Registries"),
            rows.isEmpty ? H.p([.class("muted"), .init("id", "no-registries")], [.text("No registry is visible to you. An Owner can grant you a role on one.")])
                : H.table(["Name", "Resource group", "Login server", "SKU", "Encryption", "Status"], rows, id: "registries"),
        ]
        return page("Registries", content)
    }

    private func registry() async throws -> Response {
        guard let id = Self.resourceID(context.query["id"], type: "Microsoft.ContainerRegistry/registries") else {
            return fail(.badRequest, "The id must be a registry's resource id.")
        }
        let answer = try await caller.arm(.get, id)
        guard answer.status == .ok else { return fail(answer.status, answer.errorMessage) }
        let registry = answer.object
        let name = registry["name"] as? String ?? ""
        let properties = registry["properties"] as? [String: Any] ?? [:]
        let permitted = try await permittedActions(at: id)
        var content: [HTML] = [
            H.p([.class("crumbs")], [H.a("/console/", "Registries"), .text(" / \(Self.group(of: id)) / \(name)")]),
            H.h1(name),
            H.h2("Properties"),
            H.div([.class("card")], [H.properties(try await registryProperties(id: id, registry: registry), id: "registry-properties")]),
        ]
        content += actionsSection(id: id, registry: registry, permitted: permitted)
        content += try await repositoriesSection(id: id, name: name, loginServer: properties["loginServer"] as? String ?? "")
        content += auditSection(name: name)
        return page(name, content)
    }

    private func registryProperties(id: String, registry: [String: Any]) async throws -> [(String, HTML)] {
        let properties = registry["properties"] as? [String: Any] ?? [:]
        let encryption = properties["encryption"] as? [String: Any] ?? [:]
        let keyVault = encryption["keyVaultProperties"] as? [String: Any] ?? [:]
        let customer = (encryption["status"] as? String)?.lowercased() == "enabled"
        var pairs: [(String, HTML)] = [
            ("SKU", .text((registry["sku"] as? [String: Any])?["name"] as? String ?? "")),
            ("Login server", Self.copyable(properties["loginServer"] as? String ?? "")),
            ("Location", .text(registry["location"] as? String ?? "")),
            ("Encryption", .text(customer ? "Customer-managed key" : "Service-managed key")),
        ]
        if customer {
            let keyID = keyVault["keyIdentifier"] as? String ?? ""
            let versioned = keyVault["versionedKeyIdentifier"] as? String ?? ""
            pairs += [
                ("Key", H.code(keyID)),
                ("Key version in use", H.code(versioned)),
                ("Key version", .text(Self.isVersionless(keyID) ? "Versionless: follows the key's newest version" : "Pinned to one version")),
                ("Identity", H.code(keyVault["identity"] as? String ?? "")),
                ("Last rotation", .text(keyVault["lastKeyRotationTimestamp"] as? String ?? "never")),
            ]
            let status = properties["status"] as? [String: Any] ?? [:]
            pairs.append(("Status", H.span([.init("id", "registry-status")], [Self.statusBadge(properties), .text(" " + (status["message"] as? String ?? ""))])))
        } else {
            pairs.append(("Status", H.span([.init("id", "registry-status")], [H.badge("Ready", tone: "good")])))
        }
        let identity = registry["identity"] as? [String: Any]
        pairs.append(("Managed identity", .text(identity?["type"] as? String ?? "None")))
        pairs.append(("Admin user", .text((properties["adminUserEnabled"] as? Bool ?? false) ? "Enabled" : "Disabled")))
        let network = properties["networkRuleSet"] as? [String: Any]
        let rules = (network?["ipRules"] as? [[String: Any]] ?? []).compactMap { $0["value"] as? String ?? $0["ipAddressOrRange"] as? String }
        pairs.append(("Firewall", .text("public network access \((properties["publicNetworkAccess"] as? String) ?? "Enabled"); default action "
                                       + "\(network?["defaultAction"] as? String ?? "Allow")" + (rules.isEmpty ? "" : "; allowed: " + rules.joined(separator: ", ")))))
        let retention = ((properties["policies"] as? [String: Any])?["retentionPolicy"] as? [String: Any])
        pairs.append(("Retention of untagged manifests", .text((retention?["status"] as? String)?.lowercased() == "enabled"
                                                                ? "\(retention?["days"] ?? "?") days" : "Disabled")))
        let usages = try await caller.arm(.get, id + "/listUsages")
        if usages.status == .ok, let size = (usages.object["value"] as? [[String: Any]])?.first(where: { ($0["name"] as? String) == "Size" }) {
            let used = (size["currentValue"] as? NSNumber)?.int64Value ?? 0
            pairs.append(("Storage used", H.span([.init("id", "storage-used")], [.text(Self.bytes(used))])))
        }
        return pairs
    }

    /// The actions the user's roles allow on the registry, each a form that asks for confirmation first.
    private func actionsSection(id: String, registry: [String: Any], permitted: Set<AzureAction>) -> [HTML] {
        let properties = registry["properties"] as? [String: Any] ?? [:]
        let encryption = properties["encryption"] as? [String: Any] ?? [:]
        let keyVault = encryption["keyVaultProperties"] as? [String: Any] ?? [:]
        var forms: [HTML] = []
        if permitted.contains(ARMOperation.putRegistry.action), (encryption["status"] as? String)?.lowercased() == "enabled" {
            forms.append(actionForm("/console/actions/rotate-key", "Rotate key", id: "rotate-key", fields: [("id", id)], inputs: [
                .element("label", [.init("for", "key-identifier")], [.text("Key (versionless: its newest version)")]),
                .element("input", [.init("type", "text"), .init("id", "key-identifier"), .init("name", "key_identifier"),
                                   .init("value", Self.versionless(keyVault["keyIdentifier"] as? String ?? ""))]),
            ]))
        }
        if permitted.contains(ARMOperation.patchRegistry.action), !(properties["adminUserEnabled"] as? Bool ?? false) {
            forms.append(actionForm("/console/actions/enable-admin", "Enable admin user", id: "enable-admin", fields: [("id", id)]))
        }
        if permitted.contains(ARMOperation.listCredentials.action), properties["adminUserEnabled"] as? Bool ?? false {
            forms.append(actionForm("/console/actions/show-credentials", "Show admin passwords", id: "show-credentials", fields: [("id", id)]))
        }
        if permitted.contains(ARMOperation.regenerateCredential.action), properties["adminUserEnabled"] as? Bool ?? false {
            forms.append(actionForm("/console/actions/regenerate-password", "Renew password", id: "regenerate-password", fields: [("id", id), ("name", "password")]))
        }
        guard !forms.isEmpty else { return [] }
        return [H.h2("Actions"), H.div([.class("card actions"), .init("id", "registry-actions")], forms)]
    }

    private func repositoriesSection(id: String, name: String, loginServer: String) async throws -> [HTML] {
        var content = [H.h2("Repositories")]
        let token = try await caller.registryToken(name, scopes: ["registry:catalog:*"])
        let answer = try await caller.registry(.get, name, "/v2/_catalog?n=1000", token: token)
        guard answer.status == .ok else {
            return content + [H.p([.class("notice notice-error"), .init("id", "repositories-error")], [.text("The registry refused to list its repositories: \(answer.errorMessage)")])]
        }
        let repositories = answer.object["repositories"] as? [String] ?? []
        content.append(repositories.isEmpty ? H.p([.class("muted")], [.text("No repository yet. Push one: podman push \(loginServer)/<repository>:<tag>")])
            : H.table(["Repository"], repositories.map { [H.a("/console/repository?" + Self.query(["id": id, "repository": $0]), $0, [.class("repository-link")])] },
                      id: "repositories"))
        return content
    }

    private func auditSection(name: String) -> [HTML] {
        let events = console.keyAudit.recentEvents(registry: name)
        let rows: [[HTML]] = events.map { event in
            [.text(Self.time(event.time)), .text(event.operation.rawValue),
             H.badge(event.outcome.rawValue, tone: event.outcome == .success ? "good" : "bad"),
             H.code(event.key), .text(event.identity), .text(event.reason ?? "")]
        }
        return [H.h2("Key access (this server, newest first)"),
                rows.isEmpty ? H.p([.class("muted"), .init("id", "no-key-access")], [.text("No wrap, unwrap or rotation of this registry's master key since this server started.")])
                    : H.table(["Time (UTC)", "Operation", "Outcome", "Key", "Identity", "Reason"], rows, id: "key-access")]
    }

    // MARK: repositories and manifests

    private func repository() async throws -> Response {
        guard let id = Self.resourceID(context.query["id"], type: "Microsoft.ContainerRegistry/registries"),
              let repository = context.query["repository"], Self.isRepositoryName(repository) else {
            return fail(.badRequest, "A registry id and a repository name are required.")
        }
        let name = Self.lastSegment(id)
        let registryAnswer = try await caller.arm(.get, id)
        let loginServer = (registryAnswer.object["properties"] as? [String: Any])?["loginServer"] as? String ?? caller.addresses.registryAuthority(name)
        let token = try await caller.registryToken(name, scopes: ["repository:\(repository):pull,metadata_read"])
        let answer = try await caller.registry(.get, name, "/acr/v1/\(repository)/_tags?n=1000", token: token)
        guard answer.status == .ok else { return fail(answer.status, "The registry refused to list the tags: \(answer.errorMessage)") }
        let tags = answer.object["tags"] as? [[String: Any]] ?? []
        let mayDelete = try await permittedActions(at: id).contains(RegistryDataAction.delete)
        let rows: [[HTML]] = tags.map { tag in
            let tagName = tag["name"] as? String ?? ""
            let digest = tag["digest"] as? String ?? ""
            var cells: [HTML] = [
                H.a("/console/manifest?" + Self.query(["id": id, "repository": repository, "digest": digest, "tag": tagName]), tagName, [.class("tag-link")]),
                H.code(digest), .text(tag["lastUpdateTime"] as? String ?? ""), Self.copyable("podman pull \(loginServer)/\(repository):\(tagName)"),
            ]
            if mayDelete {
                cells.append(actionForm("/console/actions/delete-tag", "Delete tag", id: "delete-tag-\(tagName)",
                                        fields: [("id", id), ("repository", repository), ("tag", tagName)], danger: true))
            }
            return cells
        }
        return page(repository, [
            H.p([.class("crumbs")], [H.a("/console/", "Registries"), .text(" / "), H.a("/console/registry?" + Self.query(["id": id]), name), .text(" / \(repository)")]),
            H.h1(repository),
            H.h2("Tags"),
            tags.isEmpty ? H.p([.class("muted")], [.text("No tags.")])
                : H.table(["Tag", "Digest", "Updated", "Pull"] + (mayDelete ? [""] : []), rows, id: "tags"),
        ])
    }

    private static let manifestTypes = [
        "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json",
    ].joined(separator: ", ")

    private func manifest() async throws -> Response {
        guard let id = Self.resourceID(context.query["id"], type: "Microsoft.ContainerRegistry/registries"),
              let repository = context.query["repository"], Self.isRepositoryName(repository),
              let digest = context.query["digest"], Self.isDigest(digest) else {
            return fail(.badRequest, "A registry id, a repository name and a digest are required.")
        }
        let name = Self.lastSegment(id)
        let registryAnswer = try await caller.arm(.get, id)
        let loginServer = (registryAnswer.object["properties"] as? [String: Any])?["loginServer"] as? String ?? caller.addresses.registryAuthority(name)
        let token = try await caller.registryToken(name, scopes: ["repository:\(repository):pull"])
        let answer = try await caller.registry(.get, name, "/v2/\(repository)/manifests/\(digest)", token: token, accept: Self.manifestTypes)
        guard answer.status == .ok else { return fail(answer.status, "The registry refused the manifest: \(answer.errorMessage)") }
        let manifest = answer.object
        let mediaType = manifest["mediaType"] as? String ?? answer.headers[.contentType] ?? ""
        var content: [HTML] = [
            H.p([.class("crumbs")], [H.a("/console/", "Registries"), .text(" / "), H.a("/console/registry?" + Self.query(["id": id]), name), .text(" / "),
                                     H.a("/console/repository?" + Self.query(["id": id, "repository": repository]), repository), .text(" / \(digest.prefix(19))…")]),
            H.h1("\(repository)@\(digest.prefix(19))…"),
            H.div([.class("card")], [H.properties([
                ("Digest", H.code(digest)), ("Media type", H.code(mediaType)),
                ("Artifact type", .text(manifest["artifactType"] as? String ?? "")),
                ("Size", .text(Self.bytes(Int64(answer.body.count)))),
                ("Pull by digest", Self.copyable("podman pull \(loginServer)/\(repository)@\(digest)")),
            ] + (context.query["tag"].flatMap { Self.isTag($0) ? [("Pull by tag", Self.copyable("podman pull \(loginServer)/\(repository):\($0)"))] : nil } ?? []),
                id: "manifest-properties")]),
        ]
        if let manifests = manifest["manifests"] as? [[String: Any]] {
            content += [H.h2("Platforms"), H.table(["Platform", "Digest", "Size"], manifests.map { entry in
                let platform = entry["platform"] as? [String: Any] ?? [:]
                let label = [platform["os"], platform["architecture"], platform["variant"]].compactMap { $0 as? String }.joined(separator: "/")
                let child = entry["digest"] as? String ?? ""
                return [.text(label.isEmpty ? "(none)" : label),
                        H.a("/console/manifest?" + Self.query(["id": id, "repository": repository, "digest": child]), child),
                        .text(Self.bytes(Self.size(entry["size"])))]
            }, id: "platforms")]
        }
        if let config = manifest["config"] as? [String: Any] {
            content += [H.h2("Config"), H.properties([("Media type", H.code(config["mediaType"] as? String ?? "")),
                                                      ("Digest", H.code(config["digest"] as? String ?? "")),
                                                      ("Size", .text(Self.bytes(Self.size(config["size"]))))], id: "config")]
        }
        if let layers = manifest["layers"] as? [[String: Any]] {
            // Sizes are the manifest's claims, not checked against the blobs: summed without overflow.
            let total = layers.reduce(Int64(0)) { sum, layer in sum.addingReportingOverflow(Self.size(layer["size"])).overflow ? Int64.max : sum + Self.size(layer["size"]) }
            content += [H.h2("Layers (\(layers.count), \(Self.bytes(total)))"), H.table(["#", "Media type", "Digest", "Size"], layers.enumerated().map { index, layer in
                [.text(String(index + 1)), H.code(layer["mediaType"] as? String ?? ""), H.code(layer["digest"] as? String ?? ""),
                 .text(Self.bytes(Self.size(layer["size"])))]
            }, id: "layers")]
        }
        if let annotations = manifest["annotations"] as? [String: Any], !annotations.isEmpty {
            content += [H.h2("Annotations"), H.table(["Key", "Value"], annotations.keys.sorted().map { key in
                [H.code(key), .text(String(describing: annotations[key]!))]
            }, id: "annotations")]
        }
        if let subject = manifest["subject"] as? [String: Any], let subjectDigest = subject["digest"] as? String {
            content += [H.h2("Refers to"), H.p([], [H.a("/console/manifest?" + Self.query(["id": id, "repository": repository, "digest": subjectDigest]), subjectDigest)])]
        }
        var budget = 100
        let tree = try await referrers(of: digest, repository: repository, registry: name, id: id, token: token, depth: 0, budget: &budget)
        content += [H.h2("Referrers (signatures, SBOMs, attestations)"),
                    tree.map { .element("ul", [.class("tree"), .init("id", "referrers")], $0) }
                        ?? H.p([.class("muted"), .init("id", "no-referrers")], [.text("Nothing refers to this manifest.")])]
        if try await permittedActions(at: id).contains(RegistryDataAction.delete) {
            content += [H.h2("Actions"), H.div([.class("card actions")], [actionForm("/console/actions/delete-manifest", "Delete manifest", id: "delete-manifest",
                                                                                  fields: [("id", id), ("repository", repository), ("digest", digest)], danger: true)])]
        }
        return page("Manifest", content)
    }

    /// The referrers of `digest` as nested list items, to a depth of 4 and at most 100 in all (a signature of an SBOM
    /// of an image is three deep; a hostile chain ends at the limit).
    private func referrers(of digest: String, repository: String, registry: String, id: String, token: String?, depth: Int,
                           budget: inout Int) async throws -> [HTML]? {
        guard depth < 4, budget > 0 else { return nil }
        let answer = try await caller.registry(.get, registry, "/v2/\(repository)/referrers/\(digest)", token: token)
        guard answer.status == .ok, let manifests = answer.object["manifests"] as? [[String: Any]], !manifests.isEmpty else { return nil }
        var items: [HTML] = []
        for entry in manifests.prefix(budget) {
            budget -= 1
            let child = entry["digest"] as? String ?? ""
            let annotations = (entry["annotations"] as? [String: Any] ?? [:]).keys.sorted().map { "\($0)=\((entry["annotations"] as? [String: Any])?[$0] ?? "")" }
            var parts: [HTML] = [H.span([.class("badge badge-neutral")], [.text(entry["artifactType"] as? String ?? "artifact")]), .text(" "),
                                 H.a("/console/manifest?" + Self.query(["id": id, "repository": repository, "digest": child]), child)]
            if !annotations.isEmpty { parts.append(H.div([.class("muted")], [.text(annotations.joined(separator: ", "))])) }
            if Self.isDigest(child), let nested = try await referrers(of: child, repository: repository, registry: registry, id: id, token: token,
                                                                       depth: depth + 1, budget: &budget) {
                parts.append(.element("ul", [.class("tree")], nested))
            }
            items.append(.element("li", [], parts))
        }
        return items
    }

    // MARK: vaults and keys

    private func vaults() async throws -> Response {
        let list = try await visibleResources("Microsoft.KeyVault/vaults")
        let rows: [[HTML]] = list.map { vault in
            let id = vault["id"] as? String ?? ""
            let properties = vault["properties"] as? [String: Any] ?? [:]
            return [H.a("/console/vault?" + Self.query(["id": id]), vault["name"] as? String ?? "", [.class("vault-link")]), .text(Self.group(of: id)),
                    H.code(properties["vaultUri"] as? String ?? ""),
                    .text((properties["enablePurgeProtection"] as? Bool ?? false) ? "On" : "Off"),
                    .text((properties["enableRbacAuthorization"] as? Bool ?? false) ? "Azure RBAC" : "Access policies")]
        }
        return page("Key vaults", [
            H.h1("Key vaults"),
            rows.isEmpty ? H.p([.class("muted")], [.text("No key vault is visible to you.")])
                : H.table(["Name", "Resource group", "URI", "Purge protection", "Permission model"], rows, id: "vaults"),
        ])
    }

    private func vault() async throws -> Response {
        guard let id = Self.resourceID(context.query["id"], type: "Microsoft.KeyVault/vaults") else {
            return fail(.badRequest, "The id must be a key vault's resource id.")
        }
        let answer = try await caller.arm(.get, id)
        guard answer.status == .ok else { return fail(answer.status, answer.errorMessage) }
        let vault = answer.object
        let name = vault["name"] as? String ?? ""
        let properties = vault["properties"] as? [String: Any] ?? [:]
        var content: [HTML] = [
            H.p([.class("crumbs")], [H.a("/console/vaults", "Key vaults"), .text(" / \(Self.group(of: id)) / \(name)")]),
            H.h1(name),
            H.div([.class("card")], [H.properties([
                ("URI", H.code(properties["vaultUri"] as? String ?? "")),
                ("Soft delete", .text("\(properties["softDeleteRetentionInDays"] ?? 90) days")),
                ("Purge protection", .text((properties["enablePurgeProtection"] as? Bool ?? false) ? "On" : "Off")),
                ("Permission model", .text((properties["enableRbacAuthorization"] as? Bool ?? false) ? "Azure RBAC" : "Access policies")),
            ], id: "vault-properties")]),
        ]
        // Which registries each key protects: the registries the user can see whose key lives in this vault.
        let protected: [(key: String, registry: String, id: String)] = try await visibleResources("Microsoft.ContainerRegistry/registries").compactMap { registry in
            let keyVault = (((registry["properties"] as? [String: Any])?["encryption"] as? [String: Any])?["keyVaultProperties"] as? [String: Any])
            guard let keyID = keyVault?["keyIdentifier"] as? String, let url = URLComponents(string: keyID),
                  url.host?.lowercased() == "\(name.lowercased()).\(caller.addresses.vaultHostSuffix)" else { return nil }
            let parts = url.path.split(separator: "/")
            guard parts.count >= 2 else { return nil }
            return (String(parts[1]).lowercased(), registry["name"] as? String ?? "", registry["id"] as? String ?? "")
        }
        let keys = try await caller.vault(.get, name, "/keys")
        content.append(H.h2("Keys"))
        if keys.status != .ok {
            content.append(H.p([.class("notice notice-error"), .init("id", "keys-error")], [.text("The vault refused to list its keys: \(keys.errorMessage)")]))
        } else {
            for item in keys.object["value"] as? [[String: Any]] ?? [] {
                guard let kid = item["kid"] as? String, let keyName = kid.split(separator: "/").last.map(String.init) else { continue }
                content.append(try await keySection(vault: name, key: keyName, protected: protected.filter { $0.key == keyName.lowercased() }))
            }
        }
        let deleted = try await caller.vault(.get, name, "/deletedkeys")
        if deleted.status == .ok, let items = deleted.object["value"] as? [[String: Any]], !items.isEmpty {
            let mayRecover = (try await permittedActions(at: id)).contains(.data("Microsoft.KeyVault/vaults/keys/recover/action"))
                || !(properties["enableRbacAuthorization"] as? Bool ?? false)
            content += [H.h2("Deleted keys"), H.table(["Key", "Deleted", "Purge date", ""], items.map { item in
                let keyName = (item["kid"] as? String)?.split(separator: "/").last.map(String.init) ?? ""
                return [.text(keyName), .text(Self.time(item["deletedDate"])), .text(Self.time(item["scheduledPurgeDate"])),
                        mayRecover ? actionForm("/console/actions/recover-key", "Recover", id: "recover-\(keyName)", fields: [("id", id), ("key", keyName)]) : .empty]
            }, id: "deleted-keys")]
        }
        return page(name, content)
    }

    private func keySection(vault: String, key: String, protected: [(key: String, registry: String, id: String)]) async throws -> HTML {
        let versions = try await caller.vault(.get, vault, "/keys/\(key)/versions")
        let policy = try await caller.vault(.get, vault, "/keys/\(key)/rotationpolicy")
        let rows: [[HTML]] = (versions.object["value"] as? [[String: Any]] ?? []).map { version in
            let attributes = version["attributes"] as? [String: Any] ?? [:]
            return [H.code((version["kid"] as? String)?.split(separator: "/").last.map(String.init) ?? ""),
                    H.badge((attributes["enabled"] as? Bool ?? true) ? "enabled" : "disabled", tone: (attributes["enabled"] as? Bool ?? true) ? "good" : "bad"),
                    .text(Self.time(attributes["created"])), .text(Self.time(attributes["updated"])), .text(Self.time(attributes["exp"]))]
        }.sorted { $0[2].markup > $1[2].markup }
        var rotation = "No rotation policy"
        if policy.status == .ok {
            let actions = (policy.object["lifetimeActions"] as? [[String: Any]] ?? []).compactMap { action -> String? in
                guard let type = (action["action"] as? [String: Any])?["type"] as? String else { return nil }
                let trigger = action["trigger"] as? [String: Any] ?? [:]
                return "\(type) \((trigger["timeAfterCreate"] as? String).map { "after \($0)" } ?? (trigger["timeBeforeExpiry"] as? String).map { "\($0) before expiry" } ?? "")"
            }
            let expiry = (policy.object["attributes"] as? [String: Any])?["expiryTime"] as? String
            rotation = (actions.isEmpty ? "No automatic action" : actions.joined(separator: "; ")) + (expiry.map { "; versions expire after \($0)" } ?? "")
        }
        let protects: HTML = protected.isEmpty ? .text("No registry you can see")
            : .group(protected.map { H.a("/console/registry?" + Self.query(["id": $0.id]), $0.registry) }.flatMap { [$0, .text(" ")] })
        return H.div([.class("card key"), .init("id", "key-\(key)")], [
            H.h3(key),
            H.properties([("Rotation policy", .text(rotation)), ("Protects", protects)]),
            versions.status == .ok ? H.table(["Version", "State", "Created", "Updated", "Expires"], rows)
                : H.p([.class("notice notice-error")], [.text("The vault refused to list the versions: \(versions.errorMessage)")]),
        ])
    }

    // MARK: pieces

    /// A form posting to an action (which first answers with a confirmation page).
    func actionForm(_ action: String, _ label: String, id: String, fields: [(String, String)], inputs: [HTML] = [], danger: Bool = false) -> HTML {
        .element("form", [.init("method", "post"), .init("action", action), .init("id", id + "-form")],
                 [.element("input", [.init("type", "hidden"), .init("name", "form_token"), .init("value", context.formToken)])]
                    + fields.map { .element("input", [.init("type", "hidden"), .init("name", $0.0), .init("value", $0.1)]) }
                    + inputs + [.element("button", [.init("type", "submit"), .init("id", id), .class(danger ? "danger" : "secondary")], [.text(label)])])
    }

    /// The control-plane and data actions the user holds on the resource (its roles there or above), to decide which
    /// actions to offer; the API call each makes is authorized again on its own.
    private func permittedActions(at scope: String) async throws -> Set<AzureAction> {
        let actions = ARMOperation.allCases.map(\.action) + [RegistryDataAction.delete, .data("Microsoft.KeyVault/vaults/keys/recover/action")]
        return try await console.directory.permitted(context.user.objectId, among: actions, at: scope)
    }

    static func statusBadge(_ properties: [String: Any]) -> HTML {
        let display = (properties["status"] as? [String: Any])?["displayStatus"] as? String ?? "Ready"
        return H.badge(display, tone: display == "Ready" ? "good" : "bad")
    }

    static func copyable(_ text: String) -> HTML {
        H.span([.class("copy")], [H.code(text), .element("button", [.init("type", "button"), .class("secondary"), .init("data-copy", text)], [.text("Copy")])])
    }

    static func query(_ values: [String: String]) -> String {
        var components = URLComponents()
        components.queryItems = values.keys.sorted().map { URLQueryItem(name: $0, value: values[$0]) }
        return (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
    }

    /// `id` when it is `/subscriptions/<s>/resourceGroups/<g>/providers/<type>/<name>` with plain segments: a page
    /// never puts anything else into the path of an API call.
    static func resourceID(_ id: String?, type: String) -> String? {
        guard let id, id.utf8.count <= 512 else { return nil }
        let parts = id.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let typeParts = type.split(separator: "/").map(String.init)
        guard parts.count == 9, parts[0].isEmpty, parts[1].lowercased() == "subscriptions", parts[3].lowercased() == "resourcegroups",
              parts[5].lowercased() == "providers", parts[6].lowercased() == typeParts[0].lowercased(), parts[7].lowercased() == typeParts[1].lowercased(),
              [parts[2], parts[4], parts[8]].allSatisfy(isPlainSegment) else { return nil }
        return id
    }

    /// A resource name's segment: ASCII letters, digits and `-_.()`, never `.` or `..`.
    static func isPlainSegment(_ segment: String) -> Bool {
        !segment.isEmpty && segment.utf8.count <= 90 && segment != "." && segment != ".." && segment.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || Array("-_.()".utf8).contains(byte)
        }
    }

    static func isRepositoryName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 256 && name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || [UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "/")].contains(byte)
        } && !name.contains("..") && !name.hasPrefix("/") && !name.hasSuffix("/")
    }

    static func isDigest(_ digest: String) -> Bool {
        let parts = digest.split(separator: ":")
        return parts.count == 2 && ["sha256", "sha512"].contains(parts[0]) && (64...128).contains(parts[1].utf8.count)
            && parts[1].utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }

    static func group(of id: String) -> String {
        let parts = id.split(separator: "/")
        return parts.count > 3 ? String(parts[3]) : ""
    }

    static func lastSegment(_ id: String) -> String {
        id.split(separator: "/").last.map(String.init) ?? ""
    }

    static func isVersionless(_ keyIdentifier: String) -> Bool {
        (URLComponents(string: keyIdentifier)?.path.split(separator: "/").count ?? 0) == 2
    }

    static func versionless(_ keyIdentifier: String) -> String {
        guard var components = URLComponents(string: keyIdentifier) else { return keyIdentifier }
        let parts = components.path.split(separator: "/")
        if parts.count >= 2 { components.path = "/" + parts.prefix(2).joined(separator: "/") }
        return components.string ?? keyIdentifier
    }

    /// A size from a manifest's JSON: a whole number from 0 to 2^53 (beyond, or anything else, reads as 0).
    static func size(_ value: Any?) -> Int64 {
        guard let number = value as? NSNumber else { return 0 }
        let double = number.doubleValue
        guard double.isFinite, double >= 0, double <= 9_007_199_254_740_992 else { return 0 }
        return Int64(double)
    }

    /// Whether a tag is one the distribution spec allows (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`).
    static func isTag(_ tag: String) -> Bool {
        let bytes = Array(tag.utf8)
        func word(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
        }
        guard let first = bytes.first, bytes.count <= 128, word(first) else { return false }
        return bytes.allSatisfy { word($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    static func bytes(_ count: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }

    /// A time from seconds since 1970 (Key Vault's form) or an ISO 8601 string.
    static func time(_ value: Any?) -> String {
        if let seconds = (value as? NSNumber)?.doubleValue {
            let formatter = ISO8601DateFormatter()
            return formatter.string(from: Date(timeIntervalSince1970: seconds))
        }
        return value as? String ?? ""
    }

    static func time(_ seconds: Int64) -> String {
        time(NSNumber(value: seconds))
    }
}
