//! OCPI objects as a CPO pushes them (receiver `PUT`/`PATCH`) or a pull feed serves them: the
//! spec's strict parse (`spec::ocpi::parse`) of Locations, EVSEs, Connectors, Tariffs, status
//! changes and usage records (what a pushed or pulled Session or CDR is read as), and the
//! node's repairs in front of it (`pull::normalise` for Locations, EVSEs, Connectors, Tariffs
//! and status values). The node's mapping of a Session or CDR onto a usage record
//! (`pull::usage`) is crate-private and so not reached: Session and CDR bodies go to the strict
//! usage-record parse directly.
//!
//! The first byte picks what the rest is read as (see [`Kind`]); bit 7 says whether the node's
//! context names a party (as for an OCPI 2.1.1 feed).
//!
//! Invariants checked:
//! - whatever the strict parse accepts encodes canonically (`jcs::to_canonical_vec`) and parses
//!   back to the same value with no warnings (nothing kept is unreadable, nothing dropped);
//! - the node's repairs never produce an OCPI status that is not one (`normalise::status`).

use std::fmt::Debug;
use std::sync::LazyLock;

use evfed_node::parsers::normalise::{self, Context};
use evfed_spec::ids::Party;
use evfed_spec::jcs;
use evfed_spec::ocpi::{self, Connector, Evse, Location, Status, Tariff};
use evfed_spec::usage::{StatusChange, UsageRecord};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// What the input after the first byte is read as (first byte modulo the count).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Location,
    Evse,
    Connector,
    Tariff,
    StatusChange,
    UsageRecord,
    Session,
    Cdr,
    PulledLocation,
    PulledTariff,
    PutEvse,
    PutConnector,
    EvseStatusPatch,
}

const KINDS: [Kind; 13] = [
    Kind::Location,
    Kind::Evse,
    Kind::Connector,
    Kind::Tariff,
    Kind::StatusChange,
    Kind::UsageRecord,
    Kind::Session,
    Kind::Cdr,
    Kind::PulledLocation,
    Kind::PulledTariff,
    Kind::PutEvse,
    Kind::PutConnector,
    Kind::EvseStatusPatch,
];

static PARTY: LazyLock<Option<Party>> = LazyLock::new(|| "GB*EVF".parse().ok());

fn main() {
    assert!(PARTY.is_some());
    afl::fuzz!(|data: &[u8]| check(data));
}

fn check(data: &[u8]) {
    let Some((&tag, body)) = data.split_first() else {
        return;
    };
    let kind = KINDS[usize::from(tag & 0x7f) % KINDS.len()];
    let ctx = Context {
        party: if tag & 0x80 != 0 { PARTY.clone() } else { None },
    };
    match kind {
        Kind::Location => strict::<Location>(body),
        Kind::Evse => strict::<Evse>(body),
        Kind::Connector => strict::<Connector>(body),
        Kind::Tariff => strict::<Tariff>(body),
        Kind::StatusChange => strict::<StatusChange>(body),
        Kind::UsageRecord => strict::<UsageRecord>(body),
        Kind::Session | Kind::Cdr => strict::<UsageRecord>(body),
        Kind::PulledLocation => repaired::<Location>(body, |v| normalise::location(v, &ctx)),
        Kind::PulledTariff => repaired::<Tariff>(body, |v| normalise::tariff(v, &ctx)),
        Kind::PutEvse => repaired::<Evse>(body, normalise::evse_object),
        Kind::PutConnector => repaired::<Connector>(body, normalise::connector_object),
        Kind::EvseStatusPatch => status_patch(body),
    }
}

/// The spec's parse; what it accepts must survive a canonical round trip.
fn strict<T>(body: &[u8])
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let Ok(parsed) = ocpi::parse::<T>(body) else {
        return;
    };
    let bytes = match jcs::to_canonical_vec(&parsed.value) {
        Ok(b) => b,
        Err(e) => panic!("a parsed value has no canonical form: {e}"),
    };
    match ocpi::parse::<T>(&bytes) {
        Ok(back) => {
            assert_eq!(back.value, parsed.value, "value changed on a round trip");
            assert!(
                back.warnings.is_empty(),
                "its own encoding has unknown fields"
            );
        }
        Err(e) => panic!("a parsed value does not read back: {e}"),
    }
}

/// The node's repairs of a body, then the strict parse of what they give, as the receiver and
/// the pull client do.
fn repaired<T>(body: &[u8], repair: impl FnOnce(Value) -> Result<normalise::Normalised, String>)
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    if let Ok(n) = repair(value)
        && let Ok(bytes) = serde_json::to_vec(&n.value)
    {
        strict::<T>(&bytes);
    }
}

/// An EVSE `PATCH` whose `status` the receiver maps to an OCPI status before reading it.
fn status_patch(body: &[u8]) {
    let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    if let Some(Value::String(sent)) = patch.get("status") {
        let (status, _) = normalise::status(sent);
        let read = serde_json::from_value::<Status>(Value::String(status.into()));
        assert!(
            read.is_ok(),
            "status {sent:?} mapped to {status:?}, not an OCPI status"
        );
    }
}
