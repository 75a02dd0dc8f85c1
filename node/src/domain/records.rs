//! Writes and reads of Locations, Tariffs, status and usage (spec §10.3–§10.5): OCPI receiver
//! semantics for PUT and PATCH, the no-churn rule (an unchanged write appends nothing), clock
//! rules, borough assignment, and exactly the log entries of spec §6.2, all in one store
//! transaction per request.
//!
//! Architecture Invariant: every accepted change appends its entries in the same transaction as
//! the state change; a rejected request writes nothing. `publish_allowed_to` never reaches an
//! entry.

use std::borrow::Cow;

use evfed_spec::api::BatchResult;
use evfed_spec::entry::{EntryData, LogEntry, RecordRef};
use evfed_spec::ext::GssCode;
use evfed_spec::ids::{ConnectorId, EvseUid, LocationId, Party, TariffId};
use evfed_spec::ocpi::{self, Connector, Evse, Location, PublishTokenType, Tariff};
use evfed_spec::time::DateTime;
use evfed_spec::usage::{StatusChange, UsageRecord};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Error;
use crate::config::Kind;
use crate::domain::areas::NodeAreas;
use crate::store::{
    EvseRow, ListFilter, LocationRow, LocationWrite, LogId, Page, StatusApplied, Store, Tx,
};

/// The most items in one batch (spec §10.1).
pub const MAX_BATCH: usize = 1000;

/// How far ahead of the node's clock a written time may be (spec §12.2).
pub const CLOCK_SKEW_MS: i64 = 60_000;

/// What the node accepts and how it places locations.
#[derive(Debug, Clone)]
pub struct Policy {
    pub kind: Kind,
    /// The authority of a borough node (a code of `areas`).
    pub area: Option<GssCode>,
    /// Parties the node accepts; empty means any.
    pub parties: Vec<Party>,
    /// The area set locations are placed in.
    pub areas: NodeAreas,
}

/// A location's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationKey {
    pub party: Party,
    pub id: LocationId,
}

/// A tariff's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TariffKey {
    pub party: Party,
    pub id: TariffId,
}

/// Which object under a location path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Location,
    Evse(EvseUid),
    Connector(EvseUid, ConnectorId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Put,
    Patch,
}

/// The result of a write.
#[derive(Debug)]
pub struct Written {
    /// A PUT created the object.
    pub created: bool,
    /// Entries appended (0 for a write that changed nothing).
    pub appended: u64,
    /// The object as `GET` returns it.
    pub body: Vec<u8>,
}

/// Who is reading, for hidden objects (spec §10.5).
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// May see every unpublished location (`usage:read`).
    pub all_hidden: bool,
    /// May see this party's unpublished locations and `publish_allowed_to` (`data:write`).
    pub writer_for: Option<Party>,
}

impl Policy {
    pub(crate) fn authorize(&self, caller: &Party, owner: &Party) -> Result<(), Error> {
        if caller != owner {
            return Err(Error::PartyMismatch(format!(
                "the token is for party {caller}; the record belongs to {owner}"
            )));
        }
        if !self.parties.is_empty() && !self.parties.contains(owner) {
            return Err(Error::PartyMismatch(format!(
                "this node does not accept records of party {owner}"
            )));
        }
        Ok(())
    }

    /// Sets the authority, ward and `outside_area` of a location (§4.4): from its
    /// coordinates, keeping what the writer claimed; a location outside the node's authority,
    /// or outside the area set, is kept without them and flagged. A claim the coordinates
    /// contradict is logged, not refused (the conformance suite reports it as a finding).
    pub(crate) fn place(&self, loc: &mut Location) {
        let own = match self.kind {
            Kind::Borough => self.area.as_ref(),
            _ => None,
        };
        let placed = self.areas.place(
            loc.coordinates.lat(),
            loc.coordinates.lon(),
            &loc.evfed,
            own,
        );
        if let Some(d) = &placed.disagreement {
            tracing::warn!(location = %loc.id, "{d}");
        }
        loc.evfed = placed.ext;
    }
}

