//! What a verified batch's EVSE statuses add to the compliance records: each EVSE's span in its
//! previous status is split into access and failed time per month (`reliability::spans`), its
//! latest status moves on, and the lag from each live status change to the checkpoint that
//! first covered it is counted for freshness. The harvest folds a batch here, onto the states
//! the store holds, and hands the result to [`Store::apply`] with the batch.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use evfed_spec::ocpi::{Hours, Status};

use super::reliability;
use crate::store::{EvseKey, EvseMonthAdd, EvseState, StatusRecords, Store, StoreError};
use crate::usage::{Bucket, bucket_start};

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

/// Folds a batch's status events (in log order) onto what `store` holds of their EVSEs at
/// `origin`. An event older than what is known of its EVSE changes nothing (that time was
/// already counted). `checkpoint_ms` is the time of the checkpoint the batch was first
/// verified under when the harvest follows an earlier one (a first sync says nothing about
/// freshness).
pub fn fold<'a>(
    store: &Store,
    origin: &str,
    events: &'a [StatusEvent],
    checkpoint_ms: Option<i64>,
) -> Result<StatusRecords<'a>, StoreError> {
    if events.is_empty() {
        return Ok(StatusRecords::default());
    }
    let mut keys: Vec<EvseKey<'a>> = Vec::new();
    let mut index: HashMap<EvseKey<'a>, usize> = HashMap::new();
    for ev in events {
        if let Entry::Vacant(v) = index.entry(key_of(ev)) {
            v.insert(keys.len());
            keys.push(key_of(ev));
        }
    }
    let known = store.evse_states(origin, &keys)?;
    Ok(fold_onto(&keys, &index, known, events, checkpoint_ms))
}

fn key_of(ev: &StatusEvent) -> EvseKey<'_> {
    (&ev.party, &ev.location_id, &ev.evse_uid)
}

/// [`fold`] onto `known`, the stored state of each of `keys`.
fn fold_onto<'a>(
    keys: &[EvseKey<'a>],
    index: &HashMap<EvseKey<'a>, usize>,
    mut states: Vec<Option<EvseState>>,
    events: &'a [StatusEvent],
    checkpoint_ms: Option<i64>,
) -> StatusRecords<'a> {
    let mut changed = vec![false; keys.len()];
    let mut months: HashMap<(usize, i64), (i64, i64)> = HashMap::new();
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
        let i = index[&key_of(ev)];
        match &mut states[i] {
            Some(s) if ev.at_ms >= s.since_ms => {
                for span in reliability::spans(s.status, s.hours.as_ref(), s.since_ms, ev.at_ms) {
                    let m = months.entry((i, span.month_ms)).or_default();
                    m.0 += span.access_ms;
                    m.1 += span.failed_ms;
                }
                s.status = ev.status;
                s.since_ms = ev.at_ms;
                s.rapid = ev.rapid;
                s.hours.clone_from(&ev.hours);
                changed[i] = true;
            }
            Some(_) => {}
            state @ None => {
                *state = Some(EvseState {
                    status: ev.status,
                    since_ms: ev.at_ms,
                    rapid: ev.rapid,
                    hours: ev.hours.clone(),
                });
                changed[i] = true;
            }
        }
    }
    StatusRecords {
        states: states
            .into_iter()
            .enumerate()
            .filter(|(i, _)| changed[*i])
            .filter_map(|(i, s)| Some((keys[i], s?)))
            .collect(),
        months: months
            .into_iter()
            .map(|((i, month_ms), (access_ms, failed_ms))| EvseMonthAdd {
                evse: keys[i],
                month_ms,
                access_ms,
                failed_ms,
            })
            .collect(),
        freshness: match checkpoint_ms {
            Some(cp) if lagged => Some((bucket_start(cp, Bucket::Day), lags.to_vec())),
            _ => None,
        },
    }
}

