import AzureErrors
import CofferStorage
import Foundation

/// `Microsoft.Features`: preview-feature registrations per subscription. A registration is
/// `Registering` until `approvalDelay` has passed, then `Registered` (automatic approval).
package struct FeatureRegistrations: Sendable {
    package static let type = "microsoft.features/providers/features"

    package let documents: any DocumentStore
    package let subscriptionID: String
    package let approvalDelay: Int64

    package init(documents: any DocumentStore, subscriptionID: String, approvalDelay: Int64) {
        self.documents = documents
        self.subscriptionID = subscriptionID
        self.approvalDelay = approvalDelay
    }

    private struct Record: Codable {
        package var namespace: String
        package var name: String
        package var requestedAt: Int64
        package var unregistered: Bool
    }

    package func id(namespace: String, name: String) -> String {
        "/subscriptions/\(subscriptionID)/providers/Microsoft.Features/providers/\(namespace)/features/\(name)"
    }

    package func register(namespace: String, name: String, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> FeatureResource {
        let id = id(namespace: namespace, name: name)
        if let existing = try await record(id: id), !existing.unregistered { return present(existing, now: now) }
        let record = Record(namespace: namespace, name: name, requestedAt: now, unregistered: false)
        try await save(record, id: id)
        return present(record, now: now)
    }

    package func unregister(namespace: String, name: String, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> FeatureResource {
        let id = id(namespace: namespace, name: name)
        var record = try await record(id: id) ?? Record(namespace: namespace, name: name, requestedAt: now, unregistered: true)
        record.unregistered = true
        try await save(record, id: id)
        return present(record, now: now)
    }

    /// A feature's state; one never registered is `NotRegistered`.
    package func show(namespace: String, name: String, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> FeatureResource {
        let id = id(namespace: namespace, name: name)
        guard let record = try await record(id: id) else {
            return FeatureResource(id: id, name: "\(namespace)/\(name)", type: "Microsoft.Features/providers/features",
                                   properties: .init(state: "NotRegistered"))
        }
        return present(record, now: now)
    }

    package func list(namespace: String?, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> [FeatureResource] {
        try await documents.documents(type: Self.type, name: nil).compactMap { document in
            guard let record = try? JSONDecoder().decode(Record.self, from: Data(document.body.utf8)) else { return nil }
            guard namespace == nil || record.namespace.lowercased() == namespace!.lowercased() else { return nil }
            return present(record, now: now)
        }
    }

    /// Whether the feature is `Registered` now (the preview gate of customer-managed keys asks this).
    package func isRegistered(namespace: String, name: String, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> Bool {
        try await show(namespace: namespace, name: name, now: now).properties.state == "Registered"
    }

    private func present(_ record: Record, now: Int64) -> FeatureResource {
        let state = record.unregistered ? "Unregistered" : (now >= record.requestedAt + approvalDelay ? "Registered" : "Registering")
        return FeatureResource(id: id(namespace: record.namespace, name: record.name), name: "\(record.namespace)/\(record.name)",
                               type: "Microsoft.Features/providers/features", properties: .init(state: state))
    }

    private func record(id: String) async throws -> Record? {
        try await documents.document(id: id).flatMap { try? JSONDecoder().decode(Record.self, from: Data($0.body.utf8)) }
    }

    private func save(_ record: Record, id: String) async throws {
        try await documents.putDocument(StoredDocument(id: id, type: Self.type, name: "\(record.namespace)/\(record.name)",
                                                       body: String(decoding: try JSONEncoder().encode(record), as: UTF8.self)))
    }
}

package struct FeatureResource: Codable, Sendable {
    package struct Properties: Codable, Sendable { let state: String }
    package let id: String
    package let name: String
    package let type: String
    package let properties: Properties
}

package struct FeatureList: Encodable {
    package let value: [FeatureResource]

    package init(value: [FeatureResource]) {
        self.value = value
    }
}
