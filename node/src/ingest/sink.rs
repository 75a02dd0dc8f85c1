//! Where an import writes: the node's database in this process (when the node directory's lock
//! is free), or the serving node through `POST /v1/admin/locations` (when `serve` holds it).

use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use evfed_spec::api::ItemResult;
use evfed_spec::ocpi::Location;
use evfed_spec::problem::{Problem, ProblemCode};
use evfed_spec::time::DateTime;

use crate::config::Config;
use crate::domain::import::{self, BatchOptions};
use crate::domain::records::Policy;
use crate::home::Home;
use crate::store::Store;
use crate::tokens::Issuer;

/// Takes batches of whole Locations and says what became of each.
pub trait Sink {
    /// Writes at most `MAX_BATCH` locations; answers one result per location, in order. `Err`
    /// only when the batch as a whole could not be written (nothing of it was).
    fn put(&mut self, items: Vec<Location>) -> anyhow::Result<Vec<ItemResult>>;
}

/// Writes into the node's database in this process. The caller holds the directory lock.
#[derive(Debug)]
pub struct Local<'a> {
    store: &'a Store,
    policy: &'a Policy,
    opts: BatchOptions,
}

/// Writes into a serving node over HTTP, with short-lived `admin` tokens from the node's own
/// issuer key.
#[derive(Debug)]
pub struct Remote {
    http: reqwest::blocking::Client,
    endpoint: String,
    issuer: Issuer,
    max_body: usize,
}

/// `DIR/serve.json`, written by a serving node once it answers.
#[derive(Debug, serde::Deserialize)]
struct Announcement {
    url: String,
}

/// How long to wait for a `serve` that holds the lock to announce itself.
const ANNOUNCE_WAIT: Duration = Duration::from_secs(15);
/// How long one batch may take on the serving node.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Lifetime of each admin token (one per request).
const TOKEN_TTL: Duration = Duration::from_secs(120);

impl<'a> Local<'a> {
    pub fn new(store: &'a Store, policy: &'a Policy, dry_run: bool) -> Self {
        Self {
            store,
            policy,
            opts: BatchOptions { dry_run },
        }
    }
}

impl Sink for Local<'_> {
    fn put(&mut self, items: Vec<Location>) -> anyhow::Result<Vec<ItemResult>> {
        import::put_locations(
            self.store,
            self.policy,
            items.into_iter().map(Ok).collect(),
            DateTime::now(),
            self.opts,
        )
        .map_err(|e| anyhow!("writing to {}: {e}", self.store.path().display()))
    }
}

impl Remote {
    /// Finds the node serving from `home` (waiting briefly for one that is starting) and
    /// prepares a client for it.
    pub fn connect(home: &Home, config: &Config, dry_run: bool) -> anyhow::Result<Remote> {
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
                     wait for that process to finish (or stop it) and import again",
                    home.dir().display(),
                    path.display()
                ),
            }
        };
        let announced: Announcement = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a serving node's announcement", path.display()))?;
        let mut endpoint = format!("{}/v1/admin/locations", announced.url.trim_end_matches('/'));
        if dry_run {
            endpoint.push_str("?dry_run=true");
        }
        crate::pull::install_crypto_provider();
        let http = reqwest::blocking::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("cannot make an HTTP client")?;
        let issuer = Issuer::new(config.origin.as_str(), &home.issuer_key()?)?;
        Ok(Remote {
            http,
            endpoint,
            issuer,
            max_body: config.max_body_bytes,
        })
    }

    /// The serving node's import endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// One request: `items` as a JSON array (`body` holds them, comma-separated).
    fn send(&self, body: &[u8], count: usize) -> anyhow::Result<Vec<ItemResult>> {
        let mut payload = Vec::with_capacity(body.len() + 2);
        payload.push(b'[');
        payload.extend_from_slice(body);
        payload.push(b']');
        let token = self.issuer.issue(
            "evfed-node-import",
            None,
            &["admin".to_owned()],
            TOKEN_TTL,
            crate::commands::unix_now(),
        )?;
        let res = self
            .http
            .post(&self.endpoint)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(payload)
            .send()
            .with_context(|| format!("cannot reach the serving node at {}", self.endpoint))?;
        let status = res.status();
        let bytes = res
            .bytes()
            .with_context(|| format!("reading the answer of {}", self.endpoint))?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<Problem>(&bytes)
                .ok()
                .map(|p| format!("{}: {}", p.code.as_str(), p.detail.unwrap_or(p.title)))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(200).collect());
            bail!("the serving node refused a batch ({status}): {detail}");
        }
        let results: Vec<ItemResult> = serde_json::from_slice(&bytes)
            .with_context(|| format!("the answer of {} is not a list of results", self.endpoint))?;
        if results.len() != count {
            bail!(
                "the serving node answered {} results for {count} locations",
                results.len()
            );
        }
        Ok(results)
    }
}

impl Sink for Remote {
    fn put(&mut self, items: Vec<Location>) -> anyhow::Result<Vec<ItemResult>> {
        // Requests are bounded by the node's max_body_bytes as well as by MAX_BATCH: split the
        // batch where it would not fit, and refuse here a location that never would.
        let mut results: Vec<Option<ItemResult>> = vec![None; items.len()];
        let mut body = Vec::new();
        let mut pending: Vec<usize> = Vec::new();
        for (i, loc) in items.iter().enumerate() {
            let json = serde_json::to_vec(loc)?;
            if json.len() + 2 > self.max_body {
                results[i] = Some(ItemResult::rejected(
                    ProblemCode::PayloadTooLarge,
                    format!(
                        "the location is {} bytes as JSON; the node accepts bodies of at most {}",
                        json.len(),
                        self.max_body
                    ),
                ));
                continue;
            }
            if !pending.is_empty() && body.len() + json.len() + 3 > self.max_body {
                self.flush(&mut body, &mut pending, &mut results)?;
            }
            if !pending.is_empty() {
                body.push(b',');
            }
            body.extend_from_slice(&json);
            pending.push(i);
        }
        self.flush(&mut body, &mut pending, &mut results)?;
        results
            .into_iter()
            .map(|r| r.ok_or_else(|| anyhow!("a location was neither sent nor refused")))
            .collect()
    }
}

impl Remote {
    fn flush(
        &self,
        body: &mut Vec<u8>,
        pending: &mut Vec<usize>,
        results: &mut [Option<ItemResult>],
    ) -> anyhow::Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let answered = self.send(body, pending.len())?;
        for (i, r) in pending.drain(..).zip(answered) {
            results[i] = Some(r);
        }
        body.clear();
        Ok(())
    }
}
