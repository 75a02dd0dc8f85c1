//! Getting the synthetic London into the nodes: whole Locations through each node's
//! `POST /v1/admin/locations` (every item checked exactly as its own `PUT` would be), then status
//! changes and sessions through the standard write API (`POST /v1/status`, `POST /v1/sessions`)
//! with the owning party's `data:write` token, to every node that publishes the site.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context as _, bail};
use evfed_spec::api::{BatchResult, ItemOutcome, ItemResult};
use evfed_spec::ocpi::{Location, Status};
use evfed_spec::time::DateTime;
use serde::Serialize;

use super::http::Http;
use crate::synth::World;
use crate::synth::activity::{Change, Event};

/// Items per write request (the node's limit).
const MAX_ITEMS: usize = 1000;
/// Bytes per write request, below the node's default 1 MiB body limit.
const MAX_BYTES: usize = 900 * 1024;

/// What loading one node did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Loaded {
    pub created: u64,
    pub unchanged: u64,
    pub updated: u64,
}

/// Writes the sites `sites` of `world` into the node at `url` with an `admin` token, as they
/// are when the simulation begins at `begin` (Unix seconds): an EVSE generated out of order
/// broke then (its `last_updated`), not when the site was last updated years before, which
/// would count as months of failure in the aggregator's reliability figures.
pub fn load(
    http: &Http,
    url: &str,
    admin_token: &str,
    world: &World,
    sites: &[usize],
    begin: i64,
) -> anyhow::Result<Loaded> {
    let endpoint = format!("{url}/v1/admin/locations");
    let mut loaded = Loaded::default();
    let begin = DateTime::from_unix_seconds(begin).context("the simulation's start")?;
    let items: Vec<Vec<u8>> = sites
        .iter()
        .map(|&i| serde_json::to_vec(&as_of(&world.sites[i].location, begin)))
        .collect::<Result<_, _>>()?;
    for batch in batches(&items) {
        let results: Vec<ItemResult> = http.post(&endpoint, admin_token, batch.body)?;
        for (r, i) in results.iter().zip(&batch.indexes) {
            match r.outcome {
                ItemOutcome::Created => loaded.created += 1,
                ItemOutcome::Updated => loaded.updated += 1,
                ItemOutcome::Unchanged => loaded.unchanged += 1,
                ItemOutcome::Rejected => bail!(
                    "{url} refused location {}: {}",
                    world.sites[sites[*i]].location.id,
                    r.detail.as_deref().unwrap_or("no detail")
                ),
            }
        }
    }
    Ok(loaded)
}

/// `loc` with every EVSE that is out of order or inoperative stamped as broken since `begin`.
fn as_of(loc: &Location, begin: DateTime) -> Location {
    let mut loc = loc.clone();
    for e in &mut loc.evses {
        if matches!(e.status, Status::OutOfOrder | Status::Inoperative) && e.last_updated < begin {
            e.last_updated = begin;
            loc.last_updated = loc.last_updated.max(begin);
        }
    }
    loc
}

struct Batch {
    body: Vec<u8>,
    /// Which items, by index.
    indexes: Vec<usize>,
}

/// JSON arrays of the given JSON items, each within the node's item and byte limits.
fn batches(items: &[Vec<u8>]) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut cur = Batch {
        body: vec![b'['],
        indexes: Vec::new(),
    };
    for (i, item) in items.iter().enumerate() {
        let full = cur.indexes.len() == MAX_ITEMS || cur.body.len() + item.len() + 2 > MAX_BYTES;
        if full && !cur.indexes.is_empty() {
            cur.body.push(b']');
            out.push(std::mem::replace(
                &mut cur,
                Batch {
                    body: vec![b'['],
                    indexes: Vec::new(),
                },
            ));
        }
        if !cur.indexes.is_empty() {
            cur.body.push(b',');
        }
        cur.body.extend_from_slice(item);
        cur.indexes.push(i);
    }
    if !cur.indexes.is_empty() {
        cur.body.push(b']');
        out.push(cur);
    }
    out
}

/// Sends events to the nodes that publish their sites.
#[derive(Debug)]
pub struct Feeder {
    pub urls: Vec<String>,
    /// `data:write` tokens by node and party (`CC*PID`).
    pub tokens: HashMap<(usize, String), String>,
    /// For each site, the nodes that publish it: each gets the site's status changes.
    pub publishers: Vec<Vec<usize>>,
    /// For each site, the one node that gets its sessions (`plan::usage_publisher`).
    pub usage_publisher: Vec<Option<usize>>,
}

