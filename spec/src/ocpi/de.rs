//! Field rules enforced while deserialising (parse, don't validate): OCPI `string(n)` and
//! `CiString(n)` bounds, `*` lists where `null` means empty, `+` lists that must not be empty,
//! times of day, dates, ISO codes and small integers. Used through `deserialize_with`.
//!
//! Each `check_*` function is the rule itself, so constructors outside serde apply the same rule.

use serde::de::{Deserialize, Deserializer, Error};

/// OCPI `string(n)`: at most `max` characters (not bytes), printable (no control characters).
pub(crate) fn check_string(s: &str, max: usize) -> Result<(), String> {
    let len = s.chars().count();
    if len > max {
        return Err(format!(
            "is {len} characters long; OCPI allows at most {max}"
        ));
    }
    if s.chars().any(char::is_control) {
        return Err("contains a control character; OCPI strings are printable".to_owned());
    }
    Ok(())
}

/// OCPI `CiString(n)`: printable ASCII only, 1 to `max` characters.
pub(crate) fn check_ci_string(s: &str, max: usize) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if s.len() > max {
        return Err(format!(
            "is {} characters long; OCPI allows at most {max}",
            s.len()
        ));
    }
    if !s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err("must be printable ASCII".to_owned());
    }
    Ok(())
}

/// A time of day `HH:MM`, 24 hour clock with leading zeros (OCPI regex
/// `([0-1][0-9]|2[0-3]):[0-5][0-9]`).
pub(crate) fn check_time_of_day(s: &str) -> Result<(), String> {
    let ok = match s.as_bytes() {
        [h1, h2, b':', m1, m2] => {
            let hour_ok = matches!((h1, h2), (b'0'..=b'1', b'0'..=b'9') | (b'2', b'0'..=b'3'));
            hour_ok && matches!((m1, m2), (b'0'..=b'5', b'0'..=b'9'))
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a time of day HH:MM (00:00 to 23:59)",
            short(s)
        ))
    }
}

/// A calendar date `YYYY-MM-DD` (OCPI regex `([12][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])`)
/// that also exists (no 31 June).
pub(crate) fn check_date(s: &str) -> Result<(), String> {
    let shape = matches!(
        s.as_bytes(),
        [b'1' | b'2', y2, y3, y4, b'-', m1, m2, b'-', d1, d2]
            if [y2, y3, y4, m1, m2, d1, d2].iter().all(|b| b.is_ascii_digit())
    );
    if shape && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() {
        Ok(())
    } else {
        Err(format!("{:?} is not a date YYYY-MM-DD", short(s)))
    }
}

/// An ISO alpha-3 code as OCPI uses for `country` (ISO 3166-1) and `currency` (ISO 4217): three
/// upper-case ASCII letters.
pub(crate) fn check_alpha3(s: &str) -> Result<(), String> {
    if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not three upper-case letters (an ISO alpha-3 code)",
            short(s)
        ))
    }
}

/// OCPI `URL`: a `string(255)`. We also require an `http` or `https` URL without spaces, because
/// these are shown to people as links (a `javascript:` link on a dashboard is an attack).
pub(crate) fn check_url(s: &str) -> Result<(), String> {
    check_string(s, 255)?;
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
    if !scheme_ok || s.chars().any(char::is_whitespace) {
        return Err(format!("{:?} is not an http(s) URL", short(s)));
    }
    Ok(())
}

/// At most 48 characters of hostile input, for echoing back in an error.
pub(crate) fn short(s: &str) -> String {
    let mut out: String = s.chars().take(48).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

pub(crate) fn string<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    check_string(&s, N).map_err(D::Error::custom)?;
    Ok(s)
}

pub(crate) fn opt_string<'de, D: Deserializer<'de>, const N: usize>(
    d: D,
) -> Result<Option<String>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    if let Some(s) = &s {
        check_string(s, N).map_err(D::Error::custom)?;
    }
    Ok(s)
}

