//! The aggregator's SQLite store: members, their verified cursors, evidence, and each member's
//! verified copy of every record it publishes.
//!
//! Architecture Invariant: `apply` is the only function that writes records, and it takes a
//! `Verified` batch: nothing unverified reaches this store.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use evfed_spec::checkpoint::EntryBatch;
use evfed_spec::ext::GssCode;
use evfed_spec::ids::Party;
use evfed_spec::merkle::{Frontier, Hash};
use evfed_spec::ocpi::Location;
use evfed_spec::trust::Verified;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::usage::{Bucket, bucket_end, bucket_start};

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

const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE member (
        origin      TEXT    PRIMARY KEY,
        url         TEXT    NOT NULL,
        kind        TEXT    NOT NULL,            -- borough | cpo
        parties     TEXT    NOT NULL,            -- JSON array of CC*PID; [] = any party
        borough     TEXT,
        supplier    TEXT,
        usage_token TEXT,
        vkeys       TEXT    NOT NULL,            -- JSON array of pinned verifier keys, newest first
        state       TEXT    NOT NULL,            -- new | ok | unreachable | stale | invalid | forked
        reason      TEXT,
        size        INTEGER NOT NULL,            -- entries of the public log verified and applied
        frontier    BLOB    NOT NULL,            -- right edge of that tree: 32-byte hashes
        checkpoint  BLOB,                        -- the note that verified them, as received
        checked_ms  INTEGER,
        ok_ms       INTEGER
    ) STRICT;

    -- Why a member is not ok, with the signed notes that prove it, exactly as received.
    CREATE TABLE evidence (
        id         INTEGER PRIMARY KEY,
        origin     TEXT    NOT NULL,
        kind       TEXT    NOT NULL,
        detail     TEXT    NOT NULL,
        note       BLOB,
        other_note BLOB,
        at_ms      INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX evidence_by_origin ON evidence (origin, id);

    -- Each member's verified copy of each location (OCPI JSON with its evfed member).
    CREATE TABLE location_copy (
        origin TEXT NOT NULL,
        party  TEXT NOT NULL,
        id     TEXT NOT NULL,
        body   BLOB NOT NULL,
        PRIMARY KEY (origin, party, id)
    ) STRICT;

    CREATE TABLE tariff_copy (
        origin TEXT NOT NULL,
        party  TEXT NOT NULL,
        id     TEXT NOT NULL,
        body   BLOB NOT NULL,
        PRIMARY KEY (origin, party, id)
    ) STRICT;
"#,
    r#"
    -- What a member was before an administrator re-admitted it under a new key or origin
    -- (STANDARD.md §9.4): its keys and the last checkpoint it was verified to, as received.
    CREATE TABLE member_history (
        id         INTEGER PRIMARY KEY,
        origin     TEXT    NOT NULL,             -- the origin after re-admission
        old_origin TEXT    NOT NULL,
        old_vkeys  TEXT    NOT NULL,
        old_size   INTEGER NOT NULL,
        checkpoint BLOB,
        reason     TEXT    NOT NULL,
        at_ms      INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX member_history_by_origin ON member_history (origin, id);
"#,
    r#"
    -- The member's restricted log (usage), harvested with its usage:read token: its own cursor.
    ALTER TABLE member ADD COLUMN usage_state      TEXT;     -- NULL: never harvested
    ALTER TABLE member ADD COLUMN usage_reason     TEXT;
    ALTER TABLE member ADD COLUMN usage_size       INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE member ADD COLUMN usage_frontier   BLOB    NOT NULL DEFAULT x'';
    ALTER TABLE member ADD COLUMN usage_checkpoint BLOB;

    -- Charging sessions from verified `session` entries, without personal data (there is none
    -- in the log). The latest entry for a session wins (an ongoing session is completed later).
    CREATE TABLE session (
        origin      TEXT    NOT NULL,
        party       TEXT    NOT NULL,
        id          TEXT    NOT NULL,
        location_id TEXT    NOT NULL,
        evse_uid    TEXT    NOT NULL,
        borough     TEXT    NOT NULL,            -- '' when the location is not placed
        ward        TEXT    NOT NULL,            -- '' when the publishing node gives none
        start_ms    INTEGER NOT NULL,
        end_ms      INTEGER,                     -- NULL while ongoing
        kwh         REAL    NOT NULL,
        PRIMARY KEY (origin, party, id)
    ) STRICT;
    CREATE INDEX session_by_location ON session (party, location_id, start_ms);

    -- Sessions rolled up per hour, day and month (UTC) and area, so a range's statistics read
    -- a few thousand rows however many sessions are stored. `busy_ms` is EVSE-time in use
    -- within the period (a session spread over the periods it spans); `sessions` and `kwh`
    -- count in the period the session started.
    CREATE TABLE usage_hour (
        start_ms INTEGER NOT NULL,
        borough  TEXT    NOT NULL,
        ward     TEXT    NOT NULL,
        sessions INTEGER NOT NULL,
        kwh      REAL    NOT NULL,
        busy_ms  INTEGER NOT NULL,
        PRIMARY KEY (start_ms, borough, ward)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE usage_day (
        start_ms INTEGER NOT NULL,
        borough  TEXT    NOT NULL,
        ward     TEXT    NOT NULL,
        sessions INTEGER NOT NULL,
        kwh      REAL    NOT NULL,
        busy_ms  INTEGER NOT NULL,
        PRIMARY KEY (start_ms, borough, ward)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE usage_month (
        start_ms INTEGER NOT NULL,
        borough  TEXT    NOT NULL,
        ward     TEXT    NOT NULL,
        sessions INTEGER NOT NULL,
        kwh      REAL    NOT NULL,
        busy_ms  INTEGER NOT NULL,
        PRIMARY KEY (start_ms, borough, ward)
    ) STRICT, WITHOUT ROWID;
"#,
    r#"
    -- Harvest attempts and successes per member and UTC hour (feed availability).
    CREATE TABLE harvest_hour (
        origin   TEXT    NOT NULL,
        hour_ms  INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        ok       INTEGER NOT NULL,
        PRIMARY KEY (origin, hour_ms)
    ) STRICT, WITHOUT ROWID;

    -- Lag from a status change's event time to the checkpoint the aggregator first verified it
    -- under, as counts per bucket (compliance::LAG_BUCKETS_S), per member and UTC day.
    CREATE TABLE freshness_day (
        origin TEXT    NOT NULL,
        day_ms INTEGER NOT NULL,
        counts TEXT    NOT NULL,            -- JSON array of counts, one per bucket
        PRIMARY KEY (origin, day_ms)
    ) STRICT, WITHOUT ROWID;

    -- Each EVSE's latest verified status and since when (reliability).
    CREATE TABLE evse_state (
        origin      TEXT    NOT NULL,
        party       TEXT    NOT NULL,
        location_id TEXT    NOT NULL,
        evse_uid    TEXT    NOT NULL,
        status      TEXT    NOT NULL,
        since_ms    INTEGER NOT NULL,
        rapid       INTEGER NOT NULL,
        hours       TEXT,                   -- OCPI opening_times JSON; NULL: always open
        PRIMARY KEY (origin, party, location_id, evse_uid)
    ) STRICT, WITHOUT ROWID;

    -- Access time and failed time per EVSE and UTC month, from closed status spans.
    CREATE TABLE evse_month (
        origin      TEXT    NOT NULL,
        party       TEXT    NOT NULL,
        location_id TEXT    NOT NULL,
        evse_uid    TEXT    NOT NULL,
        month_ms    INTEGER NOT NULL,
        access_ms   INTEGER NOT NULL,
        failed_ms   INTEGER NOT NULL,
        PRIMARY KEY (origin, party, location_id, evse_uid, month_ms)
    ) STRICT, WITHOUT ROWID;

    -- Conformance suite runs against members.
    CREATE TABLE conformance_run (
        id     INTEGER PRIMARY KEY,
        origin TEXT    NOT NULL,
        at_ms  INTEGER NOT NULL,
        passed INTEGER NOT NULL,            -- 1 when every required case passed
        report BLOB    NOT NULL             -- the suite's JSON report
    ) STRICT;
    CREATE INDEX conformance_by_origin ON conformance_run (origin, at_ms);
"#,
    r#"
    -- Roll-ups at three levels (0 London, 1 borough with ward '', 2 ward), so a London-wide or
    -- per-borough range reads one row per period and area instead of one per ward.
    CREATE TABLE usage_hour_levels (
        level    INTEGER NOT NULL,
        start_ms INTEGER NOT NULL,
        borough  TEXT    NOT NULL,
        ward     TEXT    NOT NULL,
        sessions INTEGER NOT NULL,
        kwh      REAL    NOT NULL,
        busy_ms  INTEGER NOT NULL,
        PRIMARY KEY (level, start_ms, borough, ward)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO usage_hour_levels
        SELECT 2, start_ms, borough, ward, sessions, kwh, busy_ms FROM usage_hour;
    INSERT INTO usage_hour_levels
        SELECT 1, start_ms, borough, '', SUM(sessions), SUM(kwh), SUM(busy_ms) FROM usage_hour
        GROUP BY start_ms, borough;
    INSERT INTO usage_hour_levels
        SELECT 0, start_ms, '', '', SUM(sessions), SUM(kwh), SUM(busy_ms) FROM usage_hour
        GROUP BY start_ms;
    DROP TABLE usage_hour;
    ALTER TABLE usage_hour_levels RENAME TO usage_hour;
    CREATE INDEX usage_hour_by_borough ON usage_hour (level, borough, start_ms);
    CREATE TABLE usage_day_levels (
        level    INTEGER NOT NULL,
        start_ms INTEGER NOT NULL,
        borough  TEXT    NOT NULL,
        ward     TEXT    NOT NULL,
        sessions INTEGER NOT NULL,
        kwh      REAL    NOT NULL,
        busy_ms  INTEGER NOT NULL,
        PRIMARY KEY (level, start_ms, borough, ward)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO usage_day_levels
        SELECT 2, start_ms, borough, ward, sessions, kwh, busy_ms FROM usage_day;
    INSERT INTO usage_day_levels
        SELECT 1, start_ms, borough, '', SUM(sessions), SUM(kwh), SUM(busy_ms) FROM usage_day
        GROUP BY start_ms, borough;
    INSERT INTO usage_day_levels
        SELECT 0, start_ms, '', '', SUM(sessions), SUM(kwh), SUM(busy_ms) FROM usage_day
        GROUP BY start_ms;
    DROP TABLE usage_day;
    ALTER TABLE usage_day_levels RENAME TO usage_day;
    CREATE INDEX usage_day_by_borough ON usage_day (level, borough, start_ms);
    CREATE TABLE usage_month_levels (
        level    INTEGER NOT NULL,
        start_ms INTEGER NOT NULL,
        borough  TEXT    NOT NULL,
        ward     TEXT    NOT NULL,
        sessions INTEGER NOT NULL,
        kwh      REAL    NOT NULL,
        busy_ms  INTEGER NOT NULL,
        PRIMARY KEY (level, start_ms, borough, ward)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO usage_month_levels
        SELECT 2, start_ms, borough, ward, sessions, kwh, busy_ms FROM usage_month;
    INSERT INTO usage_month_levels
        SELECT 1, start_ms, borough, '', SUM(sessions), SUM(kwh), SUM(busy_ms) FROM usage_month
        GROUP BY start_ms, borough;
    INSERT INTO usage_month_levels
        SELECT 0, start_ms, '', '', SUM(sessions), SUM(kwh), SUM(busy_ms) FROM usage_month
        GROUP BY start_ms;
    DROP TABLE usage_month;
    ALTER TABLE usage_month_levels RENAME TO usage_month;
    CREATE INDEX usage_month_by_borough ON usage_month (level, borough, start_ms);
"#,
    // OAuth 2.0 clients of the aggregator's authorization server (crate::oauth).
    r#"
    CREATE TABLE oauth_client (
        id            TEXT    PRIMARY KEY,
        scopes        TEXT    NOT NULL,
        party         TEXT,
        audiences     TEXT    NOT NULL,
        secret_sha256 BLOB,
        ed25519       BLOB,
        created_ms    INTEGER NOT NULL,
        CHECK ((secret_sha256 IS NULL) <> (ed25519 IS NULL))
    ) STRICT;
"#,
    r#"
    -- The member's log entry that last changed each copy (its inclusion proof is the copy's).
    ALTER TABLE location_copy ADD COLUMN entry INTEGER;
"#,
    r#"
    -- A finding seen again (a member kept stale or invalid round after round) updates its row
    -- instead of adding one: `at_ms` is when it was first seen.
    ALTER TABLE evidence ADD COLUMN last_seen_ms INTEGER;          -- NULL: seen once, at at_ms
    ALTER TABLE evidence ADD COLUMN seen_count INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX evidence_by_kind ON evidence (origin, kind, id);

    -- The leaf hashes of each member log's verified entries, in aligned blocks of 1024
    -- (store::leaves), so the root of any prefix of what was accepted can be recomputed: a member
    -- that later signs a smaller tree is judged against it (honestly older, or a fork).
    CREATE TABLE member_leaves (
        origin TEXT    NOT NULL,
        log    INTEGER NOT NULL,                 -- 0 public, 1 restricted
        block  INTEGER NOT NULL,                 -- leaves [block·LEAF_BLOCK, …)
        hashes BLOB    NOT NULL,                 -- 32-byte leaf hashes, in log order
        root   BLOB,                             -- MTH of the block once it is full
        PRIMARY KEY (origin, log, block)
    ) STRICT, WITHOUT ROWID;
"#,
];

/// A member kind.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    serde::Deserialize,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Borough,
    Cpo,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Borough => "borough",
            Kind::Cpo => "cpo",
        }
    }
}

/// A member's harvest state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Registered, never harvested.
    New,
    Ok,
    Unreachable,
    /// Answers, but with an older checkpoint than the one accepted.
    Stale,
    /// Bad signature, unknown key, altered entries, garbage.
    Invalid,
    /// Two validly signed, inconsistent checkpoints: no further entries until an admin acts.
    Forked,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Ok => "ok",
            State::Unreachable => "unreachable",
            State::Stale => "stale",
            State::Invalid => "invalid",
            State::Forked => "forked",
        }
    }
    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "new" => State::New,
            "ok" => State::Ok,
            "unreachable" => State::Unreachable,
            "stale" => State::Stale,
            "invalid" => State::Invalid,
            "forked" => State::Forked,
            other => return Err(StoreError::Corrupt(format!("member state {other:?}"))),
        })
    }
}

