//! The aggregator's HTTP edge: its `[limits]`, security headers, CORS on the London view but
//! not on usage analytics, the admin API or the token endpoint, HTTPS from `[tls]`, and request
//! heads over the bounds answered as problem+json.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use serde_json::Value;

use crate::support::{AGGREGATOR, Server, aggregator, configure_aggregator as configure, run};

fn header<'a>(res: &'a Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

#[test]
fn the_aggregator_limits_requests_per_address() {
    let root = tempfile::tempdir().unwrap();
    let dir = aggregator(root.path());
    configure(&dir, "[limits]\nper_ip_per_minute = 4");
    let agg = Server::start(Path::new(AGGREGATOR), &dir);
    evfed_aggregator::outgoing::install_crypto_provider();
    let http = Client::new();
    let mut remaining = Vec::new();
    let limited = loop {
        let res = http
            .get(format!("{}/v1/london/locations", agg.url))
            .send()
            .unwrap();
        if res.status() == 429 {
            break res;
        }
        assert_eq!(res.status(), 200);
        remaining.push(header(&res, "x-ratelimit-remaining").unwrap().to_owned());
        assert!(remaining.len() <= 4, "no 429 after {remaining:?}");
    };
    assert_eq!(remaining, ["3", "2", "1", "0"]);
    assert_eq!(
        header(&limited, "content-type"),
        Some("application/problem+json")
    );
    assert!(header(&limited, "retry-after").is_some());
    assert_eq!(header(&limited, "x-ratelimit-limit"), Some("4"));
    assert_eq!(header(&limited, "access-control-allow-origin"), Some("*"));
    let body: Value = limited.json().unwrap();
    assert_eq!(body["code"], "rate-limited");
    assert_eq!(body["status"], 429);
    // The token endpoint counts too.
    let token = http
        .post(format!("{}/oauth2/token", agg.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .unwrap();
    assert_eq!(token.status(), 429);
}

#[test]
fn cors_only_on_the_open_view_and_security_headers_everywhere() {
    let root = tempfile::tempdir().unwrap();
    let dir = aggregator(root.path());
    configure(&dir, "compliance_open = false");
    let agg = Server::start(Path::new(AGGREGATOR), &dir);
    evfed_aggregator::outgoing::install_crypto_provider();
    let http = Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut req = http.get(format!("{}{path}", agg.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().unwrap()
    };
    for path in [
        "/v1/london/locations",
        "/v1/london/status",
        "/v1/london/exports/locations.csv",
        "/v1/members",
        "/oauth2/jwks",
        "/.well-known/oauth-authorization-server",
        "/v1/log/checkpoint",
    ] {
        let res = get(path, None);
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(
            header(&res, "access-control-allow-origin"),
            Some("*"),
            "{path}"
        );
        assert_eq!(header(&res, "x-content-type-options"), Some("nosniff"));
        assert_eq!(header(&res, "x-frame-options"), Some("DENY"));
        assert_eq!(header(&res, "referrer-policy"), Some("no-referrer"));
        assert!(header(&res, "content-security-policy").is_some());
        assert_eq!(header(&res, "strict-transport-security"), None);
    }
    let usage = run(
        Path::new(AGGREGATOR),
        &[
            "token",
            "issue",
            "--dir",
            dir.to_str().unwrap(),
            "--scope",
            "usage:read",
        ],
    );
    let usage = usage.lines().last().unwrap();
    let admin = crate::support::admin_token(&dir);
    for (path, token) in [
        ("/v1/london/usage", Some(usage)),
        ("/v1/admin/members", Some(admin.trim())),
        ("/v1/admin/clients", Some(admin.trim())),
        ("/v1/compliance/suppliers", Some(usage)),
    ] {
        let res = get(path, token);
        assert_eq!(header(&res, "access-control-allow-origin"), None, "{path}");
        assert_eq!(header(&res, "cache-control"), Some("no-store"), "{path}");
        assert_eq!(header(&res, "x-content-type-options"), Some("nosniff"));
    }
    let token = http
        .post(format!("{}/oauth2/token", agg.url))
        .basic_auth("nobody", Some("wrong"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .unwrap();
    assert_eq!(token.status(), 401);
    assert_eq!(header(&token, "access-control-allow-origin"), None);
    assert_eq!(header(&token, "cache-control"), Some("no-store"));
    let preflight = |path: &str, method: &str| {
        http.request(reqwest::Method::OPTIONS, format!("{}{path}", agg.url))
            .header("origin", "https://map.example")
            .header("access-control-request-method", method)
            .send()
            .unwrap()
    };
    let open = preflight("/v1/london/locations", "GET");
    assert_eq!(open.status(), 204);
    assert_eq!(header(&open, "access-control-allow-origin"), Some("*"));
    for (path, method) in [
        ("/oauth2/token", "POST"),
        ("/v1/london/usage", "GET"),
        ("/v1/admin/members", "POST"),
    ] {
        let res = preflight(path, method);
        assert_eq!(header(&res, "access-control-allow-origin"), None, "{path}");
    }
}

#[test]
fn the_aggregator_serves_https_from_its_tls_table() {
    let root = tempfile::tempdir().unwrap();
    let dir = aggregator(root.path());
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    for (name, text, mode) in [
        ("cert.pem", cert.pem(), 0o644),
        ("key.pem", signing_key.serialize_pem(), 0o600),
    ] {
        let mut f = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(mode)
            .open(dir.join(name))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }
    configure(&dir, "[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"");
    let agg = Server::start(Path::new(AGGREGATOR), &dir);
    assert!(agg.url.starts_with("https://127.0.0.1:"), "{}", agg.url);
    evfed_aggregator::outgoing::install_crypto_provider();
    let http = Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap()])
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let res = http
        .get(format!("{}/v1/london/status", agg.url))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "strict-transport-security"),
        Some("max-age=31536000")
    );
    assert_eq!(header(&res, "access-control-allow-origin"), Some("*"));
}

#[test]
fn a_request_head_with_1000_fields_gets_problem_json() {
    let root = tempfile::tempdir().unwrap();
    let dir = aggregator(root.path());
    let agg = Server::start(Path::new(AGGREGATOR), &dir);
    let mut req = "GET /v1/london/locations HTTP/1.1\r\nhost: localhost\r\n".to_owned();
    for i in 0..1000 {
        req.push_str(&format!("x-filler-{i}: {i}\r\n"));
    }
    req.push_str("\r\n");
    let mut conn = std::net::TcpStream::connect(agg.url.trim_start_matches("http://")).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn.write_all(req.as_bytes()).unwrap();
    let mut got = Vec::new();
    conn.read_to_end(&mut got).unwrap();
    let got = String::from_utf8(got).unwrap();
    let (head, body) = got.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    assert_eq!(
        lines.next(),
        Some("HTTP/1.1 431 Request Header Fields Too Large")
    );
    let fields: Vec<(String, &str)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_ascii_lowercase(), v.trim())
        })
        .collect();
    let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    assert_eq!(field("content-type"), Some("application/problem+json"));
    assert_eq!(
        field("content-length"),
        Some(body.len().to_string().as_str())
    );
    assert_eq!(field("x-content-type-options"), Some("nosniff"));
    assert!(field("evfed-tree-size").is_some());
    let problem: Value = serde_json::from_str(body).unwrap();
    assert_eq!(problem["code"], "headers-too-large");
    assert_eq!(problem["status"], 431);
    // A request on a fresh connection is served as before.
    evfed_aggregator::outgoing::install_crypto_provider();
    let res = Client::new()
        .get(format!("{}/v1/london/locations", agg.url))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
}
