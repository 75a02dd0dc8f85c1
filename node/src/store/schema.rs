//! Numbered, forward-only migrations tracked in `PRAGMA user_version`, each run in a
//! transaction. A database newer than this binary is refused.

use rusqlite::Connection;

use super::StoreError;
use super::sqlite::MigrateError;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: logs, tree, checkpoints and current state.
    r#"
    -- A rowid table, so entries of a few KiB stay on their leaf page: key = (log << 48) | index,
    -- log 0 public, 1 restricted; each log's entries are one contiguous key range.
    CREATE TABLE log_entry (
        key   INTEGER PRIMARY KEY,
        bytes BLOB    NOT NULL             -- exactly the canonical bytes hashed into the tree
    ) STRICT;

    -- Every complete subtree: level 0 are leaf hashes; (level, idx) covers leaves
    -- [idx * 2^level, (idx + 1) * 2^level).
    CREATE TABLE tree_node (
        log   INTEGER NOT NULL,
        level INTEGER NOT NULL,
        idx   INTEGER NOT NULL,
        hash  BLOB    NOT NULL,
        PRIMARY KEY (log, level, idx)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE checkpoint (
        log       INTEGER NOT NULL,
        tree_size INTEGER NOT NULL,
        time      INTEGER NOT NULL,
        note      BLOB    NOT NULL,        -- the signed note exactly as served
        PRIMARY KEY (log, tree_size)
    ) STRICT;

    -- Rowid tables for records: bodies of a few KiB stay on their leaf page, and the key order
    -- lists use comes from the indexes.
    CREATE TABLE location (
        party              TEXT    NOT NULL,   -- CC*PID
        id                 TEXT    NOT NULL,
        publish            INTEGER NOT NULL,
        borough            TEXT,
        last_updated_ms    INTEGER NOT NULL,
        body               BLOB    NOT NULL,   -- JSON as served, without publish_allowed_to
        publish_allowed_to BLOB,               -- JSON array; restricted, never logged
        UNIQUE (party, id)
    ) STRICT;
    CREATE INDEX location_published ON location (publish, party, id);
    CREATE INDEX location_borough ON location (borough, party, id);
    CREATE INDEX location_by_id ON location (id);

    CREATE TABLE evse (
        party         TEXT    NOT NULL,
        location_id   TEXT    NOT NULL,
        uid           TEXT    NOT NULL,
        status        TEXT    NOT NULL,
        event_time_ms INTEGER NOT NULL,
        event_time    TEXT    NOT NULL,
        publish       INTEGER NOT NULL,
        PRIMARY KEY (party, location_id, uid),
        FOREIGN KEY (party, location_id) REFERENCES location (party, id) ON DELETE CASCADE
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE tariff (
        party           TEXT    NOT NULL,
        id              TEXT    NOT NULL,
        last_updated_ms INTEGER NOT NULL,
        body            BLOB    NOT NULL,
        UNIQUE (party, id)
    ) STRICT;

    CREATE TABLE session (
        party    TEXT    NOT NULL,
        id       TEXT    NOT NULL,
        start_ms INTEGER NOT NULL,
        body     BLOB    NOT NULL,
        UNIQUE (party, id)
    ) STRICT;
    "#,
    // 2: status changes kept in the EVSE index alone. `pending` = 1: this EVSE's status and
    // `last_updated` changed after its location's body was last written, so readers take them
    // from this row (see domain::records::current_body) until the body is rewritten.
    r#"
    ALTER TABLE evse ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
    "#,
    // 3: where each OCPI pull source stands (store/pull.rs).
    r#"
    CREATE TABLE pull_cursor (
        source         TEXT    NOT NULL,   -- the URL the pull starts from, as configured
        module         TEXT    NOT NULL,   -- locations, tariffs, sessions, cdrs
        date_from      TEXT,               -- OCPI DateTime: start of the last complete pull
        pending_since  TEXT,               -- start of an unfinished pull, if any
        pending_offset INTEGER NOT NULL,   -- objects that unfinished pull has read
        updated_ms     INTEGER NOT NULL,
        PRIMARY KEY (source, module)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 4: the OCPI receiver (store/ocpi.rs): registered credentials, tokens as SHA-256 hashes
    // only; and what the receiver keeps of pushed sessions and CDRs, which is the allow-listed
    // usage record (never a personal field) and the OCPI state needed to merge a PATCH.
    r#"
    CREATE TABLE ocpi_credential (
        party              TEXT    NOT NULL PRIMARY KEY,  -- CC*PID the credential writes for
        pending_hash       BLOB    UNIQUE,   -- SHA-256 of registration token A, until used
        pending_expires_ms INTEGER,          -- when token A stops working
        token_hash         BLOB    UNIQUE,   -- SHA-256 of token C, issued by the node
        client_token_hash  BLOB,             -- SHA-256 of the client's token B
        client_url         TEXT,             -- the client's OCPI versions URL
        client_roles       TEXT,             -- the client's credentials roles (JSON)
        created_ms         INTEGER NOT NULL,
        registered_ms      INTEGER,          -- last completed handshake (POST or PUT)
        updated_ms         INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE ocpi_session (
        party      TEXT    NOT NULL,
        id         TEXT    NOT NULL,
        status     TEXT    NOT NULL,        -- OCPI SessionStatus as last pushed
        currency   TEXT,
        usage      BLOB    NOT NULL,        -- the usage record (JSON), logged or not
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (party, id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE ocpi_cdr (
        party        TEXT    NOT NULL,
        id           TEXT    NOT NULL,      -- the CDR's id
        session_id   TEXT    NOT NULL,      -- the id of the usage record it gave
        credit       INTEGER NOT NULL,
        last_updated TEXT    NOT NULL,
        usage        BLOB    NOT NULL,      -- the usage record (JSON) it gave
        received_ms  INTEGER NOT NULL,
        PRIMARY KEY (party, id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX ocpi_cdr_session ON ocpi_cdr (party, session_id);
    "#,
];

/// The schema version this binary writes.
pub const VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings `conn` up to [`VERSION`], one transaction per migration.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    super::sqlite::migrate(conn, MIGRATIONS).map_err(|e| match e {
        MigrateError::Sqlite(e) => StoreError::Sqlite(e),
        MigrateError::TooNew { found, supported } => StoreError::TooNew { found, supported },
    })
}

/// The version stored in `conn`.
pub fn version(conn: &Connection) -> Result<u32, StoreError> {
    Ok(super::sqlite::version(conn)?)
}
