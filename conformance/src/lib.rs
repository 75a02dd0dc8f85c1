//! The evfed conformance suite: tests any node over HTTP against `spec/STANDARD.md`, knowing only
//! the standard, its vectors and the OpenAPI document (§16.2).
//!
//! ```no_run
//! let config = evfed_conformance::RunConfig::new("http://127.0.0.1:8080".parse().unwrap());
//! let report = evfed_conformance::run(&config);
//! println!("{} of {} cases passed", report.counts.pass, report.counts.total);
//! ```
//!
//! Cases are data ([`case::Case`]): a stable id, the section it tests, a level and a check
//! function. A run executes the cases of its level in order, sharing fetched views through
//! [`ctx::Ctx`], and returns a [`Report`] that serialises to JSON, JUnit XML, HTML or text.
//!
//! Architecture Invariant: this crate depends on `evfed-spec` only, never on a node's or an
//! aggregator's code; what it knows of a target it learns over HTTP.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod case;
mod cases;
pub mod ctx;
pub mod http;
pub mod known;
pub mod output;
pub mod report;
pub mod schema;

use std::time::{Duration, Instant};

use url::Url;

pub use case::{Case, Level};
pub use known::{KnownEntry, KnownList};
pub use report::{CaseResult, Counts, Evidence, Outcome, Report, Verdict};

use crate::case::Stop;
use crate::ctx::Ctx;

/// Bounds on everything fetched from the target, which is untrusted (§17.2).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Total time allowed for one request (connect included).
    pub timeout: Duration,
    /// Largest response body read; a larger one fails its request.
    pub max_body_bytes: u64,
    /// Most pages read from one list or log.
    pub max_pages: u64,
    /// Most log entries read from one log.
    pub max_entries: u64,
    /// Inclusion and consistency proofs checked per log, at random positions.
    pub proof_samples: usize,
}

/// What to test and how.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The node's base URL; discovery is fetched from `/.well-known/evfed` under it.
    pub target: Url,
    /// Bearer token for restricted cases (`usage:read`); cases that need one skip without it.
    /// A token whose `scope` claim lacks `usage:read` (e.g. `data:write`) is used as
    /// [`RunConfig::wrong_scope_token`] instead, and the restricted reads skip, saying so.
    pub token: Option<String>,
    /// A valid token without `usage:read` (e.g. `data:write`), for `access.wrong-scope`; with
    /// a `usage:read` [`RunConfig::token`] beside it, one run covers every `access.*` case.
    pub wrong_scope_token: Option<String>,
    pub level: Level,
    /// Cases known to fail, with reasons.
    pub known: KnownList,
    pub limits: Limits,
    /// How long the realtime cases observe the target (§1.6).
    pub observe: Duration,
    /// Seed for the random proof positions; random when `None`. Reports do not depend on it
    /// except through which positions were checked.
    pub seed: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_body_bytes: 64 * 1024 * 1024,
            max_pages: 10_000,
            max_entries: 2_000_000,
            proof_samples: 16,
        }
    }
}

impl RunConfig {
    /// Defaults: level `core`, no token, no known failures, 10 s of realtime observation.
    pub fn new(target: Url) -> Self {
        Self {
            target,
            token: None,
            wrong_scope_token: None,
            level: Level::Core,
            known: KnownList::default(),
            limits: Limits::default(),
            observe: Duration::from_secs(10),
            seed: None,
        }
    }
}

/// Runs every case of the configured level against the target. Blocking; never panics on
/// anything the target sends.
pub fn run(config: &RunConfig) -> Report {
    run_cases(config, &case::for_level(config.level))
}

/// Runs the given cases (in order) against the target.
pub fn run_cases(config: &RunConfig, cases: &[Case]) -> Report {
    let started = chrono::Utc::now();
    let clock = Instant::now();
    let mut results = Vec::with_capacity(cases.len());
    let mut origin = None;
    match http::Http::new(config.limits.timeout, config.limits.max_body_bytes) {
        Ok(client) => {
            let mut ctx = Ctx::new(config, client);
            // The checkpoint at the start, for `log.consistency-over-time` at the end.
            ctx.start_checkpoint = ctx.fetch_checkpoint(false).ok();
            for case in cases {
                results.push(run_one(&mut ctx, case, &config.known));
            }
            origin = ctx.discovery().ok().map(|d| d.origin.clone());
        }
        Err(e) => {
            for case in cases {
                results.push(result_of(
                    case,
                    Err(Stop::Fail(e.evidence())),
                    0,
                    &config.known,
                ));
            }
        }
    }
    let finished = chrono::Utc::now();
    Report {
        suite_version: env!("CARGO_PKG_VERSION").to_owned(),
        target: config.target.to_string(),
        origin,
        level: config.level,
        started_at: started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished_at: finished.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration_ms: clock.elapsed().as_millis() as u64,
        counts: Counts::of(&results),
        results,
    }
}

fn run_one(ctx: &mut Ctx, case: &Case, known: &KnownList) -> CaseResult {
    let t = Instant::now();
    let mark = ctx.seen.len();
    let mut outcome = (case.check)(ctx);
    // A verdict reached over many requests names the last one the case made.
    if let Some(last) = ctx.seen[mark..].last() {
        let evidence = match &mut outcome {
            Ok(e) | Err(Stop::Fail(e)) => Some(e),
            Err(Stop::Skip(_)) => None,
        };
        if let Some(e) = evidence.filter(|e| e.url.is_none()) {
            e.method = Some(last.method.clone());
            e.url = Some(last.url.clone());
            e.status = Some(last.status);
            e.excerpt = Some(last.excerpt.clone());
        }
    }
    result_of(case, outcome, t.elapsed().as_millis() as u64, known)
}

fn result_of(
    case: &Case,
    outcome: case::CheckResult,
    duration_ms: u64,
    known: &KnownList,
) -> CaseResult {
    let listed = known.reason(case.id);
    let (outcome, evidence) = match (outcome, listed) {
        (Ok(e), None) => (Outcome::Pass, e),
        (Ok(e), Some(_)) => (Outcome::UnexpectedPass, e),
        (Err(Stop::Fail(e)), None) => (Outcome::Fail, e),
        (Err(Stop::Fail(e)), Some(_)) => (Outcome::KnownFailure, e),
        (Err(Stop::Skip(reason)), _) => (Outcome::Skip, case::note(reason)),
    };
    CaseResult {
        id: case.id.to_owned(),
        section: case.section.to_owned(),
        level: case.level,
        required: case.required,
        description: case.description.to_owned(),
        outcome,
        evidence,
        known_reason: listed.map(str::to_owned),
        duration_ms,
    }
}
