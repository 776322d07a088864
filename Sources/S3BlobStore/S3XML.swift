import Foundation

/// The few parts of S3's XML answers the driver reads: element texts, and repeated blocks.
enum S3XML {
    /// The texts of every `<name>…</name>` in `xml`, unescaped.
    static func values(_ name: String, in xml: Substring) -> [String] {
        blocks(name, in: xml).map { unescape(String($0)) }
    }

    static func value(_ name: String, in xml: Substring) -> String? { values(name, in: xml).first }

    /// The inner texts of every `<name>…</name>` block.
    static func blocks(_ name: String, in xml: Substring) -> [Substring] {
        var found: [Substring] = []
        var rest = xml
        while let open = rest.range(of: "<\(name)>"), let close = rest.range(of: "</\(name)>", range: open.upperBound..<rest.endIndex) {
            found.append(rest[open.upperBound..<close.lowerBound])
            rest = rest[close.upperBound...]
        }
        return found
    }

    static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}
