import CofferTelemetry
import Synchronization

/// Claims of tokens whose signatures were verified, so a client that reuses its token (as SDKs do)
/// costs one signature check rather than one per request. Bounded; claims are still validated per use.
final class VerifiedTokenCache: Sendable {
    private let entries = Mutex<[String: AccessTokenClaims]>([:])
    private let capacity: Int
    private let lookups = CacheLookups(cache: "tokens")

    init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    func claims(for token: String) -> AccessTokenClaims? {
        let found = entries.withLock { $0[token] }
        lookups.record(hit: found != nil)
        return found
    }

    func remember(_ token: String, _ claims: AccessTokenClaims) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[token] = claims
        }
    }
}