/// A registered member and where its harvest stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub origin: String,
    pub url: String,
    pub kind: Kind,
    pub parties: Vec<Party>,
    pub borough: Option<GssCode>,
    pub supplier: Option<String>,
    #[serde(skip)]
    #[schema(ignore)]
    pub usage_token: Option<String>,
    pub vkeys: Vec<String>,
    pub state: State,
    pub reason: Option<String>,
    /// Entries of the member's public log verified and applied.
    pub verified_size: u64,
    #[serde(skip)]
    #[schema(ignore)]
    pub frontier: Frontier,
    #[serde(skip)]
    #[schema(ignore)]
    pub checkpoint: Option<Vec<u8>>,
    pub checked_ms: Option<i64>,
    pub ok_ms: Option<i64>,
    /// The harvest of the member's restricted (usage) log: `None` until it first ran.
    pub usage: Option<UsageCursor>,
}

/// Where the harvest of a member's restricted log stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UsageCursor {
    pub state: State,
    pub reason: Option<String>,
    pub verified_size: u64,
    #[serde(skip)]
    #[schema(ignore)]
    pub frontier: Frontier,
    #[serde(skip)]
    #[schema(ignore)]
    pub checkpoint: Option<Vec<u8>>,
}

impl Member {
    /// Whether the member may publish records of `party` ([] = any party).
    pub fn may_publish(&self, party: &Party) -> bool {
        self.parties.is_empty() || self.parties.contains(party)
    }
}

