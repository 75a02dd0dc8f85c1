//! Writes and reads of Locations, Tariffs, status and usage (spec §10.3–§10.5): OCPI receiver
//! semantics for PUT and PATCH, the no-churn rule (an unchanged write appends nothing), clock
//! rules, borough assignment, and exactly the log entries of spec §6.2, all in one store
//! transaction per request.
//!
//! By concern: `locations` (PUT, PATCH and reads of a Location, EVSE or Connector, and the
//! entries a location write makes; `put_location`, taking a parsed Location, is the one place
//! of the PUT rule, which every way in uses), `patch` (OCPI PATCH merging and a child's PUT), `status`
//! (batched status changes, kept pending in the EVSE index and folded into bodies later),
//! `tariffs`, `sessions` (usage records); the types and checks they share are here.
//!
//! Architecture Invariant: every accepted change appends its entries in the same transaction as
//! the state change; a rejected request writes nothing. `publish_allowed_to` never reaches an
//! entry.

mod locations;
mod patch;
mod sessions;
mod status;
mod tariffs;

use evfed_spec::entry::LogEntry;
use evfed_spec::ext::GssCode;
use evfed_spec::ids::{ConnectorId, EvseUid, LocationId, Party, TariffId};
use evfed_spec::ocpi::{self, Location, PublishTokenType};
use evfed_spec::time::DateTime;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Error;
use crate::config::Kind;
use crate::domain::areas::NodeAreas;

pub use locations::{
    LocationBody, list_locations, published_locations_with_id, put_location, read_location,
    write_location, write_parsed_location,
};
pub use sessions::post_sessions;
pub(crate) use sessions::{append_usage, check_usage};
pub use status::{current_body, current_location, fold_pending, patch_evse_status, post_status};
pub use tariffs::{delete_tariff, put_parsed_tariff, put_tariff};

/// The most items in one batch (spec §10.1).
pub const MAX_BATCH: usize = 1000;

/// How far ahead of the node's clock a written time may be (spec §12.2).
pub const CLOCK_SKEW_MS: i64 = 60_000;

/// What the node accepts and how it places locations.
#[derive(Debug, Clone)]
pub struct Policy {
    pub kind: Kind,
    /// The authority of a borough node (a code of `areas`).
    pub area: Option<GssCode>,
    /// Parties the node accepts; empty means any.
    pub parties: Vec<Party>,
    /// The area set locations are placed in.
    pub areas: NodeAreas,
}

/// A location's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationKey {
    pub party: Party,
    pub id: LocationId,
}

/// A tariff's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TariffKey {
    pub party: Party,
    pub id: TariffId,
}

/// Which object under a location path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Location,
    Evse(EvseUid),
    Connector(EvseUid, ConnectorId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Put,
    Patch,
}

/// The result of a write.
#[derive(Debug)]
pub struct Written {
    /// A PUT created the object.
    pub created: bool,
    /// Entries appended (0 for a write that changed nothing).
    pub appended: u64,
    /// The object as `GET` returns it.
    pub body: Vec<u8>,
}

/// Who is reading, for hidden objects (spec §10.5).
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// May see every unpublished location (`usage:read`).
    pub all_hidden: bool,
    /// May see this party's unpublished locations and `publish_allowed_to` (`data:write`).
    pub writer_for: Option<Party>,
}

impl Policy {
    pub(crate) fn authorize(&self, caller: &Party, owner: &Party) -> Result<(), Error> {
        if caller != owner {
            return Err(Error::PartyMismatch(format!(
                "the token is for party {caller}; the record belongs to {owner}"
            )));
        }
        if !self.parties.is_empty() && !self.parties.contains(owner) {
            return Err(Error::PartyMismatch(format!(
                "this node does not accept records of party {owner}"
            )));
        }
        Ok(())
    }

    /// Sets the authority, ward and `outside_area` of a location (§4.4): from its
    /// coordinates, keeping what the writer claimed; a location outside the node's authority,
    /// or outside the area set, is kept without them and flagged. A claim the coordinates
    /// contradict is logged, not refused (the conformance suite reports it as a finding).
    pub(crate) fn place(&self, loc: &mut Location) {
        let own = match self.kind {
            Kind::Borough => self.area.as_ref(),
            _ => None,
        };
        let placed = self.areas.place(
            loc.coordinates.lat(),
            loc.coordinates.lon(),
            &loc.evfed,
            own,
        );
        if let Some(d) = &placed.disagreement {
            tracing::warn!(location = %loc.id, "{d}");
        }
        loc.evfed = placed.ext;
    }
}

fn check_batch(n: usize) -> Result<(), Error> {
    if n > MAX_BATCH {
        return Err(Error::TooLarge(format!(
            "a batch holds at most {MAX_BATCH} items; this one has {n}"
        )));
    }
    Ok(())
}

/// Clock rules (spec §12.2): refuse a time more than 60 s ahead; bring one up to 60 s ahead
/// back to now.
fn clock(t: &mut DateTime, now: &DateTime, what: &str) -> Result<(), Error> {
    let ahead = t.unix_millis() - now.unix_millis();
    if ahead > CLOCK_SKEW_MS {
        return Err(Error::InvalidField(format!("{what}: {t} is in the future")));
    }
    if ahead > 0 {
        *t = *now;
    }
    Ok(())
}

fn status_name(s: ocpi::Status) -> String {
    s.as_str().to_owned()
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    Ok(ocpi::parse::<T>(body)?.value)
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt(e.to_string()))
}

pub(crate) fn decode_pat(bytes: Option<&[u8]>) -> Result<Vec<PublishTokenType>, Error> {
    bytes.map(decode).transpose().map(Option::unwrap_or_default)
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::Corrupt(e.to_string()))
}

fn entry_bytes(entry: &LogEntry) -> Result<Vec<u8>, Error> {
    let bytes = entry
        .to_bytes()
        .map_err(|e| Error::InvalidField(e.to_string()))?;
    checked_size(bytes)
}

/// Entry bytes no larger than a log entry may be.
fn checked_size(bytes: Vec<u8>) -> Result<Vec<u8>, Error> {
    if bytes.len() > evfed_spec::entry::MAX_ENTRY_BYTES {
        return Err(Error::TooLarge(
            "the record is larger than a log entry may be (256 KiB)".into(),
        ));
    }
    Ok(bytes)
}
