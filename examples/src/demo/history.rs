//! The demo's history: the simulation's sessions and status changes from `--history-days`
//! (400 by default, so that a year of complete months and the same month a year earlier are
//! there) before the start up to the start, sent to the nodes before the aggregator first reads them.
//!
//! Why before the aggregator: the aggregator counts a status change's lag (its first verified
//! checkpoint's time minus its `event_time`) towards a supplier's freshness only from the
//! second harvest of a member's log on; what a log already holds at the first harvest is the
//! member's history, not its live feed. Sent after, a year of history would count as a year
//! late. So the nodes get all of it, and sign it, before the aggregator starts.
//!
//! What is sent, and what is thinned:
//!
//! - every session of the whole history, each to one node (`plan::usage_publishers`), so the
//!   aggregator's monthly, daily and ward figures are the simulation's own;
//! - every status change of the last [`DETAIL`] before the start;
//! - before that, only the changes between working and out of order: `CHARGING` and the
//!   `AVAILABLE` that ends a session are left out (two changes per session, nine in ten of
//!   all). Reliability (`aggregator::compliance::reliability`) counts `AVAILABLE` and
//!   `CHARGING` alike as working, so its monthly figures are the same as with every change;
//!   the sessions tell when each EVSE was in use.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context as _, bail};
use evfed_spec::ocpi::Status;
use evfed_spec::time::DateTime;

use super::feed::{Feeder, Sent};
use super::http::Http;
use crate::synth::World;
use crate::synth::activity::{Activity, Change, Event};

/// The recent history sent with every status change.
pub(super) const DETAIL: i64 = 30 * 86_400;

/// Which part of the history a pass sends. The status changes go first, before the
/// aggregator starts; the sessions (the restricted logs, which no freshness figure reads)
/// follow while the aggregator reads the public logs, so that its harvest and the nodes'
/// writes share the machine. Both passes simulate the same events (the simulation is
/// deterministic), each keeping its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    StatusChanges,
    Sessions,
}

/// What the back-fill sent, and how long it took.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Backfilled {
    /// Events the simulation made (before thinning).
    pub simulated: Sent,
    /// Events sent (status changes counted once, however many nodes publish the site).
    pub sent: Sent,
    pub secs: f64,
}

/// Simulates `[from, until)` and sends the `part` of it to the nodes, thinned as the module
/// says. Returns the simulation at `until`, to carry on from.
#[allow(clippy::too_many_arguments)]
pub(super) fn backfill(
    http: &Http,
    feeder: &Feeder,
    world: &World,
    seed: u64,
    from: i64,
    until: i64,
    part: Part,
    stop: &AtomicBool,
) -> anyhow::Result<(Activity, Backfilled)> {
    let started = Instant::now();
    let mut activity = Activity::new(world, seed, from);
    let mut thin = Thinner {
        detail_from: until - DETAIL,
        last: HashMap::new(),
    };
    let mut done = Backfilled::default();
    // Simulated days per round: a round of a London-sized world is about a million events.
    let evses = world.evse_count().max(1) as i64;
    let step = (25_000 / evses).clamp(1, 30) * 86_400;
    let mut events = activity.statuses();
    let mut at = from;
    let mut reported = Instant::now();
    loop {
        if stop.load(Ordering::Relaxed) {
            bail!("stopped");
        }
        count(&mut done.simulated, &events);
        let mut kept = thin.apply(events, from);
        kept.retain(|e| match e.change {
            Change::Status(_) => part == Part::StatusChanges,
            Change::Session(_) => part == Part::Sessions,
        });
        let s = feeder.send(http, &kept).context("sending the history")?;
        done.sent.add(s);
        if at >= until {
            break;
        }
        at = (at + step).min(until);
        events = activity.advance(at);
        if reported.elapsed().as_secs() >= 5 {
            println!(
                "  history: {} days of {} sent ({} sessions, {} status changes)",
                (at - from) / 86_400,
                (until - from) / 86_400,
                done.sent.sessions,
                done.sent.status_changes,
            );
            reported = Instant::now();
        }
    }
    done.secs = started.elapsed().as_secs_f64();
    Ok((activity, done))
}