/// What to register.
#[derive(Debug, Clone)]
pub struct NewMember {
    pub origin: String,
    pub url: String,
    pub kind: Kind,
    pub parties: Vec<Party>,
    pub borough: Option<GssCode>,
    pub supplier: Option<String>,
    pub usage_token: Option<String>,
    pub vkeys: Vec<String>,
}

/// An administrator's re-admission of a member under new keys.
#[derive(Debug, Clone)]
pub struct Readmission {
    /// The member's new origin, when it changed.
    pub origin: Option<String>,
    pub url: Option<String>,
    /// The new pinned verifier keys.
    pub vkeys: Vec<String>,
    /// Why, in the administrator's words (kept in the history).
    pub reason: String,
}

/// One earlier identity of a member.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub old_origin: String,
    pub old_vkeys: Vec<String>,
    pub old_verified_size: u64,
    /// The last checkpoint verified under the old identity, as received.
    pub checkpoint: Option<String>,
    pub reason: String,
    pub at_ms: i64,
}

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
    /// EVSE statuses the batch records, in log order.
    pub events: &'a [StatusEvent],
    /// Time (Unix ms) of the checkpoint this batch was first verified under, when the harvest
    /// follows an earlier one (a first sync says nothing about freshness).
    pub checkpoint_ms: Option<i64>,
    /// New pinned keys adopted from verified `key_rotation` entries (newest first).
    pub vkeys: Option<&'a [String]>,
}

