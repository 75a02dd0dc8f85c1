//! Realtime targets (§1.6), observed passively for a bounded time (`--observe`): checkpoints
//! follow the served tree size (RT-1), heartbeats keep checkpoints young (RT-3), `/v1/status`
//! reflects the log up to its own tree size (RT-4), and status freshness (RT-2) when the
//! observation is long enough.

use std::time::{Duration, Instant};

use evfed_spec::time::DateTime;

use super::state::{EventTimes, aligned, compare_status};
use crate::case::{Case, CheckResult, Level, Stop, note};
use crate::ctx::Ctx;

pub const CASES: &[Case] = &[
    Case {
        id: "realtime.signing-cadence",
        section: "§1.6 RT-1",
        level: Level::Realtime,
        required: true,
        description: "during the observation, every Evfed-Tree-Size N is covered by a checkpoint of \
                      size ≥ N within 7 s (checkpoint_interval ≤ 5 s + 2 s)",
        check: signing_cadence,
    },
    Case {
        id: "realtime.heartbeat",
        section: "§1.6 RT-3",
        level: Level::Realtime,
        required: true,
        description: "the latest checkpoint of each log is at most 300 s old (plus 10 s of clock \
                      tolerance)",
        check: heartbeat,
    },
    Case {
        id: "realtime.read-your-log",
        section: "§1.6 RT-4",
        level: Level::Realtime,
        required: true,
        description: "GET /v1/status reflects every status change in the public log up to the \
                      Evfed-Tree-Size it carries",
        check: read_your_log,
    },
    Case {
        id: "realtime.checkpoint-wait",
        section: "§10.6",
        level: Level::Realtime,
        required: false,
        description: "a node that offers the checkpoint wait (Evfed-Checkpoint-Wait) answers \
                      ?newer_than below its size at once, holds ?newer_than=size&wait=1 about a \
                      second and then serves the latest checkpoint, and refuses a wait above \
                      its maximum with invalid-query",
        check: checkpoint_wait,
    },
    Case {
        id: "realtime.status-freshness",
        section: "§1.6 RT-2",
        level: Level::Realtime,
        required: false,
        description: "95 % of evse_status entries are covered by a checkpoint within 60 s of their \
                      event_time (needs --observe ≥ 300 s and 20 status changes)",
        check: status_freshness,
    },
];

/// How long RT-1 allows between a served size and a checkpoint covering it.
const RT1_BOUND: Duration = Duration::from_secs(7);

/// The signed size in a checkpoint response.
fn signed_size(ex: &crate::http::Exchange) -> Option<u64> {
    evfed_spec::note::parse(&ex.body)
        .ok()
        .and_then(|(t, _)| evfed_spec::checkpoint::Checkpoint::parse_text(&t).ok())
        .map(|c| c.tree_size)
}

fn checkpoint_wait(ctx: &mut Ctx) -> CheckResult {
    let base = ctx.endpoint("log", "v1/log")?;
    let ex = ctx.get(&Ctx::log_url(&base, "checkpoint")?)?;
    let Some(max) = ex
        .headers
        .get("evfed-checkpoint-wait")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    else {
        return Err(Stop::Skip(
            "the node offers no checkpoint wait (no Evfed-Checkpoint-Wait): followers poll it, \
             which the standard allows"
                .into(),
        ));
    };
    let Some(size) = signed_size(&ex) else {
        return super::fail_at(&ex, "unreadable checkpoint");
    };
    // Already newer: at once.
    if size > 0 {
        let url = Ctx::log_url(&base, &format!("checkpoint?newer_than={}&wait=5", size - 1))?;
        let started = Instant::now();
        let ex = ctx.get(&url)?;
        if ex.status != 200 || signed_size(&ex).is_none_or(|s| s < size) {
            return super::fail_at(
                &ex,
                format!("expected a checkpoint of at least {size} entries"),
            );
        }
        if started.elapsed() > Duration::from_secs(3) {
            return super::fail_at(
                &ex,
                format!(
                    "a checkpoint newer than {} existed, yet the answer took {:.1} s",
                    size - 1,
                    started.elapsed().as_secs_f64()
                ),
            );
        }
    }
    // Not newer: held for the wait (unless the log grows meanwhile), then the latest.
    let url = Ctx::log_url(&base, &format!("checkpoint?newer_than={size}&wait=1"))?;
    let started = Instant::now();
    let ex = ctx.get(&url)?;
    let held = started.elapsed();
    let Some(now) = signed_size(&ex).filter(|_| ex.status == 200) else {
        return super::fail_at(&ex, "expected 200 with a checkpoint after the wait");
    };
    if now == size && held < Duration::from_millis(900) {
        return super::fail_at(
            &ex,
            format!(
                "?newer_than={size}&wait=1 answered after {} ms with the same size",
                held.as_millis()
            ),
        );
    }
    let url = Ctx::log_url(
        &base,
        &format!("checkpoint?newer_than={size}&wait={}", max + 1),
    )?;
    let ex = ctx.get(&url)?;
    if ex.status != 400 {
        return super::fail_at(
            &ex,
            format!(
                "a wait above the maximum {max} s answered {}, not 400",
                ex.status
            ),
        );
    }
    Ok(note(format!(
        "waits up to {max} s; held {} ms for nothing newer",
        held.as_millis()
    )))
}

