//! The OCPI 2.2.1 receiver: what an operator's pushed Location, EVSE, Connector, Tariff,
//! Session or CDR becomes in the node, and (`credentials`) who may push.
//!
//! Every write is made for the party of the caller's credential, and goes through
//! `domain::records`, exactly as a `/v1` write or a pull: the same strict parsing, party rule
//! (also the node's `parties`), clock rule, no-churn rule and log entries. Before that, pushed
//! objects get the repairs a pull applies (`pull::normalise`), and sessions and CDRs are rebuilt
//! as usage records by `pull::usage`'s allow-list, so no personal field reaches the store.
//!
//! Architecture Invariant: no function here reads or writes a record of a party other than the
//! caller's; each one checks the party (`Policy::authorize`) before it touches the store.

pub mod credentials;
mod sessions;

use evfed_spec::ids::Party;
use evfed_spec::ocpi::{self, Status};
use evfed_spec::time::DateTime;
use evfed_spec::usage::StatusChange;
use serde_json::{Map, Value};

use crate::domain::Error;
use crate::domain::records::{self, LocationBody, LocationKey, Part, Policy, TariffKey, Viewer};
use crate::pull::Deviation;
use crate::pull::normalise::{self, Context, Normalised};
use crate::store::Store;

pub use sessions::{SessionKey, patch_session, post_cdr, put_session, read_cdr};

/// What an accepted push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The push created the object.
    pub created: bool,
    /// Log entries appended (0 when nothing changed).
    pub appended: u64,
    /// Deviations from OCPI 2.2.1 that were repaired, each once.
    pub repaired: Vec<Deviation>,
}

/// `PUT` of a Location, EVSE or Connector of the caller's party.
pub fn put_location(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    key: &LocationKey,
    part: &Part,
    body: &[u8],
    now: DateTime,
) -> Result<Accepted, Error> {
    policy.authorize(caller, &key.party)?;
    let value = json(body)?;
    let ctx = Context {
        party: Some(key.party.clone()),
    };
    let n = match part {
        Part::Location => normalise::location(value, &ctx),
        Part::Evse(_) => normalise::evse_object(value),
        Part::Connector(..) => normalise::connector_object(value),
    }
    .map_err(Error::InvalidField)?;
    let body = match part {
        Part::Location => LocationBody::Location(ocpi::parse_value(n.value)?.value),
        Part::Evse(_) => LocationBody::Evse(ocpi::parse_value(n.value)?.value),
        Part::Connector(..) => LocationBody::Connector(ocpi::parse_value(n.value)?.value),
    };
    let w = records::write_parsed_location(store, policy, caller, key, part, body, now)?;
    Ok(Accepted {
        created: w.created,
        appended: w.appended,
        repaired: distinct(n.deviations),
    })
}

/// `PATCH` of a Location, EVSE or Connector of the caller's party. An EVSE `PATCH` of only
/// `status` and `last_updated` takes the cheap path of `POST /v1/status`.
pub fn patch_location(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    key: &LocationKey,
    part: &Part,
    body: &[u8],
    now: DateTime,
) -> Result<Accepted, Error> {
    policy.authorize(caller, &key.party)?;
    let mut patch = object(json(body)?)?;
    let mut repaired = Vec::new();
    if let (Part::Evse(_), Some(Value::String(sent))) = (part, patch.get("status")) {
        let (status, deviation) = normalise::status(sent);
        if let Some(d) = deviation {
            repaired.push(d);
            patch.insert("status".into(), Value::String(status.into()));
        }
    }
    if let Part::Evse(uid) = part
        && let Some(change) = status_only(&patch, key, uid)?
    {
        let appended = records::patch_evse_status(store, policy, caller, change, now)?;
        return Ok(Accepted {
            created: false,
            appended,
            repaired,
        });
    }
    let body = LocationBody::Patch(patch);
    let w = records::write_parsed_location(store, policy, caller, key, part, body, now)?;
    Ok(Accepted {
        created: false,
        appended: w.appended,
        repaired,
    })
}

/// `GET` of a Location, EVSE or Connector of the caller's party (also unpublished ones),
/// without `publish_allowed_to`, which never enters the OCPI surface.
pub fn read_location(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    key: &LocationKey,
    part: &Part,
) -> Result<Option<Vec<u8>>, Error> {
    policy.authorize(caller, &key.party)?;
    // The owner's view shows its unpublished locations; `publish_allowed_to`, which that
    // view adds to a Location, is taken out again.
    let viewer = Viewer {
        all_hidden: false,
        writer_for: Some(caller.clone()),
    };
    let Some(body) = records::read_location(store, &viewer, key, part)? else {
        return Ok(None);
    };
    if *part != Part::Location {
        return Ok(Some(body));
    }
    let mut loc =
        object(serde_json::from_slice(&body).map_err(|e| Error::Corrupt(e.to_string()))?)?;
    if loc.remove("publish_allowed_to").is_none() {
        return Ok(Some(body));
    }
    reencode(&Value::Object(loc)).map(Some)
}

