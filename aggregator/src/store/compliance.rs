//! What the DPS compliance indicators are computed from: harvest outcomes per hour, status
//! freshness per day, each EVSE's latest status and its closed spans' access and failed time
//! per month, and conformance runs. Written in the harvest's own transactions, from what
//! `crate::compliance::history` folded; read back as rows for `crate::compliance`.

use std::collections::HashMap;

use evfed_spec::ocpi::{Hours, Status};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;

use super::usage::{Bucket, bucket_start};
use super::{Store, StoreError, origins_json};

/// A member's usage cursor: verified size and accepted checkpoint.
pub type UsageCursorKey = (u64, Option<Vec<u8>>);

/// Harvests attempted and succeeded.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Availability {
    pub attempts: u64,
    pub ok: u64,
}

/// One EVSE's stored status and what its closed spans add up to, as the reliability figures
/// need them ([`Store::evse_history`]).
#[derive(Debug, Clone)]
pub struct EvseHistoryRow {
    pub party: String,
    pub location_id: String,
    pub evse_uid: String,
    /// The current status as stored (OCPI spelling) and since when.
    pub status: String,
    pub since_ms: i64,
    pub rapid: bool,
    /// The location's opening times as stored (JSON); `None`: always open.
    pub hours: Option<String>,
    /// (access, failed) ms of the closed months of the previous year and of this year, or
    /// `None` when the caller already had them for this `since_ms`.
    pub closed: Option<[(i64, i64); 2]>,
}

/// A member's EVSE history in one snapshot, with the member's cursor in that same snapshot:
/// `evse_state` and `evse_month` change only in [`Store::apply`], which also moves the
/// cursor, so (`size`, `checkpoint`) unchanged means these rows are unchanged.
#[derive(Debug, Clone, Default)]
pub struct EvseHistory {
    pub size: u64,
    pub checkpoint: Option<Vec<u8>>,
    pub rows: Vec<EvseHistoryRow>,
}

/// One EVSE of a member: (party, location id, EVSE uid).
pub type EvseKey<'a> = (&'a str, &'a str, &'a str);

/// An EVSE's latest verified status and since when (`evse_state`).
#[derive(Debug, Clone, PartialEq)]
pub struct EvseState {
    pub status: Status,
    pub since_ms: i64,
    /// A rapid (≥ 50 kW) charge point.
    pub rapid: bool,
    /// The location's opening times (`None`: always open).
    pub hours: Option<Hours>,
}

/// Access and failed time that an EVSE's closed status spans add to one UTC month.
#[derive(Debug, Clone, PartialEq)]
pub struct EvseMonthAdd<'a> {
    pub evse: EvseKey<'a>,
    pub month_ms: i64,
    pub access_ms: i64,
    pub failed_ms: i64,
}

/// What a verified batch's status events change in the compliance records, as the harvest
/// folded them (`crate::compliance::history::fold`), written by [`Store::apply`] in the
/// batch's transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusRecords<'a> {
    /// Each changed EVSE's new latest state.
    pub states: Vec<(EvseKey<'a>, EvseState)>,
    /// Time added to closed months (summed onto what is stored).
    pub months: Vec<EvseMonthAdd<'a>>,
    /// Lag counts, one per freshness bucket, added to the day starting at the first value.
    pub freshness: Option<(i64, Vec<u64>)>,
}

/// One EVSE's latest state and the access and failed time of its closed months within a
/// range, as [`Store::evse_records`] reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct EvseRecord {
    pub origin: String,
    pub party: String,
    pub location_id: String,
    pub evse_uid: String,
    pub state: EvseState,
    /// Access time of its closed months in the range.
    pub access_ms: i64,
    /// Of that, failed time.
    pub failed_ms: i64,
}

fn status_of(s: &str) -> Result<Status, StoreError> {
    Status::ALL
        .into_iter()
        .find(|status| status.as_str() == s)
        .ok_or_else(|| StoreError::Corrupt(format!("EVSE status {s:?}")))
}

fn status_str(s: Status) -> String {
    s.as_str().to_owned()
}

