/// Substring search in linear time: Knuth–Morris–Pratt over UTF-16 code units, which is how .NET's ordinal
/// comparisons (and so Azure Resource Manager's string functions) see strings.
///
/// Foundation's search is quadratic in the worst case: finding `aaa…ab` in `aaa…a` over 20,000 characters took 4 s,
/// and over a 4 MiB template value it would take hours in a single function call.
struct TextSearch {
    let needle: [UInt16]
    /// `failure[i]`: the length of the longest proper prefix of `needle[0...i]` that is also its suffix.
    private let failure: [Int]

    init(_ needle: [UInt16]) {
        self.needle = needle
        var failure = Array(repeating: 0, count: needle.count)
        var length = 0
        for index in needle.indices.dropFirst() {
            while length > 0, needle[index] != needle[length] { length = failure[length - 1] }
            if needle[index] == needle[length] { length += 1 }
            failure[index] = length
        }
        self.failure = failure
    }

    init(_ needle: String) { self.init(Array(needle.utf16)) }

    /// The starts of non-overlapping matches, left to right, at most `limit` of them; none for an empty needle.
    func matches(in haystack: [UInt16], limit: Int = .max) -> [Int] {
        guard !needle.isEmpty, limit > 0 else { return [] }
        var found: [Int] = []
        var matched = 0
        for (index, unit) in haystack.enumerated() {
            while matched > 0, unit != needle[matched] { matched = failure[matched - 1] }
            if unit == needle[matched] { matched += 1 }
            if matched == needle.count {
                found.append(index + 1 - needle.count)
                if found.count == limit { break }
                matched = 0
            }
        }
        return found
    }

    func first(in haystack: [UInt16]) -> Int? { matches(in: haystack, limit: 1).first }

    /// The start of the last match (searched from the end, so a long haystack is still read once).
    func last(in haystack: [UInt16]) -> Int? {
        guard let reversedStart = TextSearch(needle.reversed()).first(in: haystack.reversed()) else { return nil }
        return haystack.count - reversedStart - needle.count
    }

    /// `haystack` cut at every non-overlapping match, the matches removed.
    func split(_ haystack: [UInt16]) -> [ArraySlice<UInt16>] {
        var parts: [ArraySlice<UInt16>] = []
        var start = 0
        for match in matches(in: haystack) {
            parts.append(haystack[start..<match])
            start = match + needle.count
        }
        parts.append(haystack[start...])
        return parts
    }

    /// `haystack` with every non-overlapping match replaced by `replacement`.
    func replace(in haystack: [UInt16], with replacement: [UInt16]) -> [UInt16] {
        let parts = split(haystack)
        var result: [UInt16] = []
        result.reserveCapacity(haystack.count)
        for (index, part) in parts.enumerated() {
            if index > 0 { result += replacement }
            result += part
        }
        return result
    }

    static func string(_ units: some Collection<UInt16>) -> String { String(decoding: units, as: UTF16.self) }
}
