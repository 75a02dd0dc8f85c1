//! The HTTP edge of a real node: request limits per address and per client, security headers,
//! CORS only on open reads, HTTPS served directly with rustls, and request heads over the
//! bounds answered as problem+json.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::OpenOptionsExt as _;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::lifecycle::location;
use crate::support::{NodeDir, Running};

/// Appends TOML to the node's `config.toml`.
fn configure(node: &NodeDir, toml: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(node.path().join("config.toml"))
        .unwrap();
    writeln!(f, "\n{toml}").unwrap();
}

fn header<'a>(res: &'a reqwest::blocking::Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

/// Sends `GET path` until the node answers 429 (at most `max` + 2 times); returns the
/// `x-ratelimit-remaining` of each answer before it, and the 429.
fn until_limited(
    run: &Running,
    path: &str,
    token: Option<&str>,
    max: usize,
) -> (Vec<u64>, reqwest::blocking::Response) {
    let mut remaining = Vec::new();
    for _ in 0..max + 2 {
        let res = match token {
            Some(t) => run.get_auth(path, t),
            None => run.get(path),
        };
        if res.status() == 429 {
            return (remaining, res);
        }
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        remaining.push(
            header(&res, "x-ratelimit-remaining")
                .expect("x-ratelimit-remaining on every limited answer")
                .parse()
                .unwrap(),
        );
    }
    panic!("no 429 after {} requests to {path}", max + 2);
}

fn assert_rate_limited(res: reqwest::blocking::Response, limit: &str, whose: &str) {
    assert_eq!(res.status(), 429);
    assert_eq!(
        header(&res, "content-type"),
        Some("application/problem+json")
    );
    let retry: u64 = header(&res, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(header(&res, "x-ratelimit-limit"), Some(limit));
    assert_eq!(header(&res, "x-ratelimit-remaining"), Some("0"));
    assert!(header(&res, "x-ratelimit-reset").is_some());
    assert_eq!(header(&res, "x-content-type-options"), Some("nosniff"));
    assert!(res.headers().contains_key("evfed-tree-size"));
    let body: Value = res.json().unwrap();
    assert_eq!(body["code"], "rate-limited");
    assert_eq!(body["status"], 429);
    assert_eq!(body["type"], "urn:evfed:problem:rate-limited");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(whose), "{detail}");
}

#[test]
fn too_many_requests_from_one_address_get_429_problem() {
    let node = NodeDir::camden();
    configure(
        &node,
        "[limits]\nper_ip_per_minute = 5\nper_client_per_minute = 0",
    );
    let run = node.serve();
    // `serve` probed /healthz once before announcing itself: that request counted too.
    let (remaining, limited) = until_limited(&run, "/v1/locations", None, 5);
    assert_eq!(remaining, [3, 2, 1, 0], "{remaining:?}");
    assert_eq!(
        header(&limited, "access-control-allow-origin"),
        Some("*"),
        "a 429 on an open read is still readable cross-origin"
    );
    assert_rate_limited(limited, "5", "from this address");
    // Every route counts, open or not, with or without a token.
    assert_eq!(run.get("/healthz").status(), 429);
    let token = node.token(None, &["usage:read"]);
    assert_eq!(run.get_auth("/v1/sessions", &token).status(), 429);
}

#[test]
fn each_client_has_its_own_limit() {
    let node = NodeDir::camden();
    configure(
        &node,
        "[limits]\nper_ip_per_minute = 1000\nper_client_per_minute = 3",
    );
    let run = node.serve();
    let (a, b) = (
        node.token(None, &["usage:read"]),
        node.token(Some("GB*LPC"), &["data:write"]),
    );
    let (remaining, limited) = until_limited(&run, "/v1/sessions", Some(&a), 3);
    assert_eq!(remaining, [2, 1, 0]);
    assert_eq!(header(&limited, "cache-control"), Some("no-store"));
    assert_eq!(header(&limited, "access-control-allow-origin"), None);
    assert_rate_limited(limited, "3", "with this client's credentials");
    // Another token, and no token, are not held by the first client's limit.
    assert_eq!(run.get_auth("/v1/locations", &b).status(), 200);
    let anonymous = run.get("/v1/locations");
    assert_eq!(anonymous.status(), 200);
    assert_eq!(header(&anonymous, "x-ratelimit-limit"), Some("1000"));
}

#[test]
fn limits_of_zero_turn_limiting_off() {
    let node = NodeDir::camden();
    configure(
        &node,
        "[limits]\nper_ip_per_minute = 0\nper_client_per_minute = 0",
    );
    let run = node.serve();
    for _ in 0..20 {
        let res = run.get("/healthz");
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "x-ratelimit-limit"), None);
    }
}

