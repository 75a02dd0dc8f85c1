//! The unified London view, in memory: every member's verified copy of every location, merged
//! by OCPI identity `(country_code, party_id, id)`. London has about 20,000 public locations, so
//! the whole view fits in a few tens of MB and every query is a scan of it.
//!
//! Merge rule: an operator (`cpo`) member's copy wins over a borough's (the operator runs the
//! chargepoint and knows its live status); among members of one kind, the copy updated last.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use bytes::Bytes;

use evfed_spec::ext::GssCode;
use evfed_spec::ocpi::Location;
use serde::Serialize;
use serde_json::{Value, json};

use crate::domain::live::{Feed, StatusEvent};
use crate::domain::pages::{ListPage, Pages};
use crate::domain::places::{self, Placed};
use crate::store::{CopyChange, Kind, Member, State, Store, StoreError};

/// One member's copy of a location.
#[derive(Debug, Clone)]
pub struct Copy {
    pub origin: String,
    pub kind: Kind,
    pub location: Arc<Location>,
    /// What the borough check found wrong with where the copy says it is (empty: nothing).
    pub placement: Arc<[String]>,
    /// The borough and ward its coordinates lie in.
    pub place: Placed,
    /// The index of the member's log entry that last changed it, where known.
    pub entry: Option<u64>,
    /// The served copy as the London view lists it ([`served_json`]), made on first use and
    /// forgotten whenever the copies of its location or a member's state change.
    rendered: OnceLock<Bytes>,
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
    /// EVSEs of the served copies by borough, by ward and London-wide (`"london"`), kept up to
    /// date under the `copies` write lock: utilisation needs them on every usage query.
    evses: Mutex<HashMap<String, i64>>,
    /// Bumped on every change of the view: the key of caches of figures made from it.
    version: std::sync::atomic::AtomicU64,
    /// Status changes of served EVSEs, for subscribers.
    feed: Feed,
    /// Origins of the members whose data is not current (any harvest state but ok), as the
    /// harvest last recorded them: each served copy says whether it comes from one. Locked
    /// after `copies`, and written under its write lock.
    stale: RwLock<HashSet<String>>,
    /// Rendered pages of `GET /v1/london/locations`, kept for one version.
    pages: Pages<ListPage>,
}

/// One page of the London view's served copies: those a filter keeps, counted, and the ones
/// from `offset` on as JSON.
#[derive(Debug)]
pub struct Page {
    /// The view's version it was read at.
    pub version: u64,
    /// Copies the filter keeps, on every page.
    pub total: usize,
    /// The page's copies, each as [`served_json`] bytes.
    pub items: Vec<Bytes>,
}

/// Adds (`sign` 1) or takes away (-1) the served copy of `list` from the EVSE counts.
fn count_evses(evses: &mut HashMap<String, i64>, list: Option<&Vec<Copy>>, sign: i64) {
    let Some(copy) = list.and_then(|l| l.first()) else {
        return;
    };
    let n = sign * copy.location.evses.len() as i64;
    let mut add = |area: &str| match evses.get_mut(area) {
        Some(c) => *c += n,
        None => {
            evses.insert(area.to_owned(), n);
        }
    };
    add(copy.place.borough_key());
    if let Some(w) = copy.place.ward {
        add(w);
    }
    add("london");
}

/// Where a merged location comes from.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub origin: String,
    pub kind: Kind,
    pub last_updated: String,
    /// Whether this copy is the one served.
    pub served: bool,
    /// The borough check's findings for this copy.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub placement: Vec<String>,
}

