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
//! Architecture Invariant: SQL appears only in this module.

mod backup;
mod ocpi;
mod pull;
mod schema;
mod verify;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use evfed_spec::merkle::{Frontier, Hash, TreeHashes, leaf_hash, node_hash};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params, params_from_iter};

pub use backup::backup;
pub use ocpi::{CredentialRow, Handshake, OcpiCdrRow, OcpiSessionRow};
pub use pull::PullCursor;
pub use schema::VERSION as SCHEMA_VERSION;
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

/// A location's stored row.
#[derive(Debug, Clone)]
pub struct LocationRow {
    pub publish: bool,
    pub body: Vec<u8>,
    /// `None` in lists, which never serve it.
    pub publish_allowed_to: Option<Vec<u8>>,
    /// EVSEs whose status changed after `body` was written: their status and event time here
    /// are newer than the body's.
    pub pending: Vec<EvseRow>,
}

/// What applying one status change to the EVSE index did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusApplied {
    /// Stored; the EVSE's location is published (`true`) or not.
    Changed { publish: bool },
    /// Same status as stored, or older than the stored event time.
    Unchanged,
    /// No such EVSE.
    Missing,
}

/// An EVSE's current status as the store indexes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvseRow {
    pub uid: String,
    pub status: String,
    pub event_time_ms: i64,
    pub event_time: String,
}

/// What to write for a location: its row and its EVSEs' status index.
#[derive(Debug)]
pub struct LocationWrite<'a> {
    pub party: &'a str,
    pub id: &'a str,
    pub publish: bool,
    pub borough: Option<&'a str>,
    pub last_updated_ms: i64,
    pub body: &'a [u8],
    pub publish_allowed_to: Option<&'a [u8]>,
    pub evses: &'a [EvseRow],
}

/// Which rows a list read returns.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only these parties' rows (`None`: every party).
    pub party: Option<String>,
    /// Only rows in this borough (locations only).
    pub borough: Option<String>,
    /// `from_ms <= t < to_ms` on the list's time column.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Include unpublished locations: all of them (`All`) or one party's (`Party`).
    pub hidden: Hidden,
}

/// Which unpublished rows a reader may see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Hidden {
    #[default]
    None,
    Party(String),
    All,
}

/// Locations and EVSEs by whether they are published (`Reader::record_counts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordCounts {
    pub locations: u64,
    pub hidden_locations: u64,
    pub evses: u64,
    pub hidden_evses: u64,
}

/// One page of a list: matching rows in key order, and how many match in all.
#[derive(Debug)]
pub struct Page<T> {
    pub total: u64,
    pub items: Vec<T>,
    /// The public log's size in the snapshot the page was read from: what its
    /// `Evfed-Tree-Size` says (spec §10.1, RT-4).
    pub tree_size: u64,
}

/// A status row as `GET /v1/status` lists it.
#[derive(Debug, Clone)]
pub struct StatusRow {
    pub party: String,
    pub location_id: String,
    pub uid: String,
    pub status: String,
    pub event_time: String,
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

/// Grouped writes in the order they came.
#[derive(Default)]
struct Queue(Vec<GroupedJob>);

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Queue({} waiting)", self.0.len())
    }
}

