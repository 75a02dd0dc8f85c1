//! Usage records and status changes: what a node publishes about use, without personal data.
//!
//! Architecture Invariant: a [`UsageRecord`] has no field that can identify a driver. OCPI's
//! `cdr_token`, `auth_id`, `authorization_reference` and the like are unknown fields here: they
//! are ignored, reported as warnings by [`crate::ocpi::parse`], and never stored.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::{ConnectorId, CountryCode, EvseUid, LocationId, Party, PartyId, SessionId};
use crate::ocpi::{Price, Status, de};
use crate::time::DateTime;

/// One charging session as usage data: where, when and how much energy, and what it cost; never
/// who. Ongoing sessions have no `end_date_time`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "RawUsageRecord")]
pub struct UsageRecord {
    pub id: SessionId,
    pub country_code: CountryCode,
    pub party_id: PartyId,
    pub location_id: LocationId,
    pub evse_uid: EvseUid,
    pub connector_id: ConnectorId,
    pub start_date_time: DateTime,
    /// Absent while the session is ongoing; never before `start_date_time`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<DateTime>,
    /// Energy delivered so far, in kWh; finite and not negative.
    #[schema(minimum = 0)]
    pub kwh: f64,
    /// What the session cost, in `currency`. Given together with `currency`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_cost: Option<Price>,
    /// ISO 4217, e.g. `GBP`. Given together with `total_cost`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Z]{3}$", example = "GBP")]
    pub currency: Option<String>,
}

/// An EVSE's status changed at a moment (OCPI `Status` with the time it took effect).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusChange {
    pub country_code: CountryCode,
    pub party_id: PartyId,
    pub location_id: LocationId,
    pub evse_uid: EvseUid,
    pub status: Status,
    pub event_time: DateTime,
}

impl UsageRecord {
    pub fn party(&self) -> Party {
        Party::new(self.country_code.clone(), self.party_id.clone())
    }
}

impl StatusChange {
    pub fn party(&self) -> Party {
        Party::new(self.country_code.clone(), self.party_id.clone())
    }

    /// The change from a canonical object's members (a log entry's data, found by its canonical
    /// check); `None` when a member is missing or not plainly what it should be (serde's parse
    /// then says why). Unknown members are ignored, as serde ignores them.
    pub fn from_members(members: &crate::jcs::Members<'_>) -> Option<Self> {
        use crate::jcs::plain_str as text;
        use serde::de::IntoDeserializer;
        let (mut cc, mut pid, mut lid, mut uid, mut status, mut at) =
            (None, None, None, None, None, None);
        for (key, value) in members.iter() {
            match key? {
                "country_code" => cc = Some(text(value)?.parse().ok()?),
                "party_id" => pid = Some(text(value)?.parse().ok()?),
                "location_id" => lid = Some(text(value)?.parse().ok()?),
                "evse_uid" => uid = Some(text(value)?.parse().ok()?),
                "status" => {
                    let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
                        text(value)?.into_deserializer();
                    status = Some(Status::deserialize(de).ok()?);
                }
                "event_time" => at = Some(text(value)?.parse().ok()?),
                _ => {}
            }
        }
        Some(StatusChange {
            country_code: cc?,
            party_id: pid?,
            location_id: lid?,
            evse_uid: uid?,
            status: status?,
            event_time: at?,
        })
    }
}

#[derive(Deserialize)]
struct RawUsageRecord {
    id: SessionId,
    country_code: CountryCode,
    party_id: PartyId,
    location_id: LocationId,
    evse_uid: EvseUid,
    connector_id: ConnectorId,
    start_date_time: DateTime,
    #[serde(default)]
    end_date_time: Option<DateTime>,
    kwh: f64,
    #[serde(default)]
    total_cost: Option<Price>,
    #[serde(default, deserialize_with = "opt_currency")]
    currency: Option<String>,
}

