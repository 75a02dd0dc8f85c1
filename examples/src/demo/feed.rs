//! Getting the synthetic London into the nodes: whole Locations through each node's
//! `POST /v1/admin/locations` (every item checked exactly as its own `PUT` would be), then status
//! changes and sessions through the standard write API (`POST /v1/status`, `POST /v1/sessions`)
//! with the owning party's `data:write` token, to every node that publishes the site.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context as _, bail};
use evfed_spec::api::{BatchResult, ItemOutcome, ItemResult};
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

/// Writes the sites `sites` of `world` into the node at `url` with an `admin` token.
pub fn load(
    http: &Http,
    url: &str,
    admin_token: &str,
    world: &World,
    sites: &[usize],
) -> anyhow::Result<Loaded> {
    let endpoint = format!("{url}/v1/admin/locations");
    let mut loaded = Loaded::default();
    let items: Vec<Vec<u8>> = sites
        .iter()
        .map(|&i| serde_json::to_vec(&world.sites[i].location))
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
    /// For each site, the nodes that publish it.
    pub publishers: Vec<Vec<usize>>,
}

/// What one round of sending did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sent {
    pub status_changes: u64,
    pub sessions: u64,
    /// Log entries the nodes appended.
    pub appended: u64,
}

impl Feeder {
    /// Sends `events`, grouped per node and party, in batches. Stops at the first failure.
    pub fn send(&self, http: &Http, events: &[Event]) -> anyhow::Result<Sent> {
        // (node, party) → (status changes, sessions), as JSON items.
        type Items = (Vec<Vec<u8>>, Vec<Vec<u8>>);
        let mut groups: BTreeMap<(usize, String), Items> = BTreeMap::new();
        let mut sent = Sent::default();
        for e in events {
            let (party, item, is_status) = match &e.change {
                Change::Status(s) => (s.party(), serde_json::to_vec(s)?, true),
                Change::Session(r) => (r.party(), serde_json::to_vec(r)?, false),
            };
            if is_status {
                sent.status_changes += 1;
            } else {
                sent.sessions += 1;
            }
            for &n in self.publishers.get(e.site).into_iter().flatten() {
                let g = groups.entry((n, party.to_string())).or_default();
                if is_status {
                    g.0.push(item.clone());
                } else {
                    g.1.push(item.clone());
                }
            }
        }
        for ((node, party), (statuses, sessions)) in groups {
            let token = self
                .tokens
                .get(&(node, party.clone()))
                .with_context(|| format!("no data:write token for {party}"))?;
            for (path, items) in [("status", statuses), ("sessions", sessions)] {
                let url = format!("{}/v1/{path}", self.urls[node]);
                for batch in batches(&items) {
                    let r: BatchResult = http.post(&url, token, batch.body)?;
                    sent.appended += r.appended;
                }
            }
        }
        Ok(sent)
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
