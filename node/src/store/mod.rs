//! The node's SQLite store: current state, both logs as their exact entry bytes, every complete
//! subtree hash, and every signed checkpoint.
//!
//! Contract:
//! - **One writer.** [`Store::write`] runs a closure in one `IMMEDIATE` transaction on the single
//!   writer connection. Everything the closure did commits together, or (on `Err`) nothing does.
//!   When `write` returns `Ok` the transaction is durable (WAL, `synchronous = FULL`).
//! - **Group commit.** [`Store::write_grouped`] gives the same promise for its closure, which
//!   may share one transaction (and one commit) with other callers' closures, each in a
//!   savepoint of its own.
//! - **Readers** use their own read-only connections and see the last committed state.
//! - The log heads (size, root) kept in memory always equal the committed tree.
//!
//! The store is split by concern: `log` (entries, subtree hashes, checkpoints), `group`
//! (group commit, savepoints), `records` and `lists` (current state by key and by page, with
//! the row types of `rows`), `ocpi` and `pull` (the receiver's credentials and pushed sessions,
//! pull cursors), `schema` (migrations), `backup` and `verify` (copies and whole-log reads).
//!
//! Architecture Invariant: SQL appears only in this module (rusqlite is known nowhere else in
//! the node).

mod backup;
#[cfg(test)]
mod damage;
mod group;
mod lists;
mod log;
mod ocpi;
mod pull;
mod records;
mod rows;
mod schema;
pub mod sqlite;
mod verify;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use evfed_spec::merkle::{Frontier, Hash};
use rusqlite::{Connection, OpenFlags};

use self::log::load_frontier;
pub(crate) use self::log::{MAX_INDEX, key_range};
pub use backup::backup;
use group::Queue;
pub use ocpi::{CredentialRow, Handshake, OcpiCdrRow, OcpiSessionRow};
pub use pull::PullCursor;
pub use rows::{
    EvseRow, Hidden, ListFilter, LocationRow, LocationWrite, Page, RecordCounts, StatusApplied,
    StatusRow,
};
#[cfg(test)]
use schema::VERSION as SCHEMA_VERSION;
pub use verify::{StoredCheckpoint, inspect};

/// Which of a node's two logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogId {
    Public = 0,
    Restricted = 1,
}

impl LogId {
    pub const BOTH: [LogId; 2] = [LogId::Public, LogId::Restricted];

    /// The log holding a location's entries.
    pub fn for_publish(publish: bool) -> Self {
        if publish {
            LogId::Public
        } else {
            LogId::Restricted
        }
    }
}

/// A store failure. Constraint violations never happen for valid callers; every variant other
/// than `TooNew`/`NotEvfed`/`Exists` is an internal error to the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "the database has schema version {found}, newer than this evfed-node supports ({supported}); \
         upgrade evfed-node"
    )]
    TooNew { found: u32, supported: u32 },
    #[error("{0} is not an evfed-node database")]
    NotEvfed(String),
    /// A backup's destination exists: backups never overwrite a file.
    #[error("{0} already exists; backups never overwrite a file, so choose a new name")]
    Exists(String),
    /// A file operation around the database (a backup's copy, its rename).
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the tree is missing a hash at level {level}, index {index}: the database is damaged")]
    MissingHash { level: u32, index: u64 },
    #[error("the store lock was poisoned by a panic")]
    Poisoned,
    /// The transaction a grouped write shared with others did not commit.
    #[error("commit failed: {0}")]
    Commit(String),
}

/// The SQLite store of one node.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    writer: Mutex<Writer>,
    readers: Mutex<Readers>,
    reader_freed: Condvar,
    /// Copies the WAL into the database off the request path (see [`Store::checkpoint_wal`]).
    wal: Mutex<Connection>,
    public_size: AtomicU64,
    restricted_size: AtomicU64,
    /// Woken when a commit grows either log, so the checkpoint signer signs at once.
    grown: tokio::sync::Notify,
    /// Grouped writes waiting for the writer (see [`Store::write_grouped`]).
    queue: Mutex<Queue>,
}

/// At most [`MAX_READERS`] read connections; a request waits for a free one rather than
/// opening more (each holds its own page cache).
#[derive(Debug, Default)]
struct Readers {
    idle: Vec<Connection>,
    open: usize,
}

/// Read connections per store.
pub const MAX_READERS: usize = 4;

#[derive(Debug)]
struct Writer {
    conn: Connection,
    heads: [Frontier; 2],
}

/// The writer's open transaction, handed to [`Store::write`] closures.
#[derive(Debug)]
pub struct Tx<'a> {
    tx: rusqlite::Transaction<'a>,
    heads: [Frontier; 2],
}

/// A read-only connection, handed to [`Store::read`] closures.
#[derive(Debug)]
pub struct Reader<'a> {
    conn: &'a Connection,
}

