//! The evfed extension to OCPI: what London needs beyond OCPI (borough and ward, DPS contract,
//! smart-charging and V2G readiness), all inside one `evfed` member on Location, EVSE and
//! Connector, so no OCPI name is ever reused or shadowed. An empty extension is not serialised.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ocpi::de;

/// The `evfed` member of a Location.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LocationExt {
    /// The local authority the location is in: a code of the publishing node's area set (in
    /// London an ONS GSS code, `E09000001` to `E09000033`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub borough: Option<GssCode>,
    /// The electoral ward the location is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ward: Option<Ward>,
    /// The reference of the Dynamic Purchasing System contract under which the chargepoint was
    /// procured, as the borough writes it.
    #[serde(
        default,
        deserialize_with = "de::opt_string::<_, 64>",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(max_length = 64, example = "LEVI-DPS-2024-017")]
    pub dps_contract: Option<String>,
    /// True when the location lies outside the area of the node that publishes it (another
    /// borough, or outside London), e.g. an operator's site just over the border. Absent means
    /// false.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "is_false"
    )]
    pub outside_area: bool,
}

/// An electoral ward: its code and the year of the ward boundary set the code belongs to.
/// Ward codes change when boundaries are reviewed, so a code is read with its vintage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Ward {
    /// e.g. `E05013806`.
    pub code: GssCode,
    /// The boundary set's year, four digits, e.g. `2022`.
    #[serde(deserialize_with = "year")]
    #[schema(pattern = "^[0-9]{4}$", example = "2022")]
    pub boundary_vintage: String,
}

/// The `evfed` member of an EVSE: smart-charging and bidirectional (V2G) readiness. Each field is
/// optional, so "unknown" differs from "no".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EvseExt {
    /// The OCPP version the charging station speaks to its back office.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ocpp_version: Option<OcppVersion>,
    /// Supports ISO 15118-2 (Plug & Charge, AC/DC charging communication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iso15118_2: Option<bool>,
    /// Supports ISO 15118-20 (which adds bidirectional power transfer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iso15118_20: Option<bool>,
    /// Can discharge a vehicle into the grid or a building (V2G/V2X).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bidirectional: Option<bool>,
    /// Takes part in dynamic grid-capacity management (e.g. a DNO flexibility scheme that may
    /// lower its power at times of network stress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid_capacity_participation: Option<bool>,
}

/// The `evfed` member of a Connector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConnectorExt {
    /// Can this connector discharge a vehicle (e.g. CHAdeMO or CCS2 with ISO 15118-20)?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bidirectional: Option<bool>,
}

/// An OCPP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum OcppVersion {
    #[serde(rename = "1.6")]
    Ocpp16,
    #[serde(rename = "2.0.1")]
    Ocpp201,
    #[serde(rename = "2.1")]
    Ocpp21,
}

/// An area code from an area set (STANDARD.md §4.4): 1 to 32 upper-case ASCII letters, digits,
/// `-` or `_`, with at least one digit, so that no word (a name such as `CAMDEN`) is mistaken
/// for a code. London's are ONS Government Statistical Service codes, an upper-case letter and
/// eight digits (`E09000033` Westminster, `E05013806` a ward); Utrecht's are CBS codes
/// (`GM0344` the municipality, `WK034401` a district). Standard 1.0 allowed only GSS codes; every
/// GSS code is still an area code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, ToSchema)]
#[serde(try_from = "String")]
#[schema(value_type = String, pattern = "^[A-Z0-9_-]{0,31}[0-9][A-Z0-9_-]{0,31}$", example = "E09000033")]
pub struct GssCode(String);

crate::ids::serialize_as_str!(GssCode);

/// Why a GSS code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "an area code is 1 to 32 upper-case letters, digits, '-' or '_', with at least one digit \
     (e.g. E09000033), got {0:?}"
)]
pub struct GssCodeError(String);

impl LocationExt {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl EvseExt {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl ConnectorExt {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl GssCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for GssCode {
    type Error = GssCodeError;
    fn try_from(s: String) -> Result<Self, GssCodeError> {
        let b = s.as_bytes();
        let ok = (1..=32).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_'))
            && b.iter().any(u8::is_ascii_digit);
        if ok {
            Ok(Self(s))
        } else {
            Err(GssCodeError(de::short(&s)))
        }
    }
}

impl FromStr for GssCode {
    type Err = GssCodeError;
    fn from_str(s: &str) -> Result<Self, GssCodeError> {
        Self::try_from(s.to_owned())
    }
}

impl From<GssCode> for String {
    fn from(c: GssCode) -> String {
        c.0
    }
}

impl fmt::Display for GssCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn year<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s)
    } else {
        Err(serde::de::Error::custom(format!(
            "{:?} is not a four-digit year",
            de::short(&s)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gss_codes() {
        for good in ["E09000033", "GM0344", "WK034401", "0180", "E05013806"] {
            assert!(good.parse::<GssCode>().is_ok(), "{good}");
        }
        for bad in [
            "e09000033",
            "CAMDEN",
            "Camden",
            "E09 000033",
            "",
            "E0900003300000000000000000000000033",
        ] {
            assert!(bad.parse::<GssCode>().is_err(), "{bad}");
        }
    }

    #[test]
    fn empty_extensions_are_empty_and_null_means_empty() {
        assert!(LocationExt::default().is_empty());
        assert!(EvseExt::default().is_empty());
        let ext: EvseExt = serde_json::from_str(r#"{"bidirectional":false}"#).unwrap();
        assert!(!ext.is_empty(), "false is known, unlike absent");
        let ext: LocationExt = serde_json::from_str(r#"{"outside_area":null}"#).unwrap();
        assert!(ext.is_empty());
    }

    #[test]
    fn location_ext_shape() {
        let json = r#"{"borough":"E09000033","ward":{"code":"E05013806","boundary_vintage":"2022"},"dps_contract":"LEVI-DPS-2024-017","outside_area":true}"#;
        let ext: LocationExt = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&ext).unwrap(), json);
        let no_vintage = r#"{"ward":{"code":"E05013806"}}"#;
        assert!(serde_json::from_str::<LocationExt>(no_vintage).is_err());
        let bad_year = r#"{"ward":{"code":"E05013806","boundary_vintage":"22"}}"#;
        assert!(serde_json::from_str::<LocationExt>(bad_year).is_err());
    }

    #[test]
    fn ocpp_versions_are_written_as_versions() {
        let ext: EvseExt = serde_json::from_str(r#"{"ocpp_version":"2.0.1"}"#).unwrap();
        assert_eq!(ext.ocpp_version, Some(OcppVersion::Ocpp201));
        assert!(serde_json::from_str::<EvseExt>(r#"{"ocpp_version":"2.0"}"#).is_err());
    }
}
