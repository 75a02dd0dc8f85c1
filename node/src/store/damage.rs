//! Deliberate damage, for tests of the integrity checks (`domain::integrity`): each method
//! changes the stored log past every rule the store keeps (no new subtree hashes, no checks),
//! as a disk fault or a hand-edited database would. Compiled only for tests.

use rusqlite::params;

use super::{LogId, Store, StoreError, key_range};

impl Store {
    /// Replaces the bytes of entry `index` of `log`, leaving every stored hash as it was.
    pub(crate) fn damage_entry(
        &self,
        log: LogId,
        index: u64,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        self.damage(|conn| {
            conn.execute(
                "UPDATE log_entry SET bytes = ?2 WHERE key = ?1",
                params![key_range(log, index, index).0, bytes],
            )
        })
    }

    /// Deletes entry `index` of `log`.
    pub(crate) fn damage_delete_entry(&self, log: LogId, index: u64) -> Result<(), StoreError> {
        self.damage(|conn| {
            conn.execute(
                "DELETE FROM log_entry WHERE key = ?1",
                params![key_range(log, index, index).0],
            )
        })
    }

    /// Replaces the stored hash of the complete subtree at (`level`, `index`) of `log`.
    pub(crate) fn damage_subtree(
        &self,
        log: LogId,
        level: u32,
        index: u64,
        hash: &[u8],
    ) -> Result<(), StoreError> {
        self.damage(|conn| {
            conn.execute(
                "UPDATE tree_node SET hash = ?4 WHERE log = ?1 AND level = ?2 AND idx = ?3",
                params![log as i64, level, index as i64, hash],
            )
        })
    }

    /// Runs `f` on the writer's connection outside any transaction of the store's.
    fn damage(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<usize>,
    ) -> Result<(), StoreError> {
        let writer = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        f(&writer.conn)?;
        Ok(())
    }
}
