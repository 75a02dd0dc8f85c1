//! A small WebDriver client (W3C WebDriver over HTTP to Debian's `chromedriver`, driving
//! headless Chromium) for the dashboard's end-to-end tests and its benchmark. Only loopback is
//! used.
// Shared with `benches/dashboard.rs`, which uses only part of it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::blocking::Client,
}

/// The WebDriver key code of Tab.
pub const TAB: &str = "\u{E004}";

impl Browser {
    /// Starts chromedriver and a headless Chromium window of `width` × `height`. `None` when
    /// chromedriver is not installed and this is not CI (`.ci/run` installs it; in CI a missing
    /// browser fails the test).
    pub fn start(width: u32, height: u32) -> Option<Browser> {
        let found = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let Some(driver_path) = found else {
            assert!(
                std::env::var_os("CI").is_none(),
                "no chromedriver: .ci/run installs Debian's chromium and chromium-driver"
            );
            eprintln!("SKIPPED the browser checks: no chromedriver on this machine");
            return None;
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(driver_path)
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while http
            .get(format!("{base}/status"))
            .send()
            .ok()
            .and_then(|r| r.json::<Value>().ok())
            .is_none_or(|v| v["value"]["ready"] != true)
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut b = Browser {
            driver,
            base,
            session: String::new(),
            http,
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                         format!("--window-size={width},{height}")]
            }
        }}});
        let v = b.cmd("POST", "/session", &caps);
        b.session = v["sessionId"].as_str().unwrap().to_owned();
        Some(b)
    }

    fn cmd(&self, method: &str, path: &str, body: &Value) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let req = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self.http.post(&url).json(body),
        };
        let res = req.send().unwrap();
        let status = res.status();
        let v: Value = res.json().unwrap();
        assert!(status.is_success(), "WebDriver {method} {path}: {v}");
        v["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", &json!({"url": url}));
    }

    /// Runs a script in the page; returns its value.
    pub fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            &json!({"script": script, "args": []}),
        )
    }

    /// Runs an asynchronous script (it calls `arguments[arguments.length - 1]` with its result).
    pub fn js_async(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/async",
            &json!({"script": script, "args": []}),
        )
    }

    /// Polls `script` until it returns something truthy, for at most `within`.
    pub fn wait_for(&self, what: &str, script: &str, within: Duration) -> Value {
        let started = Instant::now();
        loop {
            let v = self.js(script);
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            if truthy {
                return v;
            }
            assert!(
                started.elapsed() < within,
                "{what}: not so after {within:?} ({script})"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types keys (WebDriver key codes allowed) into whatever has the focus.
    pub fn keys(&self, text: &str) {
        let mut actions = Vec::new();
        for c in text.chars() {
            actions.push(json!({"type": "keyDown", "value": c.to_string()}));
            actions.push(json!({"type": "keyUp", "value": c.to_string()}));
        }
        self.cmd(
            "POST",
            "/actions",
            &json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        );
    }

    /// Resizes the window (CSS pixels at a device pixel ratio of 1).
    pub fn set_window(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            &json!({"width": width, "height": height}),
        );
    }

    pub fn screenshot(&self, path: &Path) {
        let png = self.cmd("GET", "/screenshot", &Value::Null);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    /// Runs axe-core (vendored for tests) on the page with the WCAG 2.2 A/AA rules; the
    /// violations, each as "rule: nodes".
    pub fn axe(&self, axe_source: &str) -> Vec<String> {
        if self.js("return typeof window.axe") != json!("object") {
            self.cmd(
                "POST",
                "/execute/sync",
                &json!({"script": format!("{axe_source}\nreturn true;"), "args": []}),
            );
        }
        let v = self.js_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {runOnly: {type: 'tag', values:
               ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})
               .then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' — ' +
                  v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))))
               .catch(e => done(['axe failed: ' + e]));",
        );
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap_or("").to_owned())
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .http
                .delete(format!("{}/session/{}", self.base, self.session))
                .send();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