/// `PUT` or `PATCH` of a Location, EVSE or Connector.
#[allow(clippy::too_many_arguments)]
pub fn write_location(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    key: &LocationKey,
    part: &Part,
    method: Method,
    body: &[u8],
    now: DateTime,
) -> Result<Written, Error> {
    policy.authorize(caller, &key.party)?;
    let patch = match method {
        Method::Patch => Some(patch_object(body)?),
        Method::Put => None,
    };
    store.write(|tx| {
        let party = key.party.to_string();
        let row = tx.location(&party, key.id.as_str())?;
        let (current, current_pat) = match &row {
            Some(r) => (
                Some(decode::<Location>(&current_body(r)?)?),
                decode_pat(r.publish_allowed_to.as_deref())?,
            ),
            None => (None, Vec::new()),
        };
        let not_found = || Error::NotFound(format!("no location {party}/{}", key.id));
        let (mut new, new_pat, created) = match (part, &patch) {
            (Part::Location, None) => {
                let mut loc: Location = parse(body)?;
                check_location_ids(&loc, key)?;
                let pat = loc.take_publish_allowed_to();
                (loc, pat, current.is_none())
            }
            (Part::Location, Some(patch)) => {
                let cur = current.clone().ok_or_else(not_found)?;
                check_patch_ids(
                    patch,
                    &[
                        ("country_code", key.party.country_code.as_str()),
                        ("party_id", key.party.party_id.as_str()),
                        ("id", key.id.as_str()),
                    ],
                )?;
                let mut full = cur;
                full.publish_allowed_to = current_pat.clone();
                let mut loc: Location = merge(&full, patch)?;
                let pat = loc.take_publish_allowed_to();
                (loc, pat, false)
            }
            (Part::Evse(uid), _) => {
                let mut loc = current.clone().ok_or_else(not_found)?;
                let what = format!("EVSE {uid} in location {party}/{}", key.id);
                let created = write_child(
                    &mut loc.evses,
                    Child {
                        field: "uid",
                        id: uid.as_str(),
                        what: &what,
                    },
                    |e: &Evse| e.uid.as_str(),
                    patch.as_ref(),
                    body,
                )?;
                roll_up(&mut loc);
                (loc, current_pat.clone(), created)
            }
            (Part::Connector(uid, cid), _) => {
                let mut loc = current.clone().ok_or_else(not_found)?;
                let evse = loc
                    .evses
                    .iter_mut()
                    .find(|e| &e.uid == uid)
                    .ok_or_else(|| {
                        Error::NotFound(format!("no EVSE {uid} in location {party}/{}", key.id))
                    })?;
                let what = format!("connector {cid} on EVSE {uid}");
                let created = write_child(
                    &mut evse.connectors,
                    Child {
                        field: "id",
                        id: cid.as_str(),
                        what: &what,
                    },
                    |c: &Connector| c.id.as_str(),
                    patch.as_ref(),
                    body,
                )?;
                roll_up(&mut loc);
                (loc, current_pat.clone(), created)
            }
        };
        clock_location(&mut new, &now)?;
        policy.place(&mut new);

        if let Some(cur) = &current
            && same_location(cur, &new)
            && current_pat == new_pat
        {
            return Ok(Written {
                created: false,
                appended: 0,
                body: part_body(cur, part)?,
            });
        }
        let appended = append_location_entries(tx, current.as_ref(), &new, &now)?;
        store_location(tx, &party, &new, &new_pat, current.as_ref())?;
        Ok(Written {
            created,
            appended,
            body: part_body(&new, part)?,
        })
    })
}

/// `PUT` of a Tariff.
pub fn put_tariff(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    key: &TariffKey,
    body: &[u8],
    now: DateTime,
) -> Result<Written, Error> {
    policy.authorize(caller, &key.party)?;
    let mut tariff: Tariff = parse(body)?;
    if tariff.party() != key.party || tariff.id != key.id {
        return Err(Error::InvalidField(format!(
            "country_code, party_id and id ({}/{}) differ from the path ({}/{})",
            tariff.party(),
            tariff.id,
            key.party,
            key.id
        )));
    }
    clock(&mut tariff.last_updated, &now, "last_updated")?;
    let party = key.party.to_string();
    store.write(|tx| {
        let current = tx
            .tariff(&party, key.id.as_str())?
            .map(|b| decode::<Tariff>(&b))
            .transpose()?;
        if let Some(cur) = &current {
            let mut a = cur.clone();
            a.last_updated = tariff.last_updated;
            if a == tariff {
                return Ok(Written {
                    created: false,
                    appended: 0,
                    body: encode(cur)?,
                });
            }
        }
        let entry = LogEntry {
            recorded_at: now,
            data: EntryData::Tariff(Box::new(tariff.clone())),
        };
        tx.append(LogId::Public, &entry_bytes(&entry)?)?;
        let body = encode(&tariff)?;
        tx.put_tariff(
            &party,
            key.id.as_str(),
            tariff.last_updated.unix_millis(),
            &body,
        )?;
        Ok(Written {
            created: current.is_none(),
            appended: 1,
            body,
        })
    })
}

