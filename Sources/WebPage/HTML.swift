/// A piece of HTML built from typed parts. Text and attribute values are escaped when they are added; tag and
/// attribute names are literals in the code. So nothing a request, a manifest or a repository name carries can
/// become markup: the only way in is ``text(_:)``, which escapes.
public struct HTML: Sendable {
    public private(set) var markup: String

    private init(markup: String) { self.markup = markup }

    public static let empty = HTML(markup: "")

    /// Text, escaped for element content.
    public static func text(_ value: String) -> HTML {
        HTML(markup: escape(value))
    }

    /// An element with attributes and children. Void elements (`input`, `meta`, …) take no children.
    public static func element(_ name: StaticString, _ attributes: [Attribute] = [], _ children: [HTML] = []) -> HTML {
        var markup = "<\(name)"
        for attribute in attributes {
            if let value = attribute.value {
                markup += " \(attribute.name)=\"\(escape(value))\""
            }
        }
        markup += ">"
        if voidElements.contains("\(name)") { return HTML(markup: markup) }
        for child in children { markup += child.markup }
        markup += "</\(name)>"
        return HTML(markup: markup)
    }

    /// Pieces one after another.
    public static func group(_ pieces: [HTML]) -> HTML {
        HTML(markup: pieces.map(\.markup).joined())
    }

    /// A whole document: the doctype and `html`.
    public static func document(language: String, _ head: [HTML], _ body: [HTML]) -> String {
        "<!DOCTYPE html>" + element("html", [.init("lang", language)], [element("head", [], head), element("body", [], body)]).markup
    }

    static let voidElements: Set<String> = ["meta", "link", "input", "br", "hr", "img"]

    /// Escapes `&`, `<`, `>`, `"` and `'`: safe in element content and in quoted attribute values.
    public static func escape(_ value: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(value.utf8.count)
        for character in value.unicodeScalars {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            case "\u{0}": escaped += "\u{FFFD}"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }
}

/// One attribute; a nil value leaves it out (so optional attributes read as one line).
public struct Attribute: Sendable {
    public let name: StaticString
    public let value: String?

    public init(_ name: StaticString, _ value: String?) {
        self.name = name
        self.value = value
    }

    /// A boolean attribute (`disabled`, `required`) when `present`.
    public static func flag(_ name: StaticString, _ present: Bool = true) -> Attribute {
        Attribute(name, present ? "" : nil)
    }

    public static func `class`(_ value: String) -> Attribute { Attribute("class", value) }
}

/// Short forms for the elements pages use.
public enum H {
    public static func text(_ value: String) -> HTML { .text(value) }
    public static func div(_ attributes: [Attribute] = [], _ children: [HTML]) -> HTML { .element("div", attributes, children) }
    public static func span(_ attributes: [Attribute] = [], _ children: [HTML]) -> HTML { .element("span", attributes, children) }
    public static func p(_ attributes: [Attribute] = [], _ children: [HTML]) -> HTML { .element("p", attributes, children) }
    public static func h1(_ value: String) -> HTML { .element("h1", [], [.text(value)]) }
    public static func h2(_ value: String) -> HTML { .element("h2", [], [.text(value)]) }
    public static func h3(_ value: String) -> HTML { .element("h3", [], [.text(value)]) }
    public static func code(_ value: String) -> HTML { .element("code", [], [.text(value)]) }
    public static func a(_ href: String, _ label: String, _ attributes: [Attribute] = []) -> HTML {
        .element("a", [.init("href", href)] + attributes, [.text(label)])
    }
    public static func ul(_ attributes: [Attribute] = [], _ items: [HTML]) -> HTML {
        .element("ul", attributes, items.map { .element("li", [], [$0]) })
    }
    /// A table with a header row; each row's cells are pieces of HTML.
    public static func table(_ headers: [String], _ rows: [[HTML]], id: String? = nil) -> HTML {
        .element("div", [.class("table-wrap")], [.element("table", [.init("id", id)], [
            .element("thead", [], [.element("tr", [], headers.map { .element("th", [.init("scope", "col")], [.text($0)]) })]),
            .element("tbody", [], rows.map { .element("tr", [], $0.map { .element("td", [], [$0]) }) }),
        ])])
    }
    /// A definition list of label and value pairs (a resource's properties).
    public static func properties(_ pairs: [(String, HTML)], id: String? = nil) -> HTML {
        .element("dl", [.class("properties"), .init("id", id)], pairs.flatMap { [HTML.element("dt", [], [.text($0.0)]), .element("dd", [], [$0.1])] })
    }
    /// A status word in a colored badge: `good`, `bad` or `neutral`.
    public static func badge(_ value: String, tone: String) -> HTML {
        .element("span", [.class("badge badge-\(tone)")], [.text(value)])
    }
}