pub(crate) fn ci_string<'de, D: Deserializer<'de>, const N: usize>(
    d: D,
) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    check_ci_string(&s, N).map_err(D::Error::custom)?;
    Ok(s)
}

pub(crate) fn opt_ci_string<'de, D: Deserializer<'de>, const N: usize>(
    d: D,
) -> Result<Option<String>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    if let Some(s) = &s {
        check_ci_string(s, N).map_err(D::Error::custom)?;
    }
    Ok(s)
}

pub(crate) fn url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    check_url(&s).map_err(D::Error::custom)?;
    Ok(s)
}

pub(crate) fn opt_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    if let Some(s) = &s {
        check_url(s).map_err(D::Error::custom)?;
    }
    Ok(s)
}

/// An OCPI `*` list: absent or `null` is the empty list.
pub(crate) fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// An OCPI `+` list: required, with at least one item.
pub(crate) fn non_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    let items = Vec::<T>::deserialize(d)?;
    if items.is_empty() {
        return Err(D::Error::custom("must contain at least one item"));
    }
    Ok(items)
}

/// A member whose `null` means the same as its absence: the type's default.
pub(crate) fn null_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

pub(crate) fn time_of_day<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    check_time_of_day(&s).map_err(D::Error::custom)?;
    Ok(s)
}

pub(crate) fn opt_time_of_day<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    if let Some(s) = &s {
        check_time_of_day(s).map_err(D::Error::custom)?;
    }
    Ok(s)
}

pub(crate) fn opt_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    if let Some(s) = &s {
        check_date(s).map_err(D::Error::custom)?;
    }
    Ok(s)
}

pub(crate) fn alpha3<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    check_alpha3(&s).map_err(D::Error::custom)?;
    Ok(s)
}

/// OCPI `int(5)`: at most five digits.
pub(crate) fn opt_int5<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let n = Option::<u32>::deserialize(d)?;
    if let Some(n) = n.filter(|n| *n > 99_999) {
        return Err(D::Error::custom(format!(
            "{n} has more than the 5 digits OCPI allows"
        )));
    }
    Ok(n)
}

/// A percentage, 0 to 100.
pub(crate) fn percentage<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let p = f64::deserialize(d)?;
    if !(0.0..=100.0).contains(&p) {
        return Err(D::Error::custom(format!(
            "{p} is not a percentage from 0 to 100"
        )));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_count_characters_not_bytes() {
        assert!(check_string(&"é".repeat(45), 45).is_ok());
        assert!(check_string(&"é".repeat(46), 45).is_err());
        assert!(check_string("line\nbreak", 45).is_err());
        assert!(check_string("", 45).is_ok());
        assert!(check_ci_string("JPEG", 4).is_ok());
        assert!(check_ci_string("jpég", 4).is_err());
    }

    #[test]
    fn times_and_dates() {
        for ok in ["00:00", "09:30", "19:59", "23:59"] {
            assert!(check_time_of_day(ok).is_ok(), "{ok}");
        }
        for bad in ["24:00", "9:30", "09:60", "0930", "09:30:00", ""] {
            assert!(check_time_of_day(bad).is_err(), "{bad}");
        }
        assert!(check_date("2026-02-28").is_ok());
        for bad in [
            "2026-02-30",
            "3026-01-01",
            "2026-1-01",
            "2026-01-01T00:00",
            "26-01-01",
        ] {
            assert!(check_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_are_http() {
        assert!(check_url("https://example.org/tariffs/13").is_ok());
        assert!(check_url("HTTP://example.org").is_ok());
        assert!(check_url("javascript:alert(1)").is_err());
        assert!(check_url("https://example.org/a b").is_err());
        assert!(check_url(&format!("https://{}", "a".repeat(250))).is_err());
    }

    #[test]
    fn alpha3_is_upper_case_letters() {
        assert!(check_alpha3("GBP").is_ok());
        assert!(check_alpha3("gbp").is_err());
        assert!(check_alpha3("GB").is_err());
        assert!(check_alpha3("GB1").is_err());
    }
}
