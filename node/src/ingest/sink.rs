//! Where an import writes: the node's database in this process (when the node directory's lock
//! is free), or the serving node through `POST /v1/admin/locations` (when `serve` holds it).

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use evfed_spec::api::ItemResult;
use evfed_spec::ocpi::Location;
use evfed_spec::problem::ProblemCode;
use evfed_spec::time::DateTime;

use crate::config::Config;
use crate::domain::import::{self, BatchOptions};
use crate::domain::records::Policy;
use crate::home::Home;
use crate::remote::{ServingNode, refusal};
use crate::store::Store;

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

/// Writes into a serving node over HTTP, through `POST /v1/admin/locations`.
#[derive(Debug)]
pub struct Remote {
    node: ServingNode,
    /// `/v1/admin/locations`, with `?dry_run=true` for a dry run.
    path: String,
    endpoint: String,
    max_body: usize,
}

/// How long one batch may take on the serving node.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

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
        let node = ServingNode::connect(home, config, REQUEST_TIMEOUT)?;
        let mut path = "/v1/admin/locations".to_owned();
        if dry_run {
            path.push_str("?dry_run=true");
        }
        Ok(Remote {
            endpoint: format!("{}{path}", node.url()),
            path,
            node,
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
        let answer = self.node.post_json(&self.path, payload)?;
        if !answer.status.is_success() {
            bail!(
                "the serving node refused a batch ({}): {}",
                answer.status,
                refusal(&answer.body)
            );
        }
        let results: Vec<ItemResult> = serde_json::from_slice(&answer.body)
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
