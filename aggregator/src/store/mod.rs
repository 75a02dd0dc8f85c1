//! The aggregator's SQLite store (`DIR/aggregator.db`): members and their verified cursors,
//! evidence, each member's verified copy of every record it publishes, the leaf hashes of what
//! was accepted, sessions and their roll-ups, what the compliance indicators are computed
//! from, and OAuth clients. All of the aggregator's SQL is in this module; callers see typed
//! rows and [`StoreError`], never a connection.
//!
//! Contract: every method that writes does so in one transaction, so it either happens whole
//! or not at all, and is durable once it returns (WAL, `synchronous = FULL`). There is one
//! writer connection, behind a lock; statistics and compliance reads go through a read-only
//! connection of their own, which a harvest's write never blocks (it sees the last commit).
//! `StoreError::Corrupt` means the database holds what this binary would never have written
//! (or a schema newer than it knows); `NoMember` and `Duplicate` are the caller's mistakes.
//!
//! Architecture Invariant: [`Store::apply`] is the only function that writes records, and it
//! takes a `Verified` batch: nothing unverified reaches this store. Nothing here calls up into
//! the harvest, usage or compliance logic: it stores and returns rows.

mod areas;
mod clients;
mod compliance;
mod conformance;
mod copies;
mod evidence;
#[cfg(test)]
mod fixtures;
mod leaves;
mod members;
mod schema;
mod usage;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;
use serde::Serialize;

pub use areas::LocationMonth;
pub use compliance::{
    Availability, EvseHistory, EvseHistoryRow, EvseKey, EvseMonthAdd, EvseRecord, EvseState,
    StatusRecords, UsageCursorKey,
};
pub use conformance::ConformanceRun;
pub use copies::{CopyChange, Step, StoredCopy};
pub use evidence::Evidence;
pub use leaves::LeafLog;
pub use members::{HistoryEntry, Kind, Member, NewMember, Readmission, State, UsageCursor};
pub use usage::{
    Bucket, Cell, HOUR_MS, NewSession, ROLL_UPS, RollUpRead, RollUpRow, SessionRow, UsageStep,
    bucket_end, bucket_start, roll_up_cells,
};

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store lock was poisoned")]
    Poisoned,
    #[error("no member {0}")]
    NoMember(String),
    #[error("member {0} is already registered")]
    Duplicate(String),
}

/// The aggregator's store: one writer connection and one read-only connection.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    /// Read-only, for [`Store::read`].
    reader: Mutex<Connection>,
}

impl Store {
    /// Opens the database at `path`, creating it when missing and migrating it to this
    /// binary's schema; a newer schema is refused (`Corrupt`).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = schema::open_writer(path)?;
        let reader = schema::open_reader(path)?;
        Ok(Store {
            conn: Mutex::new(conn),
            reader: Mutex::new(reader),
        })
    }

    /// The writer connection.
    fn conn(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }

    /// Runs `f` on the read-only connection, which harvest writes do not block.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::Poisoned)?;
        Ok(f(&conn)?)
    }
}

fn json<T: Serialize + ?Sized>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A list of origins as a JSON array, for `origin IN (SELECT value FROM json_each(?))`.
fn origins_json(origins: &[String]) -> String {
    serde_json::json!(origins).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database written by a newer binary is refused rather than written by older rules;
    /// reopening a current one runs nothing again.
    #[test]
    fn a_newer_schema_is_refused_and_a_current_one_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        drop(Store::open(&path).unwrap());
        let store = Store::open(&path).unwrap();
        let version: i64 = store
            .read(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(version as usize, schema::VERSION);
        drop(store);
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", schema::VERSION as i64 + 1)
            .unwrap();
        drop(conn);
        match Store::open(&path) {
            Err(StoreError::Corrupt(why)) => assert!(why.contains("newer"), "{why}"),
            other => panic!("a newer schema was opened: {other:?}"),
        }
    }

    /// The reader connection cannot write, whatever a caller inside the store asks of it.
    #[test]
    fn the_reader_is_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.db")).unwrap();
        let err = store
            .read(|c| c.execute("DELETE FROM member", []))
            .unwrap_err();
        assert!(matches!(err, StoreError::Sqlite(_)), "{err:?}");
    }
}
