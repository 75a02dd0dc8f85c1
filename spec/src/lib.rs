//! The evfed open standard in code: OCPI 2.2.1-compatible chargepoint types with the `evfed`
//! extension, usage records, RFC 8785 canonical encoding, log entries, RFC 9162 Merkle trees and
//! C2SP signed-note checkpoints.
//!
//! Architecture Invariant: this crate does no I/O. It takes bytes and returns values; randomness
//! for key generation is passed in by the caller.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod api;
pub mod areas;
pub mod checkpoint;
pub mod entry;
pub mod ext;
pub mod ids;
pub mod jcs;
pub mod merkle;
pub mod note;
pub mod ocpi;
pub mod problem;
pub mod report;
pub mod time;
pub mod trust;
pub mod usage;

pub use ids::{
    ConnectorId, CountryCode, EvseId, EvseUid, LocationId, Party, PartyId, SessionId, TariffId,
};
pub use time::DateTime;
