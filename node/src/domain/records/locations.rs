//! Locations: `PUT` and `PATCH` of a Location, EVSE or Connector (OCPI receiver semantics,
//! parent `last_updated` roll-up, clock rules, placement in the area set, the no-churn rule),
//! their reads as a viewer may see them, and the entries a location write makes (spec §6.2: a
//! status-only change is `evse_status` entries, a `publish` flip `location_removed` +
//! `location`).

use std::borrow::Cow;

use evfed_spec::entry::{EntryData, LogEntry, RecordRef};
use evfed_spec::ext::GssCode;
use evfed_spec::ids::Party;
use evfed_spec::ocpi::{Connector, Evse, Location, PublishTokenType};
use evfed_spec::time::DateTime;
use evfed_spec::usage::StatusChange;

use super::patch::{Child, check_patch_ids, merge, patch_object, roll_up, write_child};
use super::status::current_body;
use super::{
    Error, LocationKey, Method, Part, Policy, Viewer, Written, checked_size, clock, decode,
    decode_pat, encode, entry_bytes, parse, status_name,
};
use crate::store::{EvseRow, ListFilter, LocationWrite, LogId, Page, Store, Tx};

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
