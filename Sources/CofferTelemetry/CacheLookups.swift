import CoreMetrics

/// Hits and misses of one cache, as `coffer_cache_lookups_total{cache, result}`: the hit ratio tells an operator
/// whether a cache is large (or long-lived) enough. Made when the cache is, so after the server has installed its
/// metrics backend; until then (and in library tests) the counters go nowhere.
public struct CacheLookups: Sendable {
    private let hits: Counter
    private let misses: Counter

    public init(cache: String) {
        hits = Counter(label: "coffer_cache_lookups_total", dimensions: [("cache", cache), ("result", "hit")])
        misses = Counter(label: "coffer_cache_lookups_total", dimensions: [("cache", cache), ("result", "miss")])
    }

    public func record(hit: Bool) {
        (hit ? hits : misses).increment()
    }
}
