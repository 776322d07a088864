import CofferStorage
import CofferTelemetry
import Synchronization

/// Registry rows (name, wrapped master key), kept for a moment: every data request needs its registry's row (to
/// know it exists, and to check the cached master key against the wrapped one), and with the metadata in
/// PostgreSQL each read is a round trip. A row changed on another node (a rewrap, a deletion) is seen within
/// `lifetime`; changes made through this node are forgotten at once. Absent registries are not cached, so a
/// registry created on another node is usable here immediately.
final class RegistryRecordCache: Sendable {
    private struct Entry {
        var record: RegistryRecord
        var expires: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let lifetime: Duration
    private let lookups = CacheLookups(cache: "registries")

    init(lifetime: Duration) {
        self.lifetime = lifetime
    }

    func record(named name: String, load: () async throws -> RegistryRecord?) async throws -> RegistryRecord? {
        let now = ContinuousClock.now
        if let hit = entries.withLock({ $0[name] }), hit.expires > now {
            lookups.record(hit: true)
            return hit.record
        }
        lookups.record(hit: false)
        guard let record = try await load() else {
            forget(name)
            return nil
        }
        entries.withLock { entries in
            if entries.count >= 10_000 { entries.removeAll(keepingCapacity: true) }
            entries[name] = Entry(record: record, expires: now + lifetime)
        }
        return record
    }

    func forget(_ name: String) {
        _ = entries.withLock { $0.removeValue(forKey: name) }
    }
}
