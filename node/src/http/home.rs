//! `GET /`: a small HTML status page for the node's operator (what the node is, what it holds,
//! how far its logs are signed, and links to the API). Registered by `serve` only, through
//! `app_with`'s `extra`: an aggregator that embeds the node's app serves its own page at `/`.
//! Not in the OpenAPI document: it is for people, not clients.
//!
//! The page loads nothing: one inline `<style>` (the edge's HTML CSP allows inline styles and
//! nothing else), no scripts, no images.

use std::fmt::Write as _;

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::{ApiError, AppState, blocking};
use crate::domain::overview::{Overview, overview};

/// Registers `/` (GET and HEAD): pass to [`super::app_with`] as `extra`.
pub fn home_page(cfg: &mut web::ServiceConfig) {
    cfg.service(super::ops::read_only("/", page));
}

async fn page(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let o = blocking(move || Ok(overview(&st.config, &st.store, &st.signer)?)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(render(&o)))
}

/// Every endpoint the page links to, with what it is.
const LINKS: [(&str, &str); 8] = [
    ("/docs/", "API documentation (Swagger UI)"),
    ("/openapi.json", "OpenAPI document"),
    (
        "/.well-known/evfed",
        "discovery document: origin, verifier keys, endpoints",
    ),
    ("/v1/locations", "published Locations (evfed API)"),
    (
        "/v1/log/checkpoint",
        "the public log's latest signed checkpoint",
    ),
    (
        "/ocpi/versions",
        "OCPI 2.2.1 versions (the open OCPI sender)",
    ),
    ("/readyz", "readiness"),
    ("/metrics", "Prometheus metrics"),
];

const STYLE: &str = "body{font-family:system-ui,sans-serif;line-height:1.5;max-width:48rem;\
margin:2rem auto;padding:0 1rem;color:#1a1a1a;background:#fff}\
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}\
table{border-collapse:collapse}th,td{text-align:left;padding:.25rem 1rem .25rem 0;\
border-bottom:1px solid #ccc}td.n{text-align:right;font-variant-numeric:tabular-nums}\
a{color:#0645ad}a:focus{outline:3px solid #f9a825}\
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:1em}";

/// The page. Every value is escaped.
pub fn render(o: &Overview) -> String {
    let origin = escape(&o.origin);
    let kind = match o.kind {
        "borough" => "borough node",
        "cpo" => "chargepoint operator node",
        other => other,
    };
    let r = &o.records;
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>evfed node {origin}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header>\n<h1>evfed node <code>{origin}</code></h1>\n\
         <p>A {kind} publishing for <strong>{area}</strong>. This page is for the node's \
         operator; readers use the API linked below.</p>\n</header>\n<main>\n",
        kind = escape(kind),
        area = escape(&o.area),
    );
    let _ = write!(
        out,
        "<section aria-labelledby=\"records\">\n<h2 id=\"records\">Records</h2>\n<table>\n\
         <thead><tr><th scope=\"col\">Record</th><th scope=\"col\">Published</th>\
         <th scope=\"col\">Hidden (restricted log)</th></tr></thead>\n<tbody>\n\
         <tr><th scope=\"row\">Locations</th><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n\
         <tr><th scope=\"row\">EVSEs</th><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n\
         </tbody>\n</table>\n</section>\n",
        r.locations, r.hidden_locations, r.evses, r.hidden_evses
    );
    let _ = write!(
        out,
        "<section aria-labelledby=\"logs\">\n<h2 id=\"logs\">Logs</h2>\n<table>\n\
         <thead><tr><th scope=\"col\">Log</th><th scope=\"col\">Entries</th>\
         <th scope=\"col\">Covered by the latest checkpoint</th></tr></thead>\n<tbody>\n\
         <tr><th scope=\"row\">Public</th><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n\
         <tr><th scope=\"row\">Restricted</th><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n\
         </tbody>\n</table>\n</section>\n",
        o.public.0, o.public.1, o.restricted.0, o.restricted.1
    );
    out.push_str("<nav aria-labelledby=\"api\">\n<h2 id=\"api\">API</h2>\n<ul>\n");
    for (href, what) in LINKS {
        let _ = writeln!(
            out,
            "<li><a href=\"{href}\"><code>{href}</code></a>: {}</li>",
            escape(what)
        );
    }
    let _ = write!(
        out,
        "</ul>\n</nav>\n</main>\n<footer>\n<p>evfed-node {}</p>\n</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    out
}

/// Text as HTML character data or a quoted attribute value.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RecordCounts;

    #[test]
    fn values_are_escaped() {
        let o = Overview {
            origin: "a<b>&\"c".into(),
            kind: "cpo",
            area: "Greater London".into(),
            records: RecordCounts::default(),
            public: (0, 0),
            restricted: (0, 0),
        };
        let page = render(&o);
        assert!(page.contains("a&lt;b&gt;&amp;&quot;c"), "{page}");
        assert!(!page.contains("a<b>"));
        assert!(
            !page.contains("<script"),
            "no scripts: the CSP forbids them"
        );
    }
}
