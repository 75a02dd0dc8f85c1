//! evfed-node: publishes a borough's or an operator's chargepoint data as a signed,
//! tamper-evident log under the evfed standard.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod commands;
pub mod config;
pub mod domain;
pub mod home;
pub mod http;
pub mod ingest;
pub mod openapi;
pub mod outgoing;
pub mod pull;
pub mod receiver;
pub mod remote;
pub mod store;
pub mod tls;
pub mod tokens;
pub mod trust;
