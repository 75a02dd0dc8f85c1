//! Sessions from members' restricted logs and their roll-ups per UTC hour, day and month at
//! three levels (London, borough, ward): written by [`Store::apply_usage`], read as roll-up
//! rows, the range of data, and one location's session intervals. The periods are the
//! roll-ups' keys, so their arithmetic ([`bucket_start`], [`bucket_end`]) lives here.

use std::collections::HashMap;

use chrono::{Datelike, TimeZone, Utc};
use evfed_spec::checkpoint::EntryBatch;
use evfed_spec::merkle::Frontier;
use evfed_spec::trust::Verified;
use rusqlite::{OptionalExtension, params};

use super::leaves::{self, LeafLog};
use super::{Store, StoreError};

/// One session's figures, as stored and rolled up.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub borough: String,
    pub ward: String,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub kwh: f64,
}

/// A session from a verified `session` entry, placed in its location's borough and ward.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub party: String,
    pub id: String,
    pub location_id: String,
    pub evse_uid: String,
    pub row: SessionRow,
}

/// A verified step of a member's restricted log.
#[derive(Debug)]
pub struct UsageStep<'a> {
    pub batch: &'a Verified<EntryBatch>,
    pub frontier: &'a Frontier,
    pub checkpoint: &'a [u8],
    pub sessions: &'a [NewSession],
}

/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;

/// A UTC period of the roll-ups: how a range is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
    Month,
}

/// The start of the UTC period of `bucket` holding `ms`.
pub fn bucket_start(ms: i64, bucket: Bucket) -> i64 {
    match bucket {
        Bucket::Hour => ms.div_euclid(HOUR_MS) * HOUR_MS,
        Bucket::Day => ms.div_euclid(24 * HOUR_MS) * 24 * HOUR_MS,
        Bucket::Month => {
            let t = Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
            Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0)
                .single()
                .map(|m| m.timestamp_millis())
                .unwrap_or(ms)
        }
    }
}

/// The end (the next period's start) of the period starting at `start`.
pub fn bucket_end(start: i64, bucket: Bucket) -> i64 {
    match bucket {
        Bucket::Hour => start + HOUR_MS,
        Bucket::Day => start + 24 * HOUR_MS,
        Bucket::Month => {
            let t = Utc.timestamp_millis_opt(start).single().unwrap_or_default();
            let (y, m) = if t.month() == 12 {
                (t.year() + 1, 1)
            } else {
                (t.year(), t.month() + 1)
            };
            Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
                .single()
                .map(|m| m.timestamp_millis())
                .unwrap_or(start)
        }
    }
}

/// One read of roll-up rows ([`Store::roll_up_rows`]): a level, what names each row, the
/// filters, and runs of whole periods, each read from the roll-up of its period.
#[derive(Debug, Clone)]
pub struct RollUpRead<'a> {
    /// 0 London, 1 borough, 2 ward: the coarsest level that answers.
    pub level: i64,
    /// What names each row's area: `None` London (`""`), else borough (`false`) or ward
    /// (`true`).
    pub by_ward: Option<bool>,
    /// Only this borough (GSS code).
    pub borough: Option<&'a str>,
    /// Only this ward.
    pub ward: Option<&'a str>,
    /// `(bucket, from, to)`: the rows of `bucket`'s roll-up with a start in `[from, to)`.
    pub runs: &'a [(Bucket, i64, i64)],
}

/// One roll-up row as read: one area in one period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollUpRow<'a> {
    pub start_ms: i64,
    /// Borough or ward code, or `""` (unplaced, or London as a whole).
    pub area: &'a str,
    pub sessions: i64,
    pub kwh: f64,
    /// EVSE-time in use within the period.
    pub busy_ms: i64,
}

