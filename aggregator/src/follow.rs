//! Following members' checkpoints, so a change reaches the London view at once instead of at
//! the next harvest round. One thread per member long-polls its public checkpoint
//! (`GET …/v1/log/checkpoint?newer_than=N&wait=S`, STANDARD.md §10.6) and, as soon as the member
//! signs more entries than the aggregator holds, wakes the harvest for that member. The note it
//! reads is only a hint: the harvest fetches, verifies and applies as it always does, so nothing
//! unverified is applied and forks are still detected there.
//!
//! A member that does not offer the wait (no `Evfed-Checkpoint-Wait` on its checkpoint) is left
//! to the harvest's rounds, as before.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use url::Url;

use crate::outgoing::{self, Bounds};
use crate::store::{Member, State};

/// Seconds a long-poll asks the member to hold it.
const WAIT_SECONDS: u64 = 25;
/// Longest a checkpoint note may be.
const MAX_NOTE_BYTES: u64 = 64 * 1024;
/// Pause after a failed poll, doubling up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Members whose harvest is due now, and a way to wait for one.
#[derive(Debug, Default)]
pub struct Wakeups {
    due: Mutex<BTreeSet<String>>,
    changed: Condvar,
}

impl Wakeups {
    /// Marks `origin` due.
    pub fn wake(&self, origin: &str) {
        if let Ok(mut due) = self.due.lock() {
            due.insert(origin.to_owned());
        }
        self.changed.notify_all();
    }

    /// The members due, waiting for one until `until` (or until `stop` is set, checked every
    /// 100 ms); empty when none came.
    pub fn wait(&self, until: Instant, stop: &AtomicBool) -> Vec<String> {
        let Ok(mut due) = self.due.lock() else {
            return Vec::new();
        };
        loop {
            if !due.is_empty() {
                return std::mem::take(&mut *due).into_iter().collect();
            }
            let now = Instant::now();
            if now >= until || stop.load(Ordering::Relaxed) {
                return Vec::new();
            }
            let slice = (until - now).min(Duration::from_millis(100));
            due = match self.changed.wait_timeout(due, slice) {
                Ok((d, _)) => d,
                Err(_) => return Vec::new(),
            };
        }
    }
}

/// One follower thread per member.
#[derive(Debug, Default)]
pub struct Followers {
    running: HashMap<String, Follower>,
}