/// `DELETE` of a Tariff.
pub fn delete_tariff(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    key: &TariffKey,
    now: DateTime,
) -> Result<(), Error> {
    policy.authorize(caller, &key.party)?;
    let party = key.party.to_string();
    store.write(|tx| {
        if !tx.delete_tariff(&party, key.id.as_str())? {
            return Err(Error::NotFound(format!("no tariff {party}/{}", key.id)));
        }
        let data = EntryData::TariffRemoved(RecordRef {
            country_code: key.party.country_code.clone(),
            party_id: key.party.party_id.clone(),
            id: key.id.clone(),
        });
        tx.append(
            LogId::Public,
            &entry_bytes(&LogEntry {
                recorded_at: now,
                data,
            })?,
        )?;
        Ok(())
    })
}

/// `POST /v1/status`: a batch of status changes, all or nothing (spec §10.4).
///
/// Everything that depends on no stored state (parsing, checks, each change's entry bytes) is
/// done before the writer is taken, and the batch may share its transaction and commit with
/// other callers' batches (`Store::write_grouped`).
pub fn post_status(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    body: &[u8],
    now: DateTime,
) -> Result<BatchResult, Error> {
    let mut changes: Vec<StatusChange> = parse(body)?;
    check_batch(changes.len())?;
    for (i, c) in changes.iter_mut().enumerate() {
        policy.authorize(caller, &c.party())?;
        clock(&mut c.event_time, &now, &format!("[{i}].event_time"))?;
    }
    let prepared = changes
        .into_iter()
        .map(|c| PreparedStatus::new(c, &now))
        .collect::<Result<Vec<_>, Error>>()?;
    store.write_grouped(move |tx| {
        let mut appended = 0;
        for (i, p) in prepared.iter().enumerate() {
            match p.apply(tx)? {
                StatusApplied::Changed { .. } => appended += 1,
                StatusApplied::Unchanged => {}
                StatusApplied::Missing => {
                    return Err(Error::Conflict(format!(
                        "[{i}]: no EVSE {} in location {}/{} on this node",
                        p.row.uid, p.party, p.location_id
                    )));
                }
            }
        }
        Ok(BatchResult {
            received: prepared.len() as u64,
            appended,
        })
    })
}

/// A status-only change of one EVSE (an OCPI EVSE `PATCH` of `status` and `last_updated`),
/// through the same path as `POST /v1/status`: the EVSE index and one `evse_status` entry.
/// Returns the entries appended (0 when the status is the stored one, or older than it).
pub fn patch_evse_status(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    mut change: StatusChange,
    now: DateTime,
) -> Result<u64, Error> {
    policy.authorize(caller, &change.party())?;
    clock(&mut change.event_time, &now, "last_updated")?;
    let p = PreparedStatus::new(change, &now)?;
    store.write(|tx| match p.apply(tx)? {
        StatusApplied::Changed { .. } => Ok(1),
        StatusApplied::Unchanged => Ok(0),
        StatusApplied::Missing => Err(Error::NotFound(format!(
            "no EVSE {} in location {}/{}",
            p.row.uid, p.party, p.location_id
        ))),
    })
}

/// One status change ready to apply: its row for the EVSE index and the bytes of its
/// `evse_status` entry, which depend on nothing stored.
struct PreparedStatus {
    party: String,
    location_id: String,
    row: EvseRow,
    entry: Vec<u8>,
}

impl PreparedStatus {
    fn new(c: StatusChange, now: &DateTime) -> Result<Self, Error> {
        let row = EvseRow {
            uid: c.evse_uid.as_str().to_owned(),
            status: status_name(c.status),
            event_time_ms: c.event_time.unix_millis(),
            event_time: c.event_time.to_string(),
        };
        let party = c.party().to_string();
        let location_id = c.location_id.as_str().to_owned();
        let entry = entry_bytes(&LogEntry {
            recorded_at: *now,
            data: EntryData::EvseStatus(c),
        })?;
        Ok(Self {
            party,
            location_id,
            row,
            entry,
        })
    }

    /// Applies the change to the EVSE index only (the location's body catches up when it is
    /// next written or folded, `fold_pending`, and readers splice it in until then,
    /// `current_body`; rewriting a 2 kB body per change would cost most of a batch), and
    /// appends its entry when it changed something.
    fn apply(&self, tx: &mut Tx<'_>) -> Result<StatusApplied, Error> {
        let applied = tx.apply_status(&self.party, &self.location_id, &self.row)?;
        if let StatusApplied::Changed { publish } = applied {
            tx.append(LogId::for_publish(publish), &self.entry)?;
        }
        Ok(applied)
    }
}

