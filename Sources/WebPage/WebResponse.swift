import HTTPTypes
import Hummingbird

/// HTML answers and redirects, each with ``WebAssets/securityHeaders(formTargets:)``.
public enum WebResponse {
    public static func html(_ document: String, status: HTTPResponse.Status = .ok, formTargets: [String] = [],
                            headers extra: [(HTTPField.Name, String)] = []) -> Response {
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8"]
        for (name, value) in WebAssets.securityHeaders(formTargets: formTargets) { headers.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        for (name, value) in extra { headers.append(HTTPField(name: name, value: value)) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: document)))
    }

    /// A `303 See Other` (a form's answer is fetched with GET) or `302 Found`.
    public static func redirect(to location: String, status: HTTPResponse.Status = .seeOther,
                                headers extra: [(HTTPField.Name, String)] = []) -> Response {
        var headers: HTTPFields = [.location: location, .cacheControl: "no-store", .contentLength: "0"]
        for (name, value) in extra { headers.append(HTTPField(name: name, value: value)) }
        return Response(status: status, headers: headers, body: .init())
    }

    /// A static asset of this process.
    public static func asset(_ text: String, contentType: String) -> Response {
        Response(status: .ok, headers: [.contentType: contentType, .cacheControl: "public, max-age=300", HTTPField.Name("X-Content-Type-Options")!: "nosniff"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// The `<head>` of every page: its title, the viewport for phones, this origin's stylesheet and script.
    public static func head(title: String) -> [HTML] {
        [
            .element("meta", [.init("charset", "utf-8")]),
            .element("meta", [.init("name", "viewport"), .init("content", "width=device-width, initial-scale=1")]),
            .element("title", [], [.text(title)]),
            .element("link", [.init("rel", "stylesheet"), .init("href", WebAssets.stylesheetPath)]),
            .element("script", [.init("src", WebAssets.scriptPath), .flag("defer")]),
        ]
    }
}