#[derive(Debug)]
struct Follower {
    url: String,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Followers {
    /// Starts following new members (and members whose URL changed), stops following removed
    /// and forked ones.
    pub fn sync(&mut self, members: &[Member], wake: &Arc<Wakeups>, connect: Duration) {
        let wanted: HashMap<&str, &Member> = members
            .iter()
            .filter(|m| m.state != State::Forked)
            .map(|m| (m.origin.as_str(), m))
            .collect();
        let gone: Vec<String> = self
            .running
            .iter()
            .filter(|(origin, f)| {
                wanted
                    .get(origin.as_str())
                    .is_none_or(|m| m.url != f.url || f.thread.is_finished())
            })
            .map(|(origin, _)| origin.clone())
            .collect();
        for origin in gone {
            if let Some(f) = self.running.remove(&origin) {
                f.stop.store(true, Ordering::Relaxed);
            }
        }
        for (origin, m) in wanted {
            if self.running.contains_key(origin) {
                continue;
            }
            let stop = Arc::new(AtomicBool::new(false));
            let (url, origin_owned, wake) = (m.url.clone(), origin.to_owned(), wake.clone());
            let (stop_t, known) = (stop.clone(), m.verified_size);
            let thread = std::thread::Builder::new()
                .name(format!("follow {origin}"))
                .spawn(move || follow(&origin_owned, &url, known, &stop_t, &wake, connect));
            match thread {
                Ok(thread) => {
                    self.running.insert(
                        origin.to_owned(),
                        Follower {
                            url: m.url.clone(),
                            stop,
                            thread,
                        },
                    );
                }
                Err(e) => tracing::warn!(origin, error = %e, "cannot follow member"),
            }
        }
    }

    /// Tells every follower to stop (each ends with its current poll).
    pub fn stop_all(&mut self) {
        for (_, f) in self.running.drain() {
            f.stop.store(true, Ordering::Relaxed);
        }
    }
}

/// Long-polls `url`'s checkpoint until `stop`, waking the harvest of `origin` whenever the
/// member signs more than `known` entries.
fn follow(
    origin: &str,
    url: &str,
    mut known: u64,
    stop: &AtomicBool,
    wake: &Wakeups,
    connect: Duration,
) {
    // A long-poll is held open by the member for up to `WAIT_SECONDS`: an idle timeout a little
    // longer than that, not a total one, bounds each wait.
    let bounds = Bounds::streaming(
        connect,
        Duration::from_secs(WAIT_SECONDS + 10),
        MAX_NOTE_BYTES,
    );
    let client = match outgoing::client(bounds) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(origin, error = %e, "cannot follow member");
            return;
        }
    };
    let base = match Url::parse(&format!("{}/v1/log/checkpoint", url.trim_end_matches('/'))) {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(origin, error = %e, "cannot follow member: its URL does not parse");
            return;
        }
    };
    let mut backoff = MIN_BACKOFF;
    while !stop.load(Ordering::Relaxed) {
        let mut poll = base.clone();
        poll.query_pairs_mut()
            .append_pair("newer_than", &known.to_string())
            .append_pair("wait", &WAIT_SECONDS.to_string());
        let polled = client
            .get(&poll)
            .send()
            .map_err(|e| e.to_string())
            .and_then(|res| {
                if !res.status().is_success() {
                    return Err(format!("checkpoint answered {}", res.status()));
                }
                let offered = res.headers().contains_key("evfed-checkpoint-wait");
                let note = res.body().map_err(|e| e.to_string())?;
                Ok((offered, tree_size(&note)))
            });
        match polled {
            Ok((false, _)) => {
                tracing::debug!(
                    origin,
                    "member offers no checkpoint wait: harvested by rounds"
                );
                return;
            }
            Ok((true, Some(size))) => {
                backoff = MIN_BACKOFF;
                if size > known {
                    known = size;
                    wake.wake(origin);
                }
            }
            Ok((true, None)) | Err(_) => {
                // The harvest reports what is wrong with the member; here, only wait and retry.
                sleep_unless_stopped(backoff, stop);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// The tree size a checkpoint note claims (its second line), unverified.
fn tree_size(note: &[u8]) -> Option<u64> {
    std::str::from_utf8(note).ok()?.lines().nth(1)?.parse().ok()
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(
            Duration::from_millis(50).min(until.saturating_duration_since(Instant::now())),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wakeup_is_kept_until_taken_and_taken_once() {
        let w = Wakeups::default();
        let stop = AtomicBool::new(false);
        w.wake("b");
        w.wake("a");
        w.wake("a");
        assert_eq!(w.wait(Instant::now(), &stop), ["a", "b"]);
        let started = Instant::now();
        assert!(
            w.wait(started + Duration::from_millis(120), &stop)
                .is_empty()
        );
        assert!(started.elapsed() >= Duration::from_millis(120));
    }

    #[test]
    fn a_wakeup_from_another_thread_ends_the_wait() {
        let w = Arc::new(Wakeups::default());
        let stop = AtomicBool::new(false);
        let w2 = w.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            w2.wake("m");
        });
        let got = w.wait(Instant::now() + Duration::from_secs(10), &stop);
        assert_eq!(got, ["m"]);
        t.join().unwrap();
    }

    #[test]
    fn the_size_is_the_notes_second_line() {
        assert_eq!(
            tree_size(b"evfed.x.example\n42\nAAAA=\n\n- sig\n"),
            Some(42)
        );
        assert_eq!(tree_size(b"garbage"), None);
    }
}