/// Writes the pending EVSE statuses of up to `max` locations into their bodies, so that
/// readers stop splicing them in. Changes nothing a reader sees and appends nothing; returns
/// how many locations it rewrote.
pub fn fold_pending(store: &Store, max: usize) -> Result<usize, Error> {
    store.write(|tx| {
        let keys = tx.pending_locations(max)?;
        for (party, id) in &keys {
            let Some(row) = tx.location(party, id)? else {
                continue;
            };
            let (body, last_updated_ms) = apply_pending(&row.body, &row.pending)?;
            tx.fold_location(party, id, last_updated_ms, &body)?;
        }
        Ok(keys.len())
    })
}

/// A location's body as readers see it: the stored body with its pending EVSE statuses.
pub fn current_body(row: &LocationRow) -> Result<Cow<'_, [u8]>, Error> {
    if row.pending.is_empty() {
        return Ok(Cow::Borrowed(&row.body));
    }
    Ok(Cow::Owned(apply_pending(&row.body, &row.pending)?.0))
}

/// `body` with each pending status applied as an `evse_status` entry applies it (spec §6.2:
/// the EVSE's status, and its and the location's `last_updated` raised to the event time), and
/// the resulting location `last_updated` in Unix milliseconds.
fn apply_pending(body: &[u8], pending: &[EvseRow]) -> Result<(Vec<u8>, i64), Error> {
    let mut value = decode::<Value>(body)?;
    let mut last_updated_ms = 0;
    for p in pending {
        let at: DateTime = p
            .event_time
            .parse()
            .map_err(|_| Error::Corrupt(format!("stored event time {:?}", p.event_time)))?;
        let evse = value["evses"]
            .as_array_mut()
            .and_then(|es| es.iter_mut().find(|e| e["uid"] == p.uid.as_str()))
            .ok_or_else(|| Error::Corrupt(format!("EVSE {} is indexed but not stored", p.uid)))?;
        evse["status"] = Value::String(p.status.clone());
        raise_time(&mut evse["last_updated"], &at)?;
        last_updated_ms = raise_time(&mut value["last_updated"], &at)?;
    }
    Ok((encode(&value)?, last_updated_ms))
}

/// One page of locations as `filter` selects them, each as readers see it.
pub fn list_locations(
    store: &Store,
    filter: &ListFilter,
    offset: u64,
    limit: u64,
) -> Result<Page<Vec<u8>>, Error> {
    let page = store.read(|r| r.locations(filter, offset, limit))?;
    let items = page
        .items
        .into_iter()
        .map(|row| match current_body(&row)? {
            Cow::Borrowed(_) => Ok(row.body),
            Cow::Owned(b) => Ok(b),
        })
        .collect::<Result<_, Error>>()?;
    Ok(Page {
        total: page.total,
        items,
        tree_size: page.tree_size,
    })
}

/// Published locations with this id, of any party, as readers see them (at most `max`).
pub fn published_locations_with_id(
    store: &Store,
    id: &str,
    max: u64,
) -> Result<Vec<Vec<u8>>, Error> {
    store
        .read(|r| r.published_locations_with_id(id, max))?
        .iter()
        .map(|row| Ok(current_body(row)?.into_owned()))
        .collect()
}

/// `POST /v1/sessions`: a batch of usage records, all or nothing (spec §10.4).
pub fn post_sessions(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    body: &[u8],
    now: DateTime,
) -> Result<BatchResult, Error> {
    let records: Vec<UsageRecord> = parse(body)?;
    check_batch(records.len())?;
    for (i, r) in records.iter().enumerate() {
        check_usage(policy, caller, r, &now).map_err(|e| match e {
            Error::InvalidField(m) => Error::InvalidField(format!("[{i}]: {m}")),
            other => other,
        })?;
    }
    store.write(|tx| {
        let mut appended = 0;
        for r in &records {
            appended += append_usage(tx, r, &now)?;
        }
        Ok(BatchResult {
            received: records.len() as u64,
            appended,
        })
    })
}

/// Whether `caller` may write the usage record `r` now: its party, and no time in the future.
pub(crate) fn check_usage(
    policy: &Policy,
    caller: &Party,
    r: &UsageRecord,
    now: &DateTime,
) -> Result<(), Error> {
    policy.authorize(caller, &r.party())?;
    let limit = now.unix_millis() + CLOCK_SKEW_MS;
    let future = r.start_date_time.unix_millis() > limit
        || r.end_date_time
            .as_ref()
            .is_some_and(|e| e.unix_millis() > limit);
    if future {
        return Err(Error::InvalidField(
            "session times may not lie in the future".into(),
        ));
    }
    Ok(())
}