impl London {
    /// Loads every stored copy of the members.
    pub fn load(store: &Store, members: &[Member]) -> Result<Self, StoreError> {
        let london = London::default();
        let mut by_origin: HashMap<String, Vec<CopyChange>> = HashMap::new();
        for (origin, body, entry) in store.location_copies()? {
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
                    entry,
                });
        }
        for member in members {
            london.note_state(&member.origin, member.state == State::Ok);
        }
        for (origin, changes) in by_origin {
            if let Some(member) = members.iter().find(|m| m.origin == origin) {
                london.apply(member, &changes);
            }
        }
        Ok(london)
    }

    /// Applies changes a member's verified entries made to its copies.
    pub fn apply(&self, member: &Member, changes: &[CopyChange]) {
        let (origin, kind) = (member.origin.as_str(), member.kind);
        let Ok(mut copies) = self.copies.write() else {
            return;
        };
        let mut dirty = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        let mut evses = self.evses.lock().unwrap_or_else(|p| p.into_inner());
        for c in changes {
            match c {
                CopyChange::PutLocation {
                    party,
                    id,
                    location,
                    entry,
                    ..
                } => {
                    dirty.insert((party.clone(), id.clone()));
                    let list = copies.entry((party.clone(), id.clone())).or_default();
                    let before = list.first().map(|c| Arc::clone(&c.location));
                    count_evses(&mut evses, Some(list), -1);
                    list.retain(|c| c.origin != origin);
                    list.push(Copy {
                        origin: origin.to_owned(),
                        kind,
                        location: Arc::clone(location),
                        placement: placement(location, member.borough.as_ref()).into(),
                        place: places::place(location),
                        entry: *entry,
                        rendered: OnceLock::new(),
                    });
                    list.sort_by_key(|c| std::cmp::Reverse(rank(c)));
                    forget_rendered(list);
                    count_evses(&mut evses, Some(list), 1);
                    if let (Some(before), Some(after)) = (before, list.first()) {
                        self.feed.push(status_changes(&before, after));
                    }
                }
                CopyChange::RemoveLocation { party, id } => {
                    let key = (party.clone(), id.clone());
                    dirty.insert(key.clone());
                    if let Some(list) = copies.get_mut(&key) {
                        count_evses(&mut evses, Some(list), -1);
                        list.retain(|c| c.origin != origin);
                        forget_rendered(list);
                        count_evses(&mut evses, Some(list), 1);
                        if list.is_empty() {
                            copies.remove(&key);
                        }
                    }
                }
                CopyChange::PutTariff { .. } | CopyChange::RemoveTariff { .. } => {}
            }
        }
        self.bump();
    }

    fn bump(&self) {
        self.version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Changes with every change of the view; caches of figures made from it are keyed by it.
    pub fn version(&self) -> u64 {
        self.version.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Status changes of the served EVSEs.
    pub fn feed(&self) -> &Feed {
        &self.feed
    }

    /// Rendered pages of the view's list, kept for one version.
    pub fn pages(&self) -> &Pages<ListPage> {
        &self.pages
    }

    /// Records the harvest state of `origin`'s data: current (`ok`) or not. A change of it is a
    /// change of the view (each served copy says whether it is current).
    pub fn note_state(&self, origin: &str, current: bool) {
        let Ok(mut copies) = self.copies.write() else {
            return;
        };
        let mut stale = self.stale.write().unwrap_or_else(|p| p.into_inner());
        let changed = if current {
            stale.remove(origin)
        } else {
            stale.insert(origin.to_owned())
        };
        if changed {
            for list in copies.values_mut() {
                if list.iter().any(|c| c.origin == origin) {
                    forget_rendered(list);
                }
            }
            self.bump();
        }
    }

    /// Whether `origin`'s data is not current.
    pub fn is_stale(&self, origin: &str) -> bool {
        self.stale
            .read()
            .map(|s| s.contains(origin))
            .unwrap_or(false)
    }

    /// The served copies `keep` keeps, in key order: how many, and from the `offset`th on, at
    /// most `limit` of them as JSON ([`served_json`], each made once per change of its
    /// location).
    pub fn page(&self, keep: impl Fn(&Key, &Copy) -> bool, offset: usize, limit: usize) -> Page {
        let Ok(copies) = self.copies.read() else {
            return Page {
                version: self.version(),
                total: 0,
                items: Vec::new(),
            };
        };
        // Read under the lock every change bumps it under: the page is of exactly this version.
        let version = self.version();
        let stale = self.stale.read().unwrap_or_else(|p| p.into_inner());
        let mut total = 0;
        let mut items = Vec::new();
        for (key, list) in copies.iter() {
            let Some(copy) = list.first() else { continue };
            if !keep(key, copy) {
                continue;
            }
            if total >= offset && items.len() < limit {
                let bytes = copy.rendered.get_or_init(|| {
                    let json = served_json(copy, list, stale.contains(&copy.origin));
                    Bytes::from(serde_json::to_vec(&json).unwrap_or_default())
                });
                items.push(bytes.clone());
            }
            total += 1;
        }
        Page {
            version,
            total,
            items,
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
        let mut evses = self.evses.lock().unwrap_or_else(|p| p.into_inner());
        copies.retain(|key, list| {
            let before = list.len();
            count_evses(&mut evses, Some(list), -1);
            list.retain(|c| !gone(&c.origin));
            count_evses(&mut evses, Some(list), 1);
            if list.len() != before {
                forget_rendered(list);
                dirty.insert(key.clone());
            }
            !list.is_empty()
        });
        self.bump();
    }

    /// EVSEs of the served copies in an area now: a borough or ward code, `""` for locations
    /// without a borough, or `"london"`.
    pub fn evses_by_area(&self) -> HashMap<String, u64> {
        let evses = self.evses.lock().unwrap_or_else(|p| p.into_inner());
        evses
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(a, n)| (a.clone(), *n as u64))
            .collect()
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

    /// `origin`'s copy of one location, as last applied.
    pub fn copy_of(&self, origin: &str, key: &Key) -> Option<Arc<Location>> {
        let copies = self.copies.read().ok()?;
        copies
            .get(key)?
            .iter()
            .find(|c| c.origin == origin)
            .map(|c| Arc::clone(&c.location))
    }

    pub fn len(&self) -> usize {
        self.copies.read().map(|c| c.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The placement check (STANDARD.md §4.4): a location's claimed authority and ward, and for a
/// borough member the member's own authority, must contain its coordinates, within the one
/// tolerance of `evfed_spec::areas::TOLERANCE_M`. Findings are reported with the copy; the copy
/// is still served (its publisher knows its street better than a generalised boundary does).
pub fn placement(loc: &Location, member_borough: Option<&GssCode>) -> Vec<String> {
    let set = crate::domain::places::area_set();
    let (lat, lon) = (loc.coordinates.lat(), loc.coordinates.lon());
    let located = || {
        set.place(lat, lon)
            .map_or(format!("outside {}", set.name), |p| match p.ward {
                Some(w) => format!(
                    "in {} ({}), ward {} ({})",
                    p.authority.name, p.authority.code, w.name, w.code
                ),
                None => format!("in {} ({})", p.authority.name, p.authority.code),
            })
    };
    let mut findings = Vec::new();
    let mut check = |code: &GssCode, whose: &str| match set.get(code.as_str()) {
        None => findings.push(format!("{whose} {code} is not an area of {}", set.name)),
        Some(a) => {
            let d = a.distance_outside_m(lat, lon);
            if d > evfed_spec::areas::TOLERANCE_M {
                findings.push(format!(
                    "{whose} is {} ({code}) but the coordinates lie {d:.0} m outside it, {}",
                    a.name,
                    located()
                ));
            }
        }
    };
    if let Some(claimed) = &loc.evfed.borough {
        check(claimed, "the location's borough");
    }
    if let Some(ward) = &loc.evfed.ward {
        check(&ward.code, "the location's ward");
    }
    if let Some(own) = member_borough
        && loc.evfed.borough.as_ref() != Some(own)
    {
        check(own, "the publishing borough");
    }
    findings
}

/// The served copy as the London view lists it: OCPI JSON with its `evfed` member, and
/// `evfed_london` with the sources (`all`, served first), whether the served one is `stale`
/// (its member's data is not current), and the borough and ward the coordinates lie in, with
/// their names.
pub fn served_json(copy: &Copy, all: &[Copy], stale: bool) -> Value {
    let mut v = copy.to_json();
    let set = places::area_set();
    let area = |code: Option<&str>| {
        code.and_then(|c| set.get(c))
            .map(|a| json!({"code": a.code, "name": a.name}))
    };
    v["evfed_london"] = json!({
        "sources": all.iter().map(|c| c.origin.as_str()).collect::<Vec<_>>(),
        "stale": stale,
        "borough": area(copy.place.borough),
        "ward": area(copy.place.ward),
    });
    v
}

/// Forgets what the copies of one location were rendered as (they, or their sources, changed).
fn forget_rendered(list: &mut [Copy]) {
    for c in list {
        c.rendered = OnceLock::new();
    }
}

/// The EVSEs whose status the served copy `after` changed from the served copy `before`.
fn status_changes(before: &Location, after: &Copy) -> Vec<StatusEvent> {
    let loc = &after.location;
    loc.evses
        .iter()
        .filter(|e| {
            before
                .evses
                .iter()
                .find(|b| b.uid == e.uid)
                .is_none_or(|b| b.status != e.status)
        })
        .map(|e| StatusEvent {
            seq: 0,
            country_code: loc.country_code.as_str().to_owned(),
            party_id: loc.party_id.as_str().to_owned(),
            location_id: loc.id.as_str().to_owned(),
            evse_uid: e.uid.as_str().to_owned(),
            status: e.status.as_str(),
            event_time: e.last_updated.to_string(),
            borough: after.place.borough,
            ward: after.place.ward,
        })
        .collect()
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
            placement: c.placement.to_vec(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Kind, State};

    fn member(origin: &str, kind: Kind) -> Member {
        Member {
            origin: origin.into(),
            url: "http://127.0.0.1:1".into(),
            kind,
            parties: Vec::new(),
            borough: None,
            supplier: None,
            usage_token: None,
            vkeys: Vec::new(),
            state: State::Ok,
            reason: None,
            verified_size: 0,
            frontier: Default::default(),
            checkpoint: None,
            checked_ms: None,
            ok_ms: None,
            usage: None,
        }
    }

    fn put(file: &str, edit: impl FnOnce(&mut Location)) -> CopyChange {
        let path = format!(
            "{}/../spec/testdata/ocpi/valid/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut loc: Location = evfed_spec::ocpi::parse(&std::fs::read(path).unwrap())
            .unwrap()
            .value;
        edit(&mut loc);
        CopyChange::PutLocation {
            party: loc.party().to_string(),
            id: loc.id.as_str().to_owned(),
            body: serde_json::to_vec(&loc).unwrap(),
            location: Arc::new(loc),
            entry: None,
        }
    }

    /// The counts recomputed from scratch over the served copies.
    fn recount(london: &London) -> HashMap<String, u64> {
        let mut all: HashMap<String, i64> = HashMap::new();
        london.each(|_, _, list| {
            count_evses(&mut all, Some(&list.to_vec()), 1);
            None::<()>
        });
        all.into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(a, n)| (a, n as u64))
            .collect()
    }

    #[test]
    fn pages_are_made_again_after_every_change_they_show() {
        let london = London::default();
        let borough = member("evfed.westminster.example", Kind::Borough);
        let cpo = member("evfed.lpc.example", Kind::Cpo);
        let hub = "location_park_royal_rapid_hub.json";
        london.apply(&borough, &[put(hub, |_| {})]);
        london.apply(
            &borough,
            &[put("location_westminster_lamppost.json", |_| {})],
        );
        let item =
            |page: &Page, i: usize| -> Value { serde_json::from_slice(&page.items[i]).unwrap() };
        let first = london.page(|_, _| true, 0, 10);
        assert_eq!((first.total, first.items.len()), (2, 2));
        assert_eq!(first.version, london.version());
        assert_eq!(item(&first, 0)["evfed_london"]["stale"], false);
        // Paged: the second copy alone, with the count of all.
        let second = london.page(|_, _| true, 1, 10);
        assert_eq!((second.total, second.items.len()), (2, 1));
        assert_eq!(item(&second, 0), item(&first, 1));
        // A member's data turning stale is a change of the view, shown at once.
        london.note_state(&borough.origin, false);
        assert!(london.version() > first.version);
        let stale = london.page(|_, _| true, 0, 10);
        assert_eq!(item(&stale, 0)["evfed_london"]["stale"], true);
        let unchanged = london.version();
        london.note_state(&borough.origin, false);
        assert_eq!(london.version(), unchanged, "no change, no new version");
        london.note_state(&borough.origin, true);
        // Another member's copy of the hub is served over the borough's, with both sources.
        london.apply(
            &cpo,
            &[put(hub, |l| {
                l.evses.pop();
                l.last_updated = evfed_spec::time::DateTime::now();
            })],
        );
        let merged = london.page(|_, _| true, 0, 10);
        let hub_json = (0..2)
            .map(|i| item(&merged, i))
            .find(|v| v["evfed_london"]["sources"].as_array().unwrap().len() == 2)
            .unwrap();
        assert_eq!(hub_json["evfed_london"]["sources"][0], cpo.origin.as_str());
        assert_eq!(hub_json["evfed_london"]["stale"], false);
        assert_eq!(hub_json["evses"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn evse_counts_follow_every_change_of_the_served_copies() {
        let london = London::default();
        let borough = member("evfed.westminster.example", Kind::Borough);
        let cpo = member("evfed.lpc.example", Kind::Cpo);
        let lamppost = "location_westminster_lamppost.json";
        london.apply(&borough, &[put(lamppost, |_| {})]);
        london.apply(
            &borough,
            &[put("location_park_royal_rapid_hub.json", |_| {})],
        );
        let first = london.evses_by_area();
        assert_eq!(first, recount(&london));
        assert_eq!(first["E09000033"], 1);
        assert_eq!(first["E09000005"], 3);
        assert_eq!(first["london"], 4);
        // The operator's copy with one EVSE fewer becomes the served one.
        london.apply(
            &cpo,
            &[put("location_park_royal_rapid_hub.json", |l| {
                l.evses.pop();
                l.last_updated = evfed_spec::time::DateTime::now();
            })],
        );
        assert_eq!(london.evses_by_area()["E09000005"], 2);
        assert_eq!(london.evses_by_area(), recount(&london));
        london.forget(&cpo.origin);
        assert_eq!(london.evses_by_area(), first);
        let CopyChange::PutLocation { party, id, .. } = put(lamppost, |_| {}) else {
            unreachable!()
        };
        london.apply(&borough, &[CopyChange::RemoveLocation { party, id }]);
        assert_eq!(london.evses_by_area(), recount(&london));
        assert!(!london.evses_by_area().contains_key("E09000033"));
    }
}
