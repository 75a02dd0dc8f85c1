//! Each member's verified copies of locations and tariffs, written only by [`Store::apply`]
//! together with the cursor it advances, and read back to load the London view.

use std::sync::Arc;

use evfed_spec::checkpoint::EntryBatch;
use evfed_spec::merkle::Frontier;
use evfed_spec::ocpi::Location;
use evfed_spec::trust::Verified;
use rusqlite::{OptionalExtension, params};

use super::compliance::{self, StatusRecords};
use super::leaves::{self, LeafLog};
use super::{Store, StoreError, json};

/// One change to a member's copies, from a verified entry.
#[derive(Debug, Clone)]
pub enum CopyChange {
    PutLocation {
        party: String,
        id: String,
        /// The copy, and its stored bytes (`serde_json::to_vec` of it).
        location: Arc<Location>,
        body: Vec<u8>,
        /// The index of the member's log entry that last changed it.
        entry: Option<u64>,
    },
    RemoveLocation {
        party: String,
        id: String,
    },
    PutTariff {
        party: String,
        id: String,
        body: Vec<u8>,
    },
    RemoveTariff {
        party: String,
        id: String,
    },
}

/// A member's stored copy of a location: (origin, body, the entry that last changed it).
pub type StoredCopy = (String, Vec<u8>, Option<u64>);

/// A verified step of a member's harvest: the entries, their effect, and the new cursor.
#[derive(Debug)]
pub struct Step<'a> {
    pub batch: &'a Verified<EntryBatch>,
    pub frontier: &'a Frontier,
    pub checkpoint: &'a [u8],
    pub changes: &'a [CopyChange],
    /// What the EVSE statuses the batch records change in the compliance records.
    pub statuses: &'a StatusRecords<'a>,
    /// New pinned keys adopted from verified `key_rotation` entries (newest first).
    pub vkeys: Option<&'a [String]>,
}

