//! The conformance suite (`evfed-conformance`, which knows only the standard) run against every
//! member on a schedule. Each run's full report is kept (`conformance_run`), served at
//! `/v1/conformance/...` and counted by the DPS compliance indicators.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use evfed_conformance::{Level, Report, RunConfig, Verdict};

use crate::store::{Member, State, Store, StoreError};

/// Runs the suite at `level` against `member` and records the report; returns it.
pub fn run_member(
    store: &Store,
    member: &Member,
    level: Level,
    now_ms: i64,
) -> Result<Report, StoreError> {
    let report = match member.url.parse() {
        Ok(target) => {
            let mut config = RunConfig::new(target);
            config.level = level;
            // The node's usage:read token, when the aggregator holds one, lets the restricted
            // cases run.
            config.token = member.usage_token.clone();
            config.limits.timeout = Duration::from_secs(10);
            evfed_conformance::run(&config)
        }
        Err(_) => {
            tracing::warn!(origin = %member.origin, url = %member.url, "not a URL; conformance not run");
            return Err(StoreError::Corrupt(format!(
                "member {} has no valid URL",
                member.origin
            )));
        }
    };
    let bytes = serde_json::to_vec(&report).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let passed = report.verdict() == Verdict::Pass;
    store.add_conformance_run(&member.origin, now_ms, passed, &bytes)?;
    tracing::info!(
        origin = %member.origin,
        verdict = ?report.verdict(),
        failed = report.counts.required_fail,
        "conformance run"
    );
    Ok(report)
}

/// Runs the suite against each member once it has been harvested with data (`ok`, a
/// non-empty log), and again whenever its last run is `interval` old, until `stop`.
pub fn run_loop(
    store: &Store,
    stop: &AtomicBool,
    interval: Duration,
    level: Level,
    now_ms: impl Fn() -> i64,
) {
    let interval_ms = interval.as_millis() as i64;
    while !stop.load(Ordering::Relaxed) {
        let due = store.members().and_then(|members| {
            let last: std::collections::HashMap<String, i64> = store
                .latest_conformance_runs()?
                .into_iter()
                .map(|(origin, at, _, _)| (origin, at))
                .collect();
            let now = now_ms();
            Ok(members
                .into_iter()
                .filter(|m| m.state == State::Ok && m.verified_size > 0)
                .filter(|m| last.get(&m.origin).is_none_or(|at| now - at >= interval_ms))
                .collect::<Vec<Member>>())
        });
        match due {
            Ok(due) => {
                for m in &due {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    if let Err(e) = run_member(store, m, level, now_ms()) {
                        tracing::error!(origin = %m.origin, error = %e, "conformance run not recorded");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "reading members for conformance runs"),
        }
        let started = Instant::now();
        while started.elapsed() < TICK && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// How often the loop looks for members due a run.
const TICK: Duration = Duration::from_secs(2);