/// One log's tree as stored, for proofs.
#[derive(Debug)]
pub struct StoredTree<'a> {
    conn: &'a Connection,
    log: LogId,
}

impl Store {
    /// Creates a new database at `path` (which must not exist) with the current schema.
    pub fn create(path: &Path) -> Result<Self, StoreError> {
        if path.exists() {
            return Err(StoreError::NotEvfed(format!(
                "{} already exists",
                path.display()
            )));
        }
        Self::open_inner(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )
    }

    /// Opens an existing database, applying pending migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if !path.exists() {
            return Err(StoreError::NotEvfed(format!(
                "{} does not exist; run `evfed-node init` first",
                path.display()
            )));
        }
        Self::open_inner(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
    }

    fn open_inner(path: &Path, flags: OpenFlags) -> Result<Self, StoreError> {
        let mut conn = sqlite::open_writer(path, flags)?;
        // The ticker's `checkpoint_wal` copies WAL pages into the database off the request path;
        // the writer's own checkpoint, at a larger threshold than SQLite's default, is what lets
        // the WAL restart under sustained writes, and the size limit returns the space.
        conn.pragma_update(None, "wal_autocheckpoint", 4000)?;
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        // Savepoint journals (see `Tx::savepoint`) stay in memory: a few pages per item,
        // which in a temporary file cost a write system call each.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        check_application(&conn, path)?;
        schema::migrate(&mut conn)?;
        let wal = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        wal.busy_timeout(sqlite::BUSY_TIMEOUT)?;
        let heads = [
            load_frontier(&conn, LogId::Public)?,
            load_frontier(&conn, LogId::Restricted)?,
        ];
        let store = Self {
            path: path.to_owned(),
            public_size: AtomicU64::new(heads[0].size()),
            restricted_size: AtomicU64::new(heads[1].size()),
            grown: tokio::sync::Notify::new(),
            queue: Mutex::new(Queue::default()),
            writer: Mutex::new(Writer { conn, heads }),
            readers: Mutex::new(Readers::default()),
            reader_freed: Condvar::new(),
            wal: Mutex::new(wal),
        };
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one write transaction; commits (durably) when it returns `Ok`, rolls back
    /// otherwise. Blocking: call it off the async executor.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut guard = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let writer = &mut *guard;
        let tx = writer
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let mut tx = Tx {
            tx,
            heads: writer.heads.clone(),
        };
        let value = f(&mut tx)?;
        let Tx { tx, heads } = tx;
        tx.commit().map_err(StoreError::from)?;
        self.committed(&mut writer.heads, heads);
        Ok(value)
    }

    /// Takes the log heads of a committed transaction and wakes the signer if a log grew.
    fn committed(&self, stored: &mut [Frontier; 2], heads: [Frontier; 2]) {
        *stored = heads;
        let (public, restricted) = (stored[0].size(), stored[1].size());
        let before_public = self.public_size.swap(public, Ordering::AcqRel);
        let before_restricted = self.restricted_size.swap(restricted, Ordering::AcqRel);
        if public != before_public || restricted != before_restricted {
            // One stored permit when no one waits: a wake-up is never lost.
            self.grown.notify_one();
        }
    }

    /// Notified after each commit that grew a log (see `commands::checkpoint_loop`).
    pub fn grown(&self) -> &tokio::sync::Notify {
        &self.grown
    }

    /// Runs `f` on a read-only connection. Blocking: call it off the async executor.
    pub fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Reader<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let conn = self.take_reader()?;
        // One read transaction, so every statement `f` runs sees the same snapshot.
        let result = match conn.execute_batch("BEGIN DEFERRED") {
            Ok(()) => f(&Reader { conn: &conn }),
            Err(e) => Err(StoreError::from(e).into()),
        };
        let ended = conn.is_autocommit() || conn.execute_batch("COMMIT").is_ok();
        if let Ok(mut pool) = self.readers.lock() {
            if ended {
                pool.idle.push(conn);
            } else {
                // A connection stuck in a transaction would pin an old snapshot: close it.
                pool.open -= 1;
            }
        }
        self.reader_freed.notify_one();
        result
    }

    fn take_reader(&self) -> Result<Connection, StoreError> {
        let mut pool = self.readers.lock().map_err(|_| StoreError::Poisoned)?;
        loop {
            if let Some(c) = pool.idle.pop() {
                return Ok(c);
            }
            if pool.open < MAX_READERS {
                pool.open += 1;
                drop(pool);
                let opened = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .and_then(|c| {
                    c.busy_timeout(std::time::Duration::from_secs(5))
                        .map(|()| c)
                });
                if opened.is_err()
                    && let Ok(mut pool) = self.readers.lock()
                {
                    pool.open -= 1;
                }
                return Ok(opened?);
            }
            pool = self
                .reader_freed
                .wait(pool)
                .map_err(|_| StoreError::Poisoned)?;
        }
    }

    /// Copies committed WAL pages into the database file (a passive checkpoint: it never waits
    /// for readers or the writer). Call it periodically; blocking.
    pub fn checkpoint_wal(&self) -> Result<(), StoreError> {
        let conn = self.wal.lock().map_err(|_| StoreError::Poisoned)?;
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// The committed size and root of `log`.
    pub fn head(&self, log: LogId) -> Result<(u64, Hash), StoreError> {
        let guard = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let f = &guard.heads[log as usize];
        Ok((f.size(), f.root()))
    }

    /// The committed size of the public log, without locking.
    pub fn public_size(&self) -> u64 {
        self.public_size.load(Ordering::Acquire)
    }

    /// The committed size of `log`, without locking.
    pub fn size(&self, log: LogId) -> u64 {
        match log {
            LogId::Public => self.public_size.load(Ordering::Acquire),
            LogId::Restricted => self.restricted_size.load(Ordering::Acquire),
        }
    }
}