fn signing_cadence(ctx: &mut Ctx) -> CheckResult {
    let url = Ctx::log_url(&ctx.endpoint("log", "v1/log")?, "checkpoint")?;
    let start = Instant::now();
    // (when first seen, size) still waiting for a covering checkpoint.
    let mut waiting: Vec<(Instant, u64)> = Vec::new();
    let mut samples = 0;
    let mut covered = 0;
    while start.elapsed() < ctx.observe || !waiting.is_empty() {
        let ex = ctx.get(&url)?;
        let now = Instant::now();
        samples += 1;
        let Some(served) = ex.tree_size() else {
            return super::fail_at(&ex, "no Evfed-Tree-Size (§10.1)");
        };
        let signed = evfed_spec::note::parse(&ex.body)
            .ok()
            .and_then(|(t, _)| evfed_spec::checkpoint::Checkpoint::parse_text(&t).ok())
            .map(|c| c.tree_size);
        let Some(signed) = signed else {
            return super::fail_at(&ex, "unreadable checkpoint");
        };
        if served > signed && !waiting.iter().any(|(_, n)| *n >= served) {
            waiting.push((now, served));
        }
        let before = waiting.len();
        waiting.retain(|(_, n)| *n > signed);
        covered += before - waiting.len();
        if let Some((t, n)) = waiting
            .iter()
            .find(|(t, _)| now.duration_since(*t) > RT1_BOUND)
        {
            return super::fail_at(
                &ex,
                format!(
                    "size {n} was served {:.1} s ago and the checkpoint still has {signed}",
                    now.duration_since(*t).as_secs_f64()
                ),
            );
        }
        if start.elapsed() > ctx.observe + RT1_BOUND * 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(note(format!(
        "{samples} samples over {:.1} s; {covered} served sizes covered in time",
        start.elapsed().as_secs_f64()
    )))
}

fn heartbeat(ctx: &mut Ctx) -> CheckResult {
    let now = DateTime::now().unix_seconds();
    let mut msgs = Vec::new();
    for restricted in [false, true] {
        let cp = ctx.fetch_checkpoint(restricted)?;
        let Ok(v) = &cp.verified else {
            return Err(Stop::Skip(
                "prerequisite failed: the checkpoint does not verify".into(),
            ));
        };
        let age = now - v.checkpoint().time as i64;
        if age > 310 {
            return super::fail_at(
                &cp.exchange,
                format!("the checkpoint is {age} s old (RT-3: at most 300 s)"),
            );
        }
        msgs.push(format!("{} s", age.max(0)));
    }
    Ok(note(format!(
        "checkpoint ages: public {}, restricted {}",
        msgs[0], msgs[1]
    )))
}

fn read_your_log(ctx: &mut Ctx) -> CheckResult {
    let (listing, state, n) = aligned(ctx, "status")?;
    compare_status(&listing, &state, n, EventTimes::Ignore)
}

fn status_freshness(ctx: &mut Ctx) -> CheckResult {
    if ctx.observe < Duration::from_secs(300) {
        return Err(Stop::Skip(format!(
            "needs --observe of at least 300 s (given {} s)",
            ctx.observe.as_secs()
        )));
    }
    let base = ctx.endpoint("log", "v1/log")?;
    let url = Ctx::log_url(&base, "checkpoint")?;
    let start = Instant::now();
    let mut known: Option<u64> = None;
    let mut delays = Vec::new();
    while start.elapsed() < ctx.observe {
        let ex = ctx.get(&url)?;
        let size = evfed_spec::note::parse(&ex.body)
            .ok()
            .and_then(|(t, _)| evfed_spec::checkpoint::Checkpoint::parse_text(&t).ok())
            .map(|c| c.tree_size);
        if let (Some(size), Some(prev)) = (size, known)
            && size > prev
        {
            let received = DateTime::now().unix_millis();
            for e in ctx.fetch_entries(&base, prev, size, None)? {
                let v: serde_json::Value = serde_json::from_slice(&e).unwrap_or_default();
                if v["type"] == "evse_status"
                    && let Some(t) = super::time_of(&v["data"], "event_time")
                {
                    delays.push(received - t.unix_millis());
                }
            }
        }
        known = size.or(known);
        std::thread::sleep(Duration::from_secs(1));
    }
    if delays.len() < 20 {
        return Err(Stop::Skip(format!(
            "only {} status changes observed (needs 20)",
            delays.len()
        )));
    }
    delays.sort_unstable();
    let p95 = delays[(delays.len() * 95).div_ceil(100) - 1];
    if p95 > 60_000 {
        return Err(Stop::fail(format!(
            "95th percentile delay {} ms over {} changes",
            p95,
            delays.len()
        )));
    }
    Ok(note(format!(
        "95th percentile {p95} ms over {} changes",
        delays.len()
    )))
}
