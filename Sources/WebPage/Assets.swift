/// The stylesheet and script every page links (served from this process: no asset comes from the internet, and the
/// Content-Security-Policy allows only this origin's files, never inline code).
public enum WebAssets {
    public static let stylesheetPath = "/console/static/console.css"
    public static let scriptPath = "/console/static/console.js"

    /// The headers every HTML answer carries: a strict policy (scripts and styles from this origin only, no inline code,
    /// forms post here only, no framing), no sniffing, no referrer to other sites (same-origin: forms still carry their Origin), no caching of what a user may see.
    public static func securityHeaders(formTargets: [String] = []) -> [(String, String)] {
        let formAction = (["'self'"] + formTargets).joined(separator: " ")
        return [
            ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
                + "form-action \(formAction); frame-ancestors 'none'; base-uri 'none'"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "same-origin"),
            ("X-Frame-Options", "DENY"),
            ("Cache-Control", "no-store"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
        ]
    }

    public static let stylesheet = """
    :root { --bg: #f6f7f9; --card: #fff; --ink: #1c2430; --muted: #5b6675; --line: #e1e5ea; --accent: #2f5bd3;
      --good: #1f7a3f; --good-bg: #e4f4ea; --bad: #a3261c; --bad-bg: #fbe6e4; --neutral-bg: #eceff3; }
    * { box-sizing: border-box; }
    body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: var(--ink); background: var(--bg); }
    header.top { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1.5rem; padding: .75rem 1.25rem; background: #17202e; color: #fff; }
    header.top a { color: #dfe6f3; text-decoration: none; }
    header.top a:hover { color: #fff; text-decoration: underline; }
    header.top .brand { font-weight: 700; font-size: 1.1rem; color: #fff; }
    header.top nav { display: flex; flex-wrap: wrap; gap: 1rem; flex: 1; }
    header.top .who { display: flex; align-items: center; gap: .75rem; color: #c9d3e3; font-size: .9rem; }
    header.top form { margin: 0; }
    main { max-width: 1100px; margin: 0 auto; padding: 1.25rem; }
    h1 { font-size: 1.5rem; margin: .25rem 0 1rem; word-break: break-word; }
    h2 { font-size: 1.15rem; margin: 1.75rem 0 .6rem; }
    h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
    a { color: var(--accent); }
    .crumbs { color: var(--muted); font-size: .9rem; word-break: break-word; }
    .card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 1rem 1.1rem; margin: .75rem 0; }
    .table-wrap { overflow-x: auto; background: var(--card); border: 1px solid var(--line); border-radius: 10px; }
    table { border-collapse: collapse; width: 100%; }
    th, td { text-align: left; padding: .5rem .75rem; border-bottom: 1px solid var(--line); vertical-align: top; word-break: break-word; }
    th { font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); background: #fafbfc; }
    tr:last-child td { border-bottom: 0; }
    dl.properties { display: grid; grid-template-columns: minmax(9rem, 14rem) 1fr; gap: .35rem 1rem; margin: 0; }
    dl.properties dt { color: var(--muted); }
    dl.properties dd { margin: 0; word-break: break-word; }
    code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .85rem; }
    pre { background: #0f1722; color: #e6edf6; padding: .75rem; border-radius: 8px; overflow-x: auto; }
    .badge { display: inline-block; padding: .05rem .55rem; border-radius: 999px; font-size: .8rem; font-weight: 600; }
    .badge-good { color: var(--good); background: var(--good-bg); }
    .badge-bad { color: var(--bad); background: var(--bad-bg); }
    .badge-neutral { color: var(--muted); background: var(--neutral-bg); }
    .notice { padding: .6rem .9rem; border-radius: 8px; margin: .75rem 0; }
    .notice-error { background: var(--bad-bg); color: var(--bad); }
    .notice-ok { background: var(--good-bg); color: var(--good); }
    .muted { color: var(--muted); }
    form.inline { display: inline; }
    .actions { display: flex; flex-wrap: wrap; gap: .75rem; align-items: flex-end; }
    .actions form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: flex-end; margin: 0; }
    button, .button { white-space: nowrap; flex-shrink: 0; font: inherit; padding: .4rem .9rem; border-radius: 7px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
    button.secondary { background: #fff; color: var(--accent); }
    button.danger { background: var(--bad); border-color: var(--bad); }
    header.top button { background: transparent; border-color: #5c6b82; color: #dfe6f3; padding: .2rem .7rem; }
    label { display: block; font-size: .85rem; color: var(--muted); }
    input[type=text], input[type=password] { font: inherit; padding: .45rem .6rem; border: 1px solid var(--line); border-radius: 7px; width: 100%; min-width: 16rem; }
    .signin { max-width: 24rem; margin: 3rem auto; }
    .signin form { display: grid; gap: .8rem; }
    .copy { display: flex; gap: .5rem; align-items: center; }
    .copy code { background: var(--neutral-bg); padding: .2rem .45rem; border-radius: 6px; word-break: break-all; }
    .tree { list-style: none; padding-left: 1.1rem; border-left: 2px solid var(--line); }
    .tree li { margin: .35rem 0; }
    .secret { font-family: ui-monospace, monospace; background: #fff8e1; padding: .2rem .4rem; border-radius: 5px; word-break: break-all; }
    @media (max-width: 640px) {
      main { padding: .75rem; }
      dl.properties { grid-template-columns: 1fr; }
      dl.properties dt { font-weight: 600; margin-top: .4rem; }
      input[type=text], input[type=password] { min-width: 0; }
    }
    """

    /// Copy buttons and confirmation of destructive forms; every page works without it (a form without the script
    /// still asks for its typed confirmation on the server side where one is needed).
    public static let script = """
    "use strict";
    document.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-copy]");
      if (!button) { return; }
      var text = button.getAttribute("data-copy");
      if (navigator.clipboard) {
        navigator.clipboard.writeText(text).then(function () { button.textContent = "Copied"; });
      }
    });
    document.addEventListener("submit", function (event) {
      var message = event.target.getAttribute("data-confirm");
      if (message && !window.confirm(message)) { event.preventDefault(); }
    });
    """
}