/// The harvest's fold and write of status events, for tests that build a store without a log
/// (the member's accepted checkpoint moves on as [`Store::apply`] moves it).
#[cfg(test)]
pub(crate) fn apply_for_test(
    store: &Store,
    origin: &str,
    events: &[StatusEvent],
    checkpoint_ms: Option<i64>,
) -> Result<(), StoreError> {
    let records = fold(store, origin, events, checkpoint_ms)?;
    store.write_statuses_for_test(origin, &records)
}

#[cfg(test)]
mod tests {
    use evfed_spec::ocpi::Status;

    use super::*;

    const DAY: i64 = 86_400_000;
    /// 2026-03-01T00:00:00Z.
    const MARCH: i64 = 1_772_323_200_000;

    fn event(uid: &str, status: Status, at_ms: i64, live: bool) -> StatusEvent {
        StatusEvent {
            party: Arc::from("GB*AAA"),
            location_id: Arc::from("L1"),
            evse_uid: uid.into(),
            status,
            at_ms,
            rapid: true,
            hours: None,
            live,
        }
    }

    /// A span closed by a later status is split at the month start into access and failed
    /// time; an event older than the stored state changes nothing; the lag of live changes
    /// only is counted in its bucket, on the checkpoint's day.
    #[test]
    fn spans_close_across_months_and_late_events_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.db")).unwrap();
        let cp = MARCH + 2 * DAY + 7_000;
        let events = [
            event("E1", Status::OutOfOrder, MARCH - DAY, false),
            event("E1", Status::Available, MARCH + 2 * DAY, true),
            event("E2", Status::Charging, MARCH, true),
            // Older than E2's state just above: ignored.
            event("E2", Status::Inoperative, MARCH - 5 * DAY, true),
        ];
        let r = fold(&store, "m", &events, Some(cp)).unwrap();
        let e1 = ("GB*AAA", "L1", "E1");
        let mut months = r.months.clone();
        months.sort_by_key(|m| m.month_ms);
        assert_eq!(
            months,
            [
                EvseMonthAdd {
                    evse: e1,
                    month_ms: MARCH - 28 * DAY,
                    access_ms: DAY,
                    failed_ms: DAY
                },
                EvseMonthAdd {
                    evse: e1,
                    month_ms: MARCH,
                    access_ms: 2 * DAY,
                    failed_ms: 2 * DAY
                },
            ]
        );
        let state = |uid: &str| {
            r.states
                .iter()
                .find(|(k, _)| k.2 == uid)
                .map(|(_, s)| (s.status, s.since_ms))
        };
        assert_eq!(state("E1"), Some((Status::Available, MARCH + 2 * DAY)));
        assert_eq!(state("E2"), Some((Status::Charging, MARCH)));
        let (day, lags) = r.freshness.clone().unwrap();
        assert_eq!(day, MARCH + 2 * DAY);
        // 7 s (E1's change) and 2 days 7 s, 5 days 7 s (E2's), in the open last bucket.
        assert_eq!(lags[3], 1, "{lags:?}");
        assert_eq!(lags[LAG_BUCKETS_S.len() - 1], 2, "{lags:?}");
        assert_eq!(lags.iter().sum::<u64>(), 3);

        // Written, the states are what the next batch folds onto.
        store.write_statuses_for_test("m", &r).unwrap();
        let later = [event("E1", Status::Inoperative, MARCH + 3 * DAY, false)];
        let r = fold(&store, "m", &later, None).unwrap();
        assert_eq!(r.freshness, None, "a first sync says nothing about lags");
        assert_eq!(r.months.len(), 1);
        assert_eq!((r.months[0].access_ms, r.months[0].failed_ms), (DAY, 0));
        assert_eq!(r.states[0].1.status, Status::Inoperative);
        let stale = [event("E1", Status::Available, MARCH, false)];
        assert_eq!(
            fold(&store, "m", &stale, None).unwrap(),
            StatusRecords::default()
        );
    }
}
