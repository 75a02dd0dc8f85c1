//! How every evfed database is opened, the node's and the aggregator's alike: WAL with full
//! sync (an acknowledged write survives a crash), foreign keys enforced, a busy timeout instead
//! of instant `SQLITE_BUSY`, and numbered, forward-only migrations tracked in
//! `PRAGMA user_version`, each applied with its version bump in one transaction.
//!
//! Each store adds its own tuning (cache size, WAL checkpointing) after [`open_writer`].

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// How long a connection waits for another's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a database could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Written by a newer binary, by rules this one does not know: never written to.
    #[error(
        "the database has schema version {found}, newer than this binary supports ({supported})"
    )]
    TooNew { found: u32, supported: u32 },
}

/// The read-write connection of the database at `path` (`flags` say whether it may be
/// created), with the settings every evfed database has.
pub fn open_writer(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// A read-only connection to the database at `path`, already migrated by its writer. In WAL
/// mode it reads the last commit and never waits for a write transaction.
pub fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// The schema version stored in `conn`.
pub fn version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Runs the `migrations` that `conn` has not run yet; version N is the first N of them. A
/// database at a higher version than `migrations.len()` is refused untouched.
pub fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<(), MigrateError> {
    let supported = u32::try_from(migrations.len()).unwrap_or(u32::MAX);
    let found = version(conn)?;
    if found > supported {
        return Err(MigrateError::TooNew { found, supported });
    }
    for (done, sql) in (found..).zip(migrations.iter().skip(found as usize)) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", done + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: [&str; 2] = [
        "CREATE TABLE a (id INTEGER PRIMARY KEY) STRICT;",
        "CREATE TABLE b (a INTEGER NOT NULL REFERENCES a (id)) STRICT;",
    ];

    #[test]
    fn migrations_run_once_in_order_and_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        let mut conn = open_writer(&path, flags).unwrap();
        migrate(&mut conn, &STEPS[..1]).unwrap();
        assert_eq!(version(&conn).unwrap(), 1);
        migrate(&mut conn, &STEPS).unwrap();
        migrate(&mut conn, &STEPS).unwrap();
        assert_eq!(version(&conn).unwrap(), 2);
        // Foreign keys are enforced.
        assert!(conn.execute("INSERT INTO b (a) VALUES (7)", []).is_err());
        // A binary that knows one migration does not touch a database at version 2.
        match migrate(&mut conn, &STEPS[..1]) {
            Err(MigrateError::TooNew { found, supported }) => {
                assert_eq!((found, supported), (2, 1))
            }
            other => panic!("{other:?}"),
        }
        let reader = open_reader(&path).unwrap();
        assert_eq!(version(&reader).unwrap(), 2);
        assert!(
            reader.execute("INSERT INTO a (id) VALUES (1)", []).is_err(),
            "read-only"
        );
    }

    #[test]
    fn a_failing_migration_leaves_the_version_where_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        let mut conn = open_writer(&path, flags).unwrap();
        let broken = [STEPS[0], "CREATE TABLE a (x) STRICT;"];
        assert!(matches!(
            migrate(&mut conn, &broken),
            Err(MigrateError::Sqlite(_))
        ));
        assert_eq!(version(&conn).unwrap(), 1);
    }
}
