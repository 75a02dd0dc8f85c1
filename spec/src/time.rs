//! OCPI `DateTime`: RFC 3339 in UTC, written with a `Z` and only as many fraction digits as needed.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A UTC instant as OCPI writes it: `2015-06-29T20:39:09Z`. A missing zone designator means UTC
/// (OCPI 2.2.1 §16.2); any other offset is converted to UTC when parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, ToSchema)]
#[serde(try_from = "String")]
#[schema(value_type = String, format = DateTime, example = "2026-11-22T10:15:00Z")]
pub struct DateTime(chrono::DateTime<Utc>);

/// Why a timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 date-time (e.g. 2026-11-22T10:15:00Z): {0:?}")]
pub struct DateTimeError(String);

impl DateTime {
    /// OCPI's limit for the written form.
    pub const MAX_LEN: usize = 25;

    /// The current time, truncated to milliseconds (spec §12.1: at most millisecond precision).
    pub fn now() -> Self {
        let t = Utc::now();
        Self(chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t))
    }

    pub fn from_utc(t: chrono::DateTime<Utc>) -> Self {
        Self(t)
    }

    /// Whole seconds since the Unix epoch.
    pub fn from_unix_seconds(secs: i64) -> Option<Self> {
        chrono::DateTime::from_timestamp(secs, 0).map(Self)
    }

    pub fn as_utc(&self) -> chrono::DateTime<Utc> {
        self.0
    }

    pub fn unix_seconds(&self) -> i64 {
        self.0.timestamp()
    }

    /// Milliseconds since the Unix epoch, truncated: the node's sortable storage form.
    pub fn unix_millis(&self) -> i64 {
        self.0.timestamp_millis()
    }

    pub fn from_unix_millis(millis: i64) -> Option<Self> {
        chrono::DateTime::from_timestamp_millis(millis).map(Self)
    }
}

impl FromStr for DateTime {
    type Err = DateTimeError;
    fn from_str(s: &str) -> Result<Self, DateTimeError> {
        let err = || DateTimeError(s.chars().take(40).collect());
        if s.len() > 35 {
            return Err(err());
        }
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
            return Ok(Self(t.with_timezone(&Utc)));
        }
        // OCPI: "The absence of the timezone designator implies a UTC timestamp."
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .map(|n| Self(n.and_utc()))
            .map_err(|_| err())
    }
}

impl TryFrom<String> for DateTime {
    type Error = DateTimeError;
    fn try_from(s: String) -> Result<Self, DateTimeError> {
        s.parse()
    }
}

impl From<DateTime> for String {
    fn from(t: DateTime) -> String {
        t.to_string()
    }
}

/// As its `Display` form, without building a `String` first.
impl Serialize for DateTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

/// Seconds London (`Europe/London`) is ahead of UTC at `t` (Unix seconds): 3,600 in British
/// Summer Time (from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of
/// October, the rule since 1996), else 0.
pub fn london_utc_offset_secs(t: i64) -> i64 {
    let Some(utc) = Utc.timestamp_opt(t, 0).single() else {
        return 0;
    };
    let last_sunday = |month: u32| {
        NaiveDate::from_ymd_opt(utc.year(), month, 31).and_then(|d| {
            let back = d.weekday().num_days_from_sunday();
            d.checked_sub_days(chrono::Days::new(u64::from(back)))
        })
    };
    let (Some(from), Some(to)) = (last_sunday(3), last_sunday(10)) else {
        return 0;
    };
    let at_one = |d: NaiveDate| d.and_hms_opt(1, 0, 0).map(|n| n.and_utc().timestamp());
    match (at_one(from), at_one(to)) {
        (Some(a), Some(b)) if t >= a && t < b => 3_600,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ocpi_forms() {
        let t: DateTime = "2015-06-29T20:39:09Z".parse().unwrap();
        assert_eq!(t.to_string(), "2015-06-29T20:39:09Z");
        let t: DateTime = "2015-06-29T20:39:09".parse().unwrap();
        assert_eq!(t.to_string(), "2015-06-29T20:39:09Z");
        let t: DateTime = "2015-06-29T22:39:09.5+02:00".parse().unwrap();
        assert_eq!(t.to_string(), "2015-06-29T20:39:09.500Z");
        assert!("2015-06-29".parse::<DateTime>().is_err());
        assert!("yesterday".parse::<DateTime>().is_err());
    }

    #[test]
    fn london_is_an_hour_ahead_in_british_summer_time() {
        let at = |t: &str| t.parse::<DateTime>().unwrap().unix_millis() / 1000;
        // 2026: BST from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(london_utc_offset_secs(at("2026-03-29T00:59:59Z")), 0);
        assert_eq!(london_utc_offset_secs(at("2026-03-29T01:00:00Z")), 3_600);
        assert_eq!(london_utc_offset_secs(at("2026-07-01T12:00:00Z")), 3_600);
        assert_eq!(london_utc_offset_secs(at("2026-10-25T00:59:59Z")), 3_600);
        assert_eq!(london_utc_offset_secs(at("2026-10-25T01:00:00Z")), 0);
        assert_eq!(london_utc_offset_secs(at("2026-12-04T12:00:00Z")), 0);
    }
}
