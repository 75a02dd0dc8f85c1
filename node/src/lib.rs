//! evfed-node: publishes a borough's or an operator's chargepoint data as a signed,
//! tamper-evident log under the evfed standard.
//!
//! The public surface is three façades, each re-exporting what one kind of user needs:
//! [`embed`] for a program that embeds a node's log and HTTP edge (the aggregator), [`cli`] for
//! the commands the `evfed-node` binary runs, and [`parsers`] for the fuzz targets. Every other
//! module is private to the crate.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod cli;
pub mod embed;
pub mod parsers;

pub(crate) mod commands;
pub(crate) mod config;
pub(crate) mod domain;
pub(crate) mod home;
pub(crate) mod http;
pub(crate) mod ingest;
pub(crate) mod openapi;
pub(crate) mod outgoing;
pub(crate) mod pull;
pub(crate) mod receiver;
pub(crate) mod remote;
pub(crate) mod store;
pub(crate) mod tls;
pub(crate) mod tokens;
pub(crate) mod trust;