/// A queued grouped write: runs its closure in a savepoint of the shared transaction (or, given
/// the error that kept the transaction from starting, does not) and returns how to answer its
/// caller once the commit succeeded or failed.
type GroupedJob = Box<dyn FnOnce(Result<&mut Tx<'_>, &StoreError>) -> Answer + Send>;
type Answer = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;

/// The most grouped writes one transaction takes: a few status batches of 1,000 changes each
/// (more would only make the first caller of a group wait longer).
const MAX_GROUP: usize = 8;

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
        let mut conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
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
        wal.busy_timeout(std::time::Duration::from_secs(5))?;
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

    /// Like [`Store::write`], but `f` may run in one transaction with the closures of other
    /// callers waiting for the writer at the same time (group commit): whichever of them gets
    /// the writer first runs up to [`MAX_GROUP`] of them, each in its own savepoint, and
    /// commits once. On `Err` only `f`'s own changes are undone; the commit covers everyone's,
    /// and a caller is answered only after it (durable when `Ok`, as with `write`). Concurrent
    /// writers then share one `fsync` and write each page they all touch to the WAL once.
    /// Blocking: call it off the async executor.
    pub fn write_grouped<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (send, answer) = std::sync::mpsc::sync_channel::<Result<T, E>>(1);
        let job: GroupedJob = Box::new(move |tx| {
            let outcome = match tx {
                Ok(tx) => tx.savepoint(f),
                Err(e) => Err(StoreError::Commit(e.to_string()).into()),
            };
            Box::new(move |commit| {
                let reply = match (outcome, commit) {
                    (Ok(_), Err(e)) => Err(StoreError::Commit(e.to_string()).into()),
                    (outcome, _) => outcome,
                };
                // The caller waits for this answer, so the channel is open.
                let _ = send.send(reply);
            })
        });
        self.queue
            .lock()
            .map_err(|_| StoreError::Poisoned)?
            .0
            .push(job);
        let mut guard = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        loop {
            // Whoever held the writer before may have run this job already; otherwise it is
            // still queued, behind at most the jobs queued before it.
            match answer.try_recv() {
                Ok(reply) => return reply,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    return Err(StoreError::Poisoned.into());
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
            }
            let jobs: Vec<GroupedJob> = {
                let mut queue = self.queue.lock().map_err(|_| StoreError::Poisoned)?;
                let n = queue.0.len().min(MAX_GROUP);
                queue.0.drain(..n).collect()
            };
            if jobs.is_empty() {
                return Err(StoreError::Poisoned.into());
            }
            self.run_group(&mut guard, jobs);
        }
    }

    /// Runs `jobs` in one transaction, commits, and answers each.
    fn run_group(&self, writer: &mut Writer, jobs: Vec<GroupedJob>) {
        let tx = match writer
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        {
            Ok(tx) => tx,
            Err(e) => {
                let e = StoreError::from(e);
                for job in jobs {
                    job(Err(&e))(Err(&e));
                }
                return;
            }
        };
        let mut tx = Tx {
            tx,
            heads: writer.heads.clone(),
        };
        let answers: Vec<Answer> = jobs.into_iter().map(|job| job(Ok(&mut tx))).collect();
        let Tx { tx, heads } = tx;
        match tx.commit() {
            Ok(()) => {
                self.committed(&mut writer.heads, heads);
                for answer in answers {
                    answer(Ok(()));
                }
            }
            Err(e) => {
                let e = StoreError::from(e);
                for answer in answers {
                    answer(Err(&e));
                }
            }
        }
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

fn load_frontier(conn: &Connection, log: LogId) -> Result<Frontier, StoreError> {
    Frontier::from_tree(&StoredTree { conn, log }, log_size(conn, log)?)
}

/// The number of entries in `log`, as `conn` sees it.
fn log_size(conn: &Connection, log: LogId) -> Result<u64, StoreError> {
    let (lo, hi) = key_range(log, 0, MAX_INDEX);
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE(MAX(key) - ?1 + 1, 0) FROM log_entry WHERE key >= ?1 AND key < ?2",
        )?
        .query_row(params![lo, hi], |r| get_u64(r, 0))?)
}