/// `PUT` of a Tariff of the caller's party. A Tariff without `last_updated` (OCPI's own `PUT`
/// example has none) takes the time of receipt.
pub fn put_tariff(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    key: &TariffKey,
    body: &[u8],
    now: DateTime,
) -> Result<Accepted, Error> {
    policy.authorize(caller, &key.party)?;
    let ctx = Context {
        party: Some(key.party.clone()),
    };
    let mut n = normalise::tariff(json(body)?, &ctx).map_err(Error::InvalidField)?;
    default_last_updated(&mut n, &now);
    let tariff = ocpi::parse_value(n.value)?.value;
    let w = records::put_parsed_tariff(store, policy, caller, key, tariff, now)?;
    Ok(Accepted {
        created: w.created,
        appended: w.appended,
        repaired: distinct(n.deviations),
    })
}

/// `GET` of a Tariff of the caller's party.
pub fn read_tariff(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    key: &TariffKey,
) -> Result<Option<Vec<u8>>, Error> {
    policy.authorize(caller, &key.party)?;
    let party = key.party.to_string();
    Ok(store.read(|r| r.tariff(&party, key.id.as_str()))?)
}

/// `DELETE` of a Tariff of the caller's party.
pub fn delete_tariff(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    key: &TariffKey,
    now: DateTime,
) -> Result<(), Error> {
    records::delete_tariff(store, policy, caller, key, now)
}

/// The status change an EVSE `PATCH` amounts to, when it changes nothing but `status`.
fn status_only(
    patch: &Map<String, Value>,
    key: &LocationKey,
    uid: &evfed_spec::ids::EvseUid,
) -> Result<Option<StatusChange>, Error> {
    if patch.len() != 2 || !patch.contains_key("status") {
        return Ok(None);
    }
    let (Some(status), Some(Value::String(at))) = (patch.get("status"), patch.get("last_updated"))
    else {
        return Ok(None);
    };
    let status: Status = serde_json::from_value(status.clone())
        .map_err(|e| Error::InvalidField(format!("status: {e}")))?;
    let event_time: DateTime = at
        .parse()
        .map_err(|e| Error::InvalidField(format!("last_updated: {e}")))?;
    Ok(Some(StatusChange {
        country_code: key.party.country_code.clone(),
        party_id: key.party.party_id.clone(),
        location_id: key.id.clone(),
        evse_uid: uid.clone(),
        status,
        event_time,
    }))
}

fn default_last_updated(n: &mut Normalised, now: &DateTime) {
    if let Some(obj) = n.value.as_object_mut()
        && !obj.contains_key("last_updated")
    {
        obj.insert("last_updated".into(), Value::String(now.to_string()));
        n.deviations.push(Deviation::LastUpdatedDefaulted);
    }
}

fn json(body: &[u8]) -> Result<Value, Error> {
    serde_json::from_slice(body)
        .map_err(|e| Error::InvalidJson(format!("body is not valid JSON: {e}")))
}

fn object(value: Value) -> Result<Map<String, Value>, Error> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(Error::InvalidField("the body must be a JSON object".into())),
    }
}

fn reencode(value: &Value) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::Corrupt(format!("re-encoding a record: {e}")))
}

fn distinct(mut ds: Vec<Deviation>) -> Vec<Deviation> {
    ds.sort();
    ds.dedup();
    ds
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;

    const LOCATION: &[u8] =
        include_bytes!("../../../spec/testdata/ocpi/valid/location_park_royal_rapid_hub.json");

    #[test]
    fn pushes_are_for_the_callers_party_and_reads_never_show_publish_allowed_to() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("evfed.db")).unwrap();
        let policy = Policy {
            kind: Kind::Cpo,
            area: None,
            parties: Vec::new(),
            areas: crate::domain::areas::NodeAreas::london(),
        };
        let party: Party = "GB*RHX".parse().unwrap();
        let key = LocationKey {
            party: party.clone(),
            id: "RHX-PARKROYAL".parse().unwrap(),
        };
        let now: DateTime = "2026-11-22T06:00:00Z".parse().unwrap();
        let mut loc: Value = serde_json::from_slice(LOCATION).unwrap();
        loc["publish"] = Value::Bool(false);
        loc["publish_allowed_to"] =
            serde_json::json!([{"visual_number": "FLEET-7", "issuer": "Fleet Co"}]);
        loc["evses"][0]["status"] = Value::String("Charging".into());
        let body = serde_json::to_vec(&loc).unwrap();

        let other: Party = "GB*XYZ".parse().unwrap();
        let put = |caller: &Party| {
            put_location(&store, &policy, caller, &key, &Part::Location, &body, now)
        };
        assert!(matches!(put(&other), Err(Error::PartyMismatch(_))));
        let accepted = put(&party).unwrap();
        assert_eq!((accepted.created, accepted.appended), (true, 1));
        assert_eq!(accepted.repaired, [Deviation::StatusMapped]);

        let read = read_location(&store, &policy, &party, &key, &Part::Location)
            .unwrap()
            .expect("the owner sees its unpublished location");
        let text = String::from_utf8(read).unwrap();
        assert!(
            !text.contains("publish_allowed_to") && !text.contains("FLEET-7"),
            "{text}"
        );
        assert!(matches!(
            read_location(&store, &policy, &other, &key, &Part::Location),
            Err(Error::PartyMismatch(_))
        ));
    }
}