/// Stores a checked usage record with its `session` entry in the restricted log, unless it
/// equals the stored one (no churn). Returns the entries appended.
pub(crate) fn append_usage(tx: &mut Tx<'_>, r: &UsageRecord, now: &DateTime) -> Result<u64, Error> {
    let party = r.party().to_string();
    let body = encode(r)?;
    if tx.session(&party, r.id.as_str())?.as_deref() == Some(&body[..]) {
        return Ok(0);
    }
    tx.put_session(
        &party,
        r.id.as_str(),
        r.start_date_time.unix_millis(),
        &body,
    )?;
    let entry = LogEntry {
        recorded_at: *now,
        data: EntryData::Session(r.clone()),
    };
    tx.append(LogId::Restricted, &entry_bytes(&entry)?)?;
    Ok(1)
}

/// `GET` of a Location, EVSE or Connector as `viewer` may see it; `None` when absent or hidden.
pub fn read_location(
    store: &Store,
    viewer: &Viewer,
    key: &LocationKey,
    part: &Part,
) -> Result<Option<Vec<u8>>, Error> {
    let party = key.party.to_string();
    let Some(row) = store.read(|r| r.location(&party, key.id.as_str()))? else {
        return Ok(None);
    };
    let own = viewer.writer_for.as_ref() == Some(&key.party);
    if !row.publish && !viewer.all_hidden && !own {
        return Ok(None);
    }
    let with_pat = own && row.publish_allowed_to.is_some();
    let body = current_body(&row)?;
    if *part == Part::Location && !with_pat {
        return Ok(Some(body.into_owned()));
    }
    let mut loc = decode::<Location>(&body)?;
    if with_pat {
        loc.publish_allowed_to = decode_pat(row.publish_allowed_to.as_deref())?;
    }
    match part_body(&loc, part) {
        Ok(b) => Ok(Some(b)),
        Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The bytes of the object at `part` in `loc`.
pub fn part_body(loc: &Location, part: &Part) -> Result<Vec<u8>, Error> {
    let missing = || Error::NotFound("no such EVSE or connector".into());
    match part {
        Part::Location => encode(loc),
        Part::Evse(uid) => encode(
            loc.evses
                .iter()
                .find(|e| &e.uid == uid)
                .ok_or_else(missing)?,
        ),
        Part::Connector(uid, cid) => {
            let evse = loc
                .evses
                .iter()
                .find(|e| &e.uid == uid)
                .ok_or_else(missing)?;
            encode(
                evse.connectors
                    .iter()
                    .find(|c| &c.id == cid)
                    .ok_or_else(missing)?,
            )
        }
    }
}

fn check_batch(n: usize) -> Result<(), Error> {
    if n > MAX_BATCH {
        return Err(Error::TooLarge(format!(
            "a batch holds at most {MAX_BATCH} items; this one has {n}"
        )));
    }
    Ok(())
}

fn check_location_ids(loc: &Location, key: &LocationKey) -> Result<(), Error> {
    if loc.party() != key.party || loc.id != key.id {
        return Err(Error::InvalidField(format!(
            "country_code, party_id and id ({}/{}) differ from the path ({}/{})",
            loc.party(),
            loc.id,
            key.party,
            key.id
        )));
    }
    Ok(())
}

/// Names the EVSE or Connector a path points at: its id member, the id, and words for errors.
struct Child<'a> {
    field: &'static str,
    id: &'a str,
    what: &'a str,
}

/// PUT (replace or append) or PATCH (merge into the existing one) of the child `child` in
/// `items`. Returns whether it was created.
fn write_child<T: Serialize + DeserializeOwned>(
    items: &mut Vec<T>,
    child: Child<'_>,
    id_of: impl Fn(&T) -> &str,
    patch: Option<&serde_json::Map<String, Value>>,
    body: &[u8],
) -> Result<bool, Error> {
    let slot = items.iter().position(|t| id_of(t) == child.id);
    let item: T = match (patch, slot) {
        (None, _) => parse(body)?,
        (Some(p), Some(i)) => {
            check_patch_ids(p, &[(child.field, child.id)])?;
            merge(&items[i], p)?
        }
        (Some(_), None) => return Err(Error::NotFound(format!("no {}", child.what))),
    };
    if id_of(&item) != child.id {
        return Err(Error::InvalidField(format!(
            "{} {} differs from the path's {}",
            child.field,
            id_of(&item),
            child.id
        )));
    }
    match slot {
        Some(i) => items[i] = item,
        None => items.push(item),
    }
    Ok(slot.is_none())
}

/// A PATCH body: a JSON object with `last_updated`.
fn patch_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, Error> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Error::InvalidJson(format!("body is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(Error::InvalidField("a PATCH body is a JSON object".into()));
    };
    if map.get("last_updated").is_none_or(Value::is_null) {
        return Err(Error::InvalidField(
            "last_updated: a PATCH must carry last_updated".into(),
        ));
    }
    Ok(map)
}

fn check_patch_ids(
    patch: &serde_json::Map<String, Value>,
    ids: &[(&str, &str)],
) -> Result<(), Error> {
    for (name, expected) in ids {
        match patch.get(*name) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.eq_ignore_ascii_case(expected) => {}
            Some(other) => {
                return Err(Error::InvalidField(format!(
                    "{name}: {other} differs from the path's {expected}"
                )));
            }
        }
    }
    Ok(())
}

