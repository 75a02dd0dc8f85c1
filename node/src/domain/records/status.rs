//! Status changes (spec §10.4): a batch from `POST /v1/status`, or an OCPI EVSE `PATCH` of
//! its status alone, updates only the EVSE's row in the status index, marks it pending and
//! appends one `evse_status` entry; every read splices pending statuses into the stored body
//! (`current_body`) and the checkpoint ticker folds them back in (`fold_pending`), which
//! changes nothing a reader sees.

use std::borrow::Cow;

use evfed_spec::api::BatchResult;
use evfed_spec::entry::{EntryData, LogEntry};
use evfed_spec::ids::Party;
use evfed_spec::ocpi::{Location, Status};
use evfed_spec::time::DateTime;
use evfed_spec::usage::StatusChange;

use super::{Error, Policy, check_batch, clock, decode, encode, entry_bytes, parse, status_name};
use crate::store::{EvseRow, LocationRow, LogId, StatusApplied, Store, Tx};

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
            let loc = current_location(&row)?;
            tx.fold_location(party, id, loc.last_updated.unix_millis(), &encode(&loc)?)?;
        }
        Ok(keys.len())
    })
}

/// A location's body as readers see it: the stored body with its pending EVSE statuses.
pub fn current_body(row: &LocationRow) -> Result<Cow<'_, [u8]>, Error> {
    if row.pending.is_empty() {
        return Ok(Cow::Borrowed(&row.body));
    }
    Ok(Cow::Owned(encode(&current_location(row)?)?))
}

/// A location as readers see it, typed: the stored body with its pending EVSE statuses
/// applied, without `publish_allowed_to` (which the row keeps apart).
pub fn current_location(row: &LocationRow) -> Result<Location, Error> {
    let mut loc: Location = decode(&row.body)?;
    apply_pending(&mut loc, &row.pending)?;
    Ok(loc)
}

/// Applies each pending status as an `evse_status` entry applies it (spec §6.2): the EVSE's
/// status, and its and the location's `last_updated` raised to the event time.
fn apply_pending(loc: &mut Location, pending: &[EvseRow]) -> Result<(), Error> {
    for p in pending {
        let at: DateTime = p
            .event_time
            .parse()
            .map_err(|_| Error::Corrupt(format!("stored event time {:?}", p.event_time)))?;
        let status = Status::ALL
            .into_iter()
            .find(|s| s.as_str() == p.status)
            .ok_or_else(|| Error::Corrupt(format!("stored status {:?}", p.status)))?;
        let evse = loc
            .evses
            .iter_mut()
            .find(|e| e.uid.as_str() == p.uid)
            .ok_or_else(|| Error::Corrupt(format!("EVSE {} is indexed but not stored", p.uid)))?;
        evse.status = status;
        evse.last_updated = evse.last_updated.max(at);
        loc.last_updated = loc.last_updated.max(at);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;
    use crate::domain::records::{
        LocationKey, Method, Part, Viewer, list_locations, read_location, write_location,
    };
    use crate::store::{Hidden, ListFilter};
    use serde_json::Value;

    const LOCATION: &[u8] =
        include_bytes!("../../../../spec/testdata/ocpi/valid/location_park_royal_rapid_hub.json");

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