impl Store {
    /// Applies one verified step of a member's log and advances its cursor, in one
    /// transaction: its copy changes, its status records, the leaf hashes of its entries, and
    /// the new frontier, checkpoint and (after a verified key rotation) pinned keys.
    pub fn apply(&self, origin: &str, step: &Step<'_>) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        for c in step.changes {
            match c {
                CopyChange::PutLocation {
                    party,
                    id,
                    body,
                    entry,
                    ..
                } => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO location_copy (origin, party, id, body, entry)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![
                        origin,
                        party,
                        id,
                        body,
                        entry.map(|e| e as i64)
                    ])?;
                }
                CopyChange::RemoveLocation { party, id } => {
                    tx.prepare_cached(
                        "DELETE FROM location_copy WHERE origin = ?1 AND party = ?2 AND id = ?3",
                    )?
                    .execute(params![origin, party, id])?;
                }
                CopyChange::PutTariff { party, id, body } => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO tariff_copy (origin, party, id, body)
                         VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![origin, party, id, body])?;
                }
                CopyChange::RemoveTariff { party, id } => {
                    tx.prepare_cached(
                        "DELETE FROM tariff_copy WHERE origin = ?1 AND party = ?2 AND id = ?3",
                    )?
                    .execute(params![origin, party, id])?;
                }
            }
        }
        compliance::write_statuses(&tx, origin, step.statuses)?;
        leaves::append(
            &tx,
            origin,
            LeafLog::Public,
            step.batch.start,
            &step.batch.entries,
        )?;
        let frontier: Vec<u8> = step.frontier.hashes().iter().flat_map(|h| h.0).collect();
        let end = step.batch.start + step.batch.entries.len() as u64;
        debug_assert_eq!(end, step.frontier.size());
        tx.prepare_cached(
            "UPDATE member SET size = ?2, frontier = ?3, checkpoint = ?4,
                    vkeys = COALESCE(?5, vkeys)
             WHERE origin = ?1",
        )?
        .execute(params![
            origin,
            end as i64,
            frontier,
            step.checkpoint,
            step.vkeys.map(json).transpose()?,
        ])?;
        tx.commit()?;
        Ok(())
    }

    /// Every member's copy of every location.
    pub fn location_copies(&self) -> Result<Vec<StoredCopy>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT origin, body, entry FROM location_copy")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get::<_, Option<i64>>(2)?.map(|e| e.max(0) as u64),
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One member's copy of one tariff.
    pub fn tariff_copy(
        &self,
        origin: &str,
        party: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.copy_body("tariff_copy", origin, party, id)
    }

    /// One member's copy of one location.
    pub fn location_copy(
        &self,
        origin: &str,
        party: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.copy_body("location_copy", origin, party, id)
    }

    fn copy_body(
        &self,
        table: &'static str,
        origin: &str,
        party: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.conn()?;
        Ok(conn
            .prepare_cached(&format!(
                "SELECT body FROM {table} WHERE origin = ?1 AND party = ?2 AND id = ?3"
            ))?
            .query_row(params![origin, party, id], |r| r.get(0))
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use evfed_spec::merkle;
    use evfed_spec::ocpi::Status;

    use super::*;
    use crate::store::fixtures::{member, store, verified};
    use crate::store::{EvseState, State};

    fn location(id: &str) -> (Arc<Location>, Vec<u8>) {
        let loc: Location = serde_json::from_value(serde_json::json!({
            "country_code": "GB", "party_id": "AAA", "id": id, "publish": true,
            "address": "1 High Street", "city": "London", "country": "GBR",
            "coordinates": {"latitude": "51.50000", "longitude": "-0.12000"},
            "time_zone": "Europe/London", "last_updated": "2026-11-01T00:00:00Z"
        }))
        .expect("a location");
        let body = serde_json::to_vec(&loc).unwrap();
        (Arc::new(loc), body)
    }

    fn put(id: &str, entry: u64) -> CopyChange {
        let (location, body) = location(id);
        CopyChange::PutLocation {
            party: "GB*AAA".into(),
            id: id.into(),
            location,
            body,
            entry: Some(entry),
        }
    }

    /// Two steps of a member's log: copies put, replaced and removed, the cursor advanced with
    /// the note, keys rotated only when the step says so, status records written, and the
    /// leaves kept so that every accepted prefix has its root.
    #[test]
    fn applied_steps_read_back_as_copies_and_cursor() {
        let (_dir, store) = store();
        let origin = "a.example";
        store.add_member(&member(origin)).unwrap();
        let all: Vec<Vec<u8>> = (0..5).map(|i| format!("entry {i}").into_bytes()).collect();
        let (batch, frontier, note) = verified(origin, &all[..3], 0);
        let state = EvseState {
            status: Status::Charging,
            since_ms: 1_000,
            rapid: false,
            hours: None,
        };
        let statuses = StatusRecords {
            states: vec![(("GB*AAA", "L1", "E1"), state.clone())],
            ..Default::default()
        };
        let changes = [
            put("L1", 0),
            put("L2", 1),
            CopyChange::PutTariff {
                party: "GB*AAA".into(),
                id: "T1".into(),
                body: b"{\"id\":\"T1\"}".to_vec(),
            },
        ];
        store
            .apply(
                origin,
                &Step {
                    batch: &batch,
                    frontier: &frontier,
                    checkpoint: &note,
                    changes: &changes,
                    statuses: &statuses,
                    vkeys: None,
                },
            )
            .unwrap();
        let m = store.member(origin).unwrap();
        assert_eq!(m.verified_size, 3);
        assert_eq!(m.frontier.root(), merkle::root_of_entries(&all[..3]));
        assert_eq!(m.checkpoint.as_deref(), Some(note.as_slice()));
        assert_eq!(m.vkeys, member(origin).vkeys, "no rotation, no new keys");
        assert_eq!(
            store
                .evse_states(origin, &[("GB*AAA", "L1", "E1"), ("GB*AAA", "L1", "E2")])
                .unwrap(),
            [Some(state), None]
        );
        assert_eq!(
            store
                .tariff_copy(origin, "GB*AAA", "T1")
                .unwrap()
                .as_deref(),
            Some(&b"{\"id\":\"T1\"}"[..])
        );

        let (batch, frontier, note) = verified(origin, &all, 3);
        let rotated = vec!["rotated-key".to_owned()];
        let changes = [
            put("L1", 4),
            CopyChange::RemoveLocation {
                party: "GB*AAA".into(),
                id: "L2".into(),
            },
            CopyChange::RemoveTariff {
                party: "GB*AAA".into(),
                id: "T1".into(),
            },
        ];
        store
            .apply(
                origin,
                &Step {
                    batch: &batch,
                    frontier: &frontier,
                    checkpoint: &note,
                    changes: &changes,
                    statuses: &StatusRecords::default(),
                    vkeys: Some(&rotated),
                },
            )
            .unwrap();
        let copies = store.location_copies().unwrap();
        assert_eq!(copies.len(), 1, "L2 was removed");
        let (o, body, entry) = &copies[0];
        assert_eq!((o.as_str(), *entry), (origin, Some(4)));
        assert_eq!(body, &location("L1").1);
        assert_eq!(store.location_copy(origin, "GB*AAA", "L2").unwrap(), None);
        assert_eq!(
            store.location_copy("b.example", "GB*AAA", "L1").unwrap(),
            None
        );
        assert_eq!(store.tariff_copy(origin, "GB*AAA", "T1").unwrap(), None);
        let m = store.member(origin).unwrap();
        assert_eq!((m.verified_size, m.vkeys), (5, rotated));
        for size in 0..=5 {
            assert_eq!(
                store
                    .prefix_root(origin, LeafLog::Public, size as u64)
                    .unwrap(),
                Some(merkle::root_of_entries(&all[..size])),
                "prefix {size}"
            );
        }
        assert_eq!(
            store.member(origin).unwrap().state,
            State::New,
            "apply moves no state"
        );
    }

    /// A location copy whose stored bytes are not JSON is still handed back as stored: the
    /// store returns bytes, and what they mean is the view's business.
    #[test]
    fn copies_are_returned_as_stored_bytes() {
        let (_dir, store) = store();
        store
            .conn()
            .unwrap()
            .execute(
                "INSERT INTO location_copy (origin, party, id, body) VALUES ('o', 'p', 'i', x'00ff')",
                [],
            )
            .unwrap();
        assert_eq!(
            store.location_copies().unwrap(),
            [("o".to_owned(), vec![0x00, 0xff], None)]
        );
    }
}
