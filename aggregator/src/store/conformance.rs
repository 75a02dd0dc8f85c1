//! Conformance suite runs against members, each with its full report as the suite wrote it.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, origins_json};

/// A stored conformance run: (origin, at_ms, passed, the suite's JSON report).
pub type ConformanceRun = (String, i64, bool, Vec<u8>);

impl Store {
    /// Records a conformance run.
    pub fn add_conformance_run(
        &self,
        origin: &str,
        at_ms: i64,
        passed: bool,
        report: &[u8],
    ) -> Result<(), StoreError> {
        let conn = self.conn()?;
        conn.prepare_cached(
            "INSERT INTO conformance_run (origin, at_ms, passed, report) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![origin, at_ms, passed, report])?;
        Ok(())
    }

    /// Conformance runs of these members since `since_ms`: (origin, at_ms, passed), newest
    /// first.
    pub fn conformance_runs(
        &self,
        origins: &[String],
        since_ms: i64,
    ) -> Result<Vec<(String, i64, bool)>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT origin, at_ms, passed FROM conformance_run
                 WHERE origin IN (SELECT value FROM json_each(?1)) AND at_ms >= ?2
                 ORDER BY at_ms DESC",
            )?
            .query_map(params![origins_json(origins), since_ms], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect()
        })
    }

    /// Every member's latest conformance run.
    pub fn latest_conformance_runs(&self) -> Result<Vec<ConformanceRun>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT origin, at_ms, passed, report FROM conformance_run c
             WHERE id = (SELECT id FROM conformance_run WHERE origin = c.origin
                         ORDER BY at_ms DESC, id DESC LIMIT 1)
             ORDER BY origin",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The latest conformance report of a member, as stored.
    pub fn latest_conformance_report(
        &self,
        origin: &str,
    ) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        let conn = self.conn()?;
        Ok(conn
            .prepare_cached(
                "SELECT at_ms, report FROM conformance_run WHERE origin = ?1
                 ORDER BY at_ms DESC LIMIT 1",
            )?
            .query_row(params![origin], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::fixtures::store;

    /// The latest conformance run of each member, and its report as stored.
    #[test]
    fn the_latest_conformance_run_wins() {
        let (_dir, store) = store();
        store.add_conformance_run("a", 10, false, b"old").unwrap();
        store.add_conformance_run("a", 20, true, b"new").unwrap();
        store.add_conformance_run("b", 5, true, b"b").unwrap();
        assert_eq!(
            store.latest_conformance_runs().unwrap(),
            [
                ("a".to_owned(), 20, true, b"new".to_vec()),
                ("b".to_owned(), 5, true, b"b".to_vec())
            ]
        );
        assert_eq!(
            store.latest_conformance_report("a").unwrap(),
            Some((20, b"new".to_vec()))
        );
        assert_eq!(store.latest_conformance_report("c").unwrap(), None);
        assert_eq!(
            store.conformance_runs(&["a".into()], 15).unwrap(),
            [("a".to_owned(), 20, true)]
        );
    }
}
