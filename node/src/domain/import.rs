//! Many whole Locations in one call, each accepted or rejected on its own: the write behind
//! `evfed-node import` and `POST /v1/admin/locations`.
//!
//! Each item is a `PUT` of a whole Location through the one PUT rule,
//! [`put_location`](super::records::put_location): the node's party list, clock rules,
//! borough placement, the no-churn rule and the entries of spec §6.2. Items
//! share one store transaction (one durable commit per batch instead of one per location) and
//! each runs in its own savepoint, so a rejected item leaves nothing behind while the others
//! land.
//!
//! Architecture Invariant: an item's state change and its log entries are written in the same
//! savepoint; a rejected item writes nothing; the batch is durable when this returns `Ok`.

use evfed_spec::api::{ItemOutcome, ItemResult};
use evfed_spec::ocpi::Location;
use evfed_spec::problem::ProblemCode;
use evfed_spec::time::DateTime;

use super::Error;
use super::records::{self, MAX_BATCH, Policy, current_location, decode_pat};
use crate::store::{Store, Tx};

/// Whether to keep what a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOptions {
    /// Run every check and report what would happen, then roll everything back.
    pub dry_run: bool,
}

/// Writes `items` in order (an `Err` item is reported as rejected without touching the store)
/// and returns one result per item. Fails as a whole only when the store fails, and then
/// nothing of the batch is written.
pub fn put_locations(
    store: &Store,
    policy: &Policy,
    items: Vec<Result<Location, Error>>,
    now: DateTime,
    opts: BatchOptions,
) -> Result<Vec<ItemResult>, Error> {
    if items.len() > MAX_BATCH {
        return Err(Error::TooLarge(format!(
            "a batch holds at most {MAX_BATCH} items; this one has {}",
            items.len()
        )));
    }
    store.write(|tx| {
        if !opts.dry_run {
            return put_all(tx, policy, items, &now);
        }
        // A rehearsal: do everything inside one savepoint, then undo it.
        match tx.savepoint(|tx| match put_all(tx, policy, items, &now) {
            Ok(results) => Err(Rehearsal::Done(results)),
            Err(e) => Err(Rehearsal::Failed(e)),
        }) {
            Ok(never) => Ok(never),
            Err(Rehearsal::Done(results)) => Ok(results),
            Err(Rehearsal::Failed(e)) => Err(e),
        }
    })
}

/// Places every stored Location again (§4.4) and writes those whose authority, ward or
/// `outside_area` changed, as a `PUT` of the same Location would (appending its entries), so a
/// log written before the node derived wards, or under another area set, gains them. Keeps
/// each Location's `publish_allowed_to`. Returns how many Locations changed.
pub fn place_stored(store: &Store, policy: &Policy, now: DateTime) -> Result<u64, Error> {
    let keys = store.read(|r| {
        let mut keys = r.location_keys(true)?;
        keys.extend(r.location_keys(false)?);
        Ok::<_, Error>(keys)
    })?;
    let mut changed = 0;
    for chunk in keys.chunks(MAX_BATCH) {
        changed += store.write(|tx| {
            let mut n = 0;
            for (party, id) in chunk {
                let Some(row) = tx.location(party, id)? else {
                    continue;
                };
                let mut loc = current_location(&row)?;
                let mut placed = loc.clone();
                policy.place(&mut placed);
                if placed.evfed == loc.evfed {
                    continue;
                }
                loc.publish_allowed_to = decode_pat(row.publish_allowed_to.as_deref())?;
                // A Location the rules of today refuse stays as it was.
                if let Ok(r) = tx.savepoint(|tx| put_one(tx, policy, loc, &now))
                    && r.appended > 0
                {
                    n += 1;
                }
            }
            Ok::<_, Error>(n)
        })?;
    }
    Ok(changed)
}

