//! The logs as stored: each entry as its exact bytes (`log_entry`, keyed `(log << 48) | index`),
//! every complete-subtree hash (`tree_node`, written as the entry that completes it is
//! appended), and every signed checkpoint. Proofs read the hashes through
//! [`TreeHashes`]; the log heads kept in memory are rebuilt from them at open.

use evfed_spec::merkle::{Frontier, Hash, TreeHashes, leaf_hash, node_hash};
use rusqlite::{Connection, OptionalExtension, params};

use super::{LogId, Reader, StoreError, StoredTree, Tx, get_u64};

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

/// Entries of one log are the keys `(log << 48) | index`.
pub(crate) const MAX_INDEX: u64 = (1 << 48) - 1;

/// The `log_entry` keys of indexes `start..end` of `log`.
pub(crate) fn key_range(log: LogId, start: u64, end: u64) -> (i64, i64) {
    let base = (log as i64) << 48;
    (
        base + start.min(MAX_INDEX) as i64,
        base + end.min(MAX_INDEX) as i64,
    )
}

pub(super) fn load_frontier(conn: &Connection, log: LogId) -> Result<Frontier, StoreError> {
    Frontier::from_tree(&StoredTree { conn, log }, log_size(conn, log)?)
}

/// The number of entries in `log`, as `conn` sees it.
pub(super) fn log_size(conn: &Connection, log: LogId) -> Result<u64, StoreError> {
    let (lo, hi) = key_range(log, 0, MAX_INDEX);
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE(MAX(key) - ?1 + 1, 0) FROM log_entry WHERE key >= ?1 AND key < ?2",
        )?
        .query_row(params![lo, hi], |r| get_u64(r, 0))?)
}

#[cfg(test)]
mod tests {
    use evfed_spec::merkle::{MemoryTree, consistency_proof, inclusion_proof};

    use super::super::Store;
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
}