#[test]
fn security_headers_and_cors_only_on_open_reads() {
    let node = NodeDir::camden();
    let run = node.serve();
    let writer = node.writer("GB*LPC");
    let put = run.send(
        Method::PUT,
        "/v1/locations/GB/LPC/L1",
        Some(&writer),
        location(1).to_string().as_bytes(),
    );
    assert!(put.status().is_success());

    let open = run.get("/v1/locations");
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("access-control-allow-origin", "*"),
    ] {
        assert_eq!(header(&open, name), Some(value), "{name}");
        assert_eq!(
            header(&put, name).is_some(),
            name != "access-control-allow-origin"
        );
    }
    let csp = header(&open, "content-security-policy").unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let exposed = header(&open, "access-control-expose-headers").unwrap();
    assert!(exposed.contains("Evfed-Tree-Size") && exposed.contains("Link"));
    assert_eq!(
        header(&open, "strict-transport-security"),
        None,
        "plain HTTP"
    );
    assert_ne!(header(&open, "cache-control"), Some("no-store"));
    // Whatever a token could see is never cached.
    assert_eq!(header(&put, "cache-control"), Some("no-store"));
    let authorized = run.get_auth("/v1/locations", &writer);
    assert_eq!(header(&authorized, "cache-control"), Some("no-store"));

    // Restricted routes carry no CORS headers at all, whatever the method.
    let usage = node.token(None, &["usage:read"]);
    for res in [
        run.get_auth("/v1/sessions", &usage),
        run.get_auth("/v1/restricted/log/entries?start=0&end=1", &usage),
        run.get_auth("/v1/admin/ocpi/registrations", &writer),
        run.get("/ocpi/2.2.1/credentials"),
        run.get("/metrics"),
    ] {
        let url = res.url().to_string();
        assert_eq!(header(&res, "access-control-allow-origin"), None, "{url}");
        assert_eq!(header(&res, "x-frame-options"), Some("DENY"), "{url}");
    }

    // Preflight: answered for reads of open data, refused (405, no CORS) otherwise.
    let preflight = |path: &str, method: &str| {
        run.http
            .request(Method::OPTIONS, format!("{}{path}", run.url))
            .header("origin", "https://map.example")
            .header("access-control-request-method", method)
            .send()
            .unwrap()
    };
    let ok = preflight("/v1/locations", "GET");
    assert_eq!(ok.status(), 204);
    assert_eq!(header(&ok, "access-control-allow-origin"), Some("*"));
    assert_eq!(
        header(&ok, "access-control-allow-methods"),
        Some("GET, HEAD")
    );
    assert!(header(&ok, "access-control-max-age").is_some());
    for (path, method) in [
        ("/v1/locations/GB/LPC/L1", "PUT"),
        ("/v1/sessions", "GET"),
        ("/v1/admin/locations", "POST"),
        ("/ocpi/2.2.1/receiver/locations/GB/LPC/L1", "PUT"),
    ] {
        let refused = preflight(path, method);
        assert_eq!(refused.status(), 405, "{method} {path}");
        assert_eq!(
            header(&refused, "access-control-allow-origin"),
            None,
            "{method} {path}"
        );
    }

    // The Swagger UI may load its own scripts and styles; nothing else may.
    let docs = run.get("/docs/");
    assert_eq!(docs.status(), 200);
    let csp = header(&docs, "content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("'unsafe-eval'") && !csp.contains("script-src 'self' 'unsafe-inline'"));
    let page = docs.text().unwrap();
    assert!(
        !page.contains("<script>"),
        "the Swagger UI page has an inline script its CSP would block"
    );
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
        "swagger-ui.css",
    ] {
        assert!(page.contains(asset), "{asset}");
        let res = run.get(&format!("/docs/{asset}"));
        assert_eq!(res.status(), 200, "{asset}");
    }
}

/// A self-signed certificate for `localhost` and 127.0.0.1: (certificate PEM, key PEM).
fn self_signed() -> (String, String) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    (cert.pem(), signing_key.serialize_pem())
}

fn write_mode(path: &std::path::Path, text: &str, mode: u32) {
    let mut f = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(mode)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
fn serves_https_with_hsts_from_a_configured_certificate() {
    let node = NodeDir::camden();
    let (cert, key) = self_signed();
    std::fs::create_dir(node.path().join("tls")).unwrap();
    write_mode(&node.path().join("tls/cert.pem"), &cert, 0o644);
    write_mode(&node.path().join("tls/key.pem"), &key, 0o600);
    configure(
        &node,
        "[tls]\ncert = \"tls/cert.pem\"\nkey = \"tls/key.pem\"",
    );
    let mut run = node.serve();
    assert!(run.url.starts_with("https://127.0.0.1:"), "{}", run.url);
    evfed_node::embed::outgoing::install_crypto_provider();
    run.http = reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let res = run.get("/.well-known/evfed");
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "strict-transport-security"),
        Some("max-age=31536000")
    );
    assert_eq!(header(&res, "access-control-allow-origin"), Some("*"));
    let discovery: Value = res.json().unwrap();
    assert_eq!(discovery["origin"], "evfed.camden.example");
    // A head over actix-http's bounds is answered as problem+json over TLS too.
    let mut fields = reqwest::header::HeaderMap::new();
    for i in 0..1000 {
        let name = format!("x-filler-{i}");
        fields.insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            reqwest::header::HeaderValue::from(i),
        );
    }
    let res = run
        .http
        .get(format!("{}/v1/locations", run.url))
        .headers(fields)
        .send()
        .unwrap();
    assert_eq!(res.status(), 431);
    assert_eq!(
        header(&res, "content-type"),
        Some("application/problem+json")
    );
    assert_eq!(
        header(&res, "strict-transport-security"),
        Some("max-age=31536000")
    );
    let problem: Value = res.json().unwrap();
    assert_eq!(problem["code"], "headers-too-large");
    assert_eq!(run.get("/healthz").status(), 200);
    // Plain HTTP to the same port is not answered as HTTP.
    let plain = reqwest::blocking::Client::new()
        .get(run.url.replace("https://", "http://") + "/healthz")
        .timeout(Duration::from_secs(5))
        .send();
    assert!(plain.map(|r| r.status() != 200).unwrap_or(true));
    assert!(run.stop().success());
}