/// A roll-up row's key: table, level, period start, borough, ward.
type RollUpKey = (&'static str, i64, i64, String, String);

/// Roll-up changes summed by row: sessions, kWh, busy ms. Adds (`sign` 1) or takes away
/// (`sign` -1) a session's share of each period it spans ([`roll_up_cells`]).
#[derive(Debug, Default)]
struct RollUps(HashMap<RollUpKey, (i64, f64, i64)>);

impl RollUps {
    fn add(&mut self, s: &SessionRow, sign: i64) {
        for (table, cells) in roll_up_cells(s, sign) {
            for c in cells {
                let e = self
                    .0
                    .entry((
                        table,
                        c.level,
                        c.start_ms,
                        c.borough.to_owned(),
                        c.ward.to_owned(),
                    ))
                    .or_insert((0, 0.0, 0));
                e.0 += c.sessions;
                e.1 += c.kwh;
                e.2 += c.busy_ms;
            }
        }
    }

    fn write(self, tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
        for ((table, level, start, borough, ward), (sessions, kwh, busy)) in self.0 {
            if sessions == 0 && kwh == 0.0 && busy == 0 {
                continue;
            }
            tx.prepare_cached(&format!(
                "INSERT INTO {table} (level, start_ms, borough, ward, sessions, kwh, busy_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (level, start_ms, borough, ward) DO UPDATE SET
                     sessions = sessions + excluded.sessions,
                     kwh = kwh + excluded.kwh,
                     busy_ms = busy_ms + excluded.busy_ms"
            ))?
            .execute(params![level, start, borough, ward, sessions, kwh, busy])?;
        }
        Ok(())
    }
}

/// One roll-up row's share of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell<'a> {
    /// 0 London, 1 borough, 2 ward.
    pub level: i64,
    pub start_ms: i64,
    pub borough: &'a str,
    pub ward: &'a str,
    pub sessions: i64,
    pub kwh: f64,
    pub busy_ms: i64,
}

/// What a session (times `sign`: 1 to add, -1 to take away) adds to each roll-up table: its
/// count and kWh in the period it started, its EVSE-time in every period it spans, at each of
/// the three levels. An open session counts its start only (it is completed later); at most
/// 31 days of one session are spread (longer is a data error, capped).
pub fn roll_up_cells(s: &SessionRow, sign: i64) -> Vec<(&'static str, Vec<Cell<'_>>)> {
    let end = s
        .end_ms
        .unwrap_or(s.start_ms)
        .clamp(s.start_ms, s.start_ms + 31 * 24 * HOUR_MS);
    let areas = [
        (0, "", ""),
        (1, s.borough.as_str(), ""),
        (2, s.borough.as_str(), s.ward.as_str()),
    ];
    ROLL_UPS
        .iter()
        .map(|&(table, bucket)| {
            let mut cells = Vec::new();
            let first = bucket_start(s.start_ms, bucket);
            let mut period = first;
            loop {
                let next = bucket_end(period, bucket);
                let busy = end.min(next) - s.start_ms.max(period);
                let (sessions, kwh) = if period == first {
                    (sign, s.kwh * sign as f64)
                } else {
                    (0, 0.0)
                };
                if period == first || busy > 0 {
                    for (level, borough, ward) in areas {
                        cells.push(Cell {
                            level,
                            start_ms: period,
                            borough,
                            ward,
                            sessions,
                            kwh,
                            busy_ms: busy.max(0) * sign,
                        });
                    }
                }
                if next >= end || next <= period {
                    break;
                }
                period = next;
            }
            (table, cells)
        })
        .collect()
}

/// The roll-up table of `bucket`'s periods.
fn roll_up_table(bucket: Bucket) -> &'static str {
    match bucket {
        Bucket::Hour => "usage_hour",
        Bucket::Day => "usage_day",
        Bucket::Month => "usage_month",
    }
}

/// The roll-up tables and the period each holds.
pub const ROLL_UPS: [(&str, Bucket); 3] = [
    ("usage_hour", Bucket::Hour),
    ("usage_day", Bucket::Day),
    ("usage_month", Bucket::Month),
];