impl Tx<'_> {
    /// Appends `bytes` to `log` and stores the new subtree hashes; returns the entry's index.
    pub fn append(&mut self, log: LogId, bytes: &[u8]) -> Result<u64, StoreError> {
        let frontier = &mut self.heads[log as usize];
        let index = frontier.size();
        self.tx
            .prepare_cached("INSERT INTO log_entry (key, bytes) VALUES (?1, ?2)")?
            .execute(params![key_range(log, index, index).0, bytes])?;
        let mut insert = self.tx.prepare_cached(
            "INSERT INTO tree_node (log, level, idx, hash) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let leaf = leaf_hash(bytes);
        // The frontier's last hashes are the left siblings this leaf completes, smallest last.
        let siblings = frontier.hashes();
        let mut hash = leaf;
        let mut i = index;
        let mut level = 0u32;
        loop {
            insert.execute(params![log as i64, level, i as i64, &hash.0[..]])?;
            if i & 1 == 0 {
                break;
            }
            let left = siblings.get(siblings.len() - 1 - level as usize).ok_or(
                StoreError::MissingHash {
                    level,
                    index: i - 1,
                },
            )?;
            hash = node_hash(left, &hash);
            i >>= 1;
            level += 1;
        }
        frontier.push(leaf);
        Ok(index)
    }

    pub fn log_size(&self, log: LogId) -> u64 {
        self.heads[log as usize].size()
    }

    /// Runs `f` inside a savepoint of this transaction. On `Err`, everything `f` did (state
    /// rows, log entries, subtree hashes and the log heads kept in memory) is undone and the
    /// transaction goes on without it; on `Ok` it stays, and commits or rolls back with the
    /// transaction. Lets one transaction hold many independent changes, each all or nothing.
    pub fn savepoint<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        // Cached statements: parsing these three for every item costs more than running them.
        let run = |tx: &rusqlite::Transaction<'_>, sql: &str| -> Result<(), StoreError> {
            tx.prepare_cached(sql)?.execute([])?;
            Ok(())
        };
        run(&self.tx, "SAVEPOINT item")?;
        let heads = self.heads.clone();
        match f(self) {
            Ok(value) => {
                run(&self.tx, "RELEASE item")?;
                Ok(value)
            }
            Err(e) => {
                run(&self.tx, "ROLLBACK TO item")?;
                run(&self.tx, "RELEASE item")?;
                self.heads = heads;
                Err(e)
            }
        }
    }

    pub fn location(&self, party: &str, id: &str) -> Result<Option<LocationRow>, StoreError> {
        location_row(&self.tx, party, id)
    }

    /// Creates or replaces a location and its EVSE index.
    pub fn put_location(&mut self, w: &LocationWrite<'_>) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO location (party, id, publish, borough, last_updated_ms, body, publish_allowed_to)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (party, id) DO UPDATE SET publish = ?3, borough = ?4,
                   last_updated_ms = ?5, body = ?6, publish_allowed_to = ?7",
            )?
            .execute(params![
                w.party,
                w.id,
                w.publish,
                w.borough,
                w.last_updated_ms,
                w.body,
                w.publish_allowed_to
            ])?;
        self.tx
            .prepare_cached("DELETE FROM evse WHERE party = ?1 AND location_id = ?2")?
            .execute(params![w.party, w.id])?;
        let mut insert = self.tx.prepare_cached(
            "INSERT INTO evse (party, location_id, uid, status, event_time_ms, event_time, publish)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for e in w.evses {
            insert.execute(params![
                w.party,
                w.id,
                e.uid,
                e.status,
                e.event_time_ms,
                e.event_time,
                w.publish
            ])?;
        }
        Ok(())
    }

    /// Replaces a location's body with one that includes its pending EVSE statuses, which are
    /// then no longer pending. Nothing a reader sees changes.
    pub fn fold_location(
        &mut self,
        party: &str,
        id: &str,
        last_updated_ms: i64,
        body: &[u8],
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "UPDATE location SET body = ?3, last_updated_ms = ?4 WHERE party = ?1 AND id = ?2",
            )?
            .execute(params![party, id, body, last_updated_ms])?;
        self.tx
            .prepare_cached(
                "UPDATE evse SET pending = 0 WHERE party = ?1 AND location_id = ?2 AND pending = 1",
            )?
            .execute(params![party, id])?;
        Ok(())
    }

    /// Up to `max` locations (party, id) with pending EVSE statuses.
    pub fn pending_locations(&self, max: usize) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT DISTINCT party, location_id FROM evse WHERE pending = 1 LIMIT ?1",
        )?;
        let rows = stmt.query_map([max as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records an EVSE's new status in the EVSE index alone (the location's body is left as it
    /// is and the EVSE marked pending), unless it equals the stored status or is older than the
    /// stored event time.
    pub fn apply_status(
        &mut self,
        party: &str,
        location_id: &str,
        evse: &EvseRow,
    ) -> Result<StatusApplied, StoreError> {
        // A point read and a plain update: `UPDATE … RETURNING` cost about twice as much, its
        // returned row being kept in a temporary table for every change.
        let stored = self
            .tx
            .prepare_cached(
                "SELECT status = ?4, event_time_ms, publish FROM evse
                 WHERE party = ?1 AND location_id = ?2 AND uid = ?3",
            )?
            .query_row(params![party, location_id, evse.uid, evse.status], |r| {
                Ok((
                    r.get::<_, bool>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, bool>(2)?,
                ))
            })
            .optional()?;
        let Some((same, stored_ms, publish)) = stored else {
            return Ok(StatusApplied::Missing);
        };
        if same || stored_ms > evse.event_time_ms {
            return Ok(StatusApplied::Unchanged);
        }
        self.tx
            .prepare_cached(
                "UPDATE evse SET status = ?4, event_time_ms = ?5, event_time = ?6, pending = 1
                 WHERE party = ?1 AND location_id = ?2 AND uid = ?3",
            )?
            .execute(params![
                party,
                location_id,
                evse.uid,
                evse.status,
                evse.event_time_ms,
                evse.event_time
            ])?;
        Ok(StatusApplied::Changed { publish })
    }

    pub fn evses(&self, party: &str, location_id: &str) -> Result<Vec<EvseRow>, StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT uid, status, event_time_ms, event_time FROM evse
             WHERE party = ?1 AND location_id = ?2 ORDER BY uid",
        )?;
        let rows = stmt.query_map(params![party, location_id], evse_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn tariff(&self, party: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        body_of(&self.tx, "tariff", party, id)
    }

    pub fn put_tariff(
        &mut self,
        party: &str,
        id: &str,
        last_updated_ms: i64,
        body: &[u8],
    ) -> Result<(), StoreError> {
        put_body(
            &self.tx,
            "tariff",
            "last_updated_ms",
            party,
            id,
            last_updated_ms,
            body,
        )
    }

    /// Removes a tariff; false when there was none.
    pub fn delete_tariff(&mut self, party: &str, id: &str) -> Result<bool, StoreError> {
        let n = self
            .tx
            .prepare_cached("DELETE FROM tariff WHERE party = ?1 AND id = ?2")?
            .execute(params![party, id])?;
        Ok(n > 0)
    }

    pub fn session(&self, party: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        body_of(&self.tx, "session", party, id)
    }

    pub fn put_session(
        &mut self,
        party: &str,
        id: &str,
        start_ms: i64,
        body: &[u8],
    ) -> Result<(), StoreError> {
        put_body(&self.tx, "session", "start_ms", party, id, start_ms, body)
    }

    /// Stores a signed checkpoint of `log`.
    pub fn put_checkpoint(
        &mut self,
        log: LogId,
        tree_size: u64,
        time: u64,
        note: &[u8],
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO checkpoint (log, tree_size, time, note) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![log as i64, tree_size as i64, time as i64, note])?;
        Ok(())
    }
}