fn hours_of(hours: Option<String>) -> Result<Option<Hours>, StoreError> {
    hours
        .map(|h| serde_json::from_str(&h))
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// `counts` added to `total` bucket by bucket (the longer one's length).
fn add_counts(total: &mut Vec<u64>, counts: &[u64]) {
    if total.len() < counts.len() {
        total.resize(counts.len(), 0);
    }
    for (t, c) in total.iter_mut().zip(counts) {
        *t += c;
    }
}

/// Writes what a batch's status events changed: each EVSE's new state, the time added to its
/// months, and the lags added to the day's freshness histogram.
pub(super) fn write_statuses(
    tx: &Transaction<'_>,
    origin: &str,
    records: &StatusRecords<'_>,
) -> Result<(), StoreError> {
    for ((party, location_id, evse_uid), s) in &records.states {
        let hours = s
            .hours
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.prepare_cached(
            "INSERT OR REPLACE INTO evse_state
                 (origin, party, location_id, evse_uid, status, since_ms, rapid, hours)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            origin,
            party,
            location_id,
            evse_uid,
            status_str(s.status),
            s.since_ms,
            s.rapid,
            hours
        ])?;
    }
    for m in &records.months {
        let (party, location_id, evse_uid) = m.evse;
        tx.prepare_cached(
            "INSERT INTO evse_month
                 (origin, party, location_id, evse_uid, month_ms, access_ms, failed_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT DO UPDATE SET access_ms = access_ms + excluded.access_ms,
                                       failed_ms = failed_ms + excluded.failed_ms",
        )?
        .execute(params![
            origin,
            party,
            location_id,
            evse_uid,
            m.month_ms,
            m.access_ms,
            m.failed_ms
        ])?;
    }
    if let Some((day, lags)) = &records.freshness {
        let old: Option<String> = tx
            .prepare_cached("SELECT counts FROM freshness_day WHERE origin = ?1 AND day_ms = ?2")?
            .query_row(params![origin, day], |r| r.get(0))
            .optional()?;
        let mut counts: Vec<u64> = match old {
            Some(json) => {
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?
            }
            None => Vec::new(),
        };
        add_counts(&mut counts, lags);
        tx.prepare_cached(
            "INSERT OR REPLACE INTO freshness_day (origin, day_ms, counts) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![origin, day, serde_json::json!(counts).to_string()])?;
    }
    Ok(())
}

/// Counts one harvest attempt of `origin` in its hour.
pub(super) fn count_harvest(
    tx: &Transaction<'_>,
    origin: &str,
    now_ms: i64,
    ok: bool,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO harvest_hour (origin, hour_ms, attempts, ok) VALUES (?1, ?2, 1, ?3)
         ON CONFLICT DO UPDATE SET attempts = attempts + 1, ok = ok + excluded.ok",
    )?
    .execute(params![
        origin,
        bucket_start(now_ms, Bucket::Hour),
        i64::from(ok)
    ])?;
    Ok(())
}

/// `[(access, failed) before this_year, (access, failed) from this_year]` from `evse_month` rows
/// of months from `last_year`.
const CLOSED_SUMS: &str = "SUM(CASE WHEN month_ms < ?2 THEN access_ms ELSE 0 END),
     SUM(CASE WHEN month_ms < ?2 THEN failed_ms ELSE 0 END),
     SUM(CASE WHEN month_ms >= ?2 THEN access_ms ELSE 0 END),
     SUM(CASE WHEN month_ms >= ?2 THEN failed_ms ELSE 0 END)";

fn closed_of(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<[(i64, i64); 2]> {
    Ok([
        (r.get(at)?, r.get(at + 1)?),
        (r.get(at + 2)?, r.get(at + 3)?),
    ])
}

impl Store {
    /// One member's EVSEs: each one's stored status, since when and opening times, and its
    /// closed months' access and failed time in `[last_year_ms, this_year_ms)` and from
    /// `this_year_ms` on, read in one snapshot of the reader connection (a harvest's write
    /// never blocks it) together with the member's cursor. `known(party, location, evse,
    /// since_ms)` says the caller already holds that EVSE's closed months for that `since_ms`
    /// (they change only when `since_ms` moves on), so only the others are read: one
    /// aggregate when many changed, else one indexed lookup each.
    pub fn evse_history(
        &self,
        origin: &str,
        last_year_ms: i64,
        this_year_ms: i64,
        known: &dyn Fn(&str, &str, &str, i64) -> bool,
    ) -> Result<EvseHistory, StoreError> {
        self.read(|c| {
            let tx = c.unchecked_transaction()?;
            let (size, checkpoint): (i64, Option<Vec<u8>>) = tx
                .prepare_cached("SELECT size, checkpoint FROM member WHERE origin = ?1")?
                .query_row(params![origin], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
                .unwrap_or((0, None));
            let mut rows: Vec<EvseHistoryRow> = tx
                .prepare_cached(
                    "SELECT party, location_id, evse_uid, status, since_ms, rapid, hours
                     FROM evse_state WHERE origin = ?1",
                )?
                .query_map(params![origin], |r| {
                    Ok(EvseHistoryRow {
                        party: r.get(0)?,
                        location_id: r.get(1)?,
                        evse_uid: r.get(2)?,
                        status: r.get(3)?,
                        since_ms: r.get(4)?,
                        rapid: r.get(5)?,
                        hours: r.get(6)?,
                        closed: None,
                    })
                })?
                .collect::<Result<_, _>>()?;
            let wanted: Vec<usize> = (0..rows.len())
                .filter(|&i| {
                    let r = &rows[i];
                    !known(&r.party, &r.location_id, &r.evse_uid, r.since_ms)
                })
                .collect();
            if wanted.len() * 8 > rows.len() {
                let mut index: HashMap<(&str, &str, &str), usize> = HashMap::new();
                for &i in &wanted {
                    let r = &rows[i];
                    index.insert((&r.party, &r.location_id, &r.evse_uid), i);
                }
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT party, location_id, evse_uid, {CLOSED_SUMS} FROM evse_month
                     WHERE origin = ?1 AND month_ms >= ?3
                     GROUP BY party, location_id, evse_uid"
                ))?;
                let mut found: Vec<(usize, [(i64, i64); 2])> = Vec::new();
                let mut q = stmt.query(params![origin, this_year_ms, last_year_ms])?;
                while let Some(r) = q.next()? {
                    let key: (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
                    if let Some(&i) = index.get(&(key.0.as_str(), key.1.as_str(), key.2.as_str())) {
                        found.push((i, closed_of(r, 3)?));
                    }
                }
                drop(index);
                for &i in &wanted {
                    rows[i].closed = Some([(0, 0); 2]);
                }
                for (i, closed) in found {
                    rows[i].closed = Some(closed);
                }
            } else {
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT {CLOSED_SUMS} FROM evse_month
                     WHERE origin = ?1 AND month_ms >= ?3
                       AND party = ?4 AND location_id = ?5 AND evse_uid = ?6"
                ))?;
                for i in wanted {
                    let r = &rows[i];
                    let closed = stmt.query_row(
                        params![
                            origin,
                            this_year_ms,
                            last_year_ms,
                            r.party,
                            r.location_id,
                            r.evse_uid
                        ],
                        |r| {
                            Ok([
                                (
                                    r.get::<_, Option<i64>>(0)?.unwrap_or(0),
                                    r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                                ),
                                (
                                    r.get::<_, Option<i64>>(2)?.unwrap_or(0),
                                    r.get::<_, Option<i64>>(3)?.unwrap_or(0),
                                ),
                            ])
                        },
                    )?;
                    rows[i].closed = Some(closed);
                }
            }
            Ok(EvseHistory {
                size: size as u64,
                checkpoint,
                rows,
            })
        })
    }

    /// The stored state of each of these EVSEs of a member (`None`: never seen), in the order
    /// asked, on the reader connection: the harvest folds a batch's events onto them before it
    /// applies the batch (it is the only writer of a member's EVSE states, one batch at a time).
    pub fn evse_states(
        &self,
        origin: &str,
        keys: &[EvseKey<'_>],
    ) -> Result<Vec<Option<EvseState>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        /// An `evse_state` row as stored: status, since, rapid, opening times.
        type Raw = (String, i64, bool, Option<String>);
        let rows: Vec<Option<Raw>> = self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT status, since_ms, rapid, hours FROM evse_state
                 WHERE origin = ?1 AND party = ?2 AND location_id = ?3 AND evse_uid = ?4",
            )?;
            keys.iter()
                .map(|(party, location_id, evse_uid)| {
                    stmt.query_row(params![origin, party, location_id, evse_uid], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .optional()
                })
                .collect()
        })?;
        rows.into_iter()
            .map(|row| {
                row.map(|(status, since_ms, rapid, hours)| {
                    Ok(EvseState {
                        status: status_of(&status)?,
                        since_ms,
                        rapid,
                        hours: hours_of(hours)?,
                    })
                })
                .transpose()
            })
            .collect()
    }

    /// Harvests of these members since `since_ms` (on the reader connection, as the other
    /// reads here: a harvest's write transaction does not hold it up).
    pub fn availability(
        &self,
        origins: &[String],
        since_ms: i64,
    ) -> Result<Availability, StoreError> {
        let (attempts, ok): (i64, i64) = self.read(|c| {
            c.prepare_cached(
                "SELECT COALESCE(SUM(attempts), 0), COALESCE(SUM(ok), 0) FROM harvest_hour
                 WHERE origin IN (SELECT value FROM json_each(?1)) AND hour_ms >= ?2",
            )?
            .query_row(params![origins_json(origins), since_ms], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })?;
        Ok(Availability {
            attempts: attempts as u64,
            ok: ok as u64,
        })
    }
    /// The freshness histogram of these members since `since_ms`: counts per bucket of
    /// `crate::compliance::LAG_BUCKETS_S`, summed over members and days.
    pub fn lag_counts(&self, origins: &[String], since_ms: i64) -> Result<Vec<u64>, StoreError> {
        let days: Vec<String> = self.read(|c| {
            c.prepare_cached(
                "SELECT counts FROM freshness_day
                 WHERE origin IN (SELECT value FROM json_each(?1)) AND day_ms >= ?2",
            )?
            .query_map(params![origins_json(origins), since_ms], |r| r.get(0))?
            .collect()
        })?;
        let mut total = Vec::new();
        for json in days {
            let counts: Vec<u64> =
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            add_counts(&mut total, &counts);
        }
        Ok(total)
    }

    /// Every EVSE of these members with its latest state, and the access and failed time of
    /// its closed months in `[from_ms, to_ms)` (whole months, so `from_ms` should be a month
    /// start), in one snapshot of the reader connection, ordered by party, location and EVSE.
    pub fn evse_records(
        &self,
        origins: &[String],
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<EvseRecord>, StoreError> {
        type Key = (String, String, String, String);
        type Raw = (Key, String, i64, bool, Option<String>);
        let (states, months): (Vec<Raw>, HashMap<Key, (i64, i64)>) = self.read(|c| {
            let tx = c.unchecked_transaction()?;
            let states = tx
                .prepare_cached(
                    "SELECT origin, party, location_id, evse_uid, status, since_ms, rapid, hours
                     FROM evse_state WHERE origin IN (SELECT value FROM json_each(?1))",
                )?
                .query_map(params![origins_json(origins)], |r| {
                    Ok((
                        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?),
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                })?
                .collect::<Result<_, _>>()?;
            let months = tx
                .prepare_cached(
                    "SELECT origin, party, location_id, evse_uid, SUM(access_ms), SUM(failed_ms)
                     FROM evse_month
                     WHERE origin IN (SELECT value FROM json_each(?1))
                       AND month_ms >= ?2 AND month_ms < ?3
                     GROUP BY origin, party, location_id, evse_uid",
                )?
                .query_map(params![origins_json(origins), from_ms, to_ms], |r| {
                    Ok((
                        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?),
                        (r.get(4)?, r.get(5)?),
                    ))
                })?
                .collect::<Result<_, _>>()?;
            Ok((states, months))
        })?;
        let mut out = Vec::with_capacity(states.len());
        for (key, status, since_ms, rapid, hours) in states {
            let (access_ms, failed_ms) = months.get(&key).copied().unwrap_or((0, 0));
            let (origin, party, location_id, evse_uid) = key;
            out.push(EvseRecord {
                origin,
                party,
                location_id,
                evse_uid,
                state: EvseState {
                    status: status_of(&status)?,
                    since_ms,
                    rapid,
                    hours: hours_of(hours)?,
                },
                access_ms,
                failed_ms,
            });
        }
        out.sort_by(|a, b| {
            (&a.party, &a.location_id, &a.evse_uid).cmp(&(&b.party, &b.location_id, &b.evse_uid))
        });
        Ok(out)
    }

    /// Sessions these members delivered per UTC month (`YYYY-MM`, sessions), oldest first.
    pub fn usage_months(&self, origins: &[String]) -> Result<Vec<(String, u64)>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT strftime('%Y-%m', start_ms / 1000, 'unixepoch') AS month, COUNT(*)
                 FROM session WHERE origin IN (SELECT value FROM json_each(?1))
                 GROUP BY month ORDER BY month",
            )?
            .query_map(params![origins_json(origins)], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
            })?
            .collect()
        })
    }

    /// One member's sessions per UTC month, as [`Store::usage_months`], and its usage cursor
    /// (size, checkpoint) in the same snapshot: sessions change only when that moves.
    pub fn member_usage_months(
        &self,
        origin: &str,
    ) -> Result<(UsageCursorKey, Vec<(String, u64)>), StoreError> {
        self.read(|c| {
            let tx = c.unchecked_transaction()?;
            let (size, checkpoint): (Option<i64>, Option<Vec<u8>>) = tx
                .prepare_cached(
                    "SELECT usage_size, usage_checkpoint FROM member WHERE origin = ?1",
                )?
                .query_row(params![origin], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
                .unwrap_or((None, None));
            let months = tx
                .prepare_cached(
                    "SELECT strftime('%Y-%m', start_ms / 1000, 'unixepoch') AS month, COUNT(*)
                     FROM session WHERE origin = ?1 GROUP BY month ORDER BY month",
                )?
                .query_map(params![origin], |r| {
                    Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
                })?
                .collect::<Result<_, _>>()?;
            Ok(((size.unwrap_or(0) as u64, checkpoint), months))
        })
    }
}

