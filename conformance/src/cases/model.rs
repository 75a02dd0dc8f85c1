//! The data model as served (§4): Locations and Tariffs parse under the standard's rules
//! (required members, lengths, formats, closed enumerations), EVSE statuses come only from
//! OCPI's enumeration, status changes are complete, and no personal data is served.

use evfed_spec::ocpi::{self, Location, Tariff};
use evfed_spec::usage::StatusChange;
use serde_json::Value;

use super::key_of;
use crate::case::{Case, CheckResult, Level, Stop, note};
use crate::ctx::{Ctx, Listing};

pub const CASES: &[Case] = &[
    Case {
        id: "model.locations-parse",
        section: "§4.2",
        level: Level::Core,
        required: true,
        description: "every served Location parses under §4.2 (required members, lengths, formats, \
                      enumerations) and carries only members OCPI or evfed define",
        check: locations_parse,
    },
    Case {
        id: "model.tariffs-parse",
        section: "§4.2",
        level: Level::Core,
        required: true,
        description: "every served Tariff parses under §4.2 and carries only defined members",
        check: tariffs_parse,
    },
    Case {
        id: "model.evse-status-enum",
        section: "§4.7",
        level: Level::Core,
        required: true,
        description: "every EVSE status served (/v1/locations, /v1/status) is one of OCPI's Status \
                      values (AVAILABLE … UNKNOWN), upper-case",
        check: evse_status_enum,
    },
    Case {
        id: "model.status-changes",
        section: "§4.7",
        level: Level::Core,
        required: true,
        description: "every /v1/status item is a complete status change (§4.7)",
        check: status_changes,
    },
    Case {
        id: "privacy.publish-allowed-to",
        section: "§4.5",
        level: Level::Core,
        required: true,
        description: "publish_allowed_to appears in no open response and no public log entry",
        check: publish_allowed_to,
    },
];

/// The OCPI Status values (OCPI §8.4.22).
pub const OCPI_STATUSES: [&str; 9] = [
    "AVAILABLE",
    "BLOCKED",
    "CHARGING",
    "INOPERATIVE",
    "OUTOFORDER",
    "PLANNED",
    "REMOVED",
    "RESERVED",
    "UNKNOWN",
];

fn ev(listing: &Listing, message: String) -> Stop {
    Stop::Fail(crate::report::Evidence {
        method: Some("GET".into()),
        url: Some(listing.first_url.to_string()),
        status: Some(200),
        excerpt: None,
        message,
    })
}

/// Parses each item strictly as `T`; unknown members are a failure (§4.2 rule 7).
pub fn parse_items<T: serde::de::DeserializeOwned>(
    items: &[Value],
    what: &str,
) -> Result<usize, String> {
    for v in items {
        let bytes = serde_json::to_vec(v).map_err(|e| e.to_string())?;
        match ocpi::parse::<T>(&bytes) {
            Ok(p) if p.warnings.is_empty() => {}
            Ok(p) => {
                return Err(format!(
                    "{what} {:?} carries a member the standard does not define: {}",
                    key_of(v),
                    p.warnings[0].path
                ));
            }
            Err(e) => return Err(format!("{what} {:?}: {e}", key_of(v))),
        }
    }
    Ok(items.len())
}

fn locations_parse(ctx: &mut Ctx) -> CheckResult {
    let l = ctx.listing("locations")?;
    parse_items::<Location>(&l.items, "Location")
        .map(|n| note(format!("{n} Locations parse")))
        .map_err(|m| ev(&l, m))
}

fn tariffs_parse(ctx: &mut Ctx) -> CheckResult {
    let l = ctx.listing("tariffs")?;
    parse_items::<Tariff>(&l.items, "Tariff")
        .map(|n| note(format!("{n} Tariffs parse")))
        .map_err(|m| ev(&l, m))
}

/// The first EVSE whose status is not OCPI's, in a list of Locations.
pub fn bad_status(locations: &[Value]) -> Option<String> {
    for l in locations {
        for e in l["evses"].as_array().into_iter().flatten() {
            let s = e["status"].as_str().unwrap_or("");
            if !OCPI_STATUSES.contains(&s) {
                return Some(format!(
                    "EVSE {} of Location {:?} has status {} (not an OCPI Status)",
                    e["uid"],
                    key_of(l),
                    e["status"]
                ));
            }
        }
    }
    None
}

fn evse_status_enum(ctx: &mut Ctx) -> CheckResult {
    let l = ctx.listing("locations")?;
    if let Some(m) = bad_status(&l.items) {
        return Err(ev(&l, m));
    }
    let s = ctx.listing("status")?;
    for item in &s.items {
        if !item["status"]
            .as_str()
            .is_some_and(|x| OCPI_STATUSES.contains(&x))
        {
            return Err(ev(
                &s,
                format!("status change {item} has a status outside OCPI's Status"),
            ));
        }
    }
    Ok(note(format!(
        "statuses of {} Locations and {} status items are OCPI values",
        l.items.len(),
        s.items.len()
    )))
}

fn status_changes(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.listing("status")?;
    for item in &s.items {
        if let Err(e) = serde_json::from_value::<StatusChange>(item.clone()) {
            return Err(ev(&s, format!("{item}: {e}")));
        }
    }
    Ok(note(format!("{} status changes complete", s.items.len())))
}

fn contains_member(v: &Value, name: &str) -> bool {
    match v {
        Value::Object(o) => o.contains_key(name) || o.values().any(|x| contains_member(x, name)),
        Value::Array(a) => a.iter().any(|x| contains_member(x, name)),
        _ => false,
    }
}

fn publish_allowed_to(ctx: &mut Ctx) -> CheckResult {
    let l = ctx.listing("locations")?;
    if let Some(v) = l
        .items
        .iter()
        .find(|v| contains_member(v, "publish_allowed_to"))
    {
        return Err(ev(
            &l,
            format!("Location {:?} is served with publish_allowed_to", key_of(v)),
        ));
    }
    let log = ctx.public_log()?;
    for (i, e) in log.entries.iter().enumerate() {
        if e.windows(b"\"publish_allowed_to\"".len())
            .any(|w| w == b"\"publish_allowed_to\"")
        {
            return Err(Stop::Fail(super::log::log_evidence(
                &log,
                format!("entry {i} carries publish_allowed_to"),
            )));
        }
    }
    Ok(note(
        "no publish_allowed_to in open Locations or the public log",
    ))
}
