//! Repairs of the ways real OCPI feeds depart from OCPI 2.2.1, applied to the JSON of one
//! Location or Tariff before it is parsed strictly by `evfed_spec::ocpi` (whose types stay
//! strict). Each repair is reported as a [`Deviation`]; anything still wrong afterwards is the
//! strict parser's to refuse, one record at a time.
//!
//! The tables here (statuses, Windows time zones) are documented in `docs/ocpi-pull.md`.

use evfed_spec::ids::Party;
use serde_json::{Map, Value};

use super::report::Deviation;

/// What the normaliser may assume about a feed.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The party of objects that carry no `country_code`/`party_id` (OCPI 2.1.1 feeds).
    pub party: Option<Party>,
}

/// A repaired object, what was repaired, and warnings worth a person's attention.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalised {
    pub value: Value,
    pub deviations: Vec<Deviation>,
    pub warnings: Vec<String>,
}

/// OCPI 2.2.1 EVSE statuses.
const STATUSES: [&str; 9] = [
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

/// Statuses outside OCPI's enum that feeds send, keyed upper-case without `_`, `-` or spaces.
/// `WORKING` says the EVSE is in service but not whether it is free; evfed takes it as
/// `AVAILABLE` (the closest OCPI value to "can be used") and warns. OCPP 1.6 connector statuses
/// that leak into OCPI feeds map as OCPI's own implementation guide maps them.
pub const STATUS_TABLE: &[(&str, &str)] = &[
    ("WORKING", "AVAILABLE"),
    ("INSERVICE", "AVAILABLE"),
    ("OPERATIONAL", "AVAILABLE"),
    ("FAULTED", "OUTOFORDER"),
    ("FAULTY", "OUTOFORDER"),
    ("FAULT", "OUTOFORDER"),
    ("NOTWORKING", "OUTOFORDER"),
    ("BROKEN", "OUTOFORDER"),
    ("OCCUPIED", "CHARGING"),
    ("INUSE", "CHARGING"),
    ("PREPARING", "CHARGING"),
    ("SUSPENDEDEV", "CHARGING"),
    ("SUSPENDEDEVSE", "CHARGING"),
    ("FINISHING", "CHARGING"),
    ("UNAVAILABLE", "INOPERATIVE"),
    ("OUTOFSERVICE", "INOPERATIVE"),
];

/// Windows time-zone ids (as in CLDR's `windowsZones.xml`, territory `001`) and their IANA
/// names. Matched ignoring ASCII case.
pub const WINDOWS_TIME_ZONES: &[(&str, &str)] = &[
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("UTC", "Etc/UTC"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("Romance Standard Time", "Europe/Paris"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("FLE Standard Time", "Europe/Kiev"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Kaliningrad Standard Time", "Europe/Kaliningrad"),
    ("Belarus Standard Time", "Europe/Minsk"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Azores Standard Time", "Atlantic/Azores"),
    ("Cape Verde Standard Time", "Atlantic/Cape_Verde"),
    ("Morocco Standard Time", "Africa/Casablanca"),
    ("W. Central Africa Standard Time", "Africa/Lagos"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("Egypt Standard Time", "Africa/Cairo"),
    ("E. Africa Standard Time", "Africa/Nairobi"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("Jordan Standard Time", "Asia/Amman"),
    ("Middle East Standard Time", "Asia/Beirut"),
    ("Arabic Standard Time", "Asia/Baghdad"),
    ("Arab Standard Time", "Asia/Riyadh"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Iran Standard Time", "Asia/Tehran"),
    ("Pakistan Standard Time", "Asia/Karachi"),
    ("India Standard Time", "Asia/Calcutta"),
    ("SE Asia Standard Time", "Asia/Bangkok"),
    ("China Standard Time", "Asia/Shanghai"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("Taipei Standard Time", "Asia/Taipei"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("Korea Standard Time", "Asia/Seoul"),
    ("W. Australia Standard Time", "Australia/Perth"),
    ("AUS Central Standard Time", "Australia/Darwin"),
    ("Cen. Australia Standard Time", "Australia/Adelaide"),
    ("E. Australia Standard Time", "Australia/Brisbane"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("Tasmania Standard Time", "Australia/Hobart"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("Greenland Standard Time", "America/Godthab"),
    ("Newfoundland Standard Time", "America/St_Johns"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("Argentina Standard Time", "America/Buenos_Aires"),
    ("Pacific SA Standard Time", "America/Santiago"),
    ("SA Pacific Standard Time", "America/Bogota"),
    ("Eastern Standard Time", "America/New_York"),
    ("Central Standard Time", "America/Chicago"),
    ("Central Standard Time (Mexico)", "America/Mexico_City"),
    ("Canada Central Standard Time", "America/Regina"),
    ("Mountain Standard Time", "America/Denver"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
];

/// Optional string members where `""` means absent (an empty URL or id would otherwise fail the
/// whole record).
const OPTIONAL_STRINGS: &[&str] = &[
    "name",
    "postal_code",
    "state",
    "evse_id",
    "floor_level",
    "physical_reference",
    "terms_and_conditions",
    "website",
    "thumbnail",
    "tariff_alt_url",
    "parking_type",
    "time_zone",
    "supplier_name",
    "energy_product_name",
];

/// OCPI 2.1.1 `Location.type` values that are 2.2.1 `parking_type` values.
const PARKING_TYPES: &[&str] = &[
    "ON_STREET",
    "PARKING_GARAGE",
    "UNDERGROUND_GARAGE",
    "PARKING_LOT",
];

/// A Location as a feed sent it, repaired.
pub fn location(value: Value, ctx: &Context) -> Result<Normalised, String> {
    let mut n = Normalised::start(value)?;
    let obj = n.object()?;
    let mut ds = Vec::new();
    let mut warnings = Vec::new();
    party(obj, ctx, &mut ds)?;
    if !obj.contains_key("publish") {
        obj.insert("publish".into(), Value::Bool(true));
        ds.push(Deviation::PublishDefaulted);
    }
    // OCPI 2.1.1 `type` (a location type) became `parking_type`.
    if !obj.contains_key("parking_type")
        && let Some(Value::String(t)) = obj.remove("type")
    {
        if PARKING_TYPES.contains(&t.as_str()) {
            obj.insert("parking_type".into(), Value::String(t));
        }
        ds.push(Deviation::Ocpi211Field);
    }
    match obj.get("time_zone") {
        Some(Value::String(tz)) => {
            if let Some(iana) = windows_time_zone(tz) {
                warnings.push(format!("time_zone {tz:?} read as {iana}"));
                obj.insert("time_zone".into(), Value::String(iana.into()));
                ds.push(Deviation::WindowsTimeZone);
            }
        }
        None if obj.get("country").and_then(Value::as_str) == Some("GBR") => {
            obj.insert("time_zone".into(), Value::String("Europe/London".into()));
            ds.push(Deviation::TimeZoneDefaulted);
        }
        _ => {}
    }
    if let Some(c) = obj.get_mut("coordinates") {
        coordinates(c, &mut ds);
    }
    if let Some(Value::Array(related)) = obj.get_mut("related_locations") {
        for r in related {
            coordinates(r, &mut ds);
        }
    }
    if let Some(Value::Array(evses)) = obj.get_mut("evses") {
        for e in evses.iter_mut().filter_map(Value::as_object_mut) {
            evse(e, &mut ds, &mut warnings);
        }
    }
    n.deviations.extend(ds);
    n.warnings = warnings;
    Ok(n)
}

/// A Tariff as a feed sent it, repaired.
pub fn tariff(value: Value, ctx: &Context) -> Result<Normalised, String> {
    let mut n = Normalised::start(value)?;
    let obj = n.object()?;
    let mut ds = Vec::new();
    party(obj, ctx, &mut ds)?;
    n.deviations.extend(ds);
    Ok(n)
}

/// One EVSE as a sender sent it on its own (an OCPI receiver `PUT` of an EVSE), repaired as
/// inside a Location.
pub fn evse_object(value: Value) -> Result<Normalised, String> {
    let mut n = Normalised::start(value)?;
    let mut ds = Vec::new();
    let mut warnings = Vec::new();
    evse(n.object()?, &mut ds, &mut warnings);
    n.deviations.extend(ds);
    n.warnings = warnings;
    Ok(n)
}

/// One Connector as a sender sent it on its own (an OCPI receiver `PUT` of a Connector),
/// repaired as inside a Location.
pub fn connector_object(value: Value) -> Result<Normalised, String> {
    let mut n = Normalised::start(value)?;
    let mut ds = Vec::new();
    connector(n.object()?, &mut ds);
    n.deviations.extend(ds);
    Ok(n)
}

/// The OCPI status for what a feed sent, and whether it had to be mapped.
pub fn status(sent: &str) -> (&'static str, Option<Deviation>) {
    if let Some(s) = STATUSES.iter().find(|s| **s == sent) {
        return (s, None);
    }
    let key: String = sent
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if let Some(s) = STATUSES.iter().find(|s| **s == key) {
        return (s, Some(Deviation::StatusMapped));
    }
    match STATUS_TABLE.iter().find(|(from, _)| *from == key) {
        Some((_, to)) => (to, Some(Deviation::StatusMapped)),
        None => ("UNKNOWN", Some(Deviation::StatusUnknown)),
    }
}

/// The IANA name of a Windows time-zone id.
pub fn windows_time_zone(tz: &str) -> Option<&'static str> {
    let tz = tz.trim();
    WINDOWS_TIME_ZONES
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(tz))
        .map(|(_, iana)| *iana)
}

/// `country_code` and `party_id`: upper-cased if sent otherwise, filled in from the context when
/// absent.
pub fn party(
    obj: &mut Map<String, Value>,
    ctx: &Context,
    ds: &mut Vec<Deviation>,
) -> Result<(), String> {
    let mut filled = false;
    for (field, from_ctx) in [
        (
            "country_code",
            ctx.party
                .as_ref()
                .map(|p| p.country_code.as_str().to_owned()),
        ),
        (
            "party_id",
            ctx.party.as_ref().map(|p| p.party_id.as_str().to_owned()),
        ),
    ] {
        match obj.get_mut(field) {
            Some(Value::String(s)) => {
                if s.bytes().any(|b| b.is_ascii_lowercase()) {
                    *s = s.to_ascii_uppercase();
                    ds.push(Deviation::IdCase);
                }
            }
            Some(_) => return Err(format!("{field} is not a string")),
            None => {
                let Some(v) = from_ctx else {
                    return Err(format!(
                        "{field}: required field is missing (for an OCPI 2.1.1 feed, name the \
                         party with --party or `party` in [[pull]])"
                    ));
                };
                obj.insert(field.into(), Value::String(v));
                filled = true;
            }
        }
    }
    if filled {
        ds.push(Deviation::PartyFilled);
    }
    Ok(())
}

impl Normalised {
    /// Checks the value is an object and removes explicit nulls and empties.
    fn start(mut value: Value) -> Result<Self, String> {
        if !value.is_object() {
            return Err("not a JSON object".into());
        }
        let mut deviations = Vec::new();
        if strip_empty(&mut value) {
            deviations.push(Deviation::NullOrEmpty);
        }
        Ok(Self {
            value,
            deviations,
            warnings: Vec::new(),
        })
    }

    fn object(&mut self) -> Result<&mut Map<String, Value>, String> {
        self.value
            .as_object_mut()
            .ok_or_else(|| "not a JSON object".to_owned())
    }
}

fn evse(e: &mut Map<String, Value>, ds: &mut Vec<Deviation>, warnings: &mut Vec<String>) {
    let uid = e
        .get("uid")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned();
    let sent = e.get("status").and_then(Value::as_str).map(str::to_owned);
    let (mapped, d) = match &sent {
        Some(s) => status(s),
        None => ("UNKNOWN", Some(Deviation::StatusUnknown)),
    };
    if let Some(d) = d {
        let shown = sent.as_deref().unwrap_or("(none)");
        warnings.push(format!("EVSE {uid}: status {shown} stored as {mapped}"));
        e.insert("status".into(), Value::String(mapped.into()));
        ds.push(d);
    }
    if let Some(Value::Array(schedule)) = e.get_mut("status_schedule") {
        for s in schedule.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(Value::String(sent)) = s.get("status") {
                let (mapped, d) = status(sent);
                if let Some(d) = d {
                    s.insert("status".into(), Value::String(mapped.into()));
                    ds.push(d);
                }
            }
        }
    }
    if let Some(c) = e.get_mut("coordinates") {
        coordinates(c, ds);
    }
    if let Some(Value::Array(connectors)) = e.get_mut("connectors") {
        for c in connectors.iter_mut().filter_map(Value::as_object_mut) {
            connector(c, ds);
        }
    }
}

/// OCPI 2.1.1 connector fields: `voltage`, `amperage`, `tariff_id`.
fn connector(c: &mut Map<String, Value>, ds: &mut Vec<Deviation>) {
    for (old, new) in [("voltage", "max_voltage"), ("amperage", "max_amperage")] {
        if let Some(v) = c.remove(old) {
            if !c.contains_key(new) {
                c.insert(new.into(), v);
            }
            ds.push(Deviation::Ocpi211Field);
        }
    }
    if let Some(t) = c.remove("tariff_id") {
        if !c.contains_key("tariff_ids") {
            c.insert("tariff_ids".into(), Value::Array(vec![t]));
        }
        ds.push(Deviation::Ocpi211Field);
    }
}

/// `{"latitude": …, "longitude": …}` as OCPI strings with 5 to 7 decimals.
fn coordinates(c: &mut Value, ds: &mut Vec<Deviation>) {
    let Some(obj) = c.as_object_mut() else { return };
    for field in ["latitude", "longitude"] {
        let Some(v) = obj.get_mut(field) else {
            continue;
        };
        let written = match v {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => continue,
        };
        if let Some(fixed) = decimal_degrees(&written)
            && (fixed != written || v.is_number())
        {
            *v = Value::String(fixed);
            ds.push(Deviation::CoordinatesFormat);
        }
    }
}

/// `51.5` → `51.50000`, `-0.12345678` → `-0.1234567`, `+51.5` → `51.50000`; `None` for anything
/// that is not a plain decimal number (the strict parser then says why).
fn decimal_degrees(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", s),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut frac = frac.to_owned();
    frac.truncate(7);
    while frac.len() < 5 {
        frac.push('0');
    }
    Some(format!("{sign}{int}.{frac}"))
}

/// Removes members that are `null`, `[]`, `{}`, or `""` for an optional string, at every depth.
/// Returns whether anything was removed.
fn strip_empty(v: &mut Value) -> bool {
    match v {
        Value::Object(obj) => {
            let mut removed = false;
            for child in obj.values_mut() {
                removed |= strip_empty(child);
            }
            let before = obj.len();
            obj.retain(|k, child| match child {
                Value::Null => false,
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty(),
                Value::String(s) => !(s.is_empty() && OPTIONAL_STRINGS.contains(&k.as_str())),
                _ => true,
            });
            removed || obj.len() != before
        }
        Value::Array(items) => {
            let mut removed = false;
            for child in items {
                removed |= strip_empty(child);
            }
            removed
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Context {
        Context::default()
    }

    #[test]
    fn statuses() {
        assert_eq!(status("AVAILABLE"), ("AVAILABLE", None));
        assert_eq!(
            status("WORKING"),
            ("AVAILABLE", Some(Deviation::StatusMapped))
        );
        assert_eq!(
            status("FAULTED"),
            ("OUTOFORDER", Some(Deviation::StatusMapped))
        );
        assert_eq!(
            status("Out_Of_Order"),
            ("OUTOFORDER", Some(Deviation::StatusMapped))
        );
        assert_eq!(
            status("charging"),
            ("CHARGING", Some(Deviation::StatusMapped))
        );
        assert_eq!(
            status("SuspendedEV"),
            ("CHARGING", Some(Deviation::StatusMapped))
        );
        assert_eq!(
            status("ON_FIRE"),
            ("UNKNOWN", Some(Deviation::StatusUnknown))
        );
    }

    #[test]
    fn table_targets_are_ocpi_statuses() {
        for (_, to) in STATUS_TABLE {
            assert!(STATUSES.contains(to), "{to}");
        }
    }

    #[test]
    fn coordinates_are_rewritten_only_when_needed() {
        assert_eq!(decimal_degrees("51.5").as_deref(), Some("51.50000"));
        assert_eq!(
            decimal_degrees("-0.123456789").as_deref(),
            Some("-0.1234567")
        );
        assert_eq!(decimal_degrees("51").as_deref(), Some("51.00000"));
        assert_eq!(decimal_degrees("1e5"), None);
        let mut ds = Vec::new();
        let mut c = json!({"latitude": "51.513380", "longitude": -0.13282});
        coordinates(&mut c, &mut ds);
        assert_eq!(c, json!({"latitude": "51.513380", "longitude": "-0.13282"}));
        assert_eq!(ds, [Deviation::CoordinatesFormat]);
    }

    #[test]
    fn a_location_from_an_imperfect_feed() {
        let sent = json!({
            "country_code": "gb", "party_id": "lpc", "id": "lpc-wcc-1",
            "type": "ON_STREET", "name": null, "postal_code": "", "address": "1 Road",
            "city": "London", "country": "GBR", "time_zone": "GMT Standard Time",
            "coordinates": {"latitude": 51.5, "longitude": "-0.1"},
            "related_locations": [], "facilities": null, "opening_times": {},
            "evses": [{
                "uid": "e1", "status": "FAULTED", "capabilities": [],
                "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                    "power_type": "AC_1_PHASE", "voltage": 230, "amperage": 32,
                    "tariff_id": "t1", "last_updated": "2026-01-01T00:00:00Z"}],
                "last_updated": "2026-01-01T00:00:00Z"
            }, {
                "uid": "e2", "status": "WORKING",
                "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                    "power_type": "AC_1_PHASE", "max_voltage": 230, "max_amperage": 32,
                    "last_updated": "2026-01-01T00:00:00Z"}],
                "last_updated": "2026-01-01T00:00:00Z"
            }],
            "last_updated": "2026-01-01T00:00:00Z"
        });
        let n = location(sent, &ctx()).unwrap();
        let v = &n.value;
        assert_eq!(v["country_code"], "GB");
        assert_eq!(v["party_id"], "LPC");
        assert_eq!(v["id"], "lpc-wcc-1", "other ids are kept as sent");
        assert_eq!(v["parking_type"], "ON_STREET");
        assert_eq!(v["publish"], true);
        assert_eq!(v["time_zone"], "Europe/London");
        assert_eq!(v["coordinates"]["latitude"], "51.50000");
        assert_eq!(v["coordinates"]["longitude"], "-0.10000");
        for gone in [
            "name",
            "postal_code",
            "related_locations",
            "facilities",
            "opening_times",
            "type",
        ] {
            assert!(v.get(gone).is_none(), "{gone}");
        }
        let c = &v["evses"][0]["connectors"][0];
        assert_eq!(
            (c["max_voltage"].as_u64(), c["max_amperage"].as_u64()),
            (Some(230), Some(32))
        );
        assert_eq!(c["tariff_ids"], json!(["t1"]));
        assert_eq!(v["evses"][0]["status"], "OUTOFORDER");
        assert_eq!(v["evses"][1]["status"], "AVAILABLE");
        let mut kinds = n.deviations.clone();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(
            kinds,
            [
                Deviation::StatusMapped,
                Deviation::IdCase,
                Deviation::NullOrEmpty,
                Deviation::Ocpi211Field,
                Deviation::WindowsTimeZone,
                Deviation::PublishDefaulted,
                Deviation::CoordinatesFormat,
            ]
        );
        assert_eq!(n.warnings.len(), 3, "{:?}", n.warnings);
        // And it now parses strictly.
        let bytes = serde_json::to_vec(v).unwrap();
        evfed_spec::ocpi::parse::<evfed_spec::ocpi::Location>(&bytes).unwrap();
    }

    #[test]
    fn party_from_context_for_211_feeds() {
        let sent = json!({"id": "T1", "currency": "GBP", "elements": [], "last_updated": "2026-01-01T00:00:00Z"});
        assert!(
            tariff(sent.clone(), &ctx())
                .unwrap_err()
                .contains("--party")
        );
        let with = Context {
            party: Some("GB*ABC".parse().unwrap()),
        };
        let n = tariff(sent, &with).unwrap();
        assert_eq!(
            (
                n.value["country_code"].as_str(),
                n.value["party_id"].as_str()
            ),
            (Some("GB"), Some("ABC"))
        );
        assert!(n.deviations.contains(&Deviation::PartyFilled));
        assert!(location(json!([1]), &ctx()).is_err());
    }
}
