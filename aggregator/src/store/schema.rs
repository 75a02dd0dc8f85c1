//! The store's schema: numbered, forward-only migrations tracked in `PRAGMA user_version`, each
//! run in its own transaction, and the connections [`Store::open`](super::Store::open) makes.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use evfed_node::embed::sqlite::{self, MigrateError};

use super::StoreError;

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

/// Opens (creating when missing) the writer connection of the database at `path` with the
/// settings of every evfed database (`evfed_node::store::sqlite`), and brings its schema up to
/// date. A database whose schema is newer than this binary's is refused (`Corrupt`): it would
/// be written by rules this binary does not know.
pub(super) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
    let mut conn = sqlite::open_writer(path, flags)?;
    // A harvest step writes thousands of sessions and their roll-ups in one transaction:
    // with SQLite's default 2 MB cache it re-read and spilled pages mid-transaction.
    conn.pragma_update(None, "cache_size", -65_536)?;
    sqlite::migrate(&mut conn, MIGRATIONS).map_err(|e| match e {
        MigrateError::Sqlite(e) => StoreError::Sqlite(e),
        e @ MigrateError::TooNew { .. } => {
            StoreError::Corrupt(format!("{e}: upgrade evfed-aggregator"))
        }
    })?;
    Ok(conn)
}

/// A read-only connection to the database at `path` (already migrated by the writer), for
/// reads that must never wait for a harvest's write transaction: WAL readers see the last
/// commit.
pub(super) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    Ok(sqlite::open_reader(path)?)
}

/// The schema version this binary writes.
#[cfg(test)]
pub(super) const VERSION: usize = MIGRATIONS.len();
