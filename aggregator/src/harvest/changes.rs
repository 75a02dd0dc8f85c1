//! What a verified batch means for the aggregator: the changes to a member's copies, the EVSE
//! statuses it records, key rotations adopted, sessions of the restricted log placed in their
//! location's borough and ward, and the entries refused (§6.3), with why.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use evfed_spec::checkpoint::EntryBatch;
use evfed_spec::entry::{EntryData, LogEntry, Parsed};
use evfed_spec::ids::{LocationId, Party};
use evfed_spec::note::VerifierKey;
use evfed_spec::ocpi::Location;
use evfed_spec::trust::Verified;
use evfed_spec::usage::StatusChange;

use super::{Failure, corrupt};
use crate::compliance::history::StatusEvent;
use crate::compliance::reliability;
use crate::london::London;
use crate::store::{CopyChange, Member, NewSession, SessionRow, Store};

/// The sessions of a verified batch of the restricted log, each placed in the borough and ward
/// the coordinates of the member's copy of its location lie in (public or, for an unpublished
/// location, none: then unplaced), and the entries refused.
pub(super) fn sessions_of(
    store: &Store,
    member: &Member,
    batch: &Verified<EntryBatch>,
) -> Result<(Vec<NewSession>, Vec<String>), Failure> {
    let mut sessions = Vec::new();
    let mut rejected = Vec::new();
    let mut places: std::collections::HashMap<(String, String), (String, String)> =
        std::collections::HashMap::new();
    for (i, bytes) in batch.entries.iter().enumerate() {
        let index = batch.start + i as u64;
        let entry = match LogEntry::parse(bytes) {
            Ok(Parsed::Known(e)) => e,
            Ok(Parsed::Opaque { .. }) => continue,
            Err(e) => {
                rejected.push(format!("restricted entry {index}: {e}"));
                continue;
            }
        };
        if let Some(party) = entry.data.party()
            && !member.may_publish(&party)
        {
            rejected.push(format!(
                "restricted entry {index}: the member may not publish for {party}"
            ));
            continue;
        }
        let EntryData::Session(u) = entry.data else {
            continue;
        };
        let party = u.party().to_string();
        let key = (party.clone(), u.location_id.as_str().to_owned());
        if !places.contains_key(&key) {
            let place = match store.location_copy(&member.origin, &key.0, &key.1)? {
                Some(body) => {
                    let loc: Location = serde_json::from_slice(&body).map_err(|e| corrupt(&e))?;
                    let placed = crate::domain::places::place(&loc);
                    (
                        placed.borough_key().to_owned(),
                        placed.ward_key().to_owned(),
                    )
                }
                None => (String::new(), String::new()),
            };
            places.insert(key.clone(), place);
        }
        let (borough, ward) = places.get(&key).cloned().unwrap_or_default();
        sessions.push(NewSession {
            party,
            id: u.id.as_str().to_owned(),
            location_id: key.1,
            evse_uid: u.evse_uid.as_str().to_owned(),
            row: SessionRow {
                borough,
                ward,
                start_ms: u.start_date_time.unix_millis(),
                end_ms: u.end_date_time.map(|t| t.unix_millis()),
                kwh: u.kwh,
            },
        });
    }
    Ok((sessions, rejected))
}

