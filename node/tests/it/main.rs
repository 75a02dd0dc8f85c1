//! The node's one integration-test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod crash;
mod edges;
mod first_steps;
mod import;
mod issuers;
mod lifecycle;
mod matrix;
mod openapi;
mod pull;
mod reads;
mod receiver;
mod standard_client;
mod support;
mod tidy;
mod writes;