/// What one round of sending did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sent {
    /// Status changes sent to at least one node (once however many).
    pub status_changes: u64,
    /// Sessions sent (each to one node).
    pub sessions: u64,
    /// Log entries the nodes appended.
    pub appended: u64,
}

impl Sent {
    pub fn add(&mut self, other: Sent) {
        self.status_changes += other.status_changes;
        self.sessions += other.sessions;
        self.appended += other.appended;
    }
}

/// A node's share of a round: (party, status changes, sessions), as JSON items.
type NodeItems = BTreeMap<String, (Vec<Vec<u8>>, Vec<Vec<u8>>)>;

impl Feeder {
    /// Sends `events` (in time order), grouped per node and party, in batches: the nodes in
    /// parallel, each node's status changes in the order given. Stops at the first failure.
    pub fn send(&self, http: &Http, events: &[Event]) -> anyhow::Result<Sent> {
        self.send_where(http, events, |_| true)
    }

    /// [`Feeder::send`] to the nodes `to` picks only (by index).
    pub fn send_where(
        &self,
        http: &Http,
        events: &[Event],
        to: impl Fn(usize) -> bool,
    ) -> anyhow::Result<Sent> {
        let mut per_node: Vec<NodeItems> = vec![BTreeMap::new(); self.urls.len()];
        let mut sent = Sent::default();
        for e in events {
            match &e.change {
                Change::Status(s) => {
                    let item = serde_json::to_vec(s)?;
                    let mut any = false;
                    for &n in self.publishers.get(e.site).into_iter().flatten() {
                        if !to(n) {
                            continue;
                        }
                        any = true;
                        let g = per_node[n].entry(s.party().to_string()).or_default();
                        g.0.push(item.clone());
                    }
                    sent.status_changes += u64::from(any);
                }
                Change::Session(r) => {
                    if let Some(&Some(n)) = self.usage_publisher.get(e.site)
                        && to(n)
                    {
                        sent.sessions += 1;
                        let g = per_node[n].entry(r.party().to_string()).or_default();
                        g.1.push(serde_json::to_vec(r)?);
                    }
                }
            }
        }
        let appended = std::thread::scope(|s| {
            let jobs: Vec<_> = per_node
                .into_iter()
                .enumerate()
                .filter(|(_, items)| !items.is_empty())
                .map(|(node, items)| s.spawn(move || self.send_to(http, node, items)))
                .collect();
            jobs.into_iter().try_fold(0, |sum, j| {
                let n = j
                    .join()
                    .map_err(|_| anyhow::anyhow!("a sending thread panicked"))??;
                anyhow::Ok(sum + n)
            })
        })?;
        sent.appended = appended;
        Ok(sent)
    }

    /// Sends one node its items; returns the entries it appended.
    fn send_to(&self, http: &Http, node: usize, items: NodeItems) -> anyhow::Result<u64> {
        let mut appended = 0;
        for (party, (statuses, sessions)) in items {
            let token = self
                .tokens
                .get(&(node, party.clone()))
                .with_context(|| format!("no data:write token for {party}"))?;
            for (path, items) in [("status", statuses), ("sessions", sessions)] {
                let url = format!("{}/v1/{path}", self.urls[node]);
                for batch in batches(&items) {
                    let r: BatchResult = http.post(&url, token, batch.body)?;
                    appended += r.appended;
                }
            }
        }
        Ok(appended)
    }
}

/// The ready file's content.
#[derive(Debug, Serialize)]
pub struct Ready {
    pub aggregator: String,
    pub nodes: Vec<ReadyNode>,
}

#[derive(Debug, Serialize)]
pub struct ReadyNode {
    pub origin: String,
    pub url: String,
    pub kind: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_limits_and_keep_every_item() {
        let items: Vec<Vec<u8>> = (0..2500)
            .map(|i| format!("{{\"n\":{i}}}").into_bytes())
            .collect();
        let out = batches(&items);
        assert_eq!(out.len(), 3);
        let mut seen = 0;
        for b in &out {
            let v: Vec<serde_json::Value> = serde_json::from_slice(&b.body).unwrap();
            assert_eq!(v.len(), b.indexes.len());
            assert!(v.len() <= MAX_ITEMS);
            seen += v.len();
        }
        assert_eq!(seen, 2500);
        let big: Vec<Vec<u8>> = (0..10).map(|_| vec![b'1'; 200 * 1024]).collect();
        assert!(batches(&big).iter().all(|b| b.body.len() <= MAX_BYTES));
        assert!(batches(&[]).is_empty());
    }
}