mod areas;
mod clients;
mod compliance;
mod evidence;
mod leaves;
pub use areas::LocationMonth;
pub use compliance::{Availability, EvseReliability, LAG_BUCKETS_S, StatusEvent};
pub use evidence::Evidence;
pub use leaves::LeafLog;

#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    /// Read-only, for [`Store::read`].
    reader: Mutex<Connection>,
}

impl Store {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // A harvest step writes thousands of sessions and their roll-ups in one transaction:
        // with SQLite's default 2 MB cache it re-read and spilled pages mid-transaction.
        conn.pragma_update(None, "cache_size", -65_536)?;
        let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let current = current as usize;
        if current > MIGRATIONS.len() {
            return Err(StoreError::Corrupt(format!(
                "database schema {current} is newer than this binary's {}",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
        }
        // Statistics read through their own connection, so they never wait for a harvest's
        // write transaction (WAL readers see the last commit).
        let reader = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(Store {
            conn: Mutex::new(conn),
            reader: Mutex::new(reader),
        })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }

    pub fn add_member(&self, m: &NewMember) -> Result<(), StoreError> {
        let conn = self.conn()?;
        let exists = conn
            .prepare_cached("SELECT 1 FROM member WHERE origin = ?1")?
            .exists([&m.origin])?;
        if exists {
            return Err(StoreError::Duplicate(m.origin.clone()));
        }
        conn.execute(
            "INSERT INTO member (origin, url, kind, parties, borough, supplier, usage_token, vkeys,
                                 state, size, frontier)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'new', 0, x'')",
            params![
                m.origin,
                m.url,
                m.kind.as_str(),
                json(&m.parties)?,
                m.borough.as_ref().map(GssCode::as_str),
                m.supplier,
                m.usage_token,
                json(&m.vkeys)?,
            ],
        )?;
        Ok(())
    }