impl Reader<'_> {
    pub fn location(&self, party: &str, id: &str) -> Result<Option<LocationRow>, StoreError> {
        location_row(self.conn, party, id)
    }

    /// Locations in key order (without `publish_allowed_to`).
    pub fn locations(
        &self,
        filter: &ListFilter,
        offset: u64,
        limit: u64,
    ) -> Result<Page<LocationRow>, StoreError> {
        let mut w = Where::default();
        match &filter.hidden {
            Hidden::None => w.push("publish = 1", []),
            // Unary `+` keeps SQLite from a multi-index OR, which sorts every matching body;
            // it walks (party, id) in order instead and stops at the page's end.
            Hidden::Party(p) => w.push("(+publish = 1 OR +party = ?)", [p.clone().into()]),
            Hidden::All => {}
        }
        if let Some(p) = &filter.party {
            w.push("party = ?", [p.clone().into()]);
        }
        // A location's last_updated is its row's, or a pending EVSE status's if that is newer.
        let newer = "EXISTS (SELECT 1 FROM evse e WHERE e.party = location.party \
                     AND e.location_id = location.id AND e.pending = 1 AND e.event_time_ms >= ?)";
        if let Some(t) = filter.from_ms {
            w.push(
                &format!("(last_updated_ms >= ? OR {newer})"),
                [t.into(), t.into()],
            );
        }
        if let Some(t) = filter.to_ms {
            w.push(
                &format!("(last_updated_ms < ? AND NOT {newer})"),
                [t.into(), t.into()],
            );
        }
        if let Some(b) = &filter.borough {
            w.push("borough = ?", [b.clone().into()]);
        }
        let mut page = self.page(
            &w,
            "location",
            "party, id, publish, body",
            "party, id",
            offset,
            limit,
            |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?, r.get(3)?)),
        )?;
        let items = page
            .items
            .drain(..)
            .map(
                |((party, id), publish, body): ((String, String), bool, Vec<u8>)| {
                    Ok(LocationRow {
                        publish,
                        body,
                        publish_allowed_to: None,
                        pending: pending_evses(self.conn, &party, &id)?,
                    })
                },
            )
            .collect::<Result<_, StoreError>>()?;
        Ok(Page {
            total: page.total,
            items,
            tree_size: page.tree_size,
        })
    }

    /// How many locations and EVSEs the node holds: published, and hidden (`publish: false`).
    pub fn record_counts(&self) -> Result<RecordCounts, StoreError> {
        let count = |sql: &str| {
            self.conn
                .prepare_cached(sql)?
                .query_row([], |r| Ok((get_u64(r, 0)?, get_u64(r, 1)?)))
        };
        let sum = "SELECT COALESCE(SUM(publish = 1), 0), COALESCE(SUM(publish = 0), 0)";
        let (locations, hidden_locations) = count(&format!("{sum} FROM location"))?;
        let (evses, hidden_evses) = count(&format!("{sum} FROM evse"))?;
        Ok(RecordCounts {
            locations,
            hidden_locations,
            evses,
            hidden_evses,
        })
    }

    /// The keys `(party, id)` of every location, published or hidden, in key order.
    pub fn location_keys(&self, published: bool) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT party, id FROM location WHERE publish = ?1 ORDER BY party, id",
        )?;
        let rows = stmt.query_map([published], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Published locations with this id, of any party (the OCPI surface names locations by id
    /// alone). At most `max`.
    pub fn published_locations_with_id(
        &self,
        id: &str,
        max: u64,
    ) -> Result<Vec<LocationRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT party FROM location WHERE id = ?1 AND publish = 1 ORDER BY party LIMIT ?2",
        )?;
        let parties = stmt
            .query_map(params![id, max as i64], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut rows = Vec::with_capacity(parties.len());
        for party in parties {
            if let Some(mut row) = location_row(self.conn, &party, id)? {
                row.publish_allowed_to = None;
                rows.push(row);
            }
        }
        Ok(rows)
    }

    pub fn tariff(&self, party: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        body_of(self.conn, "tariff", party, id)
    }

    pub fn tariffs(
        &self,
        filter: &ListFilter,
        offset: u64,
        limit: u64,
    ) -> Result<Page<Vec<u8>>, StoreError> {
        self.simple_list("tariff", "last_updated_ms", filter, offset, limit)
    }

    pub fn sessions(
        &self,
        filter: &ListFilter,
        offset: u64,
        limit: u64,
    ) -> Result<Page<Vec<u8>>, StoreError> {
        self.simple_list("session", "start_ms", filter, offset, limit)
    }

    fn simple_list(
        &self,
        table: &str,
        time: &str,
        filter: &ListFilter,
        offset: u64,
        limit: u64,
    ) -> Result<Page<Vec<u8>>, StoreError> {
        let mut w = Where::default();
        w.common(filter, time);
        self.page(&w, table, "body", "party, id", offset, limit, |r| r.get(0))
    }

    /// Current status of published EVSEs, in key order.
    pub fn statuses(
        &self,
        filter: &ListFilter,
        offset: u64,
        limit: u64,
    ) -> Result<Page<StatusRow>, StoreError> {
        let mut w = Where::default();
        w.push("publish = 1", []);
        w.common(filter, "event_time_ms");
        let columns = "party, location_id, uid, status, event_time";
        self.page(
            &w,
            "evse",
            columns,
            "party, location_id, uid",
            offset,
            limit,
            |r| {
                Ok(StatusRow {
                    party: r.get(0)?,
                    location_id: r.get(1)?,
                    uid: r.get(2)?,
                    status: r.get(3)?,
                    event_time: r.get(4)?,
                })
            },
        )
    }

    /// One page of `table` under `w`, with the count of all matching rows.
    #[allow(clippy::too_many_arguments)]
    fn page<T>(
        &self,
        w: &Where,
        table: &str,
        columns: &str,
        order: &str,
        offset: u64,
        limit: u64,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Page<T>, StoreError> {
        // The first read fixes the snapshot, so the size and the page agree.
        let tree_size = self.size(LogId::Public)?;
        let cond = w.sql();
        let total = self
            .conn
            .prepare_cached(&format!("SELECT COUNT(*) FROM {table}{cond}"))?
            .query_row(params_from_iter(&w.args), |r| get_u64(r, 0))?;
        let n = w.args.len();
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {columns} FROM {table}{cond} ORDER BY {order} LIMIT ?{} OFFSET ?{}",
            n + 1,
            n + 2
        ))?;
        let mut args = w.args.clone();
        args.push((limit as i64).into());
        args.push((offset as i64).into());
        let items = stmt
            .query_map(params_from_iter(&args), row)?
            .collect::<Result<_, _>>()?;
        Ok(Page {
            total,
            items,
            tree_size,
        })
    }

    /// The size of `log` in this reader's snapshot.
    pub fn size(&self, log: LogId) -> Result<u64, StoreError> {
        log_size(self.conn, log)
    }

    /// Entries `start..end` of `log`, stopping early once `max_bytes` are gathered (but always
    /// returning the first entry of a non-empty range).
    pub fn entries(
        &self,
        log: LogId,
        start: u64,
        end: u64,
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT bytes FROM log_entry WHERE key >= ?1 AND key < ?2 ORDER BY key",
        )?;
        let (lo, hi) = key_range(log, start, end);
        let mut rows = stmt.query(params![lo, hi])?;
        let mut out = Vec::new();
        let mut total = 0;
        while let Some(row) = rows.next()? {
            let bytes: Vec<u8> = row.get(0)?;
            total += bytes.len() + 1;
            if total > max_bytes && !out.is_empty() {
                break;
            }
            out.push(bytes);
        }
        Ok(out)
    }

    /// The newest signed checkpoint of `log`: (tree size, note).
    pub fn latest_checkpoint(&self, log: LogId) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT tree_size, note FROM checkpoint WHERE log = ?1 ORDER BY tree_size DESC LIMIT 1",
            )?
            .query_row([log as i64], |r| Ok((get_u64(r, 0)?, r.get(1)?)))
            .optional()?)
    }

    /// `log`'s tree, for proofs.
    pub fn tree(&self, log: LogId) -> StoredTree<'_> {
        StoredTree {
            conn: self.conn,
            log,
        }
    }
}

