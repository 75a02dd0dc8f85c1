//! The node's one integration-test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod openapi;
mod standard_client;
mod support;