/// Applies PATCH members to `current`: present, non-null members replace the stored ones.
fn merge<T: Serialize + DeserializeOwned>(
    current: &T,
    patch: &serde_json::Map<String, Value>,
) -> Result<T, Error> {
    let mut value = serde_json::to_value(current).map_err(|e| Error::Corrupt(e.to_string()))?;
    if let Value::Object(obj) = &mut value {
        for (k, v) in patch {
            if !v.is_null() {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
    let bytes = serde_json::to_vec(&value).map_err(|e| Error::Corrupt(e.to_string()))?;
    parse(&bytes)
}

/// The enclosing objects' `last_updated` becomes the latest of their own and their children's.
fn roll_up(loc: &mut Location) {
    for evse in &mut loc.evses {
        for c in &evse.connectors {
            if c.last_updated > evse.last_updated {
                evse.last_updated = c.last_updated;
            }
        }
        if evse.last_updated > loc.last_updated {
            loc.last_updated = evse.last_updated;
        }
    }
}

/// Clock rules (spec §12.2): refuse a time more than 60 s ahead; bring one up to 60 s ahead
/// back to now.
fn clock(t: &mut DateTime, now: &DateTime, what: &str) -> Result<(), Error> {
    let ahead = t.unix_millis() - now.unix_millis();
    if ahead > CLOCK_SKEW_MS {
        return Err(Error::InvalidField(format!("{what}: {t} is in the future")));
    }
    if ahead > 0 {
        *t = *now;
    }
    Ok(())
}

pub(crate) fn clock_location(loc: &mut Location, now: &DateTime) -> Result<(), Error> {
    clock(&mut loc.last_updated, now, "last_updated")?;
    for (i, e) in loc.evses.iter_mut().enumerate() {
        clock(
            &mut e.last_updated,
            now,
            &format!("evses[{i}].last_updated"),
        )?;
        for (j, c) in e.connectors.iter_mut().enumerate() {
            clock(
                &mut c.last_updated,
                now,
                &format!("evses[{i}].connectors[{j}].last_updated"),
            )?;
        }
    }
    Ok(())
}

/// Equal when only `last_updated` values differ.
pub(crate) fn same_location(a: &Location, b: &Location) -> bool {
    without_times(a) == without_times(b)
}

fn without_times(loc: &Location) -> Location {
    let epoch = DateTime::from_unix_seconds(0).unwrap_or_else(DateTime::now);
    let mut l = loc.clone();
    l.last_updated = epoch;
    for e in &mut l.evses {
        e.last_updated = epoch;
        for c in &mut e.connectors {
            c.last_updated = epoch;
        }
    }
    l
}

/// Sets the DateTime string at `slot` to `t` when `t` is later; returns the resulting time in
/// milliseconds.
fn raise_time(slot: &mut Value, t: &DateTime) -> Result<i64, Error> {
    let current: DateTime = slot
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::Corrupt("stored last_updated is not a DateTime".into()))?;
    if *t > current {
        *slot = Value::String(t.to_string());
        Ok(t.unix_millis())
    } else {
        Ok(current.unix_millis())
    }
}

/// The EVSEs whose status alone changed, when nothing else did.
fn status_only_changes<'a>(cur: &Location, new: &'a Location) -> Option<Vec<&'a Evse>> {
    if cur.evses.len() != new.evses.len() {
        return None;
    }
    let mut masked = new.clone();
    let mut changed = Vec::new();
    for (m, (c, n)) in masked
        .evses
        .iter_mut()
        .zip(cur.evses.iter().zip(&new.evses))
    {
        if m.uid != c.uid {
            return None;
        }
        if n.status != c.status {
            m.status = c.status;
            changed.push(n);
        }
    }
    (!changed.is_empty() && same_location(cur, &masked)).then_some(changed)
}

