//! OCPI 2.2.1 Locations module objects: `Location` → `EVSE` → `Connector`, with the
//! `publish_allowed_to` personal data kept apart, and the `evfed` extension on each level.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common::{BusinessDetails, DisplayText, Image};
use super::de;
use super::energy::EnergyMix;
use super::enums::{
    Capability, ConnectorFormat, ConnectorType, Facility, ParkingRestriction, ParkingType,
    PowerType, Status, TokenType,
};
use super::geo::{AdditionalGeoLocation, GeoLocation};
use super::hours::Hours;
use crate::ext::{ConnectorExt, EvseExt, LocationExt};
use crate::ids::{ConnectorId, CountryCode, EvseId, EvseUid, LocationId, Party, PartyId, TariffId};
use crate::time::DateTime;

/// A place with one or more EVSEs, owned by one party (OCPI `Location`).
///
/// OCPI says `publish_allowed_to` may only be used when `publish` is false; we accept it either
/// way and never serve it openly (see [`Location::take_publish_allowed_to`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Location {
    pub country_code: CountryCode,
    pub party_id: PartyId,
    pub id: LocationId,
    /// May this location be shown to everyone? When false, only to the tokens in
    /// `publish_allowed_to`.
    pub publish: bool,
    /// Tokens that may see an unpublished location. **Personal data**: it identifies drivers.
    /// Accepted on writes and kept for an authorised reader, but it goes only to restricted
    /// storage and never into a log entry or an open response: split it off with
    /// [`Location::take_publish_allowed_to`] before anything else sees the location.
    #[serde(
        default,
        deserialize_with = "de::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub publish_allowed_to: Vec<PublishTokenType>,
    #[serde(
        default,
        deserialize_with = "de::opt_string::<_, 255>",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(max_length = 255)]
    pub name: Option<String>,
    /// Street and house number.
    #[serde(deserialize_with = "de::string::<_, 45>")]
    #[schema(max_length = 45)]
    pub address: String,
    #[serde(deserialize_with = "de::string::<_, 45>")]
    #[schema(max_length = 45)]
    pub city: String,
    #[serde(
        default,
        deserialize_with = "de::opt_string::<_, 10>",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(max_length = 10)]
    pub postal_code: Option<String>,
    #[serde(
        default,
        deserialize_with = "de::opt_string::<_, 20>",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(max_length = 20)]
    pub state: Option<String>,
    /// ISO 3166-1 alpha-3 country of the location, e.g. `GBR`.
    #[serde(deserialize_with = "de::alpha3")]
    #[schema(pattern = "^[A-Z]{3}$", example = "GBR")]
    pub country: String,
    pub coordinates: GeoLocation,
    #[serde(
        default,
        deserialize_with = "de::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub related_locations: Vec<AdditionalGeoLocation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parking_type: Option<ParkingType>,
    #[serde(
        default,
        deserialize_with = "de::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub evses: Vec<Evse>,
    #[serde(
        default,
        deserialize_with = "de::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub directions: Vec<DisplayText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<BusinessDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suboperator: Option<BusinessDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<BusinessDetails>,
    #[serde(
        default,
        deserialize_with = "de::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub facilities: Vec<Facility>,
    /// IANA time zone, e.g. `Europe/London`.
    #[serde(deserialize_with = "de::string::<_, 255>")]
    #[schema(max_length = 255, example = "Europe/London")]
    pub time_zone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening_times: Option<Hours>,
    /// Do the EVSEs keep charging outside opening hours? Absent means true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charging_when_closed: Option<bool>,
    #[serde(
        default,
        deserialize_with = "de::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub images: Vec<Image>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_mix: Option<EnergyMix>,
    /// When this location, or one of its EVSEs or connectors, last changed.
    pub last_updated: DateTime,
    /// The evfed extension: borough, ward, DPS contract.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "LocationExt::is_empty"
    )]
    pub evfed: LocationExt,
}

/// One charging unit that charges one vehicle at a time (OCPI `EVSE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Evse {
    pub uid: EvseUid,
    /// eMI3 id such as `GB*ABC*E12345`; required by OCPI for roaming, optional otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evse_id: Option<EvseId>,
    pub status: Status,
    #[serde(
        default,
        deserialize_with = "de::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub status_schedule: Vec<StatusSchedule>,
    #[serde(
        default,
        deserialize_with = "de::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub capabilities: Vec<Capability>,
    /// At least one.
    #[serde(deserialize_with = "de::non_empty")]
    #[schema(min_items = 1)]
    pub connectors: Vec<Connector>,
    #[serde(
        default,
        deserialize_with = "de::opt_string::<_, 4>",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(max_length = 4)]
    pub floor_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinates: Option<GeoLocation>,
    /// The number or name printed on the EVSE, e.g. `2` or `Bay 4`.
    #[serde(
        default,
        deserialize_with = "de::opt_string::<_, 16>",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(max_length = 16)]
    pub physical_reference: Option<String>,
    #[serde(
        default,
        deserialize_with = "de::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub directions: Vec<DisplayText>,
    #[serde(
        default,
        deserialize_with = "de::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub parking_restrictions: Vec<ParkingRestriction>,
    #[serde(
        default,
        deserialize_with = "de::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub images: Vec<Image>,
    pub last_updated: DateTime,
    /// The evfed extension: smart-charging and V2G readiness.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "EvseExt::is_empty"
    )]
    pub evfed: EvseExt,
}