/// The effect of a verified batch on the member's copies, the entries refused (§6.3), and
/// whether a key rotation was adopted (`keys` is updated in place).
pub(super) fn changes_of(
    london: &London,
    member: &Member,
    batch: &Verified<EntryBatch>,
    keys: &mut Vec<VerifierKey>,
) -> Result<Changes, Failure> {
    let mut changes: Vec<CopyChange> = Vec::new();
    let mut rejected = Vec::new();
    let mut rotated = false;
    let mut events = Vec::with_capacity(batch.entries.len());
    // Locations touched in this batch, so status changes apply to the newest copy.
    let mut touched: HashMap<(Party, LocationId), Touched> = HashMap::new();
    for (i, bytes) in batch.entries.iter().enumerate() {
        let index = batch.start + i as u64;
        let entry = match LogEntry::parse(bytes) {
            Ok(Parsed::Known(e)) => e,
            Ok(Parsed::Opaque { .. }) => continue,
            Err(e) => {
                rejected.push(format!("entry {index}: {e}"));
                continue;
            }
        };
        let refuse =
            |party: &Party| format!("entry {index}: the member may not publish for {party}");
        // Status changes, most of a log, are taken apart without copying their ids.
        let data = match entry.data {
            EntryData::EvseStatus(s) => {
                let StatusChange {
                    country_code,
                    party_id,
                    location_id,
                    evse_uid,
                    status,
                    event_time,
                } = s;
                let party = Party::new(country_code, party_id);
                if !member.may_publish(&party) {
                    rejected.push(refuse(&party));
                    continue;
                }
                let slot = match touched.entry((party, location_id)) {
                    Entry::Occupied(o) => o.into_mut(),
                    Entry::Vacant(v) => {
                        // The London view holds every copy the store does, as last applied.
                        let (party, id) = v.key();
                        let key = (party.to_string(), id.as_str().to_owned());
                        let copy = london.copy_of(&member.origin, &key);
                        v.insert(Touched::new(
                            key,
                            copy.map(|l| Box::new(Location::clone(&l))),
                        ))
                    }
                };
                let Some(loc) = &mut slot.location else {
                    rejected.push(format!(
                        "entry {index}: status for a location not in the log"
                    ));
                    continue;
                };
                let Some(evse) = loc.evses.iter_mut().find(|e| e.uid == evse_uid) else {
                    rejected.push(format!("entry {index}: status for an EVSE not in the log"));
                    continue;
                };
                events.push(StatusEvent {
                    party: Arc::clone(&slot.party),
                    location_id: Arc::clone(&slot.location_id),
                    evse_uid: evse_uid.into(),
                    status,
                    at_ms: event_time.unix_millis(),
                    rapid: reliability::is_rapid(evse),
                    hours: loc.opening_times.clone(),
                    live: true,
                });
                // §6.4: the status, and last_updated raised to event_time when later.
                slot.entry = Some(index);
                evse.status = status;
                evse.last_updated = evse.last_updated.max(event_time);
                loc.last_updated = loc.last_updated.max(event_time);
                continue;
            }
            other => other,
        };
        if let Some(party) = data.party()
            && !member.may_publish(&party)
        {
            rejected.push(refuse(&party));
            continue;
        }
        match data {
            EntryData::Location(loc) => {
                let key = (loc.party(), loc.id.clone());
                let mut slot =
                    Touched::new((key.0.to_string(), key.1.as_str().to_owned()), Some(loc));
                slot.entry = Some(index);
                if let Some(loc) = &slot.location {
                    for evse in &loc.evses {
                        events.push(StatusEvent {
                            party: Arc::clone(&slot.party),
                            location_id: Arc::clone(&slot.location_id),
                            evse_uid: evse.uid.as_str().to_owned(),
                            status: evse.status,
                            at_ms: evse.last_updated.unix_millis(),
                            rapid: reliability::is_rapid(evse),
                            hours: loc.opening_times.clone(),
                            live: false,
                        });
                    }
                }
                touched.insert(key, slot);
            }
            EntryData::LocationRemoved(r) => {
                let key = (r.party(), r.id);
                let names = (key.0.to_string(), key.1.as_str().to_owned());
                touched.insert(key, Touched::new(names, None));
            }
            // Taken apart above.
            EntryData::EvseStatus(_) => {}
            EntryData::Tariff(t) => changes.push(CopyChange::PutTariff {
                party: t.party().to_string(),
                id: t.id.as_str().to_owned(),
                body: serde_json::to_vec(&*t).map_err(|e| corrupt(&e))?,
            }),
            EntryData::TariffRemoved(r) => changes.push(CopyChange::RemoveTariff {
                party: r.party().to_string(),
                id: r.id.as_str().to_owned(),
            }),
            EntryData::Session(_) => {}
            EntryData::KeyRotation(k) => {
                // §3.3: adopt `vkey` only when `previous_vkey` is a key already trusted; this
                // entry is covered by a checkpoint that key verified.
                let previous: Option<VerifierKey> = k.previous_vkey.parse().ok();
                let trusted = previous.is_some_and(|p| {
                    keys.iter()
                        .any(|t| t.id() == p.id() && t.public_key() == p.public_key())
                });
                match k.vkey.parse::<VerifierKey>() {
                    Ok(new) if trusted && new.name() == member.origin => {
                        keys.insert(0, new);
                        rotated = true;
                    }
                    _ => rejected.push(format!(
                        "entry {index}: key_rotation from a key this aggregator does not trust"
                    )),
                }
            }
        }
    }
    for (_, slot) in touched {
        let (party, id) = (slot.party.to_string(), slot.location_id.to_string());
        changes.push(match slot.location {
            Some(loc) => CopyChange::PutLocation {
                party,
                id,
                body: serde_json::to_vec(&loc).map_err(|e| corrupt(&e))?,
                location: Arc::from(loc),
                entry: slot.entry,
            },
            None => CopyChange::RemoveLocation { party, id },
        });
    }
    Ok(Changes {
        copies: changes,
        rejected,
        rotated,
        events,
    })
}

/// A location a batch touched: its newest copy (`None`: removed) and its names, shared by the
/// status events it gives.
struct Touched {
    location: Option<Box<Location>>,
    party: Arc<str>,
    location_id: Arc<str>,
    /// The last entry that changed it (none yet: the copy as held before the batch).
    entry: Option<u64>,
}

impl Touched {
    fn new((party, id): (String, String), location: Option<Box<Location>>) -> Self {
        Touched {
            location,
            party: party.into(),
            location_id: id.into(),
            entry: None,
        }
    }
}

/// What a verified batch does to a member's copies.
pub(super) struct Changes {
    pub(super) copies: Vec<CopyChange>,
    /// Entries refused (§6.3), with why.
    pub(super) rejected: Vec<String>,
    /// Whether a key rotation was adopted (the keys were updated in place).
    pub(super) rotated: bool,
    /// EVSE statuses recorded, in log order.
    pub(super) events: Vec<StatusEvent>,
}

pub(super) fn parse_keys(vkeys: &[String]) -> Vec<VerifierKey> {
    vkeys.iter().filter_map(|k| k.parse().ok()).collect()
}

/// `keys` as verifier key strings: newly adopted ones first, then those pinned before.
pub(super) fn keys_as_strings(keys: &[VerifierKey], pinned: &[String]) -> Vec<String> {
    let mut out: Vec<String> = keys
        .iter()
        .map(ToString::to_string)
        .filter(|k| !pinned.contains(k))
        .collect();
    out.extend(pinned.iter().cloned());
    out
}
