//! Usage analytics over the sessions harvested from members' restricted logs: sessions, kWh and
//! utilisation by borough or ward, per hour, day or month, over any date range (no cap: monthly
//! trends run from the first data); and saturation, the share of time every EVSE of a location
//! is busy.
//!
//! Range statistics read the store's roll-ups (by hour, day and month), never the sessions, so
//! a query costs the same with ten thousand sessions as with ten million. Utilisation is
//! EVSE-time in use over EVSE-time available, with today's EVSE count in the area from the
//! London view (the view keeps no EVSE history). Buckets are UTC.

use std::collections::HashMap;

use chrono::{TimeZone, Utc};
use serde::Serialize;

pub use crate::store::{Bucket, bucket_end, bucket_start};
use crate::store::{HOUR_MS, RollUpRead, Store, StoreError};

/// What the figures are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Borough,
    Ward,
    London,
}

/// A statistics query.
#[derive(Debug, Clone)]
pub struct Query {
    pub from_ms: i64,
    pub to_ms: i64,
    pub bucket: Bucket,
    pub area: Area,
    /// Only this borough (GSS code).
    pub borough: Option<String>,
    /// Only this ward.
    pub ward: Option<String>,
}

/// One bucket of one area.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Figure {
    /// The bucket's start, RFC 3339 UTC.
    pub period: String,
    /// Borough or ward code; `""` for sessions at locations without one; `"london"` for all.
    pub area: String,
    pub sessions: i64,
    pub kwh: f64,
    /// EVSE-hours in use.
    pub busy_hours: f64,
    /// Share of the area's EVSE-time in use, in percent; `null` when the area has no EVSEs now.
    pub utilisation_pct: Option<f64>,
}

fn rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// Cuts `[from, to)` (from floored to the hour) into runs of whole months, whole days and
/// whole hours, coarsest first, never coarser than `finest`: each run is read from the roll-up
/// of its period. A year by month reads twelve rows per area; its ragged ends read days and
/// hours.
fn segments(from: i64, to: i64, finest: Bucket) -> Vec<(Bucket, i64, i64)> {
    let mut out: Vec<(Bucket, i64, i64)> = Vec::new();
    let mut cur = bucket_start(from, Bucket::Hour);
    while cur < to {
        let fits = |b: Bucket| bucket_start(cur, b) == cur && bucket_end(cur, b) <= to;
        let bucket = match finest {
            Bucket::Month if fits(Bucket::Month) => Bucket::Month,
            Bucket::Month | Bucket::Day if fits(Bucket::Day) => Bucket::Day,
            _ => Bucket::Hour,
        };
        let next = bucket_end(cur, bucket);
        match out.last_mut() {
            Some((b, _, end)) if *b == bucket && *end == cur => *end = next,
            _ => out.push((bucket, cur, next)),
        }
        if next <= cur {
            break;
        }
        cur = next;
    }
    out
}

/// One figure's sums: sessions, kWh and EVSE-milliseconds in use.
type Sums = (i64, f64, i64);

/// The figures of `q`, by period then area. `evses` gives an area's EVSE count now.
///
/// Each roll-up row is one area in one period at the level read, so rows are summed into their
/// figure here without grouping in SQL; areas and periods are interned as indices, so a row
/// costs no allocation.
pub fn figures(
    store: &Store,
    q: &Query,
    evses: &dyn Fn(&str) -> u64,
) -> Result<Vec<Figure>, StoreError> {
    // The coarsest roll-up level that can answer: a ward filter or ward areas need wards, a
    // borough filter or borough areas boroughs.
    let level = match (q.area, &q.borough, &q.ward) {
        (Area::Ward, _, _) | (_, _, Some(_)) => 2,
        (Area::Borough, _, _) | (_, Some(_), _) => 1,
        (Area::London, None, None) => 0,
    };
    let runs = segments(q.from_ms, q.to_ms, q.bucket);
    let read = RollUpRead {
        level,
        by_ward: match q.area {
            Area::Borough => Some(false),
            Area::Ward => Some(true),
            Area::London => None,
        },
        borough: q.borough.as_deref(),
        ward: q.ward.as_deref(),
        runs: &runs,
    };
    let mut names: Vec<String> = Vec::new();
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut periods: Vec<i64> = Vec::new();
    let mut period_index: HashMap<i64, u32> = HashMap::new();
    let mut cells: HashMap<(u32, u32), Sums> = HashMap::new();
    // Rows come many to a start: the period is looked up once per start.
    let mut last: Option<(i64, u32)> = None;
    store.roll_up_rows(&read, &mut |r| {
        let period = match last {
            Some((s, p)) if s == r.start_ms => p,
            _ => {
                let first = bucket_start(r.start_ms, q.bucket);
                let p = *period_index.entry(first).or_insert_with(|| {
                    periods.push(first);
                    periods.len() as u32 - 1
                });
                last = Some((r.start_ms, p));
                p
            }
        };
        let area = match index.get(r.area) {
            Some(&a) => a,
            None => {
                let a = names.len() as u32;
                names.push(r.area.to_owned());
                index.insert(r.area.to_owned(), a);
                a
            }
        };
        let e = cells.entry((period, area)).or_insert((0, 0.0, 0));
        e.0 += r.sessions;
        e.1 += r.kwh;
        e.2 += r.busy_ms;
    })?;
    let mut order: Vec<((u32, u32), Sums)> = cells.into_iter().collect();
    order.sort_unstable_by(|((p1, a1), _), ((p2, a2), _)| {
        periods[*p1 as usize]
            .cmp(&periods[*p2 as usize])
            .then_with(|| names[*a1 as usize].cmp(&names[*a2 as usize]))
    });
    let floor = bucket_start(q.from_ms, Bucket::Hour);
    Ok(order
        .into_iter()
        .map(|((period, area), (sessions, kwh, busy))| {
            let start = periods[period as usize];
            let area = &names[area as usize];
            let area = if q.area == Area::London {
                "london"
            } else {
                area
            };
            let span = bucket_end(start, q.bucket).min(q.to_ms) - start.max(floor);
            let capacity = evses(area) as f64 * span.max(0) as f64;
            Figure {
                period: rfc3339(start),
                utilisation_pct: (capacity > 0.0)
                    .then(|| (busy as f64 / capacity * 1000.0).round() / 10.0),
                area: area.to_owned(),
                sessions,
                kwh: (kwh * 1000.0).round() / 1000.0,
                busy_hours: (busy as f64 / HOUR_MS as f64 * 100.0).round() / 100.0,
            }
        })
        .collect())
}

