//! The leaf hashes of each member log's verified entries, kept so that the root of any prefix
//! of what was accepted can be recomputed: a member that later signs a smaller tree is judged
//! against it (an honest older copy, or a fork however short).

use evfed_spec::merkle::{self, Hash};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreError};

/// Leaves per stored block of leaf hashes: a power of two, so a full block is a node of every
/// tree that contains it and prefix roots reduce block roots instead of every leaf.
const LEAF_BLOCK: u64 = 1024;

/// Which of a member's two logs a stored leaf belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafLog {
    Public,
    /// The restricted (usage) log.
    Restricted,
}

impl LeafLog {
    fn id(self) -> i64 {
        match self {
            LeafLog::Public => 0,
            LeafLog::Restricted => 1,
        }
    }
}

impl Store {
    /// MTH of the first `size` verified entries of a member's log, from the leaf hashes kept
    /// as they were applied; `None` when they were not all kept (a member harvested before
    /// this store kept leaves).
    pub fn prefix_root(
        &self,
        origin: &str,
        log: LeafLog,
        size: u64,
    ) -> Result<Option<Hash>, StoreError> {
        let conn = self.conn()?;
        prefix_root(&conn, origin, log, size)
    }
}

/// [`Store::prefix_root`] on `conn`.
fn prefix_root(
    conn: &Connection,
    origin: &str,
    log: LeafLog,
    size: u64,
) -> Result<Option<Hash>, StoreError> {
    let (full, rest) = (size / LEAF_BLOCK, (size % LEAF_BLOCK) as usize);
    let mut roots = Vec::with_capacity(full as usize + 1);
    {
        let mut stmt = conn.prepare_cached(
            "SELECT block, root FROM member_leaves
             WHERE origin = ?1 AND log = ?2 AND block < ?3 ORDER BY block",
        )?;
        let rows = stmt.query_map(params![origin, log.id(), full as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Option<Vec<u8>>>(1)?))
        })?;
        for (i, row) in rows.enumerate() {
            let (block, root) = row?;
            let Some(root) = root.as_deref().and_then(Hash::from_slice) else {
                return Ok(None);
            };
            if block != i as i64 {
                return Ok(None);
            }
            roots.push(root);
        }
    }
    if roots.len() as u64 != full {
        return Ok(None);
    }
    if rest > 0 {
        let hashes: Option<Vec<u8>> = conn
            .prepare_cached(
                "SELECT hashes FROM member_leaves WHERE origin = ?1 AND log = ?2 AND block = ?3",
            )?
            .query_row(params![origin, log.id(), full as i64], |r| r.get(0))
            .optional()?;
        let Some(hashes) = hashes.filter(|h| h.len() >= rest * 32) else {
            return Ok(None);
        };
        let leaves = leaves_of(&hashes[..rest * 32])?;
        roots.push(merkle::root(&leaves));
    }
    Ok(Some(merkle::root(&roots)))
}

/// Keeps the leaf hashes of a verified batch of a member's log, filling its last block and
/// starting new ones; a full block also gets its root. Leaves are kept only while they run on
/// from entry 0: a member harvested before leaves were kept has none (its shorter checkpoints
/// can then only be judged stale).
pub(super) fn append(
    tx: &rusqlite::Transaction<'_>,
    origin: &str,
    log: LeafLog,
    start: u64,
    entries: &[Vec<u8>],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let last: Option<(i64, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT block, hashes FROM member_leaves WHERE origin = ?1 AND log = ?2
             ORDER BY block DESC LIMIT 1",
        )?
        .query_row(params![origin, log.id()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (mut block, mut hashes) = match last {
        Some((block, hashes)) if hashes.len() as u64 == LEAF_BLOCK * 32 => (block + 1, Vec::new()),
        Some((block, hashes)) => (block, hashes),
        None => (0, Vec::new()),
    };
    if block as u64 * LEAF_BLOCK + hashes.len() as u64 / 32 != start {
        return Ok(());
    }
    let mut put = tx.prepare_cached(
        "INSERT OR REPLACE INTO member_leaves (origin, log, block, hashes, root)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    hashes.reserve(entries.len().min(LEAF_BLOCK as usize) * 32);
    for leaf in merkle::leaf_hashes(entries) {
        hashes.extend_from_slice(&leaf.0);
        if hashes.len() as u64 == LEAF_BLOCK * 32 {
            let root = merkle::root(&leaves_of(&hashes)?);
            put.execute(params![origin, log.id(), block, hashes, root.0.as_slice()])?;
            block += 1;
            hashes.clear();
        }
    }
    if !hashes.is_empty() {
        put.execute(params![
            origin,
            log.id(),
            block,
            hashes,
            Option::<Vec<u8>>::None
        ])?;
    }
    Ok(())
}

/// 32-byte hashes read back from a blob of them.
fn leaves_of(bytes: &[u8]) -> Result<Vec<Hash>, StoreError> {
    bytes
        .chunks(32)
        .map(Hash::from_slice)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| StoreError::Corrupt("a stored leaf hash is not 32 bytes".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: usize, tag: &str) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("{tag}{i}").into_bytes()).collect()
    }

    /// Leaves kept in batches that cross block boundaries give every prefix's RFC 9162 root;
    /// what was not kept from entry 0 gives none.
    #[test]
    fn every_prefix_root_is_the_root_of_the_first_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.db")).unwrap();
        let all = entries(2 * LEAF_BLOCK as usize + 77, "e");
        let mut conn = store.conn().unwrap();
        let tx = conn.transaction().unwrap();
        let mut start = 0;
        for len in [1, 700, 400, 1000, 3, all.len() - 2104] {
            append(
                &tx,
                "m",
                LeafLog::Public,
                start as u64,
                &all[start..start + len],
            )
            .unwrap();
            start += len;
        }
        assert_eq!(start, all.len());
        // A batch that does not follow on (here: a restricted log first seen at 5) is not kept.
        append(&tx, "m", LeafLog::Restricted, 5, &all[5..9]).unwrap();
        tx.commit().unwrap();
        drop(conn);
        for size in [
            0,
            1,
            2,
            3,
            12,
            1023,
            1024,
            1025,
            1100,
            2047,
            2048,
            2049,
            all.len(),
        ] {
            let want = merkle::root_of_entries(&all[..size]);
            let got = store
                .prefix_root("m", LeafLog::Public, size as u64)
                .unwrap();
            assert_eq!(got, Some(want), "size {size}");
        }
        let other = entries(12, "x");
        assert_ne!(
            store.prefix_root("m", LeafLog::Public, 12).unwrap(),
            Some(merkle::root_of_entries(&other))
        );
        assert_eq!(
            store.prefix_root("m", LeafLog::Restricted, 3).unwrap(),
            None
        );
        assert_eq!(store.prefix_root("n", LeafLog::Public, 3).unwrap(), None);
    }
}
