//! What the DPS compliance indicators are computed from: harvest outcomes per hour, status
//! freshness per day, each EVSE's status history folded into access and failed time per month,
//! and conformance runs. Written in the harvest's own transactions; read by `crate::compliance`.

use std::collections::HashMap;
use std::sync::Arc;

use evfed_spec::ocpi::{Hours, Status};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;

use super::{Store, StoreError};
use crate::compliance::reliability;
use crate::usage::{Bucket, bucket_start};

/// A member's usage cursor: verified size and accepted checkpoint.
pub type UsageCursorKey = (u64, Option<Vec<u8>>);

/// Upper bounds (seconds) of the freshness histogram's buckets; the last is open.
pub const LAG_BUCKETS_S: [i64; 15] = [
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    1_800,
    3_600,
    21_600,
    86_400,
    i64::MAX,
];

/// A status an EVSE took at a moment, from a verified entry.
#[derive(Debug, Clone)]
pub struct StatusEvent {
    /// `CC*PID`, shared by the events of one location in a batch.
    pub party: Arc<str>,
    pub location_id: Arc<str>,
    pub evse_uid: String,
    pub status: Status,
    pub at_ms: i64,
    /// A rapid (≥ 50 kW) charge point.
    pub rapid: bool,
    /// The location's opening times (`None`: always open).
    pub hours: Option<Hours>,
    /// From an `evse_status` entry, so it counts for freshness (a whole location does not).
    pub live: bool,
}

/// A stored conformance run: (origin, at_ms, passed, the suite's JSON report).
pub type ConformanceRun = (String, i64, bool, Vec<u8>);

/// Harvests attempted and succeeded.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Availability {
    pub attempts: u64,
    pub ok: u64,
}

/// One EVSE's access and failed time over a period.
#[derive(Debug, Clone, Serialize)]
pub struct EvseReliability {
    pub origin: String,
    pub party: String,
    pub location_id: String,
    pub evse_uid: String,
    pub rapid: bool,
    pub access_ms: i64,
    pub failed_ms: i64,
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

#[derive(Debug)]
struct EvseState {
    status: Status,
    since_ms: i64,
    rapid: bool,
    hours: Option<Hours>,
}

type EvseKey<'a> = (&'a str, &'a str, &'a str);

fn status_of(s: &str) -> Result<Status, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| StoreError::Corrupt(format!("EVSE status {s:?}")))
}

fn status_str(s: Status) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Folds a batch's status events into each EVSE's state and monthly access/failed time, and
/// their lags into the day's freshness histogram. An event older than what is known of its
/// EVSE changes nothing (that time was already counted).
pub(super) fn apply_events(
    tx: &Transaction<'_>,
    origin: &str,
    events: &[StatusEvent],
    checkpoint_ms: Option<i64>,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut states: HashMap<EvseKey<'_>, Option<EvseState>> = HashMap::new();
    let mut months: HashMap<(EvseKey<'_>, i64), (i64, i64)> = HashMap::new();
    let mut lags = [0u64; LAG_BUCKETS_S.len()];
    let mut lagged = false;
    for ev in events {
        if ev.live
            && let Some(cp) = checkpoint_ms
        {
            let lag_s = (cp - ev.at_ms).max(0) / 1000;
            let i = LAG_BUCKETS_S
                .iter()
                .position(|b| lag_s <= *b)
                .unwrap_or(LAG_BUCKETS_S.len() - 1);
            lags[i] += 1;
            lagged = true;
        }
        let key = (&*ev.party, &*ev.location_id, ev.evse_uid.as_str());
        let state = match states.entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(load_state(tx, origin, key)?),
        };
        match state {
            Some(s) if ev.at_ms >= s.since_ms => {
                for span in reliability::spans(s.status, s.hours.as_ref(), s.since_ms, ev.at_ms) {
                    let m = months.entry((key, span.month_ms)).or_default();
                    m.0 += span.access_ms;
                    m.1 += span.failed_ms;
                }
                s.status = ev.status;
                s.since_ms = ev.at_ms;
                s.rapid = ev.rapid;
                s.hours = ev.hours.clone();
            }
            Some(_) => {}
            None => {
                *state = Some(EvseState {
                    status: ev.status,
                    since_ms: ev.at_ms,
                    rapid: ev.rapid,
                    hours: ev.hours.clone(),
                })
            }
        }
    }
    for ((party, location_id, evse_uid), state) in &states {
        let Some(s) = state else { continue };
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
    for (((party, location_id, evse_uid), month_ms), (access, failed)) in &months {
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
            month_ms,
            access,
            failed
        ])?;
    }
    if lagged && let Some(cp) = checkpoint_ms {
        let day = bucket_start(cp, Bucket::Day);
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
        counts.resize(LAG_BUCKETS_S.len(), 0);
        for (c, n) in counts.iter_mut().zip(lags) {
            *c += n;
        }
        tx.prepare_cached(
            "INSERT OR REPLACE INTO freshness_day (origin, day_ms, counts) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![origin, day, serde_json::json!(counts).to_string()])?;
    }
    Ok(())
}

