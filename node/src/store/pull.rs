//! Where each OCPI pull source stands, per module: the `date_from` of the next incremental pull,
//! and how far an unfinished pull got, so the next one resumes there.
//!
//! Each call is one statement; [`Tx::put_pull_cursor`] is atomic and, like every write, durable
//! once the enclosing [`super::Store::write`] returns.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Reader, StoreError, Tx};

/// One source's position in one module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullCursor {
    /// OCPI DateTime: when the last complete pull started (the next one's `date_from`).
    pub date_from: Option<String>,
    /// OCPI DateTime: when an unfinished pull started.
    pub pending_since: Option<String>,
    /// Objects that unfinished pull has read (the offset to resume at).
    pub pending_offset: u64,
}

impl Tx<'_> {
    /// Replaces the cursor of (`source`, `module`).
    pub fn put_pull_cursor(
        &mut self,
        source: &str,
        module: &str,
        cursor: &PullCursor,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let offset = i64::try_from(cursor.pending_offset).unwrap_or(i64::MAX);
        self.tx
            .prepare_cached(
                "INSERT INTO pull_cursor (source, module, date_from, pending_since, pending_offset, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (source, module) DO UPDATE SET date_from = ?3, pending_since = ?4,
                   pending_offset = ?5, updated_ms = ?6",
            )?
            .execute(params![
                source,
                module,
                cursor.date_from,
                cursor.pending_since,
                offset,
                now_ms
            ])?;
        Ok(())
    }
}

impl Reader<'_> {
    /// The cursor of (`source`, `module`); the default (never pulled) when there is none.
    pub fn pull_cursor(&self, source: &str, module: &str) -> Result<PullCursor, StoreError> {
        cursor(self.conn, source, module)
    }
}

impl Reader<'_> {
    /// How many of `ids` name a stored usage record of `party`.
    pub fn sessions_present(&self, party: &str, ids: &[&str]) -> Result<u64, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM session WHERE party = ?1 AND id = ?2")?;
        let mut n = 0;
        for id in ids {
            if stmt.exists(params![party, id])? {
                n += 1;
            }
        }
        Ok(n)
    }
}

fn cursor(conn: &Connection, source: &str, module: &str) -> Result<PullCursor, StoreError> {
    let found = conn
        .prepare_cached(
            "SELECT date_from, pending_since, pending_offset FROM pull_cursor
             WHERE source = ?1 AND module = ?2",
        )?
        .query_row(params![source, module], |r| {
            Ok(PullCursor {
                date_from: r.get(0)?,
                pending_since: r.get(1)?,
                pending_offset: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
            })
        })
        .optional()?;
    Ok(found.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn cursors_round_trip_per_source_and_module() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("evfed.db")).unwrap();
        let read = |m: &str| {
            store
                .read(|r| r.pull_cursor("https://cpo.example/ocpi/versions", m))
                .unwrap()
        };
        assert_eq!(read("locations"), PullCursor::default());
        let pending = PullCursor {
            date_from: Some("2026-01-01T00:00:00Z".into()),
            pending_since: Some("2026-01-02T00:00:00Z".into()),
            pending_offset: 150,
        };
        store
            .write(|tx| {
                tx.put_pull_cursor(
                    "https://cpo.example/ocpi/versions",
                    "locations",
                    &pending,
                    1,
                )
            })
            .unwrap();
        assert_eq!(read("locations"), pending);
        assert_eq!(read("tariffs"), PullCursor::default());
        let done = PullCursor {
            date_from: Some("2026-01-02T00:00:00Z".into()),
            ..PullCursor::default()
        };
        store
            .write(|tx| {
                tx.put_pull_cursor("https://cpo.example/ocpi/versions", "locations", &done, 2)
            })
            .unwrap();
        assert_eq!(read("locations"), done);
    }
}
