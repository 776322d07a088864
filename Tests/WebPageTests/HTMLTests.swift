import Testing
import WebPage

@Suite struct HTMLTests {
    @Test func textAndAttributeValuesAreEscaped() {
        let hostile = "<script>alert('x')</script>\"&"
        let markup = HTML.element("a", [.init("href", hostile), .init("title", nil)], [.text(hostile)]).markup
        #expect(markup == "<a href=\"&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;\">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;</a>")
        #expect(HTML.element("input", [.flag("required")]).markup == "<input required=\"\">")
    }

    @Test func pagesForbidInlineCodeAndFraming() {
        let policy = WebAssets.securityHeaders().first { $0.0 == "Content-Security-Policy" }?.1 ?? ""
        #expect(policy.contains("default-src 'none'") && policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"))
        #expect(!policy.contains("unsafe"))
    }
}
