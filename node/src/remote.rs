//! The node serving from a directory, as that directory's other commands reach it while `serve`
//! holds the directory lock: its address from `DIR/serve.json`, and short-lived `admin`
//! tokens from the node's own issuer key. `import` and `ocpi` write through it, since a second
//! process never writes a serving node's database.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use evfed_spec::problem::Problem;
use url::Url;

use crate::config::Config;
use crate::home::Home;
use crate::outgoing::{self, Bounds, Method, Reach, StatusCode};
use crate::tokens::Issuer;

/// A client for the node serving from one directory.
#[derive(Debug)]
pub struct ServingNode {
    http: outgoing::Client,
    url: String,
    issuer: Issuer,
}

/// The serving node's answer: its status and its body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
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
/// Largest answer read (a batch's results, a list of credentials).
const MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;

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
        let origin = Url::parse(&announced.url)
            .with_context(|| format!("{} does not name a URL", path.display()))?;
        // The announced node and nothing else, never through a proxy.
        let http = outgoing::Client::new(Bounds {
            reach: Reach::Only(origin),
            ..Bounds::total(timeout, MAX_ANSWER_BYTES)
        })?;
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

    /// `GET path` on the serving node.
    pub fn get(&self, path: &str) -> anyhow::Result<Answer> {
        self.exchange(Method::GET, path, None)
    }

    /// `POST path` on the serving node with `json` as the body.
    pub fn post_json(&self, path: &str, json: Vec<u8>) -> anyhow::Result<Answer> {
        self.exchange(Method::POST, path, Some(json))
    }

    /// `DELETE path` on the serving node.
    pub fn delete(&self, path: &str) -> anyhow::Result<Answer> {
        self.exchange(Method::DELETE, path, None)
    }

    /// One request to `path` on the serving node, with a fresh `admin` token, and its answer
    /// read whole.
    fn exchange(
        &self,
        method: Method,
        path: &str,
        json: Option<Vec<u8>>,
    ) -> anyhow::Result<Answer> {
        let token = self.issuer.issue(
            "evfed-node-cli",
            None,
            &["admin".to_owned()],
            TOKEN_TTL,
            crate::commands::unix_now(),
        )?;
        let target = format!("{}{path}", self.url);
        let url = Url::parse(&target).with_context(|| format!("{target} is not a URL"))?;
        let mut request = self.http.request(method, &url).bearer(&token);
        if let Some(json) = json {
            request = request.json_bytes(json);
        }
        let res = request
            .send()
            .with_context(|| format!("cannot reach the serving node at {}", self.url))?;
        let status = res.status();
        let body = res
            .body()
            .with_context(|| format!("reading the answer of {target}"))?;
        Ok(Answer { status, body })
    }
}

impl Answer {
    /// The answer as JSON of type `T`, or why the serving node refused.
    pub fn json<T: serde::de::DeserializeOwned>(&self, node: &ServingNode) -> anyhow::Result<T> {
        if !self.status.is_success() {
            bail!(
                "the serving node refused ({}): {}",
                self.status,
                refusal(&self.body)
            );
        }
        serde_json::from_slice(&self.body)
            .with_context(|| format!("the answer of {} is not what was expected", node.url()))
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
