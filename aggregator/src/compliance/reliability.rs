//! Charge point reliability as the Public Charge Point Regulations 2023 (regulation 7) measure
//! it, from verified status history: the share of a charge point's access hours in which it
//! was working, averaged over the operator's network of rapid (≥ 50 kW) charge points per
//! calendar year (the statutory figure must be at least 99 %).
//!
//! Status classes: `AVAILABLE`, `CHARGING` and `RESERVED` are working; `UNKNOWN` and `BLOCKED`
//! are "ineligible for measurement" and count as reliable; `INOPERATIVE` and `OUTOFORDER` are
//! failures; `PLANNED` and `REMOVED` mean the charge point is not in service, so that time is
//! not measured at all. Only access hours count: a location's regular opening hours (in London
//! time) when it has them, every hour when it is open 24/7 or says nothing. Exceptional
//! openings and closings are not taken into account.

use evfed_spec::ocpi::{Connector, Evse, Hours, PowerType, Status};
use evfed_spec::time::london_utc_offset_secs;

use serde::Serialize;

use crate::store::{Store, StoreError};
use crate::usage::{Bucket, bucket_end, bucket_start};

const DAY_MS: i64 = 24 * 3_600_000;

/// How a status counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Working, or ineligible for measurement (which counts as reliable).
    Reliable,
    Failed,
    /// Not in service: not measured.
    NotInService,
}

pub fn class(status: Status) -> Class {
    match status {
        Status::Inoperative | Status::OutOfOrder => Class::Failed,
        Status::Planned | Status::Removed => Class::NotInService,
        _ => Class::Reliable,
    }
}

/// A connector's maximum power in kW (from `max_electric_power`, else volts × amps × phases).
pub fn connector_kw(c: &Connector) -> f64 {
    if let Some(w) = c.max_electric_power {
        return f64::from(w) / 1000.0;
    }
    let phases = if matches!(c.power_type, PowerType::Ac3Phase) {
        3.0
    } else {
        1.0
    };
    f64::from(c.max_voltage) * f64::from(c.max_amperage) * phases / 1000.0
}

/// Is the EVSE a rapid charge point (some connector of at least 50 kW)?
pub fn is_rapid(evse: &Evse) -> bool {
    evse.connectors.iter().any(|c| connector_kw(c) >= 50.0)
}

/// What a span of time in one status adds to one calendar month (UTC).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonthSpan {
    pub month_ms: i64,
    /// Access time in service.
    pub access_ms: i64,
    /// Of that, time failed.
    pub failed_ms: i64,
}

/// Splits `[from, to)` in `status` at month starts into access and failed time.
pub fn spans(status: Status, hours: Option<&Hours>, from: i64, to: i64) -> Vec<MonthSpan> {
    let c = class(status);
    let mut out = Vec::new();
    if c == Class::NotInService || to <= from {
        return out;
    }
    let mut a = from;
    while a < to {
        let month = bucket_start(a, Bucket::Month);
        let b = bucket_end(month, Bucket::Month).min(to);
        let access = open_ms(hours, a, b);
        if access > 0 {
            out.push(MonthSpan {
                month_ms: month,
                access_ms: access,
                failed_ms: if c == Class::Failed { access } else { 0 },
            });
        }
        a = b;
    }
    out
}

