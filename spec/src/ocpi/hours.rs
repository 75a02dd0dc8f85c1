//! Opening hours (OCPI `Hours`, `RegularHours`, `ExceptionalPeriod`), with OCPI's rules between
//! fields checked while parsing.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::de;
use crate::time::DateTime;

/// When the EVSEs at a location can be used (OCPI `Hours`). Either open 24/7, or open in the
/// given regular hours; both with exceptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "RawHours")]
pub struct Hours {
    pub twentyfourseven: bool,
    /// Weekly hours; at least one when `twentyfourseven` is false, none when it is true.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regular_hours: Vec<RegularHours>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptional_openings: Vec<ExceptionalPeriod>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptional_closings: Vec<ExceptionalPeriod>,
}

/// One weekly opening period in local time (OCPI `RegularHours`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "RawRegularHours")]
pub struct RegularHours {
    /// 1 (Monday) to 7 (Sunday).
    #[schema(minimum = 1, maximum = 7)]
    pub weekday: u8,
    /// `HH:MM`, 24 hour clock.
    #[schema(pattern = "^([0-1][0-9]|2[0-3]):[0-5][0-9]$", example = "08:00")]
    pub period_begin: String,
    /// `HH:MM`, later than `period_begin`; `00:00` is read as midnight at the end of the day.
    #[schema(pattern = "^([0-1][0-9]|2[0-3]):[0-5][0-9]$", example = "20:00")]
    pub period_end: String,
}

/// A one-off opening or closing, in UTC (OCPI `ExceptionalPeriod`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "RawPeriod")]
pub struct ExceptionalPeriod {
    pub period_begin: DateTime,
    /// After `period_begin`.
    pub period_end: DateTime,
}

#[derive(Deserialize)]
struct RawHours {
    twentyfourseven: bool,
    #[serde(default, deserialize_with = "de::list")]
    regular_hours: Vec<RegularHours>,
    #[serde(default, deserialize_with = "de::list")]
    exceptional_openings: Vec<ExceptionalPeriod>,
    #[serde(default, deserialize_with = "de::list")]
    exceptional_closings: Vec<ExceptionalPeriod>,
}

impl TryFrom<RawHours> for Hours {
    type Error = String;
    fn try_from(raw: RawHours) -> Result<Self, String> {
        match (raw.twentyfourseven, raw.regular_hours.is_empty()) {
            (true, false) => {
                return Err("regular_hours must be absent when twentyfourseven is true".to_owned());
            }
            (false, true) => {
                return Err(
                    "regular_hours needs at least one period when twentyfourseven is false"
                        .to_owned(),
                );
            }
            _ => {}
        }
        Ok(Self {
            twentyfourseven: raw.twentyfourseven,
            regular_hours: raw.regular_hours,
            exceptional_openings: raw.exceptional_openings,
            exceptional_closings: raw.exceptional_closings,
        })
    }
}

#[derive(Deserialize)]
struct RawRegularHours {
    weekday: u8,
    #[serde(deserialize_with = "de::time_of_day")]
    period_begin: String,
    #[serde(deserialize_with = "de::time_of_day")]
    period_end: String,
}

impl TryFrom<RawRegularHours> for RegularHours {
    type Error = String;
    fn try_from(raw: RawRegularHours) -> Result<Self, String> {
        if !(1..=7).contains(&raw.weekday) {
            return Err(format!(
                "weekday {} is not 1 (Monday) to 7 (Sunday)",
                raw.weekday
            ));
        }
        // Both are zero-padded `HH:MM`, so text order is time order.
        if raw.period_end <= raw.period_begin && raw.period_end != "00:00" {
            return Err(format!(
                "period_end {} is not later than period_begin {}",
                raw.period_end, raw.period_begin
            ));
        }
        Ok(Self {
            weekday: raw.weekday,
            period_begin: raw.period_begin,
            period_end: raw.period_end,
        })
    }
}

#[derive(Deserialize)]
struct RawPeriod {
    period_begin: DateTime,
    period_end: DateTime,
}

impl TryFrom<RawPeriod> for ExceptionalPeriod {
    type Error = String;
    fn try_from(raw: RawPeriod) -> Result<Self, String> {
        if raw.period_end <= raw.period_begin {
            return Err(format!(
                "period_end {} is not after period_begin {}",
                raw.period_end, raw.period_begin
            ));
        }
        Ok(Self {
            period_begin: raw.period_begin,
            period_end: raw.period_end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(json: &str) -> Result<Hours, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn twentyfourseven_and_regular_hours_exclude_each_other() {
        assert!(hours(r#"{"twentyfourseven":true}"#).is_ok());
        assert!(hours(r#"{"twentyfourseven":true,"regular_hours":null}"#).is_ok());
        let both = r#"{"twentyfourseven":true,"regular_hours":[{"weekday":1,"period_begin":"08:00","period_end":"20:00"}]}"#;
        assert!(hours(both).is_err());
        assert!(hours(r#"{"twentyfourseven":false}"#).is_err());
    }

    #[test]
    fn regular_hours_rules() {
        let rh = |w: u8, b: &str, e: &str| {
            serde_json::from_str::<RegularHours>(&format!(
                r#"{{"weekday":{w},"period_begin":"{b}","period_end":"{e}"}}"#
            ))
        };
        assert!(rh(1, "08:00", "20:00").is_ok());
        assert!(rh(7, "06:00", "00:00").is_ok());
        assert!(rh(0, "08:00", "20:00").is_err());
        assert!(rh(8, "08:00", "20:00").is_err());
        assert!(rh(1, "20:00", "08:00").is_err());
        assert!(rh(1, "08:00", "08:00").is_err());
        assert!(rh(1, "8:00", "20:00").is_err());
        assert!(rh(1, "08:00", "24:00").is_err());
    }

    #[test]
    fn exceptional_period_ends_after_it_begins() {
        let p = |b: &str, e: &str| {
            serde_json::from_str::<ExceptionalPeriod>(&format!(
                r#"{{"period_begin":"{b}","period_end":"{e}"}}"#
            ))
        };
        assert!(p("2026-12-25T00:00:00Z", "2026-12-26T00:00:00Z").is_ok());
        assert!(p("2026-12-26T00:00:00Z", "2026-12-25T00:00:00Z").is_err());
    }
}