/// One socket or cable of an EVSE (OCPI `Connector`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Connector {
    pub id: ConnectorId,
    pub standard: ConnectorType,
    pub format: ConnectorFormat,
    pub power_type: PowerType,
    /// Volts; line to neutral for AC 3 phase.
    pub max_voltage: u32,
    /// Amperes; per phase for AC 3 phase.
    pub max_amperage: u32,
    /// Watts, when less than voltage × amperage (e.g. a shared or limited supply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_electric_power: Option<u32>,
    #[serde(
        default,
        deserialize_with = "de::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tariff_ids: Vec<TariffId>,
    /// An http(s) URL of the operator's terms and conditions.
    #[serde(
        default,
        deserialize_with = "de::opt_url",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(max_length = 255)]
    pub terms_and_conditions: Option<String>,
    pub last_updated: DateTime,
    /// The evfed extension.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "ConnectorExt::is_empty"
    )]
    pub evfed: ConnectorExt,
}

/// A planned status for a period (OCPI `StatusSchedule`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusSchedule {
    pub period_begin: DateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_end: Option<DateTime>,
    pub status: Status,
}

/// A token allowed to see an unpublished location (OCPI `PublishTokenType`). Personal data:
/// never served openly. At least one of `uid`, `visual_number`, `group_id` is set; `uid` comes
/// with `type`, and `visual_number` with `issuer`.
// `Debug` is written by hand to redact the identifiers.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "RawPublishToken")]
pub struct PublishTokenType {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 36)]
    pub uid: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub token_type: Option<TokenType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64)]
    pub visual_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64)]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 36)]
    pub group_id: Option<String>,
}

impl Location {
    pub fn party(&self) -> Party {
        Party::new(self.country_code.clone(), self.party_id.clone())
    }

    /// Removes and returns `publish_allowed_to`, the personal data on a location. Call it before
    /// logging, signing or serving a location openly; store what it returns only in restricted
    /// storage.
    pub fn take_publish_allowed_to(&mut self) -> Vec<PublishTokenType> {
        std::mem::take(&mut self.publish_allowed_to)
    }
}

impl fmt::Debug for PublishTokenType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("PublishTokenType")
            .field("uid", &redact(&self.uid))
            .field("type", &self.token_type)
            .field("visual_number", &redact(&self.visual_number))
            .field("issuer", &self.issuer)
            .field("group_id", &redact(&self.group_id))
            .finish()
    }
}

#[derive(Deserialize)]
struct RawPublishToken {
    #[serde(default, deserialize_with = "de::opt_ci_string::<_, 36>")]
    uid: Option<String>,
    #[serde(default, rename = "type")]
    token_type: Option<TokenType>,
    #[serde(default, deserialize_with = "de::opt_string::<_, 64>")]
    visual_number: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string::<_, 64>")]
    issuer: Option<String>,
    #[serde(default, deserialize_with = "de::opt_ci_string::<_, 36>")]
    group_id: Option<String>,
}

impl TryFrom<RawPublishToken> for PublishTokenType {
    type Error = &'static str;
    fn try_from(raw: RawPublishToken) -> Result<Self, &'static str> {
        if raw.uid.is_none() && raw.visual_number.is_none() && raw.group_id.is_none() {
            return Err("needs at least one of uid, visual_number, group_id");
        }
        if raw.uid.is_some() && raw.token_type.is_none() {
            return Err("type is required when uid is set");
        }
        if raw.visual_number.is_some() && raw.issuer.is_none() {
            return Err("issuer is required when visual_number is set");
        }
        Ok(Self {
            uid: raw.uid,
            token_type: raw.token_type,
            visual_number: raw.visual_number,
            issuer: raw.issuer,
            group_id: raw.group_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_token_rules() {
        let t = |json: &str| serde_json::from_str::<PublishTokenType>(json);
        assert!(t(r#"{"uid":"04A1B2C3","type":"RFID"}"#).is_ok());
        assert!(t(r#"{"visual_number":"GB-ABC-000123","issuer":"Example"}"#).is_ok());
        assert!(t(r#"{"group_id":"FLEET-7"}"#).is_ok());
        assert!(t(r#"{}"#).is_err());
        assert!(t(r#"{"uid":"04A1B2C3"}"#).is_err());
        assert!(t(r#"{"visual_number":"GB-ABC-000123"}"#).is_err());
        assert!(t(r#"{"issuer":"Example"}"#).is_err());
    }

    #[test]
    fn schema_marks_only_ocpi_required_fields_required() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(Location::schema()).unwrap();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let expected = [
            "country_code",
            "party_id",
            "id",
            "publish",
            "address",
            "city",
            "country",
            "coordinates",
            "time_zone",
            "last_updated",
        ];
        assert_eq!(required, expected);
        assert_eq!(schema["properties"]["address"]["maxLength"], 45);
        let evse = serde_json::to_value(Evse::schema()).unwrap();
        assert_eq!(evse["properties"]["connectors"]["minItems"], 1);
    }

    #[test]
    fn publish_token_debug_is_redacted() {
        let t: PublishTokenType =
            serde_json::from_str(r#"{"uid":"04A1B2C3","type":"RFID"}"#).unwrap();
        let debug = format!("{t:?}");
        assert!(!debug.contains("04A1B2C3"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }
}