/// Milliseconds of `[a, b)` in which a location with these opening times is open.
pub fn open_ms(hours: Option<&Hours>, a: i64, b: i64) -> i64 {
    let Some(h) = hours.filter(|h| !h.twentyfourseven) else {
        return (b - a).max(0);
    };
    if b <= a {
        return 0;
    }
    // Local days from the one before `a` (the offset may move a day across `a`) to `b`'s.
    let local = |t: i64| t + london_utc_offset_secs(t.div_euclid(1000)) * 1000;
    let to_utc = |l: i64| l - london_utc_offset_secs(l.div_euclid(1000)) * 1000;
    let first = local(a).div_euclid(DAY_MS) - 1;
    let last = local(b).div_euclid(DAY_MS);
    let mut periods: Vec<(i64, i64)> = Vec::new();
    for day in first..=last {
        // 1970-01-01 was a Thursday; OCPI weekdays run Monday = 1 … Sunday = 7.
        let weekday = ((day + 3).rem_euclid(7) + 1) as u8;
        for rh in h.regular_hours.iter().filter(|rh| rh.weekday == weekday) {
            let (Some(begin), Some(end)) = (minutes(&rh.period_begin), minutes(&rh.period_end))
            else {
                continue;
            };
            // The standard's parse rules keep a period within its day (end after begin).
            let start = day * DAY_MS + begin * 60_000;
            let stop = day * DAY_MS + end * 60_000;
            let (s, e) = (to_utc(start).max(a), to_utc(stop).min(b));
            if s < e {
                periods.push((s, e));
            }
        }
    }
    periods.sort_unstable();
    let mut total = 0;
    let mut reached = i64::MIN;
    for (s, e) in periods {
        let s = s.max(reached);
        if e > s {
            total += e - s;
        }
        reached = reached.max(e);
    }
    total
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

/// Access and failed time of every EVSE of these members in `[from_ms, to_ms)`: the closed
/// months the store holds, plus each EVSE's current status from its last change until `to_ms`
/// (bounded to `[from_ms, to_ms)`). Months are whole, so `from_ms` should be a month start.
/// Ordered by party, location and EVSE.
pub fn evses(
    store: &Store,
    origins: &[String],
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<EvseReliability>, StoreError> {
    Ok(store
        .evse_records(origins, from_ms, to_ms)?
        .into_iter()
        .map(|r| {
            let (mut access_ms, mut failed_ms) = (r.access_ms, r.failed_ms);
            let s = &r.state;
            for span in spans(s.status, s.hours.as_ref(), s.since_ms.max(from_ms), to_ms) {
                access_ms += span.access_ms;
                failed_ms += span.failed_ms;
            }
            EvseReliability {
                rapid: s.rapid,
                origin: r.origin,
                party: r.party,
                location_id: r.location_id,
                evse_uid: r.evse_uid,
                access_ms,
                failed_ms,
            }
        })
        .collect())
}

/// `HH:MM` as minutes after midnight (`24:00` allowed).
fn minutes(t: &str) -> Option<i64> {
    let (h, m) = t.split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..=24).contains(&h) && (0..60).contains(&m) && h * 60 + m <= 1440).then_some(h * 60 + m)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ms(t: &str) -> i64 {
        t.parse::<evfed_spec::time::DateTime>()
            .unwrap()
            .unix_millis()
    }

    fn hours(json: &str) -> Hours {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn always_open_counts_every_millisecond_and_splits_at_months() {
        let s = spans(
            Status::OutOfOrder,
            None,
            ms("2026-01-31T23:00:00Z"),
            ms("2026-02-01T02:00:00Z"),
        );
        assert_eq!(
            s,
            vec![
                MonthSpan {
                    month_ms: ms("2026-01-01T00:00:00Z"),
                    access_ms: 3_600_000,
                    failed_ms: 3_600_000
                },
                MonthSpan {
                    month_ms: ms("2026-02-01T00:00:00Z"),
                    access_ms: 7_200_000,
                    failed_ms: 7_200_000
                },
            ]
        );
        let working = spans(
            Status::Charging,
            None,
            ms("2026-03-01T00:00:00Z"),
            ms("2026-03-02T00:00:00Z"),
        );
        assert_eq!(working[0].failed_ms, 0);
        assert_eq!(working[0].access_ms, DAY_MS);
        assert!(spans(Status::Planned, None, 0, DAY_MS).is_empty());
        assert_eq!(class(Status::Unknown), Class::Reliable);
        assert_eq!(class(Status::Blocked), Class::Reliable);
        assert_eq!(class(Status::Inoperative), Class::Failed);
    }

    #[test]
    fn regular_hours_count_in_london_time() {
        // Weekdays 08:00–18:00 London time.
        let h = hours(
            r#"{"twentyfourseven": false, "regular_hours": [
                {"weekday": 1, "period_begin": "08:00", "period_end": "18:00"},
                {"weekday": 2, "period_begin": "08:00", "period_end": "18:00"},
                {"weekday": 3, "period_begin": "08:00", "period_end": "18:00"},
                {"weekday": 4, "period_begin": "08:00", "period_end": "18:00"},
                {"weekday": 5, "period_begin": "08:00", "period_end": "18:00"}]}"#,
        );
        // Monday 7 December 2026 (GMT): 10 hours open.
        let day = ms("2026-12-07T00:00:00Z");
        assert_eq!(open_ms(Some(&h), day, day + DAY_MS), 10 * 3_600_000);
        // A whole week: 50 hours; Saturday alone: none.
        assert_eq!(open_ms(Some(&h), day, day + 7 * DAY_MS), 50 * 3_600_000);
        assert_eq!(open_ms(Some(&h), day + 5 * DAY_MS, day + 6 * DAY_MS), 0);
        // Monday 6 July 2026 (BST): 08:00 London is 07:00 UTC.
        let summer = ms("2026-07-06T00:00:00Z");
        assert_eq!(
            open_ms(Some(&h), summer, summer + 7 * 3_600_000 + 1_800_000),
            1_800_000
        );
    }
}
