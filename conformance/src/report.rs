//! What a run produces: one [`CaseResult`] per case with its evidence, gathered in a
//! [`Report`] that serialises to JSON and back (the aggregator stores reports).

use serde::{Deserialize, Serialize};

use crate::case::Level;

/// The outcome of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
    /// Not run, for the reason in the evidence's message (e.g. no token given).
    Skip,
    /// Failed, and listed in the known-failures file: does not fail the run.
    KnownFailure,
    /// Listed in the known-failures file but passed: fails the run, so the list cannot go stale.
    UnexpectedPass,
}

/// What a case saw: the request that decided it (when there was one), the status, an excerpt
/// of the response, and a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
    pub message: String,
}

/// One case's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseResult {
    /// Stable id, e.g. `pagination.no-gaps`.
    pub id: String,
    /// The STANDARD.md section it tests, e.g. `§11.1`.
    pub section: String,
    pub level: Level,
    pub required: bool,
    pub description: String,
    pub outcome: Outcome,
    pub evidence: Evidence,
    /// The reason given in the known-failures file, for `known_failure` and `unexpected_pass`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_reason: Option<String>,
    pub duration_ms: u64,
}

/// Results by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub total: u64,
    pub pass: u64,
    pub fail: u64,
    pub skip: u64,
    pub known_failure: u64,
    pub unexpected_pass: u64,
    /// Required cases that failed, or passed while listed as known (these decide the exit code).
    pub required_fail: u64,
    /// Required cases skipped and not listed as known (a claim of the level needs them run).
    pub required_skip: u64,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// `evfed-conformance` version that produced the report.
    pub suite_version: String,
    /// The target's base URL as given.
    pub target: String,
    /// The origin the target's discovery document named, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    pub level: Level,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    pub counts: Counts,
    pub results: Vec<CaseResult>,
}

/// The verdict of a run, which the command line turns into its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every required case of the level passed (known failures aside).
    Pass,
    /// A required case failed, or a listed known failure passed.
    Fail,
    /// Nothing failed, but required cases were skipped (e.g. no token at level `usage`).
    Incomplete,
}

impl Counts {
    pub fn of(results: &[CaseResult]) -> Self {
        let mut c = Counts::default();
        for r in results {
            c.total += 1;
            match r.outcome {
                Outcome::Pass => c.pass += 1,
                Outcome::Fail => c.fail += 1,
                Outcome::Skip => c.skip += 1,
                Outcome::KnownFailure => c.known_failure += 1,
                Outcome::UnexpectedPass => c.unexpected_pass += 1,
            }
            if r.required && matches!(r.outcome, Outcome::Fail | Outcome::UnexpectedPass) {
                c.required_fail += 1;
            }
            if r.required && r.outcome == Outcome::Skip && r.known_reason.is_none() {
                c.required_skip += 1;
            }
        }
        c
    }
}

impl Report {
    pub fn verdict(&self) -> Verdict {
        if self.counts.required_fail > 0 || self.counts.unexpected_pass > 0 {
            Verdict::Fail
        } else if self.counts.required_skip > 0 {
            Verdict::Incomplete
        } else {
            Verdict::Pass
        }
    }

    /// The result of one case, by id.
    pub fn result(&self, id: &str) -> Option<&CaseResult> {
        self.results.iter().find(|r| r.id == id)
    }

    /// Ids of the cases with this outcome.
    pub fn ids_with(&self, outcome: Outcome) -> Vec<&str> {
        self.results
            .iter()
            .filter(|r| r.outcome == outcome)
            .map(|r| r.id.as_str())
            .collect()
    }
}
