import AzureHTTP
import CofferStorage
import Foundation
import Hummingbird

/// `Microsoft.Features`: preview-feature registrations per subscription. A registration is
/// `Registering` until `approvalDelay` has passed, then `Registered` (automatic approval).
struct FeatureRegistrations: Sendable {
    static let type = "microsoft.features/providers/features"

    let documents: any DocumentStore
    let subscriptionID: String
    let approvalDelay: Int64

    private struct Record: Codable {
        var namespace: String
        var name: String
        var requestedAt: Int64
        var unregistered: Bool
    }

    func id(namespace: String, name: String) -> String {
        "/subscriptions/\(subscriptionID)/providers/Microsoft.Features/providers/\(namespace)/features/\(name)"
    }

    func register(namespace: String, name: String, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> FeatureResource {
        let id = id(namespace: namespace, name: name)
        if let existing = try await record(id: id), !existing.unregistered { return present(existing, now: now) }
        let record = Record(namespace: namespace, name: name, requestedAt: now, unregistered: false)
        try await save(record, id: id)
        return present(record, now: now)
    }

    func unregister(namespace: String, name: String, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> FeatureResource {
        let id = id(namespace: namespace, name: name)
        var record = try await record(id: id) ?? Record(namespace: namespace, name: name, requestedAt: now, unregistered: true)
        record.unregistered = true
        try await save(record, id: id)
        return present(record, now: now)
    }

    /// A feature's state; one never registered is `NotRegistered`.
    func show(namespace: String, name: String, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> FeatureResource {
        let id = id(namespace: namespace, name: name)
        guard let record = try await record(id: id) else {
            return FeatureResource(id: id, name: "\(namespace)/\(name)", type: "Microsoft.Features/providers/features",
                                   properties: .init(state: "NotRegistered"))
        }
        return present(record, now: now)
    }

    func list(namespace: String?, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> [FeatureResource] {
        try await documents.documents(type: Self.type, name: nil).compactMap { document in
            guard let record = try? JSONDecoder().decode(Record.self, from: Data(document.body.utf8)) else { return nil }
            guard namespace == nil || record.namespace.lowercased() == namespace!.lowercased() else { return nil }
            return present(record, now: now)
        }
    }

    /// Whether the feature is `Registered` now (the preview gate of customer-managed keys asks this).
    func isRegistered(namespace: String, name: String, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> Bool {
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

struct FeatureResource: Codable, Sendable {
    struct Properties: Codable, Sendable { let state: String }
    let id: String
    let name: String
    let type: String
    let properties: Properties
}

struct FeatureList: Encodable {
    let value: [FeatureResource]
}