/// The first and last period with data, if any: where monthly trends start and end.
pub fn extent(store: &Store) -> Result<Option<(i64, i64)>, StoreError> {
    store.usage_extent()
}

/// Saturation of one location over `[from, to)`: the time during which at least `evses`
/// sessions ran at once (every EVSE busy), as a share of the range, from its sessions.
pub fn saturation(
    store: &Store,
    party: &str,
    location_id: &str,
    evses: usize,
    from_ms: i64,
    to_ms: i64,
) -> Result<Saturation, StoreError> {
    let mut events: Vec<(i64, i32)> = Vec::new();
    let mut sessions = 0;
    for (start, end) in store.location_sessions(party, location_id, from_ms, to_ms)? {
        let (start, end) = (start.max(from_ms), end.unwrap_or(to_ms).min(to_ms));
        if end > start {
            events.push((start, 1));
            events.push((end, -1));
            sessions += 1;
        }
    }
    events.sort_unstable();
    let (mut busy, mut since, mut saturated) = (0i32, 0i64, 0i64);
    for (t, d) in events {
        if evses > 0 && busy as usize >= evses {
            saturated += t - since;
        }
        busy += d;
        since = t;
    }
    let span = (to_ms - from_ms).max(1);
    Ok(Saturation {
        sessions,
        saturated_hours: (saturated as f64 / HOUR_MS as f64 * 100.0).round() / 100.0,
        saturation_pct: (saturated as f64 / span as f64 * 1000.0).round() / 10.0,
    })
}

/// How often a location was full.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Saturation {
    pub sessions: u64,
    pub saturated_hours: f64,
    /// Share of the range during which every EVSE was busy, in percent.
    pub saturation_pct: f64,
}

/// Parses `from`/`to` query values: an RFC 3339 time or a date (`2026-11-01`, midnight UTC).
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_days_start_where_the_calendar_says() {
        let t = parse_time("2026-02-14T13:45:00Z").unwrap();
        assert_eq!(
            rfc3339(bucket_start(t, Bucket::Month)),
            "2026-02-01T00:00:00Z"
        );
        assert_eq!(
            rfc3339(bucket_start(t, Bucket::Day)),
            "2026-02-14T00:00:00Z"
        );
        assert_eq!(
            rfc3339(bucket_start(t, Bucket::Hour)),
            "2026-02-14T13:00:00Z"
        );
        let dec = parse_time("2025-12-31").unwrap();
        assert_eq!(
            rfc3339(bucket_end(dec, Bucket::Month)),
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn a_range_is_read_from_the_coarsest_roll_ups_that_fit() {
        let from = parse_time("2026-01-30T22:30:00Z").unwrap();
        let to = parse_time("2026-04-02T03:00:00Z").unwrap();
        let runs: Vec<(Bucket, String, String)> = segments(from, to, Bucket::Month)
            .into_iter()
            .map(|(b, s, e)| (b, rfc3339(s), rfc3339(e)))
            .collect();
        let run = |b, s: &str, e: &str| (b, s.to_owned(), e.to_owned());
        assert_eq!(
            runs,
            [
                run(Bucket::Hour, "2026-01-30T22:00:00Z", "2026-01-31T00:00:00Z"),
                run(Bucket::Day, "2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z"),
                run(
                    Bucket::Month,
                    "2026-02-01T00:00:00Z",
                    "2026-04-01T00:00:00Z"
                ),
                run(Bucket::Day, "2026-04-01T00:00:00Z", "2026-04-02T00:00:00Z"),
                run(Bucket::Hour, "2026-04-02T00:00:00Z", "2026-04-02T03:00:00Z"),
            ]
        );
        assert_eq!(segments(from, to, Bucket::Hour).len(), 1);
        assert_eq!(segments(from, to, Bucket::Day).len(), 3);
    }
}
