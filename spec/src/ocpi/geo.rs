//! WGS 84 positions as OCPI writes them, decimal degrees in strings (`GeoLocation`,
//! `AdditionalGeoLocation`), checked against OCPI's patterns and the valid ranges.
//!
//! OCPI 2.2.1 gives latitude as `string(10)` and longitude as `string(11)`, yet its patterns allow
//! one more character (`-12.1234567`). We enforce the patterns, the more specific rule, so a
//! southern-hemisphere city's seven-decimal coordinates are not refused.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common::DisplayText;
use super::de::short;

/// A point on the earth: WGS 84 latitude and longitude in decimal degrees, kept exactly as
/// written (OCPI `GeoLocation`).
// Fields are private: built only through `new`, `from_degrees` or deserialisation, a value always
// holds a valid position, and `lat()`/`lon()` need no fallible parse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "RawPoint")]
pub struct GeoLocation {
    /// Decimal degrees, 5 to 7 decimals, -90 to 90.
    #[schema(
        max_length = 11,
        pattern = r"^-?[0-9]{1,2}\.[0-9]{5,7}$",
        example = "51.513380"
    )]
    latitude: String,
    /// Decimal degrees, 5 to 7 decimals, -180 to 180.
    #[schema(
        max_length = 12,
        pattern = r"^-?[0-9]{1,3}\.[0-9]{5,7}$",
        example = "-0.132820"
    )]
    longitude: String,
    #[serde(skip)]
    lat: f64,
    #[serde(skip)]
    lon: f64,
}

/// A related point, e.g. an entrance, with an optional name (OCPI `AdditionalGeoLocation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "RawAdditional")]
pub struct AdditionalGeoLocation {
    #[serde(flatten)]
    pub position: GeoLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<DisplayText>,
}

/// Why a position was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GeoError(String);

impl GeoLocation {
    /// A position from OCPI's decimal strings, e.g. `("51.513380", "-0.132820")`.
    pub fn new(latitude: &str, longitude: &str) -> Result<Self, GeoError> {
        let lat = coordinate(latitude, "latitude", 2, 90.0)?;
        let lon = coordinate(longitude, "longitude", 3, 180.0)?;
        Ok(Self {
            latitude: latitude.to_owned(),
            longitude: longitude.to_owned(),
            lat,
            lon,
        })
    }

    /// A position from degrees, written with six decimals (about 0.1 m), as importers of
    /// spreadsheets and registers need.
    pub fn from_degrees(lat: f64, lon: f64) -> Result<Self, GeoError> {
        Self::new(&format!("{lat:.6}"), &format!("{lon:.6}"))
    }

    /// The latitude as written.
    pub fn latitude(&self) -> &str {
        &self.latitude
    }

    /// The longitude as written.
    pub fn longitude(&self) -> &str {
        &self.longitude
    }

    /// Latitude in degrees, north positive.
    pub fn lat(&self) -> f64 {
        self.lat
    }

    /// Longitude in degrees, east positive.
    pub fn lon(&self) -> f64 {
        self.lon
    }
}

/// Checks one coordinate against `-?[0-9]{1,int_digits}\.[0-9]{5,7}` and `|value| <= limit`.
fn coordinate(s: &str, what: &str, int_digits: usize, limit: f64) -> Result<f64, GeoError> {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let shape_ok = unsigned.split_once('.').is_some_and(|(int, frac)| {
        (1..=int_digits).contains(&int.len())
            && (5..=7).contains(&frac.len())
            && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    });
    let value = s.parse::<f64>().ok().filter(|_| shape_ok).ok_or_else(|| {
        GeoError(format!(
            "{what} {:?} is not decimal degrees with 5 to 7 decimals",
            short(s)
        ))
    })?;
    if value.abs() > limit {
        return Err(GeoError(format!(
            "{what} {s} is outside -{limit} to {limit}"
        )));
    }
    Ok(value)
}

#[derive(Deserialize)]
struct RawPoint {
    latitude: String,
    longitude: String,
}

impl TryFrom<RawPoint> for GeoLocation {
    type Error = GeoError;
    fn try_from(raw: RawPoint) -> Result<Self, GeoError> {
        Self::new(&raw.latitude, &raw.longitude)
    }
}

#[derive(Deserialize)]
struct RawAdditional {
    latitude: String,
    longitude: String,
    #[serde(default)]
    name: Option<DisplayText>,
}

impl TryFrom<RawAdditional> for AdditionalGeoLocation {
    type Error = GeoError;
    fn try_from(raw: RawAdditional) -> Result<Self, GeoError> {
        Ok(Self {
            position: GeoLocation::new(&raw.latitude, &raw.longitude)?,
            name: raw.name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ocpi_patterns_and_ranges() {
        let p = GeoLocation::new("51.513380", "-0.132820").unwrap();
        assert_eq!((p.lat(), p.lon()), (51.51338, -0.13282));
        assert!(GeoLocation::new("-33.8688197", "151.2092955").is_ok());
        for (lat, lon) in [
            ("51.5133", "-0.132820"),     // 4 decimals
            ("51.51338012", "-0.132820"), // 8 decimals
            ("151.51338", "-0.132820"),   // 3 integer digits in a latitude
            ("91.00000", "0.00000"),      // out of range
            ("51.51338", "180.00001"),    // out of range
            ("+51.51338", "0.00000"),     // sign OCPI does not allow
            ("51,51338", "0.00000"),      // decimal comma
            ("5e1.51338", "0.00000"),
            ("", "0.00000"),
        ] {
            assert!(GeoLocation::new(lat, lon).is_err(), "{lat} {lon}");
        }
    }

    #[test]
    fn from_degrees_writes_six_decimals() {
        let p = GeoLocation::from_degrees(51.5007, -0.1246).unwrap();
        assert_eq!((p.latitude(), p.longitude()), ("51.500700", "-0.124600"));
        assert!(GeoLocation::from_degrees(f64::NAN, 0.0).is_err());
        assert!(GeoLocation::from_degrees(95.0, 0.0).is_err());
    }

    #[test]
    fn additional_location_serialises_flat() {
        let json = r#"{"latitude":"51.513380","longitude":"-0.132820","name":{"language":"en","text":"Entrance"}}"#;
        let a: AdditionalGeoLocation = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), json);
        let p: GeoLocation =
            serde_json::from_str(r#"{"latitude":"51.513380","longitude":"-0.132820"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"latitude":"51.513380","longitude":"-0.132820"}"#
        );
    }
}
