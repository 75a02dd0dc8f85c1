//! Monthly and quarterly series for London, a borough or a ward over all retained history:
//! EVSEs in service, sessions, kWh and utilisation, with small-number suppression.
//!
//! Suppression looks beyond the series asked for: a ward's month is published beside its
//! borough's (the sum of the borough's wards), and a month beside its quarter, so the cells of
//! every sibling area (the borough's wards; London's boroughs) and every month are protected
//! together (`privacy::suppress`, each month's siblings and each area's quarter a group).

use std::collections::{BTreeSet, HashMap};

use chrono::{Datelike, TimeZone, Utc};
use serde::Serialize;

use super::areas::{UsageSums, round};
use super::privacy;

/// How a series is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Month,
    Quarter,
}

/// One period of a series.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TrendPoint {
    /// The period's first day, `YYYY-MM-DD` (UTC).
    pub start: String,
    /// e.g. `Nov 2026` or `Q4 2026`.
    pub label: String,
    /// EVSEs with time in service in the period (from verified status history); `null` where
    /// none was recorded.
    pub evses_in_service: Option<u64>,
    pub suppressed: bool,
    pub sessions: Option<u64>,
    pub kwh: Option<f64>,
    /// Sessions per EVSE per day (EVSEs in service, else today's count).
    pub sessions_per_evse_day: Option<f64>,
    pub kwh_per_evse_day: Option<f64>,
    /// Share of EVSE-time occupied (0 to 1).
    pub occupancy: Option<f64>,
}

/// What a series is made from: monthly cells of the target and its siblings.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The area asked for.
    pub target: &'a str,
    /// The target and the areas whose sum is published beside it (including the target).
    pub siblings: &'a [String],
    /// Usage by (area, month start).
    pub usage: &'a HashMap<(String, i64), UsageSums>,
    /// EVSEs in service by (area, month start).
    pub evses: &'a HashMap<(String, i64), u64>,
    /// Today's EVSE count of the target.
    pub evses_now: u64,
    /// Month starts from the first data to the current month, ascending.
    pub months: &'a [i64],
    pub now_ms: i64,
    pub min_sessions: u64,
}

/// The month starts (UTC) from `from_ms`'s month to `to_ms`'s, inclusive.
pub fn months(from_ms: i64, to_ms: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut m = crate::usage::bucket_start(from_ms, crate::usage::Bucket::Month);
    while m <= to_ms {
        out.push(m);
        m = crate::usage::bucket_end(m, crate::usage::Bucket::Month);
    }
    out
}

fn quarter_of(ms: i64) -> (i32, u32) {
    let t = Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
    (t.year(), (t.month() - 1) / 3)
}