impl TryFrom<RawUsageRecord> for UsageRecord {
    type Error = String;
    fn try_from(raw: RawUsageRecord) -> Result<Self, String> {
        if !raw.kwh.is_finite() || raw.kwh < 0.0 {
            return Err(format!(
                "kwh {} is not a finite, non-negative number",
                raw.kwh
            ));
        }
        if let Some(end) = raw.end_date_time.filter(|end| *end < raw.start_date_time) {
            return Err(format!(
                "end_date_time {end} is before start_date_time {}",
                raw.start_date_time
            ));
        }
        if raw.total_cost.is_some() != raw.currency.is_some() {
            return Err("total_cost and currency go together: give both or neither".to_owned());
        }
        Ok(Self {
            id: raw.id,
            country_code: raw.country_code,
            party_id: raw.party_id,
            location_id: raw.location_id,
            evse_uid: raw.evse_uid,
            connector_id: raw.connector_id,
            start_date_time: raw.start_date_time,
            end_date_time: raw.end_date_time,
            kwh: raw.kwh,
            total_cost: raw.total_cost,
            currency: raw.currency,
        })
    }
}

fn opt_currency<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    if let Some(s) = &s {
        de::check_alpha3(s).map_err(serde::de::Error::custom)?;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocpi::{WarningCode, parse};

    const RECORD: &str = r#"{
        "id": "S-2026-000417", "country_code": "GB", "party_id": "LMP",
        "location_id": "WCC-LP-0042", "evse_uid": "WCC-LP-0042-1", "connector_id": "1",
        "start_date_time": "2026-11-22T18:04:11Z", "end_date_time": "2026-11-22T21:40:02Z",
        "kwh": 14.27, "total_cost": {"excl_vat": 5.71, "incl_vat": 6.85}, "currency": "GBP"
    }"#;

    fn with(field: &str, value: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(RECORD).unwrap();
        v[field] = serde_json::from_str(value).unwrap();
        v.to_string()
    }

    #[test]
    fn a_record_round_trips() {
        let r = parse::<UsageRecord>(RECORD.as_bytes()).unwrap();
        assert!(r.warnings.is_empty());
        assert_eq!(r.value.party().to_string(), "GB*LMP");
        let back: serde_json::Value = serde_json::to_value(&r.value).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(RECORD).unwrap()
        );
    }

    #[test]
    fn ongoing_sessions_have_no_end() {
        let r = parse::<UsageRecord>(with("end_date_time", "null").as_bytes()).unwrap();
        assert_eq!(r.value.end_date_time, None);
        assert!(
            !serde_json::to_string(&r.value)
                .unwrap()
                .contains("end_date_time")
        );
    }

    #[test]
    fn rules() {
        for (field, value, expect) in [
            ("kwh", "-0.5", "kwh"),
            (
                "end_date_time",
                r#""2026-11-22T18:00:00Z""#,
                "before start_date_time",
            ),
            ("currency", "null", "go together"),
            ("currency", r#""pounds""#, "ISO alpha-3"),
        ] {
            let err = parse::<UsageRecord>(with(field, value).as_bytes()).unwrap_err();
            assert_eq!(err.code(), "invalid-field");
            assert!(err.to_string().contains(expect), "{field}: {err}");
        }
    }

    #[test]
    fn driver_identifiers_are_dropped_and_warned() {
        let json = with(
            "cdr_token",
            r#"{"uid":"04A1B2C3","type":"RFID","contract_id":"GB-XYZ-C12345678-X"}"#,
        );
        let json = {
            let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
            v["auth_id"] = "GB-XYZ-C12345678-X".into();
            v.to_string()
        };
        let r = parse::<UsageRecord>(json.as_bytes()).unwrap();
        let mut paths: Vec<&str> = r.warnings.iter().map(|w| w.path.as_str()).collect();
        paths.sort_unstable();
        assert_eq!(paths, ["auth_id", "cdr_token"]);
        assert!(
            r.warnings
                .iter()
                .all(|w| w.code == WarningCode::UnknownField)
        );
        let out = serde_json::to_string(&r.value).unwrap();
        assert!(
            !out.contains("04A1B2C3") && !out.contains("C12345678"),
            "{out}"
        );
    }

    #[test]
    fn status_change() {
        let json = r#"{"country_code":"GB","party_id":"LMP","location_id":"WCC-LP-0042","evse_uid":"WCC-LP-0042-1","status":"OUTOFORDER","event_time":"2026-11-23T07:12:00Z"}"#;
        let s = parse::<StatusChange>(json.as_bytes()).unwrap().value;
        assert_eq!(s.status, Status::OutOfOrder);
        assert_eq!(s.party().to_string(), "GB*LMP");
        assert_eq!(serde_json::to_string(&s).unwrap(), json);
    }
}
