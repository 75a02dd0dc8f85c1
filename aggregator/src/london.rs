//! The unified London view, in memory: every member's verified copy of every location, merged
//! by OCPI identity `(country_code, party_id, id)`. London has about 20,000 public locations, so
//! the whole view fits in a few tens of MB and every query is a scan of it.
//!
//! Merge rule: an operator (`cpo`) member's copy wins over a borough's (the operator runs the
//! chargepoint and knows its live status); among members of one kind, the copy updated last.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use evfed_spec::ocpi::Location;
use serde::Serialize;
use serde_json::Value;

use crate::store::{CopyChange, Kind, Store, StoreError};

/// One member's copy of a location.
#[derive(Debug, Clone)]
pub struct Copy {
    pub origin: String,
    pub kind: Kind,
    pub location: Arc<Location>,
}

impl Copy {
    /// The copy as served: OCPI JSON with its `evfed` member.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(&*self.location).unwrap_or(Value::Null)
    }
}

/// `(party, id)`, party written `CC*PID`.
pub type Key = (String, String);

#[derive(Debug, Default)]
pub struct London {
    copies: RwLock<BTreeMap<Key, Vec<Copy>>>,
    /// Keys whose served copy may have changed since the aggregator's own log last took them.
    dirty: Mutex<BTreeSet<Key>>,
}

/// Where a merged location comes from.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub origin: String,
    pub kind: Kind,
    pub last_updated: String,
    /// Whether this copy is the one served.
    pub served: bool,
}

impl London {
    /// Loads every stored copy.
    pub fn load(store: &Store, kinds: &HashMap<String, Kind>) -> Result<Self, StoreError> {
        let london = London::default();
        let mut by_origin: HashMap<String, Vec<CopyChange>> = HashMap::new();
        for (origin, body) in store.location_copies()? {
            let loc: Location = serde_json::from_slice(&body)
                .map_err(|e| StoreError::Corrupt(format!("copy from {origin}: {e}")))?;
            by_origin
                .entry(origin)
                .or_default()
                .push(CopyChange::PutLocation {
                    party: loc.party().to_string(),
                    id: loc.id.as_str().to_owned(),
                    location: Arc::new(loc),
                    body,
                });
        }
        for (origin, changes) in by_origin {
            if let Some(kind) = kinds.get(&origin) {
                london.apply(&origin, *kind, &changes);
            }
        }
        Ok(london)
    }

    /// Applies changes a member's verified entries made to its copies.
    pub fn apply(&self, origin: &str, kind: Kind, changes: &[CopyChange]) {
        let Ok(mut copies) = self.copies.write() else {
            return;
        };
        let mut dirty = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        for c in changes {
            match c {
                CopyChange::PutLocation {
                    party,
                    id,
                    location,
                    ..
                } => {
                    dirty.insert((party.clone(), id.clone()));
                    let list = copies.entry((party.clone(), id.clone())).or_default();
                    list.retain(|c| c.origin != origin);
                    list.push(Copy {
                        origin: origin.to_owned(),
                        kind,
                        location: Arc::clone(location),
                    });
                    list.sort_by_key(|c| std::cmp::Reverse(rank(c)));
                }
                CopyChange::RemoveLocation { party, id } => {
                    let key = (party.clone(), id.clone());
                    dirty.insert(key.clone());
                    if let Some(list) = copies.get_mut(&key) {
                        list.retain(|c| c.origin != origin);
                        if list.is_empty() {
                            copies.remove(&key);
                        }
                    }
                }
                CopyChange::PutTariff { .. } | CopyChange::RemoveTariff { .. } => {}
            }
        }
    }

    /// Forgets the copies of members no longer registered.
    pub fn retain_members(&self, origins: &[String]) {
        self.drop_copies(|origin| !origins.iter().any(|o| o == origin));
    }

    /// Forgets every copy `origin` published (its log was reset by a re-admission).
    pub fn forget(&self, origin: &str) {
        self.drop_copies(|o| o == origin);
    }

    fn drop_copies(&self, gone: impl Fn(&str) -> bool) {
        let Ok(mut copies) = self.copies.write() else {
            return;
        };
        let mut dirty = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        copies.retain(|key, list| {
            let before = list.len();
            list.retain(|c| !gone(&c.origin));
            if list.len() != before {
                dirty.insert(key.clone());
            }
            !list.is_empty()
        });
    }

    /// Takes the keys whose served copy may have changed.
    pub fn take_dirty(&self) -> Vec<Key> {
        let mut dirty = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *dirty).into_iter().collect()
    }

    /// Marks keys to be looked at again (a write of them failed, or they are not in the view).
    pub fn mark_dirty(&self, keys: impl IntoIterator<Item = Key>) {
        let mut dirty = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        dirty.extend(keys);
    }

    /// Whether the view holds `key`.
    pub fn contains(&self, key: &Key) -> bool {
        self.copies
            .read()
            .map(|c| c.contains_key(key))
            .unwrap_or(false)
    }

    /// Runs `f` over the served copy of every location, in key order.
    pub fn each<T>(&self, mut f: impl FnMut(&Key, &Copy, &[Copy]) -> Option<T>) -> Vec<T> {
        let Ok(copies) = self.copies.read() else {
            return Vec::new();
        };
        copies
            .iter()
            .filter_map(|(k, list)| list.first().and_then(|c| f(k, c, list)))
            .collect()
    }

    /// The copies of one location, served one first.
    pub fn get(&self, key: &Key) -> Vec<Copy> {
        self.copies
            .read()
            .ok()
            .and_then(|c| c.get(key).cloned())
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.copies.read().map(|c| c.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Higher ranks are served: operators over boroughs, then the newest copy.
fn rank(c: &Copy) -> (bool, evfed_spec::time::DateTime) {
    (c.kind == Kind::Cpo, c.location.last_updated)
}

/// Where each copy of a location comes from and which fields disagree with the served one.
pub fn sources(copies: &[Copy]) -> (Vec<Source>, Vec<String>) {
    let sources = copies
        .iter()
        .enumerate()
        .map(|(i, c)| Source {
            origin: c.origin.clone(),
            kind: c.kind,
            last_updated: c.location.last_updated.to_string(),
            served: i == 0,
        })
        .collect();
    let mut differ = Vec::new();
    if let Some((served, others)) = copies.split_first()
        && let Value::Object(fields) = served.to_json()
    {
        for other in others {
            let other_json = other.to_json();
            for (k, v) in &fields {
                if k != "last_updated" && k != "evfed" && other_json.get(k) != Some(v) {
                    differ.push(format!("{k} ({} differs)", other.origin));
                }
            }
        }
    }
    (sources, differ)
}
