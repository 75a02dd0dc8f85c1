//! The conformance suite tests itself: it passes against a real node (directly and through a
//! plain forwarding proxy) and fails, on the named case, against broken servers made by
//! rewriting a real node's traffic. One test binary; real processes on loopback only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod broken;
mod passes;
mod proxy;
mod support;

use evfed_conformance::{Outcome, Report};

/// A readable summary of a report's failures, for assertion messages.
pub fn failures(report: &Report) -> String {
    report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Fail | Outcome::UnexpectedPass))
        .map(|r| format!("{} ({}): {}", r.id, r.section, r.evidence.message))
        .collect::<Vec<_>>()
        .join("\n")
}
