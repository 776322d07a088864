import OCIModels
import CofferTelemetry
import Synchronization

/// Decrypted manifests by registry and digest, least recently used first out, within a byte budget. A manifest
/// is named by its digest, so a cached one is never stale; the caller still checks, before every hit, that the
/// manifest is in the repository and that the registry's key is accessible (a revoked key fails closed here too).
/// With blobs in an object store this spares a round trip per manifest GET.
final class ManifestCache: Sendable {
    private struct Entry {
        var bytes: [UInt8]
        /// When it was last put or found (a counter): the least recent go first.
        var lastUse: UInt64
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var bytes = 0
        var clock: UInt64 = 0
    }

    private let state = Mutex(State())
    private let budget: Int
    private let lookups = CacheLookups(cache: "manifests")

    init(budget: Int = 32 << 20) {
        self.budget = budget
    }

    private static func key(_ registry: String, _ digest: Digest) -> String { registry + "\u{0}" + digest.description }

    /// Constant time: a hit only stamps its entry (the cache holds tens of thousands of small manifests, and a hit
    /// used to move its key within a list of them all, under the lock every manifest GET takes).
    func get(registry: String, digest: Digest) -> [UInt8]? {
        let key = Self.key(registry, digest)
        let found: [UInt8]? = state.withLock { state in
            guard let bytes = state.entries[key]?.bytes else { return nil }
            state.clock += 1
            state.entries[key]?.lastUse = state.clock
            return bytes
        }
        lookups.record(hit: found != nil)
        return found
    }

    func put(registry: String, digest: Digest, bytes: [UInt8]) {
        guard bytes.count <= budget / 8 else { return }  // a huge manifest would push out everything else
        let key = Self.key(registry, digest)
        state.withLock { state in
            state.clock += 1
            // A digest names its bytes: an entry already there holds the same ones.
            if state.entries.updateValue(Entry(bytes: bytes, lastUse: state.clock), forKey: key) == nil {
                state.bytes += bytes.count
            }
            guard state.bytes > budget else { return }
            // Over budget: the least recently used go, down to three quarters of it, so that the sort this takes is
            // paid once per quarter of the cache turned over rather than at every put.
            for (oldKey, entry) in state.entries.sorted(by: { $0.value.lastUse < $1.value.lastUse }) {
                guard state.bytes > budget / 4 * 3 else { break }
                state.entries.removeValue(forKey: oldKey)
                state.bytes -= entry.bytes.count
            }
        }
    }
}