fn load_state(
    tx: &Transaction<'_>,
    origin: &str,
    (party, location_id, evse_uid): EvseKey<'_>,
) -> Result<Option<EvseState>, StoreError> {
    let row: Option<(String, i64, bool, Option<String>)> = tx
        .prepare_cached(
            "SELECT status, since_ms, rapid, hours FROM evse_state
             WHERE origin = ?1 AND party = ?2 AND location_id = ?3 AND evse_uid = ?4",
        )?
        .query_row(params![origin, party, location_id, evse_uid], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    row.map(|(status, since_ms, rapid, hours)| {
        Ok(EvseState {
            status: status_of(&status)?,
            since_ms,
            rapid,
            hours: hours
                .map(|h| serde_json::from_str(&h))
                .transpose()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        })
    })
    .transpose()
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

fn origins_json(origins: &[String]) -> String {
    serde_json::json!(origins).to_string()
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

    /// Harvests of these members since `since_ms` (on the reader connection, as every read
    /// here but [`Store::reliability`]: a harvest's write transaction does not hold it up).
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

    /// The freshness histogram of these members since `since_ms` (counts per
    /// [`LAG_BUCKETS_S`] bucket).
    pub fn lag_counts(&self, origins: &[String], since_ms: i64) -> Result<Vec<u64>, StoreError> {
        let days: Vec<String> = self.read(|c| {
            c.prepare_cached(
                "SELECT counts FROM freshness_day
                 WHERE origin IN (SELECT value FROM json_each(?1)) AND day_ms >= ?2",
            )?
            .query_map(params![origins_json(origins), since_ms], |r| r.get(0))?
            .collect()
        })?;
        let mut total = vec![0u64; LAG_BUCKETS_S.len()];
        for json in days {
            let counts: Vec<u64> =
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            for (t, c) in total.iter_mut().zip(counts) {
                *t += c;
            }
        }
        Ok(total)
    }

    /// Access and failed time of every EVSE of these members in `[from_ms, to_ms)`: the
    /// closed months from `evse_month`, plus each EVSE's current status from its last change
    /// until `to_ms` (bounded to `[from_ms, to_ms)`). Months are whole, so `from_ms` should be
    /// a month start.
    pub fn reliability(
        &self,
        origins: &[String],
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<EvseReliability>, StoreError> {
        let conn = self.conn()?;
        let mut by_evse: HashMap<(String, String, String, String), EvseReliability> =
            HashMap::new();
        let mut stmt = conn.prepare_cached(
            "SELECT origin, party, location_id, evse_uid, status, since_ms, rapid, hours
             FROM evse_state WHERE origin IN (SELECT value FROM json_each(?1))",
        )?;
        let rows = stmt.query_map(params![origins_json(origins)], |r| {
            Ok((
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?),
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, bool>(6)?,
                r.get::<_, Option<String>>(7)?,
            ))
        })?;
        for row in rows {
            let (key, status, since, rapid, hours) = row?;
            let hours: Option<Hours> = hours
                .map(|h| serde_json::from_str(&h))
                .transpose()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let (origin, party, location_id, evse_uid): (String, String, String, String) =
                key.clone();
            let e = by_evse.entry(key).or_insert(EvseReliability {
                origin,
                party,
                location_id,
                evse_uid,
                rapid,
                access_ms: 0,
                failed_ms: 0,
            });
            let (a, b) = (since.max(from_ms), to_ms);
            for span in reliability::spans(status_of(&status)?, hours.as_ref(), a, b) {
                e.access_ms += span.access_ms;
                e.failed_ms += span.failed_ms;
            }
        }
        let mut stmt = conn.prepare_cached(
            "SELECT origin, party, location_id, evse_uid, SUM(access_ms), SUM(failed_ms)
             FROM evse_month
             WHERE origin IN (SELECT value FROM json_each(?1)) AND month_ms >= ?2 AND month_ms < ?3
             GROUP BY origin, party, location_id, evse_uid",
        )?;
        let rows = stmt.query_map(params![origins_json(origins), from_ms, to_ms], |r| {
            Ok((
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?),
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        for row in rows {
            let (key, access, failed) = row?;
            if let Some(e) = by_evse.get_mut(&key) {
                e.access_ms += access;
                e.failed_ms += failed;
            }
        }
        let mut out: Vec<EvseReliability> = by_evse.into_values().collect();
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
impl Store {
    /// The harvest's write of status events, for tests that build a store without a log,
    /// moving the member's cursor on as [`Store::apply`] does.
    pub(crate) fn apply_events_for_test(
        &self,
        origin: &str,
        events: &[StatusEvent],
        checkpoint_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        apply_events(&tx, origin, events, checkpoint_ms)?;
        // The accepted checkpoint is what moves here (the size would need a frontier).
        tx.execute(
            "UPDATE member SET checkpoint = randomblob(16) WHERE origin = ?1",
            [origin],
        )?;
        tx.commit()?;
        Ok(())
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