/// The series.
pub fn series(input: &Inputs<'_>, period: Period) -> Vec<TrendPoint> {
    // Periods: months, or quarters (a quarter is its months together).
    let periods: Vec<Vec<i64>> = match period {
        Period::Month => input.months.iter().map(|&m| vec![m]).collect(),
        Period::Quarter => {
            let keys: BTreeSet<(i32, u32)> = input.months.iter().map(|&m| quarter_of(m)).collect();
            keys.into_iter()
                .map(|q| {
                    input
                        .months
                        .iter()
                        .copied()
                        .filter(|&m| quarter_of(m) == q)
                        .collect()
                })
                .collect()
        }
    };
    let sum = |area: &str, months: &[i64]| {
        months.iter().fold(UsageSums::default(), |mut s, &m| {
            if let Some(u) = input.usage.get(&(area.to_owned(), m)) {
                s.sessions += u.sessions;
                s.kwh += u.kwh;
                s.busy_ms += u.busy_ms;
            }
            s
        })
    };
    // Cells: siblings × periods, row-major.
    let np = periods.len();
    let cells: Vec<UsageSums> = input
        .siblings
        .iter()
        .flat_map(|a| periods.iter().map(move |p| (a, p)))
        .map(|(a, p)| sum(a, p))
        .collect();
    let mut groups: Vec<Vec<usize>> = (0..np)
        .map(|p| (0..input.siblings.len()).map(|a| a * np + p).collect())
        .collect();
    if period == Period::Month {
        for a in 0..input.siblings.len() {
            let mut by_quarter: HashMap<(i32, u32), Vec<usize>> = HashMap::new();
            for (p, months) in periods.iter().enumerate() {
                if let Some(&m) = months.first() {
                    by_quarter
                        .entry(quarter_of(m))
                        .or_default()
                        .push(a * np + p);
                }
            }
            groups.extend(by_quarter.into_values());
        }
    }
    let sessions: Vec<u64> = cells.iter().map(|c| c.sessions).collect();
    let hidden = privacy::suppress(&sessions, &groups, input.min_sessions);
    let row = input
        .siblings
        .iter()
        .position(|s| s == input.target)
        .unwrap_or(0);
    periods
        .iter()
        .enumerate()
        .filter_map(|(p, months)| {
            let first = *months.first()?;
            let last_end = crate::usage::bucket_end(*months.last()?, crate::usage::Bucket::Month);
            let span_ms = (last_end.min(input.now_ms) - first).max(0) as f64;
            let days = span_ms / 86_400_000.0;
            let in_service: Option<u64> = {
                let counts: Vec<u64> = months
                    .iter()
                    .filter_map(|&m| input.evses.get(&(input.target.to_owned(), m)).copied())
                    .collect();
                (!counts.is_empty()).then(|| counts.iter().copied().max().unwrap_or(0))
            };
            let n = in_service.unwrap_or(input.evses_now) as f64;
            let cell = cells.get(row * np + p).copied().unwrap_or_default();
            let hidden = hidden.get(row * np + p).copied().unwrap_or(false);
            let t = Utc.timestamp_millis_opt(first).single().unwrap_or_default();
            let mut label = match period {
                Period::Month => t.format("%b %Y").to_string(),
                Period::Quarter => format!("Q{} {}", (t.month() - 1) / 3 + 1, t.year()),
            };
            if last_end > input.now_ms {
                label.push_str(" (to date)");
            }
            let evse_days = n * days;
            Some(TrendPoint {
                start: t.format("%Y-%m-%d").to_string(),
                label,
                evses_in_service: in_service,
                suppressed: hidden,
                sessions: (!hidden).then_some(cell.sessions),
                kwh: (!hidden).then(|| round(cell.kwh, 1)),
                sessions_per_evse_day: (!hidden && evse_days > 0.0)
                    .then(|| round(cell.sessions as f64 / evse_days, 3)),
                kwh_per_evse_day: (!hidden && evse_days > 0.0)
                    .then(|| round(cell.kwh / evse_days, 2)),
                occupancy: (!hidden && evse_days > 0.0)
                    .then(|| round(cell.busy_ms as f64 / (evse_days * 86_400_000.0), 4)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(y: i32, m: u32) -> i64 {
        Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn months_and_quarters_sum_and_protect_small_months() {
        let months = months(ms(2025, 10), ms(2026, 3));
        assert_eq!(months.len(), 6);
        let mut usage = HashMap::new();
        for (i, &m) in months.iter().enumerate() {
            // The target's November has 4 sessions; everything else plenty.
            let n = if i == 1 { 4 } else { 100 };
            usage.insert(
                ("W1".to_owned(), m),
                UsageSums {
                    sessions: n,
                    kwh: n as f64 * 10.0,
                    busy_ms: 3_600_000,
                },
            );
            usage.insert(
                ("W2".to_owned(), m),
                UsageSums {
                    sessions: 50,
                    kwh: 500.0,
                    busy_ms: 3_600_000,
                },
            );
        }
        let siblings = ["W1".to_owned(), "W2".to_owned()];
        let input = Inputs {
            target: "W1",
            siblings: &siblings,
            usage: &usage,
            evses: &HashMap::new(),
            evses_now: 10,
            months: &months,
            now_ms: ms(2026, 4),
            min_sessions: 10,
        };
        let monthly = series(&input, Period::Month);
        assert_eq!(monthly.len(), 6);
        assert_eq!(monthly[0].label, "Oct 2025");
        assert!(monthly[1].suppressed);
        // November can't be recovered from Q4 2025 (another month of the quarter is hidden).
        assert_eq!(monthly[0..3].iter().filter(|p| p.suppressed).count(), 2);
        assert_eq!(monthly[0].evses_in_service, None);
        let quarterly = series(&input, Period::Quarter);
        assert_eq!(quarterly.len(), 2);
        assert_eq!(quarterly[0].label, "Q4 2025");
        assert_eq!(quarterly[0].sessions, Some(204));
        assert!(!quarterly[0].suppressed);
        // January: 100 sessions over 31 days at 10 EVSEs.
        assert_eq!(monthly[3].label, "Jan 2026");
        assert_eq!(
            monthly[3].sessions_per_evse_day,
            Some(round(100.0 / 310.0, 3))
        );
        // The other ward's November hides too: with W1's alone hidden, the borough's November
        // minus W2's would give it away.
        let w2 = series(
            &Inputs {
                target: "W2",
                ..input
            },
            Period::Month,
        );
        assert!(w2[1].suppressed);
    }
}
