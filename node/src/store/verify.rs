//! What an integrity check reads: a database opened read-only (a stopped node's, a live one's as
//! a snapshot, or a backup's), every entry in order, every stored checkpoint, and how many
//! subtree hashes are stored. The checks themselves are `domain::integrity`'s.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, params};

use super::{LogId, MAX_INDEX, Reader, StoreError, check_application, get_u64, key_range, schema};

/// A checkpoint as stored: its size and the signed note exactly as served.
#[derive(Debug, Clone)]
pub struct StoredCheckpoint {
    pub tree_size: u64,
    pub note: Vec<u8>,
}

/// Runs `f` on the database at `path`, opened read-only in one read transaction: nothing is
/// migrated or written, so it is safe on a backup, a stopped node and a serving one.
pub fn inspect<T, E: From<StoreError>>(
    path: &Path,
    f: impl FnOnce(&Reader<'_>) -> Result<T, E>,
) -> Result<T, E> {
    if !path.exists() {
        return Err(StoreError::NotEvfed(format!("{} does not exist", path.display())).into());
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(StoreError::from)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(StoreError::from)?;
    check_application(&conn, path)?;
    let found = schema::version(&conn)?;
    if found > schema::VERSION {
        return Err(StoreError::TooNew {
            found,
            supported: schema::VERSION,
        }
        .into());
    }
    if found == 0 {
        return Err(StoreError::NotEvfed(path.display().to_string()).into());
    }
    conn.execute_batch("BEGIN DEFERRED")
        .map_err(StoreError::from)?;
    f(&Reader { conn: &conn })
}

impl Reader<'_> {
    /// Calls `f(index, bytes)` for every stored entry of `log` from `start` on, in index order.
    /// A missing entry shows as a jump in `index`.
    pub fn scan_entries<E: From<StoreError>>(
        &self,
        log: LogId,
        start: u64,
        mut f: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let (lo, hi) = key_range(log, start, MAX_INDEX);
        let base = key_range(log, 0, 0).0;
        let mut stmt = self
            .conn
            .prepare("SELECT key, bytes FROM log_entry WHERE key >= ?1 AND key < ?2 ORDER BY key")
            .map_err(StoreError::from)?;
        let mut rows = stmt.query(params![lo, hi]).map_err(StoreError::from)?;
        while let Some(row) = rows.next().map_err(StoreError::from)? {
            let key: i64 = row.get(0).map_err(StoreError::from)?;
            let bytes = row.get_ref(1).map_err(StoreError::from)?;
            let bytes = bytes.as_blob().map_err(|e| StoreError::Sqlite(e.into()))?;
            f((key - base) as u64, bytes)?;
        }
        Ok(())
    }

    /// How many entries of `log` are stored (equal to its size unless some are missing).
    pub fn entry_count(&self, log: LogId) -> Result<u64, StoreError> {
        let (lo, hi) = key_range(log, 0, MAX_INDEX);
        Ok(self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM log_entry WHERE key >= ?1 AND key < ?2")?
            .query_row(params![lo, hi], |r| get_u64(r, 0))?)
    }

    /// How many subtree hashes of `log` are stored.
    pub fn tree_node_count(&self, log: LogId) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM tree_node WHERE log = ?1")?
            .query_row([log as i64], |r| get_u64(r, 0))?)
    }

    /// Up to `limit` stored checkpoints of `log` larger than `after` (all when `None`),
    /// smallest first.
    pub fn checkpoints(
        &self,
        log: LogId,
        after: Option<u64>,
        limit: u64,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT tree_size, note FROM checkpoint WHERE log = ?1 AND tree_size > ?2
             ORDER BY tree_size LIMIT ?3",
        )?;
        let after = after.map_or(-1, |a| a as i64);
        let rows = stmt.query_map(params![log as i64, after, limit as i64], |r| {
            Ok(StoredCheckpoint {
                tree_size: get_u64(r, 0)?,
                note: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