impl TreeHashes for StoredTree<'_> {
    type Error = StoreError;
    fn subtree(&self, level: u32, index: u64) -> Result<Hash, StoreError> {
        let bytes: Option<Vec<u8>> = self
            .conn
            .prepare_cached(
                "SELECT hash FROM tree_node WHERE log = ?1 AND level = ?2 AND idx = ?3",
            )?
            .query_row(params![self.log as i64, level, index as i64], |r| r.get(0))
            .optional()?;
        bytes
            .as_deref()
            .and_then(Hash::from_slice)
            .ok_or(StoreError::MissingHash { level, index })
    }
}

/// The body of record `party`/`id` in `table` (`tariff` or `session`).
fn body_of(
    conn: &Connection,
    table: &str,
    party: &str,
    id: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT body FROM {table} WHERE party = ?1 AND id = ?2"
        ))?
        .query_row(params![party, id], |r| r.get(0))
        .optional()?)
}

/// Creates or replaces record `party`/`id` of `table` with its time column `time`.
fn put_body(
    conn: &Connection,
    table: &str,
    time: &str,
    party: &str,
    id: &str,
    time_ms: i64,
    body: &[u8],
) -> Result<(), StoreError> {
    conn.prepare_cached(&format!(
        "INSERT INTO {table} (party, id, {time}, body) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (party, id) DO UPDATE SET {time} = ?3, body = ?4"
    ))?
    .execute(params![party, id, time_ms, body])?;
    Ok(())
}

