import AzureErrors
import CofferStorage
import Envelope
import Foundation
import Identity
import JMESPath

/// A registry's admin user: user name = registry name, two passwords (`password`, `password2`) so one can be
/// regenerated while the other is in use. `listCredentials` must give the passwords back, so they are sealed
/// (not hashed) under the server master key, each bound to its registry and name.
package struct RegistryAdminCredentials: Sendable {
    package static let type = "coffer/registryadmincredentials"
    package static let passwordNames = ["password", "password2"]

    package let documents: any DocumentStore
    package let secrets: SecretBox

    package init(documents: any DocumentStore, secrets: SecretBox) {
        self.documents = documents
        self.secrets = secrets
    }

    private func documentID(_ registryID: String) -> String { registryID.lowercased() + "/admincredentials" }
    private func context(_ registryID: String, _ name: String) -> String { "registry admin password\u{0}\(registryID.lowercased())\u{0}\(name)" }

    /// The passwords by name, generating them the first time.
    package func ensure(registryID: String, registryName: String) async throws -> [(name: String, value: String)] {
        if let existing = try await passwords(registryID: registryID) { return existing }
        var passwords: [(String, String)] = []
        for name in Self.passwordNames { passwords.append((name, PasswordCredential.generateSecret())) }
        try await store(registryID: registryID, registryName: registryName, passwords: passwords)
        return passwords
    }

    package func passwords(registryID: String) async throws -> [(name: String, value: String)]? {
        guard let document = try await documents.document(id: documentID(registryID)),
              case .array(let entries) = try JSONText.parse(document.body)["passwords"] else { return nil }
        return entries.compactMap { entry in
            guard case .string(let name) = entry["name"], case .string(let sealed) = entry["sealed"],
                  let value = secrets.open(sealed, context: context(registryID, name)) else { return nil }
            return (name, value)
        }
    }

    /// Replaces one password with a new one; the other keeps working.
    package func regenerate(registryID: String, registryName: String, name: String) async throws -> [(name: String, value: String)] {
        guard Self.passwordNames.contains(name) else {
            throw AzureErrorResponse(.badRequest, code: "InvalidPasswordName", message: "The password name must be password or password2.")
        }
        var passwords = try await ensure(registryID: registryID, registryName: registryName)
        passwords = passwords.map { $0.name == name ? ($0.name, PasswordCredential.generateSecret()) : $0 }
        try await store(registryID: registryID, registryName: registryName, passwords: passwords)
        return passwords
    }

    package func delete(registryID: String) async throws {
        _ = try await documents.deleteDocument(id: documentID(registryID))
    }

    /// Whether `password` is one of the registry's admin passwords (compared in constant time).
    package func matches(registryID: String, password: String) async throws -> Bool {
        let candidate = Array(password.utf8)
        var matched = false
        for stored in try await passwords(registryID: registryID) ?? [] {
            let expected = Array(stored.value.utf8)
            if expected.count == candidate.count, zip(expected, candidate).reduce(UInt8(0), { $0 | ($1.0 ^ $1.1) }) == 0 { matched = true }
        }
        return matched
    }

    private func store(registryID: String, registryName: String, passwords: [(String, String)]) async throws {
        let entries: [JSONValue] = try passwords.map { name, value in
            .object(JSONObject([("name", .string(name)), ("sealed", .string(try secrets.seal(value, context: context(registryID, name))))]))
        }
        try await documents.putDocument(StoredDocument(id: documentID(registryID), type: Self.type, name: registryName,
                                                       body: JSONText.serialize(.object(JSONObject([("passwords", .array(entries))])))))
    }

    /// The body `listCredentials` answers with.
    package static func presented(username: String, passwords: [(name: String, value: String)]) -> JSONValue {
        .object(JSONObject([
            ("username", .string(username)),
            ("passwords", .array(passwords.map { .object(JSONObject([("name", .string($0.name)), ("value", .string($0.value))])) })),
        ]))
    }
}
