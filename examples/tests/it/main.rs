//! Tests of the examples: the synthetic London generator, and `london-demo` run as a real
//! process with real nodes and aggregator on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser;
mod dashboard;
mod demo;
mod synth;
