//! Identifier newtypes: OCPI party codes and the ids that are unique only within one party.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must be {expected}, got {got:?}")]
    Invalid {
        kind: &'static str,
        expected: &'static str,
        got: String,
    },
}

fn invalid(kind: &'static str, expected: &'static str, got: &str) -> IdError {
    // Echo at most a short prefix of hostile input back.
    let got: String = got.chars().take(48).collect();
    IdError::Invalid {
        kind,
        expected,
        got,
    }
}

/// OCPI `CiString(n)`: printable ASCII (0x20..=0x7E), 1 to `max` characters; the rule itself lives
/// with the other OCPI field rules in `ocpi::de`.
fn ci_string(
    kind: &'static str,
    expected: &'static str,
    s: &str,
    max: usize,
) -> Result<(), IdError> {
    crate::ocpi::de::check_ci_string(s, max).map_err(|_| invalid(kind, expected, s))
}

/// Serialises a string newtype as its string, as `#[serde(into = "String")]` would, without
/// copying it first: identifiers are written for every entry and every stored body.
macro_rules! serialize_as_str {
    ($name:ident) => {
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}
pub(crate) use serialize_as_str;

macro_rules! ci_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:tt, $expected:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, ToSchema)]
        #[serde(try_from = "String")]
        #[schema(value_type = String, max_length = $max, min_length = 1)]
        pub struct $name(String);

        serialize_as_str!($name);

        impl $name {
            /// The longest value OCPI allows, in ASCII characters.
            pub const MAX_LEN: usize = $max;

            /// The id as sent (ids other than party codes are case-preserving).
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                ci_string($kind, $expected, &s, $max)?;
                Ok(Self(s))
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::try_from(s.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

ci_id!(
    /// OCPI Location `id`, unique within its party: CiString(36).
    LocationId, "location id", 36, "1 to 36 printable ASCII characters"
);
ci_id!(
    /// OCPI EVSE `uid`, unique within its party: CiString(36).
    EvseUid, "EVSE uid", 36, "1 to 36 printable ASCII characters"
);
ci_id!(
    /// OCPI Connector `id`, unique within its EVSE: CiString(36).
    ConnectorId, "connector id", 36, "1 to 36 printable ASCII characters"
);
ci_id!(
    /// OCPI Tariff `id`, unique within its party: CiString(36).
    TariffId, "tariff id", 36, "1 to 36 printable ASCII characters"
);
ci_id!(
    /// Usage record (charging session) id, unique within its party: CiString(36).
    SessionId, "session id", 36, "1 to 36 printable ASCII characters"
);
ci_id!(
    /// eMI3 EVSE id such as `GB*ABC*E12345`: CiString(48).
    EvseId, "evse_id", 48, "1 to 48 printable ASCII characters"
);

/// ISO 3166-1 alpha-2 country code of a party, stored upper-case (OCPI: CiString(2)).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, ToSchema)]
#[serde(try_from = "String")]
#[schema(value_type = String, pattern = "^[A-Z]{2}$", example = "GB")]
pub struct CountryCode(String);

serialize_as_str!(CountryCode);

/// OCPI party id (ISO 15118 operator id without country), stored upper-case (CiString(3)).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, ToSchema)]
#[serde(try_from = "String")]
#[schema(value_type = String, pattern = "^[A-Z0-9]{3}$", example = "ABC")]
pub struct PartyId(String);

serialize_as_str!(PartyId);

impl CountryCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartyId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CountryCode {
    type Error = IdError;
    /// Case-insensitive, as OCPI says; the canonical form is upper-case.
    fn try_from(s: String) -> Result<Self, IdError> {
        if s.len() != 2 || !s.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(invalid(
                "country_code",
                "two ASCII letters (ISO 3166-1 alpha-2)",
                &s,
            ));
        }
        Ok(Self(s.to_ascii_uppercase()))
    }
}

impl TryFrom<String> for PartyId {
    type Error = IdError;
    /// Case-insensitive, as OCPI says; the canonical form is upper-case.
    fn try_from(s: String) -> Result<Self, IdError> {
        if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(invalid("party_id", "three ASCII letters or digits", &s));
        }
        Ok(Self(s.to_ascii_uppercase()))
    }
}

impl From<CountryCode> for String {
    fn from(c: CountryCode) -> String {
        c.0
    }
}

impl From<PartyId> for String {
    fn from(p: PartyId) -> String {
        p.0
    }
}

impl FromStr for CountryCode {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::try_from(s.to_owned())
    }
}

impl FromStr for PartyId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::try_from(s.to_owned())
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for PartyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A party: country code and party id, written `CC*PID` (e.g. `GB*ABC`) in log entries and on
/// command lines. Every OCPI id is unique only within its party, so every record is keyed by it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Party {
    pub country_code: CountryCode,
    pub party_id: PartyId,
}

impl Party {
    pub fn new(country_code: CountryCode, party_id: PartyId) -> Self {
        Self {
            country_code,
            party_id,
        }
    }
}

impl utoipa::PartialSchema for Party {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .pattern(Some("^[A-Z]{2}\\*[A-Z0-9]{3}$"))
            .description(Some("An OCPI party written CC*PID"))
            .examples(["GB*ABC"])
            .into()
    }
}

impl ToSchema for Party {}

impl TryFrom<String> for Party {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl FromStr for Party {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let (cc, pid) = s
            .split_once('*')
            .ok_or_else(|| invalid("party", "CC*PID, e.g. GB*ABC", s))?;
        Ok(Self {
            country_code: cc.parse()?,
            party_id: pid.parse()?,
        })
    }
}

impl From<Party> for String {
    fn from(p: Party) -> String {
        p.to_string()
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}*{}", self.country_code, self.party_id)
    }
}

/// As its `Display` form, `CC*PID`, without building a `String` first.
impl Serialize for Party {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn party_round_trips_and_upper_cases() {
        let p: Party = "gb*abc".parse().unwrap();
        assert_eq!(p.to_string(), "GB*ABC");
        assert!("GB-ABC".parse::<Party>().is_err());
        assert!("GBR*ABC".parse::<Party>().is_err());
        assert!("GB*AB".parse::<Party>().is_err());
    }

    #[test]
    fn ci_strings_are_bounded_printable_ascii() {
        assert!(LocationId::try_from("a".repeat(36)).is_ok());
        assert!(LocationId::try_from("a".repeat(37)).is_err());
        assert!(LocationId::try_from(String::new()).is_err());
        assert!(LocationId::try_from("caf\u{e9}".to_owned()).is_err());
        assert!(LocationId::try_from("a\nb".to_owned()).is_err());
        assert_eq!(
            LocationId::try_from("Loc1".to_owned()).unwrap().as_str(),
            "Loc1"
        );
    }
}