/// Entries of one log are the keys `(log << 48) | index`.
const MAX_INDEX: u64 = (1 << 48) - 1;

/// The `log_entry` keys of indexes `start..end` of `log`.
fn key_range(log: LogId, start: u64, end: u64) -> (i64, i64) {
    let base = (log as i64) << 48;
    (
        base + start.min(MAX_INDEX) as i64,
        base + end.min(MAX_INDEX) as i64,
    )
}

fn get_u64(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    let v: i64 = row.get(i)?;
    u64::try_from(v).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Integer, Box::new(e))
    })
}

/// A WHERE clause built from the filters present, so that SQLite can use the indexes (a
/// `?N IS NULL OR …` form would force a scan).
#[derive(Debug, Default)]
struct Where {
    clauses: Vec<String>,
    args: Vec<rusqlite::types::Value>,
}

impl Where {
    /// Adds `clause`, whose `?`s bind `args` in order.
    fn push<const N: usize>(&mut self, clause: &str, args: [rusqlite::types::Value; N]) {
        debug_assert_eq!(clause.matches('?').count(), N, "{clause}");
        let mut parts = clause.split('?');
        let mut out = parts.next().unwrap_or_default().to_owned();
        for (part, arg) in parts.zip(args) {
            self.args.push(arg);
            out.push_str(&format!("?{}{part}", self.args.len()));
        }
        self.clauses.push(out);
    }