pub(crate) fn append_location_entries(
    tx: &mut Tx<'_>,
    current: Option<&Location>,
    new: &Location,
    now: &DateTime,
) -> Result<u64, Error> {
    let log = LogId::for_publish(new.publish);
    let mut appended = 0;
    if let Some(cur) = current {
        if cur.publish != new.publish {
            let data = EntryData::LocationRemoved(RecordRef {
                country_code: cur.country_code.clone(),
                party_id: cur.party_id.clone(),
                id: cur.id.clone(),
            });
            let bytes = entry_bytes(&LogEntry {
                recorded_at: *now,
                data,
            })?;
            tx.append(LogId::for_publish(cur.publish), &bytes)?;
            appended += 1;
        } else if let Some(evses) = status_only_changes(cur, new) {
            for evse in evses {
                let change = StatusChange {
                    country_code: new.country_code.clone(),
                    party_id: new.party_id.clone(),
                    location_id: new.id.clone(),
                    evse_uid: evse.uid.clone(),
                    status: evse.status,
                    event_time: evse.last_updated,
                };
                let bytes = entry_bytes(&LogEntry {
                    recorded_at: *now,
                    data: EntryData::EvseStatus(change),
                })?;
                tx.append(log, &bytes)?;
                appended += 1;
            }
            return Ok(appended);
        }
    }
    let bytes =
        LogEntry::location_bytes(new, *now).map_err(|e| Error::InvalidField(e.to_string()))?;
    tx.append(log, &checked_size(bytes)?)?;
    Ok(appended + 1)
}

pub(crate) fn store_location(
    tx: &mut Tx<'_>,
    party: &str,
    loc: &Location,
    pat: &[PublishTokenType],
    current: Option<&Location>,
) -> Result<(), Error> {
    // A status keeps its event time only within one log (§10.5): a Location entering the
    // public log (or the restricted one) starts from its EVSEs' `last_updated`, as a replay of
    // that log alone gives.
    let previous = match current {
        Some(c) if c.publish == loc.publish => tx.evses(party, loc.id.as_str())?,
        _ => Vec::new(),
    };
    let mut evses = Vec::with_capacity(loc.evses.len());
    for e in &loc.evses {
        let status = status_name(e.status);
        let kept = previous
            .iter()
            .find(|p| p.uid == e.uid.as_str() && p.status == status);
        evses.push(match kept {
            Some(p) => p.clone(),
            None => EvseRow {
                uid: e.uid.as_str().to_owned(),
                status,
                event_time_ms: e.last_updated.unix_millis(),
                event_time: e.last_updated.to_string(),
            },
        });
    }
    let body = encode(loc)?;
    let pat_bytes = if pat.is_empty() {
        None
    } else {
        Some(encode(&pat)?)
    };
    tx.put_location(&LocationWrite {
        party,
        id: loc.id.as_str(),
        publish: loc.publish,
        borough: loc.evfed.borough.as_ref().map(GssCode::as_str),
        last_updated_ms: loc.last_updated.unix_millis(),
        body: &body,
        publish_allowed_to: pat_bytes.as_deref(),
        evses: &evses,
    })?;
    Ok(())
}

fn status_name(s: ocpi::Status) -> String {
    s.as_str().to_owned()
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    Ok(ocpi::parse::<T>(body)?.value)
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt(e.to_string()))
}

pub(crate) fn decode_pat(bytes: Option<&[u8]>) -> Result<Vec<PublishTokenType>, Error> {
    bytes.map(decode).transpose().map(Option::unwrap_or_default)
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::Corrupt(e.to_string()))
}

fn entry_bytes(entry: &LogEntry) -> Result<Vec<u8>, Error> {
    let bytes = entry
        .to_bytes()
        .map_err(|e| Error::InvalidField(e.to_string()))?;
    checked_size(bytes)
}