impl Store {
    /// Hands each roll-up row `read` asks for to `row`, run by run in period order, on the
    /// reader connection (a harvest's write never blocks it). The area borrowed by a row lives
    /// only for the call.
    pub fn roll_up_rows(
        &self,
        read: &RollUpRead<'_>,
        row: &mut dyn FnMut(RollUpRow<'_>),
    ) -> Result<(), StoreError> {
        let area = match read.by_ward {
            None => "''",
            Some(false) => "borough",
            Some(true) => "ward",
        };
        // Only the filters given, so that a borough filter can use the
        // `(level, borough, start_ms)` index.
        let mut filter = String::new();
        if read.borough.is_some() {
            filter.push_str(" AND borough = :borough");
        }
        if read.ward.is_some() {
            filter.push_str(" AND ward = :ward");
        }
        self.read(|c| {
            for &(bucket, from, to) in read.runs {
                let table = roll_up_table(bucket);
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT start_ms, {area}, sessions, kwh, busy_ms FROM {table}
                     WHERE level = :level AND start_ms >= :from AND start_ms < :to{filter}
                     ORDER BY start_ms"
                ))?;
                let mut args: Vec<(&str, &dyn rusqlite::ToSql)> =
                    vec![(":level", &read.level), (":from", &from), (":to", &to)];
                if let Some(b) = &read.borough {
                    args.push((":borough", b));
                }
                if let Some(w) = &read.ward {
                    args.push((":ward", w));
                }
                let mut rows = stmt.query(args.as_slice())?;
                while let Some(r) = rows.next()? {
                    row(RollUpRow {
                        start_ms: r.get(0)?,
                        area: r.get_ref(1)?.as_str()?,
                        sessions: r.get(2)?,
                        kwh: r.get(3)?,
                        busy_ms: r.get(4)?,
                    });
                }
            }
            Ok(())
        })
    }

    /// The first and last period start with data (London level of the monthly roll-up), if
    /// any: where monthly trends start and end.
    pub fn usage_extent(&self) -> Result<Option<(i64, i64)>, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT MIN(start_ms), MAX(start_ms) FROM usage_month WHERE level = 0",
                [],
                |r| Ok(r.get::<_, Option<i64>>(0)?.zip(r.get::<_, Option<i64>>(1)?)),
            )
        })
    }

    /// The sessions of one location (any member's) that overlap `[from_ms, to_ms)`: each one's
    /// start and end (`None` while ongoing), in no particular order.
    pub fn location_sessions(
        &self,
        party: &str,
        location_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(i64, Option<i64>)>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT start_ms, end_ms FROM session
                 WHERE party = ?1 AND location_id = ?2 AND start_ms < ?4
                   AND (end_ms IS NULL OR end_ms > ?3)",
            )?
            .query_map(params![party, location_id, from_ms, to_ms], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect()
        })
    }

    /// Applies one verified step of a member's restricted log: its sessions (each replacing
    /// any earlier version of itself, the hourly roll-up adjusted by the difference) and the
    /// advanced usage cursor, in one transaction.
    pub fn apply_usage(&self, origin: &str, step: &UsageStep<'_>) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        // Roll-up changes are summed over the whole step and each row written once: a night's
        // session touches some fifty rows, and neighbouring sessions share most of them.
        let mut cells = RollUps::default();
        for s in step.sessions {
            let old: Option<SessionRow> = tx
                .prepare_cached(
                    "SELECT borough, ward, start_ms, end_ms, kwh FROM session
                     WHERE origin = ?1 AND party = ?2 AND id = ?3",
                )?
                .query_row(params![origin, s.party, s.id], |r| {
                    Ok(SessionRow {
                        borough: r.get(0)?,
                        ward: r.get(1)?,
                        start_ms: r.get(2)?,
                        end_ms: r.get(3)?,
                        kwh: r.get(4)?,
                    })
                })
                .optional()?;
            if let Some(old) = &old {
                cells.add(old, -1);
            }
            cells.add(&s.row, 1);
            tx.prepare_cached(
                "INSERT OR REPLACE INTO session (origin, party, id, location_id, evse_uid, borough,
                                                 ward, start_ms, end_ms, kwh)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                origin,
                s.party,
                s.id,
                s.location_id,
                s.evse_uid,
                s.row.borough,
                s.row.ward,
                s.row.start_ms,
                s.row.end_ms,
                s.row.kwh
            ])?;
        }
        cells.write(&tx)?;
        leaves::append(
            &tx,
            origin,
            LeafLog::Restricted,
            step.batch.start,
            &step.batch.entries,
        )?;
        let frontier: Vec<u8> = step.frontier.hashes().iter().flat_map(|h| h.0).collect();
        tx.prepare_cached(
            "UPDATE member SET usage_size = ?2, usage_frontier = ?3, usage_checkpoint = ?4,
                    usage_state = 'ok', usage_reason = NULL
             WHERE origin = ?1",
        )?
        .execute(params![
            origin,
            step.frontier.size() as i64,
            frontier,
            step.checkpoint
        ])?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fixtures::{member, store, verified};

    /// 2026-03-01T00:00:00Z.
    const MARCH: i64 = 1_772_323_200_000;

    fn session(id: &str, ward: &str, start_ms: i64, end_ms: Option<i64>, kwh: f64) -> NewSession {
        NewSession {
            party: "GB*AAA".into(),
            id: id.into(),
            location_id: "L1".into(),
            evse_uid: "E1".into(),
            row: SessionRow {
                borough: "E09000007".into(),
                ward: ward.into(),
                start_ms,
                end_ms,
                kwh,
            },
        }
    }

    fn apply(store: &Store, origin: &str, all: &[Vec<u8>], have: usize, sessions: &[NewSession]) {
        let (batch, frontier, note) = verified(origin, all, have);
        store
            .apply_usage(
                origin,
                &UsageStep {
                    batch: &batch,
                    frontier: &frontier,
                    checkpoint: &note,
                    sessions,
                },
            )
            .unwrap();
    }

    fn rows(store: &Store, read: &RollUpRead<'_>) -> Vec<(i64, String, i64, f64, i64)> {
        let mut out = Vec::new();
        store
            .roll_up_rows(read, &mut |r| {
                out.push((r.start_ms, r.area.to_owned(), r.sessions, r.kwh, r.busy_ms))
            })
            .unwrap();
        out
    }

    /// Sessions written through the store read back as roll-up rows at each level and period,
    /// a completed session replaces its ongoing version (the roll-ups adjusted by the
    /// difference), and the usage cursor moves with them.
    #[test]
    fn sessions_roll_up_and_a_later_version_replaces_the_earlier() {
        let (_dir, store) = store();
        let origin = "a.example";
        store.add_member(&member(origin)).unwrap();
        let all: Vec<Vec<u8>> = (0..3)
            .map(|i| format!("session {i}").into_bytes())
            .collect();
        // One ongoing session in ward W1, one of 90 minutes from 23:00 in ward W2.
        apply(
            &store,
            origin,
            &all[..2],
            0,
            &[
                session("S1", "W1", MARCH + 3_600_000, None, 1.0),
                session(
                    "S2",
                    "W2",
                    MARCH + 23 * HOUR_MS,
                    Some(MARCH + 24 * HOUR_MS + 1_800_000),
                    9.0,
                ),
            ],
        );
        let usage = store.member(origin).unwrap().usage.unwrap();
        assert_eq!(
            (usage.state, usage.verified_size),
            (crate::store::State::Ok, 2)
        );
        // S1 completed two hours after it started, with 5 kWh.
        apply(
            &store,
            origin,
            &all,
            2,
            &[session(
                "S1",
                "W1",
                MARCH + 3_600_000,
                Some(MARCH + 3 * HOUR_MS),
                5.0,
            )],
        );
        assert_eq!(
            store.member(origin).unwrap().usage.unwrap().verified_size,
            3
        );

        let day = [(Bucket::Day, MARCH, MARCH + 2 * 24 * HOUR_MS)];
        let london = RollUpRead {
            level: 0,
            by_ward: None,
            borough: None,
            ward: None,
            runs: &day,
        };
        assert_eq!(
            rows(&store, &london),
            [
                (MARCH, String::new(), 2, 14.0, 2 * HOUR_MS + HOUR_MS),
                (MARCH + 24 * HOUR_MS, String::new(), 0, 0.0, 1_800_000),
            ]
        );
        let wards = RollUpRead {
            level: 2,
            by_ward: Some(true),
            ward: Some("W1"),
            ..london.clone()
        };
        assert_eq!(
            rows(&store, &wards),
            [(MARCH, "W1".to_owned(), 1, 5.0, 2 * HOUR_MS)]
        );
        let hours = [(Bucket::Hour, MARCH, MARCH + 3 * HOUR_MS)];
        let boroughs = RollUpRead {
            level: 1,
            by_ward: Some(false),
            runs: &hours,
            ..london.clone()
        };
        assert_eq!(
            rows(&store, &boroughs),
            [
                (MARCH + HOUR_MS, "E09000007".to_owned(), 1, 5.0, HOUR_MS),
                (MARCH + 2 * HOUR_MS, "E09000007".to_owned(), 0, 0.0, HOUR_MS),
            ]
        );
        let month = [(Bucket::Month, MARCH, bucket_end(MARCH, Bucket::Month))];
        let other = RollUpRead {
            level: 1,
            borough: Some("E09000001"),
            runs: &month,
            ..boroughs.clone()
        };
        assert!(
            rows(&store, &other).is_empty(),
            "another borough has nothing"
        );

        assert_eq!(store.usage_extent().unwrap(), Some((MARCH, MARCH)));
        let mut spans = store
            .location_sessions("GB*AAA", "L1", MARCH, MARCH + 2 * HOUR_MS)
            .unwrap();
        spans.sort();
        assert_eq!(spans, [(MARCH + HOUR_MS, Some(MARCH + 3 * HOUR_MS))]);
        assert!(
            store
                .location_sessions("GB*AAA", "L2", 0, i64::MAX)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.usage_months(&[origin.into()]).unwrap(),
            [("2026-03".to_owned(), 2)]
        );
    }

    /// An empty store has no extent, no rows and no sessions; a read with no runs reads
    /// nothing.
    #[test]
    fn no_data_is_nothing_not_zero() {
        let (_dir, store) = store();
        assert_eq!(store.usage_extent().unwrap(), None);
        let runs = [(Bucket::Month, 0, MARCH)];
        let read = RollUpRead {
            level: 0,
            by_ward: None,
            borough: None,
            ward: None,
            runs: &runs,
        };
        assert!(rows(&store, &read).is_empty());
        assert!(rows(&store, &RollUpRead { runs: &[], ..read }).is_empty());
        assert!(
            store
                .location_sessions("GB*AAA", "L1", 0, MARCH)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn periods_start_where_the_calendar_says() {
        let feb_14 = MARCH - 15 * 24 * HOUR_MS + 13 * HOUR_MS + 45 * 60_000;
        assert_eq!(
            bucket_start(feb_14, Bucket::Month),
            MARCH - 28 * 24 * HOUR_MS
        );
        assert_eq!(bucket_end(MARCH - 28 * 24 * HOUR_MS, Bucket::Month), MARCH);
        assert_eq!(bucket_start(feb_14, Bucket::Hour), feb_14 - 45 * 60_000);
        assert_eq!(bucket_end(MARCH, Bucket::Day), MARCH + 24 * HOUR_MS);
    }
}
