import CofferTelemetry
import Synchronization

/// Unwrapped registry master keys, kept for a bounded time so that the key-encryption key is
/// consulted at most once per interval per registry, and access loss is noticed within it.
public final class MasterKeyCache: Sendable {
    private struct Entry {
        var key: RegistryMasterKey
        var wrapped: [UInt8]
        var expires: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let lifetime: Duration
    private let lookups = CacheLookups(cache: "master_keys")

    public init(lifetime: Duration = .seconds(300)) {
        self.lifetime = lifetime
    }

    /// The cached key if it was unwrapped from these same wrapped bytes and has not expired; otherwise unwraps and caches.
    public func masterKey(
        registry: String, wrapped: [UInt8], unwrap: () async throws -> RegistryMasterKey
    ) async throws -> RegistryMasterKey {
        let now = ContinuousClock.now
        if let hit = entries.withLock({ $0[registry] }), hit.wrapped == wrapped, hit.expires > now {
            lookups.record(hit: true)
            return hit.key
        }
        lookups.record(hit: false)
        let key = try await unwrap()
        entries.withLock { $0[registry] = Entry(key: key, wrapped: wrapped, expires: now + lifetime) }
        return key
    }

    public func forget(registry: String) {
        _ = entries.withLock { $0.removeValue(forKey: registry) }
    }
}