    /// Removes a member and every copy it published.
    pub fn remove_member(&self, origin: &str) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let n = tx.execute("DELETE FROM member WHERE origin = ?1", [origin])?;
        if n == 0 {
            return Err(StoreError::NoMember(origin.into()));
        }
        tx.execute("DELETE FROM location_copy WHERE origin = ?1", [origin])?;
        tx.execute("DELETE FROM tariff_copy WHERE origin = ?1", [origin])?;
        tx.execute("DELETE FROM member_leaves WHERE origin = ?1", [origin])?;
        tx.commit()?;
        Ok(())
    }

    /// Re-admits a member that moved to a new key (and possibly origin and URL) after a
    /// disaster, in one transaction: what it was is kept in `member_history` and as evidence,
    /// its copies are dropped, and its harvest starts again from an empty log under the new
    /// keys. Only an administrator calls this; the harvest never does.
    pub fn readmit(&self, origin: &str, r: &Readmission, now_ms: i64) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let old: Option<(String, i64, Option<Vec<u8>>)> = tx
            .query_row(
                "SELECT vkeys, size, checkpoint FROM member WHERE origin = ?1",
                [origin],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        let Some((old_vkeys, old_size, checkpoint)) = old else {
            return Err(StoreError::NoMember(origin.into()));
        };
        let new_origin = r.origin.as_deref().unwrap_or(origin);
        if new_origin != origin
            && tx
                .prepare_cached("SELECT 1 FROM member WHERE origin = ?1")?
                .exists([new_origin])?
        {
            return Err(StoreError::Duplicate(new_origin.into()));
        }
        tx.execute(
            "INSERT INTO member_history (origin, old_origin, old_vkeys, old_size, checkpoint,
                                         reason, at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                new_origin, origin, old_vkeys, old_size, checkpoint, r.reason, now_ms
            ],
        )?;
        tx.execute(
            "INSERT INTO evidence (origin, kind, detail, note, at_ms)
             VALUES (?1, 'readmitted', ?2, ?3, ?4)",
            params![
                origin,
                format!(
                    "re-admitted by an administrator as {new_origin} with new keys after \
                     {old_size} verified entries under {old_vkeys}: {}",
                    r.reason
                ),
                checkpoint,
                now_ms
            ],
        )?;
        tx.execute("DELETE FROM location_copy WHERE origin = ?1", [origin])?;
        tx.execute("DELETE FROM tariff_copy WHERE origin = ?1", [origin])?;
        // The harvest starts again from an empty log, and so do its leaves.
        tx.execute("DELETE FROM member_leaves WHERE origin = ?1", [origin])?;
        tx.execute(
            "UPDATE evidence SET origin = ?2 WHERE origin = ?1",
            [origin, new_origin],
        )?;
        tx.execute(
            "UPDATE member SET origin = ?2, url = COALESCE(?3, url), vkeys = ?4, state = 'new',
                    reason = NULL, size = 0, frontier = x'', checkpoint = NULL,
                    usage_state = NULL, usage_reason = NULL, usage_size = 0,
                    usage_frontier = x'', usage_checkpoint = NULL
             WHERE origin = ?1",
            params![origin, new_origin, r.url, json(&r.vkeys)?],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A member's earlier identities, newest first.
    pub fn history(&self, origin: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT old_origin, old_vkeys, old_size, checkpoint, reason, at_ms
             FROM member_history WHERE origin = ?1 ORDER BY id DESC",
        )?;
        let rows = stmt.query_map([origin], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<Vec<u8>>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (old_origin, vkeys, size, checkpoint, reason, at_ms) = row?;
            out.push(HistoryEntry {
                old_origin,
                old_vkeys: serde_json::from_str(&vkeys)
                    .map_err(|_| StoreError::Corrupt(format!("history of {origin}: vkeys")))?,
                old_verified_size: size as u64,
                checkpoint: checkpoint.map(|b| String::from_utf8_lossy(&b).into_owned()),
                reason,
                at_ms,
            });
        }
        Ok(out)
    }

    pub fn members(&self) -> Result<Vec<Member>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT origin, url, kind, parties, borough, supplier, usage_token, vkeys, state,
                    reason, size, frontier, checkpoint, checked_ms, ok_ms,
                    usage_state, usage_reason, usage_size, usage_frontier, usage_checkpoint
             FROM member ORDER BY origin",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                (
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ),
                (
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, String>(8)?,
                    r.get::<_, Option<String>>(9)?,
                ),
                (
                    r.get::<_, i64>(10)?,
                    r.get::<_, Vec<u8>>(11)?,
                    r.get::<_, Option<Vec<u8>>>(12)?,
                    r.get::<_, Option<i64>>(13)?,
                    r.get::<_, Option<i64>>(14)?,
                ),
                (
                    r.get::<_, Option<String>>(15)?,
                    r.get::<_, Option<String>>(16)?,
                    r.get::<_, i64>(17)?,
                    r.get::<_, Vec<u8>>(18)?,
                    r.get::<_, Option<Vec<u8>>>(19)?,
                ),
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (
                (origin, url, kind, parties, borough),
                (supplier, usage_token, vkeys, state, reason),
                (size, frontier, checkpoint, checked_ms, ok_ms),
                (u_state, u_reason, u_size, u_frontier, u_checkpoint),
            ) = row?;
            let size = size as u64;
            let corrupt = |what: &str| StoreError::Corrupt(format!("member {origin}: {what}"));
            let frontier_of = |size: u64, bytes: &[u8]| {
                let hashes = bytes
                    .chunks(32)
                    .map(Hash::from_slice)
                    .collect::<Option<Vec<_>>>()?;
                Frontier::from_parts(size, hashes)
            };
            let usage = match u_state {
                None => None,
                Some(state) => Some(UsageCursor {
                    state: State::parse(&state)?,
                    reason: u_reason,
                    verified_size: u_size as u64,
                    frontier: frontier_of(u_size as u64, &u_frontier)
                        .ok_or_else(|| corrupt("usage frontier"))?,
                    checkpoint: u_checkpoint,
                }),
            };
            out.push(Member {
                kind: match kind.as_str() {
                    "borough" => Kind::Borough,
                    "cpo" => Kind::Cpo,
                    _ => return Err(corrupt("kind")),
                },
                parties: serde_json::from_str(&parties).map_err(|_| corrupt("parties"))?,
                borough: borough
                    .map(|b| b.parse())
                    .transpose()
                    .map_err(|_| corrupt("borough"))?,
                supplier,
                usage_token,
                vkeys: serde_json::from_str(&vkeys).map_err(|_| corrupt("vkeys"))?,
                state: State::parse(&state)?,
                reason,
                verified_size: size,
                frontier: frontier_of(size, &frontier).ok_or_else(|| corrupt("frontier"))?,
                checkpoint,
                checked_ms,
                ok_ms,
                usage,
                url,
                origin,
            });
        }
        Ok(out)
    }

    pub fn member(&self, origin: &str) -> Result<Member, StoreError> {
        self.members()?
            .into_iter()
            .find(|m| m.origin == origin)
            .ok_or_else(|| StoreError::NoMember(origin.into()))
    }

    /// Records a harvest outcome that applied nothing.
    pub fn set_state(
        &self,
        origin: &str,
        state: State,
        reason: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        tx.prepare_cached(
            "UPDATE member SET state = ?2, reason = ?3, checked_ms = ?4,
                    ok_ms = CASE WHEN ?2 = 'ok' THEN ?4 ELSE ok_ms END
             WHERE origin = ?1",
        )?
        .execute(params![origin, state.as_str(), reason, now_ms])?;
        compliance::count_harvest(&tx, origin, now_ms, state == State::Ok)?;
        tx.commit()?;
        Ok(())
    }

    /// Applies one verified step of a member's log and advances its cursor, in one
    /// transaction.
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
        compliance::apply_events(&tx, origin, step.events, step.checkpoint_ms)?;
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

    /// Records the outcome of a usage harvest that applied nothing more.
    pub fn set_usage_state(
        &self,
        origin: &str,
        state: State,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let conn = self.conn()?;
        conn.prepare_cached(
            "UPDATE member SET usage_state = ?2, usage_reason = ?3 WHERE origin = ?1",
        )?
        .execute(params![origin, state.as_str(), reason])?;
        Ok(())
    }

    /// Applies one verified step of a member's restricted log: its sessions (each replacing
    /// any earlier version of itself, the hourly roll-up adjusted by the difference) and the
    /// advanced usage cursor, in one transaction.
    pub fn apply_usage(&self, origin: &str, step: &UsageStep<'_>) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        // Roll-up changes are summed over the whole step and each row written once: a night's
        // session touches some fifty rows, and neighbouring sessions share most of them.
        let mut cells = RollUps::default();
        for s in step.sessions {
            let old: Option<SessionRow> = tx
                .prepare_cached(
                    "SELECT borough, ward, start_ms, end_ms, kwh FROM session
                     WHERE origin = ?1 AND party = ?2 AND id = ?3",
                )?
                .query_row(params![origin, s.party, s.id], |r| {
                    Ok(SessionRow {
                        borough: r.get(0)?,
                        ward: r.get(1)?,
                        start_ms: r.get(2)?,
                        end_ms: r.get(3)?,
                        kwh: r.get(4)?,
                    })
                })
                .optional()?;
            if let Some(old) = &old {
                cells.add(old, -1);
            }
            cells.add(&s.row, 1);
            tx.prepare_cached(
                "INSERT OR REPLACE INTO session (origin, party, id, location_id, evse_uid, borough,
                                                 ward, start_ms, end_ms, kwh)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                origin,
                s.party,
                s.id,
                s.location_id,
                s.evse_uid,
                s.row.borough,
                s.row.ward,
                s.row.start_ms,
                s.row.end_ms,
                s.row.kwh
            ])?;
        }
        cells.write(&tx)?;
        leaves::append(
            &tx,
            origin,
            LeafLog::Restricted,
            step.batch.start,
            &step.batch.entries,
        )?;
        let frontier: Vec<u8> = step.frontier.hashes().iter().flat_map(|h| h.0).collect();
        tx.prepare_cached(
            "UPDATE member SET usage_size = ?2, usage_frontier = ?3, usage_checkpoint = ?4,
                    usage_state = 'ok', usage_reason = NULL
             WHERE origin = ?1",
        )?
        .execute(params![
            origin,
            step.frontier.size() as i64,
            frontier,
            step.checkpoint
        ])?;
        tx.commit()?;
        Ok(())
    }

    /// Runs `f` on a read-only connection of its own (usage statistics), which harvest writes
    /// do not block.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::Poisoned)?;
        Ok(f(&conn)?)
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

