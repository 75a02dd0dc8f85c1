//! What the reliability indicators are computed from, per member: every EVSE's access and
//! failed time in the previous calendar year and the year to date. A [`MemberEvses`] is read
//! once and kept by the [`super::Cache`]; it is current while the member's cursor (verified
//! size and accepted checkpoint) has not moved, since `evse_state` and `evse_month` change only
//! with it, and brought up to date by reading only the EVSEs whose status changed. The time
//! of each EVSE's current status up to now is added on every request.

use std::collections::BTreeMap;
use std::sync::Arc;

use evfed_spec::ocpi::{Hours, Status};

use super::reliability;
use super::{ComplianceError, DAY_MS, year_start};
use crate::store::{Member, Store, StoreError};

/// (access, failed) milliseconds.
pub type Time = (i64, i64);

/// One EVSE's figures for both years, at a moment.
#[derive(Debug, Clone, Copy)]
pub struct EvseYears<'a> {
    pub party: &'a str,
    pub location_id: &'a str,
    pub evse_uid: &'a str,
    pub rapid: bool,
    pub previous_year: Time,
    pub year_to_date: Time,
}

/// One member's EVSEs, read at `at_ms`.
#[derive(Debug, Clone)]
pub struct MemberEvses {
    /// The member's cursor when read.
    size: u64,
    checkpoint: Option<Vec<u8>>,
    this_year: i64,
    /// By `party\nlocation\nevse` (one allocation to look up), in key order, so sums over
    /// them come out the same however they were read.
    evses: BTreeMap<String, Arc<Entry>>,
}

fn key(party: &str, location_id: &str, evse_uid: &str) -> String {
    let mut k = String::with_capacity(party.len() + location_id.len() + evse_uid.len() + 2);
    for (i, part) in [party, location_id, evse_uid].into_iter().enumerate() {
        if i > 0 {
            k.push('\n');
        }
        k.push_str(part);
    }
    k
}

#[derive(Debug, Clone)]
struct Entry {
    party: String,
    location_id: String,
    evse_uid: String,
    status_text: String,
    status: Status,
    since_ms: i64,
    rapid: bool,
    hours_text: Option<String>,
    hours: Option<Hours>,
    /// Closed months of the previous year and of this year.
    closed: [Time; 2],
    /// The current status's time in the previous year, and in this year up to `at_ms`.
    open_previous: Time,
    open_this: Time,
    at_ms: i64,
}

fn add(a: Time, b: Time) -> Time {
    (a.0 + b.0, a.1 + b.1)
}

fn time_in(status: Status, hours: Option<&Hours>, from: i64, to: i64) -> Time {
    reliability::spans(status, hours, from, to)
        .iter()
        .fold((0, 0), |t, s| add(t, (s.access_ms, s.failed_ms)))
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> ComplianceError {
    ComplianceError::Store(StoreError::Corrupt(format!("{what}: {e}")))
}

impl MemberEvses {
    /// Reads `origin`'s EVSEs at `now_ms`; with `previous` (an earlier read of the same
    /// member), only the EVSEs whose status changed since are read again.
    pub fn load(
        store: &Store,
        origin: &str,
        previous: Option<&MemberEvses>,
        now_ms: i64,
    ) -> Result<MemberEvses, ComplianceError> {
        let this_year = year_start(now_ms);
        let last_year = year_start(this_year - DAY_MS);
        let previous = previous.filter(|p| p.this_year == this_year);
        let known = |p: &str, l: &str, e: &str, since: i64| {
            previous.is_some_and(|prev| {
                prev.evses
                    .get(&key(p, l, e))
                    .is_some_and(|x| x.since_ms == since)
            })
        };
        let history = store.evse_history(origin, last_year, this_year, &known)?;
        let mut evses = BTreeMap::new();
        for row in history.rows {
            let key = key(&row.party, &row.location_id, &row.evse_uid);
            let old = previous.and_then(|p| p.evses.get(&key));
            let same = old.filter(|o| {
                o.since_ms == row.since_ms
                    && o.status_text == row.status
                    && o.hours_text == row.hours
                    && o.rapid == row.rapid
            });
            let entry = match (same, row.closed) {
                (Some(o), _) => Arc::clone(o),
                (None, closed) => {
                    let closed = match (closed, old) {
                        (Some(c), _) => c,
                        (None, Some(o)) => o.closed,
                        (None, None) => [(0, 0); 2],
                    };
                    let status: Status =
                        serde_json::from_value(serde_json::Value::String(row.status.clone()))
                            .map_err(|e| corrupt("EVSE status", e))?;
                    let hours: Option<Hours> = row
                        .hours
                        .as_deref()
                        .map(serde_json::from_str)
                        .transpose()
                        .map_err(|e| corrupt("opening times", e))?;
                    let open_previous = time_in(
                        status,
                        hours.as_ref(),
                        row.since_ms.max(last_year),
                        this_year,
                    );
                    let open_this =
                        time_in(status, hours.as_ref(), row.since_ms.max(this_year), now_ms);
                    Arc::new(Entry {
                        party: row.party,
                        location_id: row.location_id,
                        evse_uid: row.evse_uid,
                        status_text: row.status,
                        status,
                        since_ms: row.since_ms,
                        rapid: row.rapid,
                        hours_text: row.hours,
                        hours,
                        closed,
                        open_previous,
                        open_this,
                        at_ms: now_ms,
                    })
                }
            };
            evses.insert(key, entry);
        }
        Ok(MemberEvses {
            size: history.size,
            checkpoint: history.checkpoint,
            this_year,
            evses,
        })
    }

    /// Whether nothing this was read from has changed: the member's cursor is where it was,
    /// and the year is the same.
    pub fn is_current(&self, member: &Member, now_ms: i64) -> bool {
        self.size == member.verified_size
            && self.checkpoint == member.checkpoint
            && self.this_year == year_start(now_ms)
    }

    /// Every EVSE's figures at `now_ms` (its current status counted up to then).
    pub fn at(&self, now_ms: i64) -> impl Iterator<Item = EvseYears<'_>> {
        self.evses.values().map(move |e| {
            let start = e.since_ms.max(self.this_year);
            let open_this = if now_ms >= e.at_ms {
                add(
                    e.open_this,
                    time_in(e.status, e.hours.as_ref(), start.max(e.at_ms), now_ms),
                )
            } else {
                time_in(e.status, e.hours.as_ref(), start, now_ms)
            };
            EvseYears {
                party: &e.party,
                location_id: &e.location_id,
                evse_uid: &e.evse_uid,
                rapid: e.rapid,
                previous_year: add(e.closed[0], e.open_previous),
                year_to_date: add(e.closed[1], open_this),
            }
        })
    }
}
