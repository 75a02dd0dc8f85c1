//! The node serving from a directory, as that directory's other commands reach it while `serve`
//! holds the directory lock: its address from `DIR/serve.json`, and short-lived `admin`
//! tokens from the node's own issuer key. `import` and `ocpi` write through it, since a second
//! process never writes a serving node's database.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use evfed_spec::problem::Problem;

use crate::config::Config;
use crate::home::Home;
use crate::tokens::Issuer;

/// A client for the node serving from one directory.
#[derive(Debug)]
pub struct ServingNode {
    http: reqwest::blocking::Client,
    url: String,
    issuer: Issuer,
}

/// `DIR/serve.json`, written by a serving node once it answers.
#[derive(Debug, serde::Deserialize)]
struct Announcement {
    url: String,
}

/// How long to wait for a `serve` that holds the lock to announce itself.
const ANNOUNCE_WAIT: Duration = Duration::from_secs(15);
/// Lifetime of each admin token (one per request).
const TOKEN_TTL: Duration = Duration::from_secs(120);

impl ServingNode {
    /// Finds the node serving from `home` (waiting briefly for one that is starting); each
    /// request may take up to `timeout`.
    pub fn connect(home: &Home, config: &Config, timeout: Duration) -> anyhow::Result<Self> {
        let path = home.serve_file_path();
        let deadline = Instant::now() + ANNOUNCE_WAIT;
        let text = loop {
            match std::fs::read_to_string(&path) {
                Ok(text) => break text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => bail!(
                    "another evfed-node process holds {} and no serving node announced itself in {} ({e}); \
                     wait for that process to finish (or stop it) and try again",
                    home.dir().display(),
                    path.display()
                ),
            }
        };
        let announced: Announcement = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a serving node's announcement", path.display()))?;
        crate::pull::install_crypto_provider();
        let http = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .build()
            .context("cannot make an HTTP client")?;
        let issuer = Issuer::new(config.origin.as_str(), &home.issuer_key()?)?;
        Ok(Self {
            http,
            url: announced.url.trim_end_matches('/').to_owned(),
            issuer,
        })
    }

    /// The serving node's base URL, e.g. `http://127.0.0.1:8080`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A request to `path` on the serving node, with a fresh `admin` token.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> anyhow::Result<reqwest::blocking::RequestBuilder> {
        let token = self.issuer.issue(
            "evfed-node-cli",
            None,
            &["admin".to_owned()],
            TOKEN_TTL,
            crate::commands::unix_now(),
        )?;
        Ok(self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token))
    }
}

/// What a refusal from the serving node says: its problem's code and detail, else the start
/// of its body.
pub fn refusal(bytes: &[u8]) -> String {
    serde_json::from_slice::<Problem>(bytes)
        .ok()
        .map(|p| format!("{}: {}", p.code.as_str(), p.detail.unwrap_or(p.title)))
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).chars().take(200).collect())
}