/// One session's figures, as stored and rolled up.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub borough: String,
    pub ward: String,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub kwh: f64,
}

/// A session from a verified `session` entry, placed in its location's borough and ward.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub party: String,
    pub id: String,
    pub location_id: String,
    pub evse_uid: String,
    pub row: SessionRow,
}

/// A verified step of a member's restricted log.
#[derive(Debug)]
pub struct UsageStep<'a> {
    pub batch: &'a Verified<EntryBatch>,
    pub frontier: &'a Frontier,
    pub checkpoint: &'a [u8],
    pub sessions: &'a [NewSession],
}

pub const HOUR_MS: i64 = 3_600_000;

/// Adds (`sign` 1) or takes away (`sign` -1) a session's share of each period it spans, in
/// the hourly, daily and monthly roll-ups ([`roll_up_cells`]).
/// A roll-up row: table, level, period start, borough, ward.
type RollUpRow = (&'static str, i64, i64, String, String);

/// Roll-up changes summed by row: sessions, kWh, busy ms.
#[derive(Debug, Default)]
struct RollUps(HashMap<RollUpRow, (i64, f64, i64)>);

impl RollUps {
    fn add(&mut self, s: &SessionRow, sign: i64) {
        for (table, cells) in roll_up_cells(s, sign) {
            for c in cells {
                let e = self
                    .0
                    .entry((
                        table,
                        c.level,
                        c.start_ms,
                        c.borough.to_owned(),
                        c.ward.to_owned(),
                    ))
                    .or_insert((0, 0.0, 0));
                e.0 += c.sessions;
                e.1 += c.kwh;
                e.2 += c.busy_ms;
            }
        }
    }

    fn write(self, tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
        for ((table, level, start, borough, ward), (sessions, kwh, busy)) in self.0 {
            if sessions == 0 && kwh == 0.0 && busy == 0 {
                continue;
            }
            tx.prepare_cached(&format!(
                "INSERT INTO {table} (level, start_ms, borough, ward, sessions, kwh, busy_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (level, start_ms, borough, ward) DO UPDATE SET
                     sessions = sessions + excluded.sessions,
                     kwh = kwh + excluded.kwh,
                     busy_ms = busy_ms + excluded.busy_ms"
            ))?
            .execute(params![level, start, borough, ward, sessions, kwh, busy])?;
        }
        Ok(())
    }
}

/// One roll-up row's share of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell<'a> {
    /// 0 London, 1 borough, 2 ward.
    pub level: i64,
    pub start_ms: i64,
    pub borough: &'a str,
    pub ward: &'a str,
    pub sessions: i64,
    pub kwh: f64,
    pub busy_ms: i64,
}