/// Entry bytes no larger than a log entry may be.
fn checked_size(bytes: Vec<u8>) -> Result<Vec<u8>, Error> {
    if bytes.len() > evfed_spec::entry::MAX_ENTRY_BYTES {
        return Err(Error::TooLarge(
            "the record is larger than a log entry may be (256 KiB)".into(),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Hidden;

    const LOCATION: &[u8] =
        include_bytes!("../../../spec/testdata/ocpi/valid/location_park_royal_rapid_hub.json");

    fn setup() -> (tempfile::TempDir, Store, Policy, Party, LocationKey) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("evfed.db")).unwrap();
        let policy = Policy {
            kind: Kind::Cpo,
            area: None,
            parties: Vec::new(),
            areas: crate::domain::areas::NodeAreas::london(),
        };
        let party: Party = "GB*RHX".parse().unwrap();
        let key = LocationKey {
            party: party.clone(),
            id: "RHX-PARKROYAL".parse().unwrap(),
        };
        let now: DateTime = "2026-11-22T06:00:00Z".parse().unwrap();
        write_location(
            &store,
            &policy,
            &party,
            &key,
            &Part::Location,
            Method::Put,
            LOCATION,
            now,
        )
        .unwrap();
        (dir, store, policy, party, key)
    }

    fn everything() -> ListFilter {
        ListFilter {
            hidden: Hidden::All,
            ..ListFilter::default()
        }
    }

    fn read(store: &Store, key: &LocationKey) -> Value {
        let body = read_location(store, &Viewer::default(), key, &Part::Location)
            .unwrap()
            .unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    #[test]
    fn status_changes_are_read_at_once_and_folded_without_a_visible_change() {
        let (_dir, store, policy, party, key) = setup();
        let batch = br#"[{"country_code":"GB","party_id":"RHX","location_id":"RHX-PARKROYAL",
            "evse_uid":"RHX-PR-03","status":"CHARGING","event_time":"2026-11-22T05:00:00Z"}]"#;
        let now: DateTime = "2026-11-22T06:00:00Z".parse().unwrap();
        let result = post_status(&store, &policy, &party, batch, now).unwrap();
        assert_eq!(result.appended, 1);

        // Read at once: the EVSE and the location carry the change.
        let loc = read(&store, &key);
        assert_eq!(loc["evses"][2]["status"], "CHARGING");
        assert_eq!(loc["evses"][2]["last_updated"], "2026-11-22T05:00:00Z");
        assert_eq!(loc["last_updated"], "2026-11-22T05:00:00Z");
        let listed = list_locations(&store, &everything(), 0, 10).unwrap();
        assert_eq!(listed.items.len(), 1);
        assert_eq!(
            serde_json::from_slice::<Value>(&listed.items[0]).unwrap(),
            loc
        );

        // The time filters see the location's new last_updated.
        let at = "2026-11-22T05:00:00Z"
            .parse::<DateTime>()
            .unwrap()
            .unix_millis();
        let window = |from_ms, to_ms| {
            let filter = ListFilter {
                from_ms,
                to_ms,
                ..everything()
            };
            list_locations(&store, &filter, 0, 10).unwrap().total
        };
        assert_eq!(window(Some(at), None), 1);
        assert_eq!(window(Some(at + 1), None), 0);
        assert_eq!(window(None, Some(at)), 0);
        assert_eq!(window(None, Some(at + 1)), 1);

        // Folding rewrites the body once and changes nothing a reader sees.
        assert_eq!(fold_pending(&store, 10).unwrap(), 1);
        assert_eq!(fold_pending(&store, 10).unwrap(), 0);
        assert_eq!(read(&store, &key), loc);
        assert_eq!(window(Some(at), None), 1);
        assert_eq!(window(None, Some(at)), 0);

        // A later PATCH starts from the current status, not the stored body's old one.
        let batch = br#"[{"country_code":"GB","party_id":"RHX","location_id":"RHX-PARKROYAL",
            "evse_uid":"RHX-PR-01","status":"AVAILABLE","event_time":"2026-11-22T05:30:00Z"}]"#;
        post_status(&store, &policy, &party, batch, now).unwrap();
        let written = write_location(
            &store,
            &policy,
            &party,
            &key,
            &Part::Location,
            Method::Patch,
            br#"{"name":"Park Royal Rapid Hub (renamed)","last_updated":"2026-11-22T05:45:00Z"}"#,
            now,
        )
        .unwrap();
        assert_eq!(written.appended, 1);
        let loc = read(&store, &key);
        assert_eq!(loc["evses"][0]["status"], "AVAILABLE");
        assert_eq!(loc["evses"][2]["status"], "CHARGING");
        assert_eq!(
            fold_pending(&store, 10).unwrap(),
            0,
            "the PATCH wrote the body"
        );
    }
}
