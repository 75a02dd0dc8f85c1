//! Evidence about members: why a member is or was not ok, with the signed notes that prove
//! it. A finding is recorded once, however many harvest rounds find it again.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, StoreError};

/// The latest stored finding of a kind: its row id, detail, note and other note.
type StoredFinding = (i64, String, Option<Vec<u8>>, Option<Vec<u8>>);

/// Evidence kept about a member: one finding, recorded once however many harvests find it
/// again (the same kind, detail and notes as the latest of its kind), so a member left stale
/// for a week is one row with a week between `first_seen_ms` and `last_seen_ms`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Evidence {
    pub kind: String,
    pub detail: String,
    /// Signed notes as received (UTF-8 text).
    pub note: Option<String>,
    pub other_note: Option<String>,
    /// When it was first seen (Unix ms); the same as `first_seen_ms`, kept for readers of the
    /// first version of this object.
    pub at_ms: i64,
    /// When it was first seen (Unix ms).
    pub first_seen_ms: i64,
    /// When a harvest last found it (Unix ms).
    pub last_seen_ms: i64,
    /// How many harvests found it.
    pub count: u64,
}

impl Evidence {
    /// A finding seen once, now.
    pub fn new(
        kind: String,
        detail: String,
        note: Option<String>,
        other_note: Option<String>,
        at_ms: i64,
    ) -> Self {
        Evidence {
            kind,
            detail,
            note,
            other_note,
            at_ms,
            first_seen_ms: at_ms,
            last_seen_ms: at_ms,
            count: 1,
        }
    }
}

impl Store {
    /// Records a finding at `e.at_ms`. The same finding as the latest of its kind (same
    /// detail and notes: a member still serving the same old checkpoint, or the same garbage)
    /// only advances that row's `last_seen_ms` and count; anything else is a new row.
    pub fn add_evidence(&self, origin: &str, e: &Evidence) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let note = e.note.as_deref().map(str::as_bytes);
        let other = e.other_note.as_deref().map(str::as_bytes);
        let latest: Option<StoredFinding> = tx
            .prepare_cached(
                "SELECT id, detail, note, other_note FROM evidence
                 WHERE origin = ?1 AND kind = ?2 ORDER BY id DESC LIMIT 1",
            )?
            .query_row(params![origin, e.kind], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        match latest {
            Some((id, detail, n, o))
                if detail == e.detail && n.as_deref() == note && o.as_deref() == other =>
            {
                tx.prepare_cached(
                    "UPDATE evidence SET last_seen_ms = max(COALESCE(last_seen_ms, at_ms), ?2),
                            seen_count = seen_count + 1
                     WHERE id = ?1",
                )?
                .execute(params![id, e.at_ms])?;
            }
            _ => {
                tx.prepare_cached(
                    "INSERT INTO evidence (origin, kind, detail, note, other_note, at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![origin, e.kind, e.detail, note, other, e.at_ms])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A member's evidence, the most recently seen first.
    pub fn evidence(&self, origin: &str, max: usize) -> Result<Vec<Evidence>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT kind, detail, note, other_note, at_ms, COALESCE(last_seen_ms, at_ms),
                    seen_count
             FROM evidence WHERE origin = ?1
             ORDER BY COALESCE(last_seen_ms, at_ms) DESC, id DESC LIMIT ?2",
        )?;
        let text = |b: Option<Vec<u8>>| b.map(|b| String::from_utf8_lossy(&b).into_owned());
        let rows = stmt.query_map(params![origin, max as i64], |r| {
            let at_ms = r.get(4)?;
            Ok(Evidence {
                kind: r.get(0)?,
                detail: r.get(1)?,
                note: text(r.get(2)?),
                other_note: text(r.get(3)?),
                at_ms,
                first_seen_ms: at_ms,
                last_seen_ms: r.get(5)?,
                count: r.get::<_, i64>(6)?.max(1) as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(kind: &str, detail: &str, note: &str, at_ms: i64) -> Evidence {
        Evidence::new(kind.into(), detail.into(), Some(note.into()), None, at_ms)
    }

    /// Rounds alternating between two findings (the public and the restricted log both stale)
    /// give two rows; a different note is a new finding.
    #[test]
    fn a_repeated_finding_is_one_row_whose_last_seen_advances() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.db")).unwrap();
        for round in 0..5 {
            let at = 1_000 + round * 100;
            store
                .add_evidence("m", &finding("older-checkpoint", "12 after 15", "n12", at))
                .unwrap();
            store
                .add_evidence(
                    "m",
                    &finding("usage-older-checkpoint", "3 after 4", "u3", at),
                )
                .unwrap();
        }
        let rows = store.evidence("m", 100).unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        for r in &rows {
            assert_eq!(
                (r.at_ms, r.first_seen_ms, r.last_seen_ms, r.count),
                (1_000, 1_000, 1_400, 5)
            );
        }
        store
            .add_evidence(
                "m",
                &finding("older-checkpoint", "12 after 15", "other", 1_500),
            )
            .unwrap();
        let rows = store.evidence("m", 100).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].note.as_deref(), rows[0].count), (Some("other"), 1));
        assert!(store.evidence("n", 100).unwrap().is_empty());
    }
}
