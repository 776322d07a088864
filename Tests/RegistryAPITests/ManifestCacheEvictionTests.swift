import OCIModels
@testable import RegistryService
import Testing

/// The manifest cache keeps what was used last within its budget, and finds an entry without walking the others.
@Suite struct ManifestCacheEvictionTests {
    static func digest(_ index: Int) -> Digest {
        let number = String(index)
        return Digest(algorithm: .sha256, encoded: String(repeating: "0", count: 64 - number.count) + number)
    }

    @Test func theLeastRecentlyUsedGoFirst() {
        let cache = ManifestCache(budget: 8000)
        let manifest = [UInt8](repeating: 0x7B, count: 900)  // at most an eighth of the budget is cached
        for index in 0..<8 { cache.put(registry: "r", digest: Self.digest(index), bytes: manifest) }
        #expect(cache.get(registry: "r", digest: Self.digest(0)) == manifest)  // 0 is now the most recent
        cache.put(registry: "r", digest: Self.digest(8), bytes: manifest)     // 8100 bytes: over budget
        #expect(cache.get(registry: "r", digest: Self.digest(0)) == manifest)
        #expect(cache.get(registry: "r", digest: Self.digest(8)) == manifest)
        #expect(cache.get(registry: "r", digest: Self.digest(1)) == nil)
        #expect(cache.get(registry: "r", digest: Self.digest(2)) == nil)
        // Down to three quarters of the budget: six of 900 bytes stay at most, the newest ones.
        let kept = (0...8).filter { cache.get(registry: "r", digest: Self.digest($0)) != nil }
        #expect(kept.count == 6 && kept.contains(7) && kept.contains(6))
        // Another registry's manifest of the same digest is another entry; one too large is not cached.
        #expect(cache.get(registry: "other", digest: Self.digest(8)) == nil)
        cache.put(registry: "r", digest: Self.digest(99), bytes: [UInt8](repeating: 0, count: 1001))
        #expect(cache.get(registry: "r", digest: Self.digest(99)) == nil)
    }
}
