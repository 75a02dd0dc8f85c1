//! OCPI Sessions and CDRs (2.2.1, and 2.1.1's shapes) as evfed usage records.
//!
//! A usage record is built member by member from an allow-list, so nothing else the sender put
//! in a session or CDR (`cdr_token`, `auth_id`, `authorization_reference`, `signed_data`,
//! `invoice_reference_id`, meter ids, charging periods, …) can reach the store. Driver
//! identifiers that were present are counted as [`Deviation::PersonalDataDropped`].

use serde_json::{Map, Value, json};

use super::normalise::{Context, Normalised, party};
use super::report::Deviation;

/// Members of a session or CDR that identify (or lead to) a driver.
const PERSONAL: &[&str] = &[
    "cdr_token",
    "auth_id",
    "authorization_reference",
    "signed_data",
    "invoice_reference_id",
    "token",
    "token_uid",
    "contract_id",
];

/// Whether the object is an OCPI Session or a CDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Session,
    Cdr,
}

/// The usage record of a session or CDR. A CDR becomes the record of its session
/// (`session_id`, when it names one), so the final figures replace the running ones.
pub fn usage_record(sent: &Value, kind: Kind, ctx: &Context) -> Result<Normalised, String> {
    let Some(src) = sent.as_object() else {
        return Err("not a JSON object".into());
    };
    let mut ds = Vec::new();
    if PERSONAL
        .iter()
        .any(|k| src.get(*k).is_some_and(|v| !v.is_null()))
    {
        ds.push(Deviation::PersonalDataDropped);
    }
    let get = |k: &str| src.get(k).filter(|v| !v.is_null());
    let mut out = Map::new();

    let id = match kind {
        Kind::Cdr => get("session_id")
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
            .or_else(|| get("id")),
        Kind::Session => get("id"),
    };
    out.insert("id".into(), required(id, "id")?);
    for k in ["country_code", "party_id"] {
        if let Some(v) = get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    party(&mut out, ctx, &mut ds)?;

    // Where: 2.2.1 sessions name it, 2.2.1 CDRs carry a `cdr_location`, 2.1.1 both carry a
    // whole `location` with the one EVSE and connector used.
    let (location_id, evse_uid, connector_id) = if let Some(l) = get("cdr_location") {
        (l.get("id"), l.get("evse_uid"), l.get("connector_id"))
    } else if get("location_id").is_none()
        && let Some(l) = get("location")
    {
        ds.push(Deviation::Ocpi211Field);
        let evse = l.pointer("/evses/0");
        (
            l.get("id"),
            evse.and_then(|e| e.get("uid")),
            evse.and_then(|e| e.pointer("/connectors/0/id")),
        )
    } else {
        (get("location_id"), get("evse_uid"), get("connector_id"))
    };
    out.insert("location_id".into(), required(location_id, "location_id")?);
    out.insert("evse_uid".into(), required(evse_uid, "evse_uid")?);
    out.insert(
        "connector_id".into(),
        required(connector_id, "connector_id")?,
    );

    let start = match get("start_date_time") {
        Some(v) => Some(v),
        None => {
            let old = get("start_datetime");
            if old.is_some() {
                ds.push(Deviation::Ocpi211Field);
            }
            old
        }
    };
    out.insert(
        "start_date_time".into(),
        required(start, "start_date_time")?,
    );
    let end = match get("end_date_time") {
        Some(v) => Some(v),
        None => {
            let old = get("end_datetime").or_else(|| get("stop_date_time"));
            if old.is_some() {
                ds.push(Deviation::Ocpi211Field);
            }
            old
        }
    };
    if let Some(end) = end {
        out.insert("end_date_time".into(), end.clone());
    }
    let kwh = match kind {
        Kind::Session => get("kwh"),
        Kind::Cdr => get("total_energy").or_else(|| get("kwh")),
    };
    out.insert("kwh".into(), required(kwh, "kwh")?);

    // OCPI 2.1.1 gives total_cost as a number (excluding VAT); 2.2.1 as a Price.
    let cost = match get("total_cost") {
        Some(Value::Number(n)) => {
            ds.push(Deviation::Ocpi211Field);
            Some(json!({ "excl_vat": n }))
        }
        Some(Value::Object(p)) => {
            let mut price = Map::new();
            for k in ["excl_vat", "incl_vat"] {
                if let Some(v) = p.get(k).filter(|v| !v.is_null()) {
                    price.insert(k.into(), v.clone());
                }
            }
            Some(Value::Object(price))
        }
        Some(_) => return Err("total_cost is neither a number nor a Price".into()),
        None => None,
    };
    if let (Some(cost), Some(currency)) = (cost, get("currency")) {
        out.insert("total_cost".into(), cost);
        out.insert("currency".into(), currency.clone());
    }
    Ok(Normalised {
        value: Value::Object(out),
        deviations: ds,
        warnings: Vec::new(),
    })
}

/// Whether a session becomes a usage record. Sessions that have not started or are invalid
/// (`PENDING`, `RESERVATION`, `INVALID`) never do. When the sender's CDRs are pulled too, a
/// completed session is left to its CDR, the session's final record; otherwise the running
/// session's record and the CDR's would replace each other on every pull.
pub fn keep_session(sent: &Value, cdrs_pulled: bool) -> bool {
    let ended = sent
        .get("end_date_time")
        .or_else(|| sent.get("end_datetime"));
    let ended = ended.is_some_and(|v| !v.is_null());
    let status = sent
        .get("status")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase)
        .unwrap_or_else(|| if ended { "COMPLETED" } else { "ACTIVE" }.to_owned());
    match status.as_str() {
        "ACTIVE" => true,
        "COMPLETED" => !cdrs_pulled,
        _ => false,
    }
}

