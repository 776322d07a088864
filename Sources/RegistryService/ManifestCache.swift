import OCIModels
import CofferTelemetry
import Synchronization

/// Decrypted manifests by registry and digest, least recently used first out, within a byte budget. A manifest
/// is named by its digest, so a cached one is never stale; the caller still checks, before every hit, that the
/// manifest is in the repository and that the registry's key is accessible (a revoked key fails closed here too).
/// With blobs in an object store this spares a round trip per manifest GET.
final class ManifestCache: Sendable {
    private struct State {
        var entries: [String: [UInt8]] = [:]
        /// Keys, least recently used first.
        var order: [String] = []
        var bytes = 0
    }

    private let state = Mutex(State())
    private let budget: Int
    private let lookups = CacheLookups(cache: "manifests")

    init(budget: Int = 32 << 20) {
        self.budget = budget
    }

    private static func key(_ registry: String, _ digest: Digest) -> String { registry + "\u{0}" + digest.description }

    func get(registry: String, digest: Digest) -> [UInt8]? {
        let key = Self.key(registry, digest)
        let found: [UInt8]? = state.withLock { state in
            guard let bytes = state.entries[key] else { return nil }
            if let position = state.order.firstIndex(of: key) { state.order.remove(at: position) }
            state.order.append(key)
            return bytes
        }
        lookups.record(hit: found != nil)
        return found
    }

    func put(registry: String, digest: Digest, bytes: [UInt8]) {
        guard bytes.count <= budget / 8 else { return }  // a huge manifest would push out everything else
        let key = Self.key(registry, digest)
        state.withLock { state in
            if state.entries.updateValue(bytes, forKey: key) == nil {
                state.order.append(key)
                state.bytes += bytes.count
            }
            while state.bytes > budget, let oldest = state.order.first {
                state.order.removeFirst()
                state.bytes -= state.entries.removeValue(forKey: oldest)?.count ?? 0
            }
        }
    }
}