    /// The party and time-window filters every list has.
    fn common(&mut self, f: &ListFilter, time: &str) {
        if let Some(p) = &f.party {
            self.push("party = ?", [p.clone().into()]);
        }
        if let Some(t) = f.from_ms {
            self.push(&format!("{time} >= ?"), [t.into()]);
        }
        if let Some(t) = f.to_ms {
            self.push(&format!("{time} < ?"), [t.into()]);
        }
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

fn location_row(
    conn: &Connection,
    party: &str,
    id: &str,
) -> Result<Option<LocationRow>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT publish, body, publish_allowed_to FROM location WHERE party = ?1 AND id = ?2",
        )?
        .query_row(params![party, id], |r| {
            Ok(LocationRow {
                publish: r.get(0)?,
                body: r.get(1)?,
                publish_allowed_to: r.get(2)?,
                pending: Vec::new(),
            })
        })
        .optional()?;
    let Some(mut row) = row else { return Ok(None) };
    row.pending = pending_evses(conn, party, id)?;
    Ok(Some(row))
}

/// The EVSEs of a location whose status is newer than its body's.
fn pending_evses(conn: &Connection, party: &str, id: &str) -> Result<Vec<EvseRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT uid, status, event_time_ms, event_time FROM evse
         WHERE party = ?1 AND location_id = ?2 AND pending = 1",
    )?;
    let rows = stmt.query_map(params![party, id], evse_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn evse_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EvseRow> {
    Ok(EvseRow {
        uid: r.get(0)?,
        status: r.get(1)?,
        event_time_ms: r.get(2)?,
        event_time: r.get(3)?,
    })
}

#[cfg(test)]
mod tests {
    use evfed_spec::merkle::{MemoryTree, consistency_proof, inclusion_proof};

    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("t.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn appends_match_the_reference_tree_and_survive_reopen() {
        let (dir, store) = store();
        let mut reference = MemoryTree::new();
        for n in 0..37u32 {
            let entry = format!("{{\"n\":{n}}}");
            store
                .write(|tx| tx.append(LogId::Public, entry.as_bytes()).map(|_| ()))
                .unwrap();
            reference.append(entry.as_bytes());
            assert_eq!(
                store.head(LogId::Public).unwrap(),
                (reference.size(), reference.root())
            );
        }
        store
            .read(|r| {
                let tree = r.tree(LogId::Public);
                for size in 1..=37 {
                    for i in 0..size {
                        assert_eq!(
                            inclusion_proof(&tree, i, size).unwrap(),
                            reference.inclusion_proof(i, size).unwrap()
                        );
                    }
                    assert_eq!(
                        consistency_proof(&tree, size / 2 + 1, size).unwrap(),
                        reference.consistency_proof(size / 2 + 1, size).unwrap()
                    );
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let path = store.path().to_owned();
        drop(store);
        let reopened = Store::open(&path).unwrap();
        assert_eq!(
            reopened.head(LogId::Public).unwrap(),
            (37, reference.root())
        );
        assert_eq!(reopened.head(LogId::Restricted).unwrap().0, 0);
        drop(dir);
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
    fn a_failed_savepoint_undoes_only_itself() {
        let (_dir, store) = store();
        let r: Result<(), StoreError> = store.write(|tx| {
            tx.append(LogId::Public, b"{\"a\":1}")?;
            let inner: Result<(), StoreError> = tx.savepoint(|tx| {
                tx.append(LogId::Public, b"{\"b\":2}")?;
                tx.append(LogId::Restricted, b"{\"c\":3}")?;
                Err(StoreError::Poisoned)
            });
            assert!(inner.is_err());
            assert_eq!(tx.log_size(LogId::Public), 1);
            assert_eq!(tx.log_size(LogId::Restricted), 0);
            tx.savepoint(|tx| tx.append(LogId::Public, b"{\"d\":4}").map(|_| ()))
        });
        r.unwrap();
        let mut reference = MemoryTree::new();
        reference.append(b"{\"a\":1}");
        reference.append(b"{\"d\":4}");
        assert_eq!(store.head(LogId::Public).unwrap(), (2, reference.root()));
        assert_eq!(store.head(LogId::Restricted).unwrap().0, 0);
        let entries = store
            .read(|r| r.entries(LogId::Public, 0, 10, usize::MAX))
            .unwrap();
        assert_eq!(entries, vec![b"{\"a\":1}".to_vec(), b"{\"d\":4}".to_vec()]);
        // The stored tree matches the reference, so later proofs stay right.
        store
            .read(|r| {
                let tree = r.tree(LogId::Public);
                assert_eq!(
                    inclusion_proof(&tree, 0, 2).unwrap(),
                    reference.inclusion_proof(0, 2).unwrap()
                );
                Ok::<_, StoreError>(())
            })
            .unwrap();
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
    fn grouped_writes_commit_together_and_fail_alone() {
        let (_dir, store) = store();
        let store = std::sync::Arc::new(store);
        // Hold the writer so that every grouped write below queues, and the first to get the
        // writer runs several in one transaction.
        let held = store.writer.lock().unwrap();
        let callers: Vec<_> = (0..12u32)
            .map(|n| {
                let store = store.clone();
                std::thread::spawn(move || {
                    store.write_grouped(move |tx| {
                        tx.append(LogId::Public, format!("{{\"n\":{n}}}").as_bytes())?;
                        if n % 3 == 0 {
                            // Undone alone: its entry must not stay in the log.
                            tx.append(LogId::Restricted, b"{}")?;
                            return Err(StoreError::Poisoned);
                        }
                        Ok(n)
                    })
                })
            })
            .collect();
        while store.queue.lock().unwrap().0.len() < 12 {
            std::thread::yield_now();
        }
        drop(held);
        let mut ok: Vec<u32> = callers
            .into_iter()
            .filter_map(|c| c.join().unwrap().ok())
            .collect();
        ok.sort_unstable();
        assert_eq!(ok, vec![1, 2, 4, 5, 7, 8, 10, 11]);
        assert_eq!(store.head(LogId::Restricted).unwrap().0, 0);
        // The log holds exactly the successful writes' entries, and its stored tree and heads
        // agree with a tree built from them (also after reopening).
        let entries = store
            .read(|r| r.entries(LogId::Public, 0, 100, usize::MAX))
            .unwrap();
        let mut reference = MemoryTree::new();
        let mut seen: Vec<u32> = Vec::new();
        for e in &entries {
            reference.append(e);
            let v: serde_json::Value = serde_json::from_slice(e).unwrap();
            seen.push(v["n"].as_u64().unwrap() as u32);
        }
        seen.sort_unstable();
        assert_eq!(seen, ok);
        assert_eq!(store.head(LogId::Public).unwrap(), (8, reference.root()));
        let path = store.path().to_owned();
        drop(store);
        assert_eq!(
            Store::open(&path).unwrap().head(LogId::Public).unwrap(),
            (8, reference.root())
        );
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
