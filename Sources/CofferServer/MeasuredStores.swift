import CofferStorage
import CoreMetrics
import NIOCore
import SQLKit
import SQLMetadataStore
import Synchronization
import Tracing

/// Times one store operation and counts its failures, as `coffer_storage_operation_duration_seconds` and
/// `coffer_storage_operation_errors_total` labelled by store, backend and operation.
final class StorageOperationMetrics: Sendable {
    let store: String
    let backend: String
    /// Each operation's timer, made once (making one through swift-metrics checks its name and labels each time).
    private let timers = Mutex<[String: CoreMetrics.Timer]>([:])

    init(store: String, backend: String) {
        self.store = store
        self.backend = backend
    }

    func measure<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        let started = ContinuousClock.now
        defer { timer(operation).record(duration: ContinuousClock.now - started) }
        guard ServerTracing.isEnabled else { return try await counted(operation, body) }
        return try await withSpan("\(store) \(operation)", ofKind: .client) { span in
            if span.isRecording { span.attributes["coffer.storage.backend"] = backend }
            return try await counted(operation, body)
        }
    }

    private func counted<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            Counter(label: "coffer_storage_operation_errors_total",
                    dimensions: [("store", store), ("backend", backend), ("operation", operation), ("kind", Self.kind(of: error))]).increment()
            throw error
        }
    }

    private func timer(_ operation: String) -> CoreMetrics.Timer {
        if let timer = timers.withLock({ $0[operation] }) { return timer }
        let timer = Timer(label: "coffer_storage_operation_duration_seconds", dimensions: [("store", store), ("backend", backend), ("operation", operation)])
        timers.withLock { $0[operation] = timer }
        return timer
    }
}

extension StorageOperationMetrics {
    /// What kind of failure: `unavailable` (the store did not answer) and `corrupt` are the store's; `not_found` and
    /// `conflict` are ordinary answers to what a client asked; `other` is anything else a transaction's work threw.
    static func kind(of error: any Error) -> String {
        guard let error = error as? StorageError else { return "other" }
        return switch error.code {
        case .ioFailure: "unavailable"
        case .corrupt: "corrupt"
        case .notFound: "not_found"
        case .conflict: "conflict"
        case .invalidKey: "invalid_key"
        }
    }
}

/// The metadata store's sessions (SQLite or PostgreSQL), measured: every read and write transaction goes through here.
struct MeasuredSQLSessions: SQLSessions {
    let base: any SQLSessions
    let metrics: StorageOperationMetrics

    init(_ base: any SQLSessions, backend: String) {
        self.base = base
        metrics = StorageOperationMetrics(store: "metadata", backend: backend)
    }

    func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await metrics.measure("read") { try await base.read(body) }
    }

    func transaction<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await metrics.measure("transaction") { try await base.transaction(body) }
    }

    func eraseDeletedRemnants(in tables: [String]) async throws {
        try await metrics.measure("erase") { try await base.eraseDeletedRemnants(in: tables) }
    }

    func close() async throws { try await base.close() }
}

/// The blob store (filesystem or S3), measured per operation. A read is timed to its last byte: reads return one
/// buffer each.
struct MeasuredBlobStore: BlobStore {
    let base: any BlobStore
    let metrics: StorageOperationMetrics

    init(_ base: any BlobStore, backend: String) {
        self.base = base
        metrics = StorageOperationMetrics(store: "blobs", backend: backend)
    }

    func createStaging(_ name: String) async throws { try await metrics.measure("create_staging") { try await base.createStaging(name) } }
    func appendStaging(_ name: String, _ bytes: ByteBuffer) async throws {
        try await metrics.measure("append_staging") { try await base.appendStaging(name, bytes) }
    }
    func replaceStaging(_ name: String, _ bytes: ByteBuffer) async throws {
        try await metrics.measure("replace_staging") { try await base.replaceStaging(name, bytes) }
    }
    func stagingSize(_ name: String) async throws -> Int64? { try await metrics.measure("staging_size") { try await base.stagingSize(name) } }
    func readStaging(_ name: String, offset: Int64, length: Int) async throws -> ByteBuffer {
        try await metrics.measure("read_staging") { try await base.readStaging(name, offset: offset, length: length) }
    }
    func commitStaging(_ name: String, as key: String) async throws {
        try await metrics.measure("commit_staging") { try await base.commitStaging(name, as: key) }
    }
    func deleteStaging(_ name: String) async throws { try await metrics.measure("delete_staging") { try await base.deleteStaging(name) } }
    func listStaging() async throws -> [String] { try await metrics.measure("list_staging") { try await base.listStaging() } }
    func read(_ key: String, offset: Int64, length: Int) async throws -> ByteBuffer {
        try await metrics.measure("read") { try await base.read(key, offset: offset, length: length) }
    }
    func size(_ key: String) async throws -> Int64? { try await metrics.measure("size") { try await base.size(key) } }
    func delete(_ key: String) async throws { try await metrics.measure("delete") { try await base.delete(key) } }
    func list(prefix: String) async throws -> [String] { try await metrics.measure("list") { try await base.list(prefix: prefix) } }
}