/// Where a federation whose nodes hold data already should carry on: just after the latest
/// status change any node serves (every session ends with one), and no earlier than
/// `history_s` before `now`.
pub(super) fn resume_point(
    http: &Http,
    urls: &[String],
    now: i64,
    history_s: i64,
) -> anyhow::Result<i64> {
    let mut latest = now - history_s;
    for url in urls {
        let mut offset = 0;
        loop {
            let page: Vec<serde_json::Value> =
                http.get(&format!("{url}/v1/status?limit=1000&offset={offset}"))?;
            for s in &page {
                let t = s["event_time"]
                    .as_str()
                    .and_then(|t| t.parse::<DateTime>().ok())
                    .with_context(|| format!("{url}/v1/status: an item without event_time"))?;
                latest = latest.max(t.unix_seconds() + 1);
            }
            if page.len() < 1000 {
                break;
            }
            offset += page.len();
        }
    }
    Ok(latest.min(now))
}

fn count(sent: &mut Sent, events: &[Event]) {
    for e in events {
        match e.change {
            Change::Status(_) => sent.status_changes += 1,
            Change::Session(_) => sent.sessions += 1,
        }
    }
}

/// Leaves out what the module docs say is left out.
struct Thinner {
    /// Status changes from here on are all kept.
    detail_from: i64,
    /// The last status kept of each EVSE, by site and EVSE uid.
    last: HashMap<(usize, String), Status>,
}

impl Thinner {
    /// The events to send: sessions that started at `from` or later (earlier ones belong to
    /// the simulation's warm-up), and the status changes as the module docs say.
    fn apply(&mut self, events: Vec<Event>, from: i64) -> Vec<Event> {
        events
            .into_iter()
            .filter(|e| match &e.change {
                Change::Session(r) => r.start_date_time.unix_seconds() >= from,
                Change::Status(s) => {
                    let key = (e.site, s.evse_uid.as_str().to_owned());
                    let old = e.at < self.detail_from;
                    let status = s.status;
                    if old && status == Status::Charging {
                        return false;
                    }
                    if self.last.get(&key) == Some(&status) {
                        return false;
                    }
                    self.last.insert(key, status);
                    true
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{self, Scale};

    /// Thinning keeps every fault and repair: the working/failed timeline of each EVSE is the
    /// one the full simulation gives.
    #[test]
    fn thinned_history_keeps_the_reliability_timeline() {
        let world = synth::generate(3, Scale(60)).unwrap();
        let from = 1_767_225_600; // 2026-01-01
        let until = from + 90 * 86_400;
        let mut a = Activity::new(&world, 3, from);
        let all = a.advance(until);
        let mut thin = Thinner {
            detail_from: until - 10 * 86_400,
            last: HashMap::new(),
        };
        let kept = thin.apply(all.clone(), from);
        let failed = |s: Status| matches!(s, Status::OutOfOrder | Status::Inoperative);
        // Each EVSE's (time, failed) transitions from its first failure on, with repeats of
        // the same class removed (both start working, the first change at different times).
        let timeline = |events: &[Event], until: i64| {
            let mut out: HashMap<String, Vec<(i64, bool)>> = HashMap::new();
            for e in events.iter().filter(|e| e.at < until) {
                if let Change::Status(s) = &e.change {
                    let t = out.entry(s.evse_uid.as_str().to_owned()).or_default();
                    let f = failed(s.status);
                    if (f || !t.is_empty()) && t.last().map(|l| l.1) != Some(f) {
                        t.push((e.at, f));
                    }
                }
            }
            out
        };
        assert_eq!(timeline(&kept, until), timeline(&all, until));
        let statuses = |es: &[Event], pred: &dyn Fn(i64) -> bool| {
            es.iter()
                .filter(|e| matches!(e.change, Change::Status(_)) && pred(e.at))
                .count()
        };
        // The last 10 days are whole (but for the end of a session that began before them,
        // at most one per EVSE); before them, far fewer changes.
        let recent = |t: i64| t >= until - 10 * 86_400;
        assert!(statuses(&kept, &recent) + world.evse_count() >= statuses(&all, &recent));
        assert!(statuses(&kept, &recent) <= statuses(&all, &recent));
        let older = |t: i64| t < until - 10 * 86_400;
        assert!(statuses(&kept, &older) * 5 < statuses(&all, &older));
        // Every session that started in the window is kept.
        let sessions = |es: &[Event]| {
            es.iter()
                .filter(|e| matches!(&e.change, Change::Session(r) if r.start_date_time.unix_seconds() >= from))
                .count()
        };
        assert_eq!(sessions(&kept), sessions(&all));
        assert!(sessions(&kept) > 1000);
    }
}