fn required(v: Option<&Value>, name: &str) -> Result<Value, String> {
    v.filter(|v| !v.is_null())
        .cloned()
        .ok_or_else(|| format!("{name}: required field is missing"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use evfed_spec::usage::UsageRecord;

    fn strict(n: &Normalised) -> UsageRecord {
        let bytes = serde_json::to_vec(&n.value).unwrap();
        let parsed = evfed_spec::ocpi::parse::<UsageRecord>(&bytes).unwrap();
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        parsed.value
    }

    #[test]
    fn a_221_session_loses_every_personal_field() {
        let session = json!({
            "country_code": "gb", "party_id": "LPC", "id": "S-1",
            "start_date_time": "2026-01-01T10:00:00Z", "end_date_time": "2026-01-01T11:00:00Z",
            "kwh": 7.5,
            "cdr_token": {"uid": "04A1B2C3", "type": "RFID", "contract_id": "GB-LPC-C12345678-X", "country_code": "GB", "party_id": "LPC"},
            "auth_method": "WHITELIST", "authorization_reference": "AUTH-77",
            "location_id": "L1", "evse_uid": "E1", "connector_id": "1", "meter_id": "M-9",
            "currency": "GBP", "charging_periods": [], "total_cost": {"excl_vat": 3.1, "incl_vat": 3.72},
            "status": "COMPLETED", "last_updated": "2026-01-01T11:00:00Z"
        });
        let n = usage_record(&session, Kind::Session, &Context::default()).unwrap();
        let text = n.value.to_string();
        for secret in ["04A1B2C3", "C12345678", "AUTH-77", "M-9", "WHITELIST"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(n.deviations.contains(&Deviation::PersonalDataDropped));
        assert!(n.deviations.contains(&Deviation::IdCase));
        let r = strict(&n);
        assert_eq!(r.party().to_string(), "GB*LPC");
        assert_eq!(r.total_cost.map(|p| p.excl_vat), Some(3.1));
    }

    #[test]
    fn a_cdr_becomes_its_sessions_record() {
        let cdr = json!({
            "country_code": "GB", "party_id": "LPC", "id": "CDR-1", "session_id": "S-1",
            "start_date_time": "2026-01-01T10:00:00Z", "end_date_time": "2026-01-01T11:00:00Z",
            "cdr_token": {"uid": "04A1B2C3", "type": "RFID", "contract_id": "X"},
            "cdr_location": {"id": "L1", "evse_uid": "E1", "connector_id": "1", "address": "1 Road"},
            "currency": "GBP", "total_cost": {"excl_vat": 3.2}, "total_energy": 7.6,
            "last_updated": "2026-01-01T11:05:00Z"
        });
        let n = usage_record(&cdr, Kind::Cdr, &Context::default()).unwrap();
        let r = strict(&n);
        assert_eq!(
            (r.id.as_str(), r.location_id.as_str(), r.kwh),
            ("S-1", "L1", 7.6)
        );
    }

    #[test]
    fn which_sessions_are_kept() {
        let s = |status: &str| json!({"status": status});
        assert!(keep_session(&s("ACTIVE"), true));
        assert!(keep_session(&s("COMPLETED"), false));
        assert!(!keep_session(&s("COMPLETED"), true));
        for never in ["PENDING", "RESERVATION", "INVALID"] {
            assert!(!keep_session(&s(never), false), "{never}");
        }
        assert!(!keep_session(
            &json!({"end_date_time": "2026-01-01T00:00:00Z"}),
            true
        ));
        assert!(keep_session(&json!({}), true));
    }

    #[test]
    fn ocpi_211_shapes() {
        let session = json!({
            "id": "S-2", "start_datetime": "2026-01-01T10:00:00Z", "end_datetime": null,
            "kwh": 1.0, "auth_id": "DRIVER-1", "location": {"id": "L1", "evses": [{"uid": "E1",
            "connectors": [{"id": "2"}]}]}, "currency": "GBP", "total_cost": 0.5, "status": "ACTIVE"
        });
        let ctx = Context {
            party: Some("GB*OLD".parse().unwrap()),
        };
        let n = usage_record(&session, Kind::Session, &ctx).unwrap();
        let r = strict(&n);
        assert_eq!((r.evse_uid.as_str(), r.connector_id.as_str()), ("E1", "2"));
        assert_eq!(r.end_date_time, None);
        assert!(!n.value.to_string().contains("DRIVER-1"));
        for d in [
            Deviation::Ocpi211Field,
            Deviation::PartyFilled,
            Deviation::PersonalDataDropped,
        ] {
            assert!(n.deviations.contains(&d), "{d}");
        }
        let err = usage_record(&json!({"id": "x"}), Kind::Cdr, &ctx).unwrap_err();
        assert!(err.contains("location_id"), "{err}");
    }
}