#[cfg(test)]
impl Store {
    /// The harvest's write of folded status events, for tests that build a store without a
    /// log, moving the member's cursor on as [`Store::apply`] does.
    pub(crate) fn write_statuses_for_test(
        &self,
        origin: &str,
        records: &StatusRecords<'_>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        write_statuses(&tx, origin, records)?;
        // The accepted checkpoint is what moves here (the size would need a frontier).
        tx.execute(
            "UPDATE member SET checkpoint = randomblob(16) WHERE origin = ?1",
            [origin],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Runs `sql` on the writer connection: for tests that store what this binary would
    /// never write.
    pub(crate) fn execute_for_test(&self, sql: &str) -> Result<usize, StoreError> {
        Ok(self.conn()?.execute(sql, [])?)
    }

    /// One harvest attempt at `now_ms`, as the harvest counts it.
    pub(crate) fn count_harvest_for_test(
        &self,
        origin: &str,
        now_ms: i64,
        ok: bool,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        count_harvest(&tx, origin, now_ms, ok)?;
        tx.commit()?;
        Ok(())
    }

    /// `n` sessions of `origin` spread evenly over `[from_ms, to_ms)` (rows only, no roll-up),
    /// moving its usage cursor on as [`Store::apply_usage`] does.
    pub(crate) fn add_sessions_for_test(
        &self,
        origin: &str,
        party: &str,
        n: usize,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let step = (to_ms - from_ms) / (n.max(1) as i64);
        for i in 0..n {
            let start = from_ms + i as i64 * step;
            tx.prepare_cached(
                "INSERT INTO session (origin, party, id, location_id, evse_uid, borough, ward,
                                      start_ms, end_ms, kwh)
                 VALUES (?1, ?2, ?3, 'L', 'E', '', '', ?4, ?5, 7.5)",
            )?
            .execute(params![
                origin,
                party,
                format!("S{from_ms}-{i}"),
                start,
                start + 3_600_000
            ])?;
        }
        tx.execute(
            "UPDATE member SET usage_state = 'ok', usage_checkpoint = randomblob(16)
             WHERE origin = ?1",
            [origin],
        )?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use evfed_spec::ocpi::Status;

    use super::*;
    use crate::store::fixtures::{member, store};

    /// 2026-03-01T00:00:00Z.
    const MARCH: i64 = 1_772_323_200_000;
    const DAY: i64 = 86_400_000;

    fn state(status: Status, since_ms: i64) -> EvseState {
        EvseState {
            status,
            since_ms,
            rapid: true,
            hours: None,
        }
    }

    /// Status records written in two batches read back as each EVSE's latest state with its
    /// closed months summed within the range asked; the lag counts of a day add up.
    #[test]
    fn status_records_add_up_and_read_back_by_range() {
        let (_dir, store) = store();
        store.add_member(&member("a.example")).unwrap();
        let e1 = ("GB*AAA", "L1", "E1");
        let month = |month_ms, access_ms, failed_ms| EvseMonthAdd {
            evse: e1,
            month_ms,
            access_ms,
            failed_ms,
        };
        let first = StatusRecords {
            states: vec![(e1, state(Status::OutOfOrder, MARCH - DAY))],
            months: vec![month(MARCH - 28 * DAY, 10, 4)],
            freshness: Some((MARCH, vec![1, 2])),
        };
        let second = StatusRecords {
            states: vec![(e1, state(Status::Available, MARCH + DAY))],
            months: vec![month(MARCH - 28 * DAY, 5, 5), month(MARCH, DAY, DAY)],
            freshness: Some((MARCH, vec![0, 1, 7])),
        };
        store.write_statuses_for_test("a.example", &first).unwrap();
        store.write_statuses_for_test("a.example", &second).unwrap();
        let origins = ["a.example".to_owned()];
        let records = store
            .evse_records(&origins, MARCH - 28 * DAY, MARCH)
            .unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].state, state(Status::Available, MARCH + DAY));
        assert_eq!(
            (records[0].access_ms, records[0].failed_ms),
            (15, 9),
            "February only"
        );
        let records = store
            .evse_records(&origins, MARCH - 28 * DAY, MARCH + 31 * DAY)
            .unwrap();
        assert_eq!(records[0].access_ms, 15 + DAY);
        assert!(
            store
                .evse_records(&["b.example".into()], 0, MARCH)
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.lag_counts(&origins, MARCH).unwrap(), [1, 3, 7]);
        assert_eq!(
            store.lag_counts(&origins, MARCH + DAY).unwrap(),
            Vec::<u64>::new()
        );
        let history = store
            .evse_history(
                "a.example",
                MARCH - 365 * DAY,
                MARCH - 59 * DAY,
                &|_, _, _, _| false,
            )
            .unwrap();
        assert_eq!(history.rows.len(), 1);
        assert_eq!(history.rows[0].status, "AVAILABLE");
        assert_eq!(history.rows[0].closed, Some([(0, 0), (15 + DAY, 9 + DAY)]));
    }

    /// A status this binary would never store is `Corrupt`, for the harvest's fold and for the
    /// indicators alike.
    #[test]
    fn an_unknown_stored_status_is_corrupt() {
        let (_dir, store) = store();
        store
            .write_statuses_for_test(
                "a.example",
                &StatusRecords {
                    states: vec![(("p", "l", "e"), state(Status::Charging, 1))],
                    ..Default::default()
                },
            )
            .unwrap();
        store
            .execute_for_test("UPDATE evse_state SET status = 'ASLEEP'")
            .unwrap();
        for err in [
            store
                .evse_states("a.example", &[("p", "l", "e")])
                .unwrap_err(),
            store
                .evse_records(&["a.example".into()], 0, 10)
                .unwrap_err(),
        ] {
            assert!(
                matches!(&err, StoreError::Corrupt(why) if why.contains("ASLEEP")),
                "{err:?}"
            );
        }
    }
}
