//! The aggregator's own log: an aggregator is itself a node, of kind `aggregator`
//! (STANDARD.md §2.3), publishing the London view under its own origin and key with the same
//! API, so a national aggregator federates city aggregators as they federate boroughs.
//!
//! The log lives in an embedded node directory, `DIR/node`. After every harvest round the
//! locations whose served copy may have changed are written to it as whole-Location `PUT`s
//! through the node's own batch write ([`put_locations`]): the same validation, no-churn rule
//! (nothing appended when the served copy did not change), `evse_status` entries for status-only
//! changes, and checkpoints signed by the node's ticker. A location that left the view is
//! written back with `publish: false`, which appends `location_removed` to the public log.
//!
//! Architecture Invariant: only verified copies reach this log: its input is the London view,
//! which only `Store::apply` (verified batches) feeds.

use evfed_node::embed::publish::{
    BatchOptions, Error, MAX_BATCH, Policy, Store as NodeStore, current_body, put_locations,
};
use evfed_spec::api::ItemOutcome;
use evfed_spec::ocpi::Location;
use evfed_spec::time::DateTime;

use crate::london::{Key, London};

/// What one sync wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Synced {
    /// Locations looked at.
    pub looked_at: usize,
    /// Locations whose write appended entries.
    pub changed: usize,
    /// Locations the node refused (logged; a verified copy that the node's rules refuse).
    pub refused: usize,
}

/// Marks every location the log publishes but the view no longer holds, so the next
/// [`sync`] removes it (after a restart, members removed while the aggregator was down).
pub fn reconcile(london: &London, store: &NodeStore) -> Result<usize, Error> {
    let published = store.read(|r| r.location_keys(true))?;
    let gone: Vec<Key> = published
        .into_iter()
        .filter(|k| !london.contains(k))
        .collect();
    let n = gone.len();
    london.mark_dirty(gone);
    Ok(n)
}

/// Writes every location whose served copy may have changed to the aggregator's log.
pub fn sync(london: &London, store: &NodeStore, policy: &Policy) -> Result<Synced, Error> {
    let keys = london.take_dirty();
    let mut out = Synced::default();
    for chunk in keys.chunks(MAX_BATCH) {
        match sync_chunk(london, store, policy, chunk) {
            Ok(s) => {
                out.looked_at += s.looked_at;
                out.changed += s.changed;
                out.refused += s.refused;
            }
            Err(e) => {
                // Nothing of the chunk was written: look at these keys again next round.
                london.mark_dirty(keys.iter().cloned());
                return Err(e);
            }
        }
    }
    Ok(out)
}

fn sync_chunk(
    london: &London,
    store: &NodeStore,
    policy: &Policy,
    keys: &[Key],
) -> Result<Synced, Error> {
    let mut items = Vec::with_capacity(keys.len());
    for key in keys {
        let served = london.get(key).into_iter().next();
        let item = match served {
            Some(copy) => Some(Location::clone(&copy.location)),
            None => {
                // Gone from the view: hide it, if this log ever published it.
                let row = store.read(|r| r.location(&key.0, &key.1))?;
                match row {
                    Some(row) if row.publish => {
                        let mut loc: Location = serde_json::from_slice(&current_body(&row)?)
                            .map_err(|e| Error::Corrupt(e.to_string()))?;
                        loc.publish = false;
                        Some(loc)
                    }
                    _ => None,
                }
            }
        };
        if let Some(loc) = item {
            items.push(Ok(loc));
        }
    }
    let looked_at = items.len();
    let results = put_locations(
        store,
        policy,
        items,
        DateTime::now(),
        BatchOptions::default(),
    )?;
    let mut out = Synced {
        looked_at,
        ..Synced::default()
    };
    for r in results {
        match r.outcome {
            ItemOutcome::Rejected => {
                out.refused += 1;
                tracing::warn!(item = ?r, "the aggregator's log refused a verified copy");
            }
            _ if r.appended > 0 => out.changed += 1,
            _ => {}
        }
    }
    Ok(out)
}