#[test]
fn a_tls_key_readable_by_others_is_refused_with_a_hint() {
    let node = NodeDir::camden();
    let (cert, key) = self_signed();
    write_mode(&node.path().join("cert.pem"), &cert, 0o644);
    write_mode(&node.path().join("key.pem"), &key, 0o644);
    configure(&node, "[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"");
    let err = node.try_serve().err().expect("serve refuses a loose key");
    assert!(err.contains("chmod 600"), "{err}");
    assert!(err.contains("key.pem"), "{err}");
}

/// One HTTP/1.1 response read off a raw connection.
struct Raw {
    status: u16,
    /// Names in lower case, in the order sent.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `bytes` on a fresh connection to the node, reads until the node closes it, and splits
/// what came back into responses (each framed by its `content-length`).
fn exchange(run: &Running, bytes: &[u8]) -> Vec<Raw> {
    let mut conn = TcpStream::connect(run.url.trim_start_matches("http://")).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn.write_all(bytes).unwrap();
    let mut got = Vec::new();
    conn.read_to_end(&mut got).unwrap();
    let mut responses = Vec::new();
    let mut rest = &got[..];
    while !rest.is_empty() {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("not a response: {}", String::from_utf8_lossy(rest)));
        let head = std::str::from_utf8(&rest[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        let raw = Raw {
            status: status.parse().unwrap(),
            body: Vec::new(),
            headers,
        };
        let len: usize = raw
            .header("content-length")
            .map_or(0, |v| v.parse().unwrap());
        let body = rest[end + 4..end + 4 + len].to_vec();
        rest = &rest[end + 4 + len..];
        responses.push(Raw { body, ..raw });
    }
    responses
}

/// `GET path` with a `host` field, `fillers` more and the lines of `extra`.
fn get_with_fields(path: &str, fillers: usize, extra: &str) -> Vec<u8> {
    let mut req = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n");
    for i in 0..fillers {
        req.push_str(&format!("x-filler-{i}: {i}\r\n"));
    }
    req.push_str(extra);
    req.push_str("\r\n");
    req.into_bytes()
}

fn assert_headers_too_large(res: &Raw, detail: &str) {
    assert_eq!(res.status, 431);
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    assert_eq!(res.header("connection"), Some("close"));
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert!(res.header("evfed-tree-size").is_some());
    assert!(res.header("date").is_some());
    let problem: Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(problem["code"], "headers-too-large");
    assert_eq!(problem["status"], 431);
    assert_eq!(problem["type"], "urn:evfed:problem:headers-too-large");
    let said = problem["detail"].as_str().unwrap();
    assert!(said.contains(detail), "{said}");
}

#[test]
fn a_request_head_over_the_bounds_gets_problem_json() {
    let node = NodeDir::camden();
    let run = node.serve();
    // 1,000 header fields: actix-http's own answer was an empty 431.
    let got = exchange(&run, &get_with_fields("/v1/locations", 1000, ""));
    assert_eq!(got.len(), 1);
    assert_headers_too_large(&got[0], "more than 96 header fields");
    // 96 fields are within the bounds.
    let got = exchange(
        &run,
        &get_with_fields("/healthz", 94, "connection: close\r\n"),
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].status, 200);
    // A head not complete within 128 KiB, with few fields.
    let long = format!("x-long: {}\r\n", "a".repeat(140_000));
    let got = exchange(&run, &get_with_fields("/v1/locations", 0, &long));
    assert_eq!(got.len(), 1);
    assert_headers_too_large(&got[0], "not complete within 131072 bytes");
    // On a kept-alive connection, the requests before the refused head are answered first,
    // a body included.
    let status = b"POST /v1/status HTTP/1.1\r\nhost: localhost\r\n\
        content-type: application/json\r\ncontent-length: 2\r\n\r\n[]";
    let got = exchange(
        &run,
        &[
            get_with_fields("/healthz", 0, ""),
            status.to_vec(),
            get_with_fields("/v1/locations", 1000, ""),
        ]
        .concat(),
    );
    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 401, 431]);
    assert_headers_too_large(&got[2], "more than 96 header fields");
    // The node goes on serving.
    assert_eq!(run.get("/v1/locations").status(), 200);
    assert!(run.stop().success());
}
