//! What a new operator meets first: `init`'s next steps, the page at `/`, `/docs` without its
//! slash, and a log without terminal colours when standard error is a file.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::lifecycle::location;
use crate::support::{BIN, NodeDir, Running, run};

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::blocking::Client {
    evfed_node::embed::outgoing::install_crypto_provider();
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[test]
fn init_prints_the_next_steps_for_its_own_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("my node");
    let dir_s = dir.to_str().unwrap();
    let out = run(&[
        "init",
        "--dir",
        dir_s,
        "--origin",
        "evfed.steps.example",
        "--kind",
        "cpo",
        "--party",
        "GB*STP",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // The verifier key stays on the line after "verifier key:" (the demo reads it there).
    let mut lines = text.lines().skip_while(|l| !l.starts_with("verifier key"));
    assert!(
        lines.nth(1).unwrap().starts_with("evfed.steps.example+"),
        "{text}"
    );
    // A directory with a space is quoted for the shell; the node's own party is used.
    let quoted = format!("'{dir_s}'");
    for wanted in [
        format!("evfed-node serve --dir {quoted}"),
        format!("evfed-node token issue --dir {quoted} --party 'GB*STP' --scope data:write"),
        format!("evfed-node import csv --dir {quoted} FILE"),
        "node/docs/import.md".to_owned(),
        "http://127.0.0.1:8080/docs/".to_owned(),
        "http://127.0.0.1:8080/ ".to_owned(),
    ] {
        assert!(text.contains(&wanted), "{wanted:?} missing from:\n{text}");
    }
    // The printed token command works as printed (after the shell removed the quotes).
    let token = run(&[
        "token",
        "issue",
        "--dir",
        dir_s,
        "--party",
        "GB*STP",
        "--scope",
        "data:write",
    ]);
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
}

#[test]
fn docs_without_its_slash_redirects_to_swagger_ui() {
    let node = NodeDir::camden();
    let run = node.serve();
    let http = no_redirects();
    for method in [Method::GET, Method::HEAD] {
        let res = http
            .request(method.clone(), format!("{}/docs", run.url))
            .send()
            .unwrap();
        assert_eq!(res.status(), 308, "{method} /docs");
        assert_eq!(res.headers()["location"], "/docs/", "{method} /docs");
    }
    // Followed, it is Swagger UI.
    let docs = run.get("/docs");
    assert_eq!(docs.status(), 200);
    assert!(docs.url().path().ends_with("/docs/"));
    assert!(docs.text().unwrap().contains("swagger"));
    // Only reads are redirected.
    let res = http.post(format!("{}/docs", run.url)).send().unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "GET, HEAD");
}

#[test]
fn the_root_is_a_status_page_for_the_operator() {
    let node = NodeDir::camden();
    let run = node.serve();
    let token = node.writer("GB*LPC");
    for (i, publish) in [(1, true), (2, true), (3, false)] {
        let mut body = location(i);
        body["publish"] = json!(publish);
        let res = run.send(
            Method::PUT,
            &format!("/v1/locations/GB/LPC/L{i}"),
            Some(&token),
            body.to_string().as_bytes(),
        );
        assert!(res.status().is_success());
    }
    let size = run.tree_size();
    run.wait_for_checkpoint(size);

    let res = run.get("/");
    assert_eq!(res.status(), 200);
    let header = |name: &str| res.headers()[name].to_str().unwrap().to_owned();
    assert!(header("content-type").starts_with("text/html"));
    let csp = header("content-security-policy");
    assert!(
        !csp.contains("script-src") && csp.contains("default-src 'none'"),
        "no scripts, nothing loaded: {csp}"
    );
    let page = res.text().unwrap();
    assert!(page.contains("<html lang=\"en\">"));
    assert!(page.contains("<title>evfed node evfed.camden.example</title>"));
    assert!(page.contains("Camden (E09000007)"), "{page}");
    assert!(page.contains("borough node"));
    // Two published locations with one EVSE each, one hidden; the public log as served.
    let row = |name: &str, a: u64, b: u64| {
        format!("<th scope=\"row\">{name}</th><td class=\"n\">{a}</td><td class=\"n\">{b}</td>")
    };
    assert!(page.contains(&row("Locations", 2, 1)), "{page}");
    assert!(page.contains(&row("EVSEs", 2, 1)), "{page}");
    assert!(page.contains(&row("Public", size, size)), "{page}");
    // Nothing from elsewhere: no scripts, no absolute URLs to load.
    assert!(!page.contains("<script"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
    // Every link the page gives answers.
    for href in [
        "/docs/",
        "/openapi.json",
        "/.well-known/evfed",
        "/ocpi/versions",
        "/v1/locations",
        "/v1/log/checkpoint",
    ] {
        assert!(
            page.contains(&format!("<a href=\"{href}\">")),
            "{href}: {page}"
        );
        assert_eq!(run.get(href).status(), 200, "{href}");
    }
    assert_eq!(
        run.http
            .head(format!("{}/", run.url))
            .send()
            .unwrap()
            .status(),
        200
    );
    // Not an API resource: only read, and not in the document.
    let res = run.send(Method::POST, "/", None, b"{}");
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert!(run.json("/openapi.json")["paths"].get("/").is_none());
}

/// Kills the child on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_log_written_to_a_file_has_no_terminal_colours() {
    let node = NodeDir::camden();
    let log = node.tmp.path().join("info.log");
    let ready = node.tmp.path().join("ready.json");
    let child = Command::new(BIN)
        .args(["serve", "--dir", &node.dir_arg(), "--listen", "127.0.0.1:0"])
        .arg("--ready-file")
        .arg(&ready)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut child = Child(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.exists() {
        assert!(child.0.try_wait().unwrap().is_none(), "serve exited");
        assert!(Instant::now() < deadline, "not ready after 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&ready).unwrap())
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    // A request, so the request span logs too.
    let running = Running {
        child: std::mem::replace(&mut child.0, Command::new("true").spawn().unwrap()),
        url,
        http: no_redirects(),
    };
    assert_eq!(running.get("/healthz").status(), 200);
    assert!(running.stop().success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("evfed-node ready"), "{text}");
    assert!(text.contains("INFO"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "ANSI escapes in a log file:\n{text:?}"
    );
}
