import CofferTelemetry
import Synchronization

/// Unsealed private keys, kept so that each key is parsed once rather than per operation: BoringSSL
/// computes a key's Montgomery contexts and blinding values on first use, which costs as much as the
/// operation itself. Entries are immutable key versions; purging a key forgets them.
final class KeyMaterialCache: Sendable {
    /// Boxes a parsed key. BoringSSL's RSA objects are safe for concurrent private-key operations
    /// (their lazily built caches are guarded by the object's own lock), so sharing one is sound.
    final class Entry: @unchecked Sendable {
        let material: KeyMaterial
        init(_ material: KeyMaterial) { self.material = material }
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let capacity: Int
    private let lookups = CacheLookups(cache: "vault_keys")

    init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    func material(for key: String, load: () throws -> KeyMaterial) rethrows -> KeyMaterial {
        if let hit = entries.withLock({ $0[key] }) {
            lookups.record(hit: true)
            return hit.material
        }
        lookups.record(hit: false)
        let entry = Entry(try load())
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = entry
        }
        return entry.material
    }

    /// Forgets every version of a key (after a purge).
    func forget(prefix: String) {
        entries.withLock { entries in
            for key in entries.keys where key.hasPrefix(prefix) { entries.removeValue(forKey: key) }
        }
    }
}