/// The problem code an error would get as the answer to its own request (the same mapping as
/// the HTTP layer's `ApiError`); `None` for failures that are not the item's fault.
pub fn rejection_code(e: &Error) -> Option<ProblemCode> {
    match e {
        Error::InvalidJson(_) => Some(ProblemCode::InvalidJson),
        Error::InvalidField(_) => Some(ProblemCode::InvalidField),
        Error::NotFound(_) => Some(ProblemCode::NotFound),
        Error::PartyMismatch(_) => Some(ProblemCode::PartyMismatch),
        Error::Conflict(_) => Some(ProblemCode::Conflict),
        Error::TooLarge(_) => Some(ProblemCode::PayloadTooLarge),
        Error::Corrupt(_) | Error::Store(_) => None,
    }
}

/// Carries a rehearsal's results out of the savepoint that undoes it.
enum Rehearsal {
    Done(Vec<ItemResult>),
    Failed(Error),
}

impl From<crate::store::StoreError> for Rehearsal {
    fn from(e: crate::store::StoreError) -> Self {
        Rehearsal::Failed(Error::Store(e))
    }
}

fn put_all(
    tx: &mut Tx<'_>,
    policy: &Policy,
    items: Vec<Result<Location, Error>>,
    now: &DateTime,
) -> Result<Vec<ItemResult>, Error> {
    let mut results = Vec::with_capacity(items.len());
    for item in items {
        let outcome = item.and_then(|loc| tx.savepoint(|tx| put_one(tx, policy, loc, now)));
        results.push(match outcome {
            Ok(r) => r,
            Err(e) => match rejection_code(&e) {
                Some(code) => ItemResult::rejected(code, e.to_string()),
                None => return Err(e),
            },
        });
    }
    Ok(results)
}

/// One whole-Location `PUT` through the one PUT rule, [`records::put_location`], for
/// whichever party owns the record (only the node's list of parties applies).
fn put_one(
    tx: &mut Tx<'_>,
    policy: &Policy,
    loc: Location,
    now: &DateTime,
) -> Result<ItemResult, Error> {
    let owner = loc.party();
    let put = records::put_location(tx, policy, &owner, loc, now)?;
    Ok(ItemResult {
        outcome: match (put.created, put.appended) {
            (true, _) => ItemOutcome::Created,
            (false, 0) => ItemOutcome::Unchanged,
            (false, _) => ItemOutcome::Updated,
        },
        appended: put.appended,
        code: None,
        detail: None,
    })
}

#[cfg(test)]
mod tests {
    use evfed_spec::ids::Party;

    use super::*;
    use crate::config::Kind;
    use crate::store::LogId;

    fn policy() -> Policy {
        Policy {
            kind: Kind::Cpo,
            area: None,
            parties: vec!["GB*ABC".parse().unwrap()],
            areas: crate::domain::areas::NodeAreas::london(),
        }
    }