/// What a session (times `sign`: 1 to add, -1 to take away) adds to each roll-up table: its
/// count and kWh in the period it started, its EVSE-time in every period it spans, at each of
/// the three levels. An open session counts its start only (it is completed later); at most
/// 31 days of one session are spread (longer is a data error, capped).
pub fn roll_up_cells(s: &SessionRow, sign: i64) -> Vec<(&'static str, Vec<Cell<'_>>)> {
    let end = s
        .end_ms
        .unwrap_or(s.start_ms)
        .clamp(s.start_ms, s.start_ms + 31 * 24 * HOUR_MS);
    let areas = [
        (0, "", ""),
        (1, s.borough.as_str(), ""),
        (2, s.borough.as_str(), s.ward.as_str()),
    ];
    ROLL_UPS
        .iter()
        .map(|&(table, bucket)| {
            let mut cells = Vec::new();
            let first = bucket_start(s.start_ms, bucket);
            let mut period = first;
            loop {
                let next = bucket_end(period, bucket);
                let busy = end.min(next) - s.start_ms.max(period);
                let (sessions, kwh) = if period == first {
                    (sign, s.kwh * sign as f64)
                } else {
                    (0, 0.0)
                };
                if period == first || busy > 0 {
                    for (level, borough, ward) in areas {
                        cells.push(Cell {
                            level,
                            start_ms: period,
                            borough,
                            ward,
                            sessions,
                            kwh,
                            busy_ms: busy.max(0) * sign,
                        });
                    }
                }
                if next >= end || next <= period {
                    break;
                }
                period = next;
            }
            (table, cells)
        })
        .collect()
}

/// The roll-up tables and the period each holds.
pub const ROLL_UPS: [(&str, Bucket); 3] = [
    ("usage_hour", Bucket::Hour),
    ("usage_day", Bucket::Day),
    ("usage_month", Bucket::Month),
];

fn json<T: Serialize + ?Sized>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}
