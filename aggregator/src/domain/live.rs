//! Status changes of the London view as a feed: each change of a served EVSE's status gets the
//! next sequence number and waits in a bounded ring for subscribers (the dashboard, apps) to
//! read. Memory is bounded by the ring; a reader that falls further behind than the ring holds
//! is told so and starts again from a fresh view.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

/// How many changes the ring keeps (about a minute of London at 500 changes a second).
pub const RING: usize = 32_768;

/// One EVSE's new status in the London view.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StatusEvent {
    /// The feed's sequence number (the SSE event id).
    #[serde(skip)]
    pub seq: u64,
    pub country_code: String,
    pub party_id: String,
    pub location_id: String,
    pub evse_uid: String,
    /// OCPI status, e.g. `AVAILABLE`.
    pub status: &'static str,
    /// When the status changed, as the publisher says (the EVSE's `last_updated`).
    pub event_time: String,
    /// The borough (area set code) the location is placed in.
    pub borough: Option<&'static str>,
    pub ward: Option<&'static str>,
}

/// What a reader gets: the changes after its position that it keeps, and the position it has
/// now read up to (later than the last kept change when others were passed over); or word that
/// it fell behind.
#[derive(Debug, PartialEq)]
pub enum Read {
    Events(Vec<StatusEvent>, u64),
    /// Changes after the position were dropped from the ring: start again from a fresh view.
    Behind,
}

#[derive(Debug, Default)]
pub struct Feed {
    inner: Mutex<Ring>,
    /// Wakes the readers waiting for changes (the status stream's subscribers).
    pushed: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Ring {
    events: VecDeque<StatusEvent>,
    /// The sequence number of the last change.
    last: u64,
}

impl Feed {
    /// Adds changes, numbering them.
    pub fn push(&self, changes: impl IntoIterator<Item = StatusEvent>) {
        let mut ring = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for mut e in changes {
            ring.last += 1;
            e.seq = ring.last;
            if ring.events.len() == RING {
                ring.events.pop_front();
            }
            ring.events.push_back(e);
        }
        drop(ring);
        self.pushed.notify_waiters();
    }

    /// Notified after every [`Feed::push`]: wait on it (enabled before reading, so that no
    /// push between the read and the wait is missed) instead of polling.
    pub fn pushed(&self) -> &tokio::sync::Notify {
        &self.pushed
    }

    /// The sequence number of the last change (0: none yet).
    pub fn last(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).last
    }

    /// Up to `max` changes after `after` that pass `keep`.
    pub fn read(&self, after: u64, max: usize, keep: impl Fn(&StatusEvent) -> bool) -> Read {
        let ring = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if after > ring.last {
            // A position from before a restart: nothing after it is known.
            return Read::Behind;
        }
        let first = ring.events.front().map_or(ring.last + 1, |e| e.seq);
        if after + 1 < first {
            return Read::Behind;
        }
        let skip = (after + 1 - first) as usize;
        let mut kept = Vec::new();
        let mut upto = after;
        for e in ring.events.iter().skip(skip) {
            if kept.len() == max {
                break;
            }
            upto = e.seq;
            if keep(e) {
                kept.push(e.clone());
            }
        }
        Read::Events(kept, upto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(uid: &str) -> StatusEvent {
        StatusEvent {
            seq: 0,
            country_code: "GB".into(),
            party_id: "LPL".into(),
            location_id: "L1".into(),
            evse_uid: uid.into(),
            status: "AVAILABLE",
            event_time: "2026-12-06T10:00:00Z".into(),
            borough: Some("E09000007"),
            ward: None,
        }
    }

    #[test]
    fn readers_resume_after_their_position_and_learn_when_they_fell_behind() {
        let feed = Feed::default();
        feed.push([event("a"), event("b"), event("c")]);
        assert_eq!(feed.last(), 3);
        let Read::Events(after_one, upto) = feed.read(1, 10, |_| true) else {
            panic!()
        };
        assert_eq!(upto, 3);
        assert_eq!(
            after_one
                .iter()
                .map(|e| (e.seq, &*e.evse_uid))
                .collect::<Vec<_>>(),
            [(2, "b"), (3, "c")]
        );
        assert_eq!(feed.read(3, 10, |_| true), Read::Events(vec![], 3));
        // A reader that keeps nothing still moves past what it read.
        assert_eq!(
            feed.read(0, 10, |e| e.evse_uid == "z"),
            Read::Events(vec![], 3)
        );
        assert_eq!(feed.read(4, 10, |_| true), Read::Behind);
        feed.push((0..RING).map(|_| event("x")));
        assert_eq!(feed.read(1, 10, |_| true), Read::Behind);
        let Read::Events(latest, _) = feed.read(feed.last() - 1, 10, |e| e.evse_uid == "x") else {
            panic!()
        };
        assert_eq!(latest.len(), 1);
    }
}
