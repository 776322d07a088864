import Crypto
import Foundation

/// The deterministic names ARM templates compute, bit for bit as Azure does.
public enum StableHashes {
    /// `uniqueString(a, b, …)`: the arguments joined with `-`, hashed with the Murmur64 variant Azure uses,
    /// written as 13 characters of lowercase base32 (RFC 4648 alphabet).
    public static func uniqueString(_ parts: [String]) -> String {
        let hash = murmur64(Array(parts.joined(separator: "-").utf8))
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        var value = hash
        var result = ""
        for _ in 0..<13 {
            result.append(alphabet[Int(value >> 59)])
            value <<= 5
        }
        return result
    }

    /// `guid(a, b, …)`: a name-based UUID (version 5, SHA-1) of the `-`-joined arguments in ARM's namespace.
    public static func guid(_ parts: [String]) -> String {
        let namespace: [UInt8] = [0x11, 0xfb, 0x06, 0xfb, 0x71, 0x2d, 0x4d, 0xdd, 0x98, 0xc7, 0xe7, 0x1b, 0xbd, 0x58, 0x88, 0x30]
        var bytes = Array(Insecure.SHA1.hash(data: namespace + Array(parts.joined(separator: "-").utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x50
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let characters = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(characters[$0]) }.joined(separator: "-")
    }

    /// Two interleaved 32-bit Murmur lanes over 8-byte blocks, with Azure's constants.
    static func murmur64(_ data: [UInt8]) -> UInt64 {
        let c1: UInt32 = 2_869_860_233, c2: UInt32 = 597_399_067, c3: UInt32 = 2_246_822_507, c4: UInt32 = 3_266_489_909
        func rotl(_ x: UInt32, _ r: UInt32) -> UInt32 { (x << r) | (x >> (32 - r)) }
        func le32(_ offset: Int, _ count: Int) -> UInt32 {
            var value: UInt32 = 0
            for index in 0..<count { value |= UInt32(data[offset + index]) << (8 * UInt32(index)) }
            return value
        }
        var h1: UInt32 = 0, h2: UInt32 = 0
        var index = 0
        while index + 7 < data.count {
            let k1 = rotl(le32(index, 4) &* c2, 15) &* c1
            let k2 = rotl(le32(index + 4, 4) &* c1, 17) &* c2
            h1 = (rotl(h1 ^ k1, 19) &+ h2) &* 5 &+ 1_444_728_091
            h2 = (rotl(h2 ^ k2, 13) &+ h1) &* 5 &+ 197_830_471
            index += 8
        }
        let remaining = data.count - index
        if remaining > 0 {
            h1 ^= rotl(le32(index, min(remaining, 4)) &* c2, 15) &* c1
            if remaining > 4 {
                h2 ^= rotl(le32(index + 4, remaining - 4) &* c1, 17) &* c2
            }
        }
        let length = UInt32(truncatingIfNeeded: data.count)
        let lane2 = h2 ^ length
        var r1 = (h1 ^ length) &+ lane2
        var r2 = lane2 &+ r1
        func mix(_ value: UInt32) -> UInt32 {
            var x = (value ^ (value >> 16)) &* c3
            x = (x ^ (x >> 13)) &* c4
            return x ^ (x >> 16)
        }
        r1 = mix(r1)
        r2 = mix(r2)
        r1 = r1 &+ r2
        r2 = r2 &+ r1
        return (UInt64(r2) << 32) | UInt64(r1)
    }
}