/// The size and root of each log in the database at `path`, read without changing it.
pub fn heads_of(path: &Path) -> Result<[(u64, Hash); 2], StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    check_application(&conn, path)?;
    let found = schema::version(&conn)?;
    if found > schema::VERSION {
        return Err(StoreError::TooNew {
            found,
            supported: schema::VERSION,
        });
    }
    if found == 0 {
        return Err(StoreError::NotEvfed(path.display().to_string()));
    }
    let p = load_frontier(&conn, LogId::Public)?;
    let r = load_frontier(&conn, LogId::Restricted)?;
    Ok([(p.size(), p.root()), (r.size(), r.root())])
}

/// `PRAGMA application_id` marks evfed-node databases ("evfd").
const APPLICATION_ID: i32 = 0x6576_6664;

fn check_application(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let version = schema::version(conn)?;
    match (id, version) {
        (APPLICATION_ID, _) => Ok(()),
        (0, 0) if !conn.is_readonly(rusqlite::MAIN_DB)? => {
            conn.pragma_update(None, "application_id", APPLICATION_ID)?;
            Ok(())
        }
        _ => Err(StoreError::NotEvfed(path.display().to_string())),
    }
}

fn get_u64(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    let v: i64 = row.get(i)?;
    u64::try_from(v).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Integer, Box::new(e))
    })
}

#[cfg(test)]
mod tests {
    use evfed_spec::merkle::MemoryTree;

    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("t.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn a_failed_write_changes_nothing() {
        let (_dir, store) = store();
        store
            .write(|tx| tx.append(LogId::Public, b"{}").map(|_| ()))
            .unwrap();
        let before = store.head(LogId::Public).unwrap();
        let r: Result<(), StoreError> = store.write(|tx| {
            tx.append(LogId::Public, b"{\"a\":1}")?;
            Err(StoreError::Poisoned)
        });
        assert!(r.is_err());
        assert_eq!(store.head(LogId::Public).unwrap(), before);
        let n = store
            .read(|r| r.entries(LogId::Public, 0, 10, usize::MAX))
            .unwrap()
            .len();
        assert_eq!(n, 1);
        // The frontier kept in memory still extends correctly after the rollback.
        store
            .write(|tx| tx.append(LogId::Public, b"{\"b\":2}").map(|_| ()))
            .unwrap();
        let mut reference = MemoryTree::new();
        reference.append(b"{}");
        reference.append(b"{\"b\":2}");
        assert_eq!(store.head(LogId::Public).unwrap(), (2, reference.root()));
    }

    #[test]
    fn newer_databases_and_foreign_files_are_refused() {
        let (dir, store) = store();
        let path = store.path().to_owned();
        drop(store);
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        assert!(matches!(Store::open(&path), Err(StoreError::TooNew { .. })));
        let other = dir.path().join("other.db");
        let conn = Connection::open(&other).unwrap();
        conn.execute_batch("CREATE TABLE t (x); PRAGMA application_id = 7;")
            .unwrap();
        drop(conn);
        assert!(matches!(Store::open(&other), Err(StoreError::NotEvfed(_))));
    }

    #[test]
    fn backup_copies_a_consistent_snapshot() {
        let (dir, store) = store();
        for n in 0..10u32 {
            let e = format!("{{\"n\":{n}}}");
            store
                .write(|tx| tx.append(LogId::Restricted, e.as_bytes()).map(|_| ()))
                .unwrap();
        }
        let out = dir.path().join("backup.db");
        backup(store.path(), &out).unwrap();
        assert_eq!(
            heads_of(&out).unwrap()[1],
            store.head(LogId::Restricted).unwrap()
        );
        assert!(backup(store.path(), &out).is_err(), "never overwrites");
    }
}
