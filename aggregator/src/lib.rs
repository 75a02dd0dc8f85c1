//! evfed-aggregator: follows evfed nodes, verifies every checkpoint and entry against the keys
//! pinned for each member, and serves the merged London view.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod commands;
pub mod compliance;
pub mod conformance;
pub mod dashboard;
pub mod domain;
pub mod exports;
pub mod follow;
pub mod harvest;
pub mod http;
pub mod london;
pub mod members;
pub mod oauth;
pub mod openapi;
pub mod outgoing;
pub mod publish;
pub mod store;
pub mod usage;
