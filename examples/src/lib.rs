//! Runnable examples: a whole local London federation with synthetic data.
//!
//! - [`synth`]: a deterministic synthetic London (locations, status changes, sessions).
//! - [`demo`]: the pieces of `london-demo`, which runs real `evfed-node` and
//!   `evfed-aggregator` processes on loopback and feeds them that London.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod demo;
pub mod synth;