    fn location(id: &str, party: &str, address: &str) -> Location {
        let p: Party = party.parse().unwrap();
        let json = serde_json::json!({
            "country_code": p.country_code.as_str(),
            "party_id": p.party_id.as_str(),
            "id": id,
            "publish": true,
            "address": address,
            "city": "London",
            "country": "GBR",
            "coordinates": {"latitude": "51.500000", "longitude": "-0.130000"},
            "time_zone": "Europe/London",
            "last_updated": "2024-01-01T00:00:00Z",
            "evses": [{
                "uid": format!("{id}-1"),
                "status": "AVAILABLE",
                "last_updated": "2024-01-01T00:00:00Z",
                "connectors": [{
                    "id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                    "power_type": "AC_1_PHASE", "max_voltage": 230, "max_amperage": 32,
                    "last_updated": "2024-01-01T00:00:00Z"
                }]
            }]
        });
        serde_json::from_value(json).unwrap()
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("t.db")).unwrap();
        (dir, store)
    }

    fn outcomes(r: &[ItemResult]) -> Vec<ItemOutcome> {
        r.iter().map(|i| i.outcome).collect()
    }

    #[test]
    fn each_item_lands_or_not_on_its_own_and_a_repeat_appends_nothing() {
        let (_dir, store) = store();
        let now = DateTime::now();
        let mut future = location("L3", "GB*ABC", "3 High St");
        future.last_updated = DateTime::from_unix_millis(now.unix_millis() + 3_600_000).unwrap();
        let items = || {
            vec![
                Ok(location("L1", "GB*ABC", "1 High St")),
                Ok(location("L2", "GB*XYZ", "2 High St")),
                Ok(future.clone()),
                Err(Error::InvalidField("address: too long".into())),
                Ok(location("L4", "GB*ABC", "4 High St")),
            ]
        };
        let first =
            put_locations(&store, &policy(), items(), now, BatchOptions::default()).unwrap();
        use ItemOutcome::*;
        assert_eq!(
            outcomes(&first),
            [Created, Rejected, Rejected, Rejected, Created]
        );
        assert_eq!(first[1].code, Some(ProblemCode::PartyMismatch));
        assert_eq!(first[2].code, Some(ProblemCode::InvalidField));
        assert!(first[2].detail.as_deref().unwrap().contains("future"));
        assert_eq!(store.size(LogId::Public), 2);
        let stored = store.read(|r| r.location("GB*ABC", "L1")).unwrap().unwrap();
        let loc: Location = serde_json::from_slice(&stored.body).unwrap();
        assert_eq!(loc.evfed.borough.unwrap().as_str(), "E09000033");
        assert!(
            store
                .read(|r| r.location("GB*ABC", "L3"))
                .unwrap()
                .is_none()
        );

        let again =
            put_locations(&store, &policy(), items(), now, BatchOptions::default()).unwrap();
        assert_eq!(
            outcomes(&again),
            [Unchanged, Rejected, Rejected, Rejected, Unchanged]
        );
        assert_eq!(store.size(LogId::Public), 2);

        let mut changed = location("L1", "GB*ABC", "1 Low St");
        changed.last_updated = now;
        let r = put_locations(
            &store,
            &policy(),
            vec![Ok(changed)],
            now,
            BatchOptions::default(),
        )
        .unwrap();
        assert_eq!((r[0].outcome, r[0].appended), (Updated, 1));
        assert_eq!(store.size(LogId::Public), 3);
    }

    #[test]
    fn a_dry_run_reports_and_writes_nothing() {
        let (_dir, store) = store();
        let now = DateTime::now();
        let items = vec![
            Ok(location("L1", "GB*ABC", "1 High St")),
            Ok(location("L1", "GB*ABC", "1 High St")),
        ];
        let r = put_locations(
            &store,
            &policy(),
            items,
            now,
            BatchOptions { dry_run: true },
        )
        .unwrap();
        assert_eq!(outcomes(&r), [ItemOutcome::Created, ItemOutcome::Unchanged]);
        assert_eq!(store.size(LogId::Public), 0);
        assert!(
            store
                .read(|r| r.location("GB*ABC", "L1"))
                .unwrap()
                .is_none()
        );
        // The heads in memory were not moved either: a real write still starts at 0.
        let r = put_locations(
            &store,
            &policy(),
            vec![Ok(location("L1", "GB*ABC", "1 High St"))],
            now,
            BatchOptions::default(),
        )
        .unwrap();
        assert_eq!(r[0].outcome, ItemOutcome::Created);
        assert_eq!(store.size(LogId::Public), 1);
    }

    #[test]
    fn batches_are_bounded() {
        let (_dir, store) = store();
        let items = (0..=MAX_BATCH)
            .map(|i| Ok(location(&format!("L{i}"), "GB*ABC", "x")))
            .collect();
        let r = put_locations(
            &store,
            &policy(),
            items,
            DateTime::now(),
            BatchOptions::default(),
        );
        assert!(matches!(r, Err(Error::TooLarge(_))));
    }
}
