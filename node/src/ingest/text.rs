//! Small readers shared by the formats: cleaned text, OCPI length limits, booleans, OCPI enum
//! values, web addresses, times, and the final check that a built Location is one the node's
//! own `PUT` would accept.

use evfed_spec::ocpi::{self, Location};
use evfed_spec::time::DateTime;
use serde::de::DeserializeOwned;

/// Trims, and turns every run of white space (line breaks and tabs included) into one space,
/// so that no control character reaches an OCPI string.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.retain(|c| !c.is_control());
    out
}

/// `s` cut to at most `max` characters, at the last ", " or space that fits when there is
/// one; `None` when it already fits.
pub fn shorten(s: &str, max: usize) -> Option<String> {
    if s.chars().count() <= max {
        return None;
    }
    let end = s.char_indices().nth(max).map_or(s.len(), |(i, _)| i);
    let head = &s[..end];
    let cut = head
        .rfind(", ")
        .filter(|&i| i > 0)
        .or_else(|| head.rfind(' ').filter(|&i| i > 0))
        .unwrap_or(end);
    Some(head[..cut].trim_end_matches([',', ' ']).to_owned())
}

/// `true`/`false`, `yes`/`no`, `1`/`0`, in any case; `None` for anything else.
pub fn boolean(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Some(true),
        "false" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// An OCPI enumeration value, spelled as OCPI spells it (or in upper case where OCPI's
/// spelling is all upper case).
pub fn ocpi_enum<T: DeserializeOwned>(s: &str) -> Option<T> {
    let value = |v: &str| serde_json::from_value::<T>(serde_json::Value::String(v.to_owned()));
    value(s).or_else(|_| value(&s.to_ascii_uppercase())).ok()
}

/// A web address as OCPI wants it (an http or https URL). A bare host such as
/// `www.example.org` gets `http://` in front. `Err` when it cannot be made one.
pub fn website(s: &str) -> Result<String, String> {
    let lower = s.to_ascii_lowercase();
    let url = if lower.starts_with("http://") || lower.starts_with("https://") {
        s.to_owned()
    } else if !s.contains(char::is_whitespace) && s.contains('.') && !s.contains(':') {
        format!("http://{s}")
    } else {
        return Err(format!("{s:?} is not a web address"));
    };
    if url.chars().count() > 255 || url.contains(char::is_whitespace) {
        return Err(format!(
            "{s:?} is not a web address of at most 255 characters"
        ));
    }
    Ok(url)
}

/// A time written `YYYY-MM-DD HH:MM:SS` or as RFC 3339; without a zone it is UTC.
pub fn time(s: &str) -> Option<DateTime> {
    if s.len() == 19 && s.as_bytes().get(10) == Some(&b' ') {
        let mut t = s.to_owned();
        t.replace_range(10..11, "T");
        return t.parse().ok();
    }
    s.parse().ok()
}

/// `loc` as the node will read it: serialised and parsed back under the standard's rules, so
/// the importer can never produce what a `PUT` would refuse. `Err` names the field at fault.
pub fn validate(loc: Location) -> Result<Location, String> {
    let bytes = serde_json::to_vec(&loc).map_err(|e| e.to_string())?;
    // The types' own deserialisers hold every rule; `ocpi::parse` adds only the path to the
    // field at fault (and warnings, of which a serialised Location has none), at several times
    // the cost, so it runs only to explain a refusal.
    match serde_json::from_slice::<Location>(&bytes) {
        Ok(_) => Ok(loc),
        Err(_) => Err(match ocpi::parse::<Location>(&bytes) {
            Ok(_) => "the location does not read back as itself".to_owned(),
            Err(e) => crate::domain::Error::from(e).to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use evfed_spec::ocpi::{ConnectorType, Status};

    use super::*;

    #[test]
    fn readers() {
        assert_eq!(clean("  a\n  b\tc "), "a b c");
        assert_eq!(
            shorten(
                "Surbiton Healthcare Centre, Ewell Road, Surbiton, London",
                45
            )
            .unwrap(),
            "Surbiton Healthcare Centre, Ewell Road"
        );
        assert_eq!(shorten("short", 45), None);
        assert_eq!(shorten("abcdefghij", 4).unwrap(), "abcd");
        assert_eq!(shorten("ab cdefghij", 4).unwrap(), "ab");
        assert_eq!(boolean("Yes"), Some(true));
        assert_eq!(boolean("maybe"), None);
        assert_eq!(ocpi_enum::<Status>("available"), Some(Status::Available));
        assert_eq!(
            ocpi_enum::<ConnectorType>("IEC_60309_2_single_16"),
            Some(ConnectorType::Iec60309Single16)
        );
        assert_eq!(ocpi_enum::<Status>("WORKING"), None);
        assert_eq!(
            website("www.pod-point.com").unwrap(),
            "http://www.pod-point.com"
        );
        assert_eq!(
            website("https://a.example/x").unwrap(),
            "https://a.example/x"
        );
        assert!(website("call 0800 123").is_err());
        assert!(website("javascript:alert(1)").is_err());
        assert_eq!(
            time("2017-11-23 16:35:55").unwrap().to_string(),
            "2017-11-23T16:35:55Z"
        );
        assert!(time("0000-00-00 00:00:00").is_none());
        assert_eq!(
            time("2024-05-01T10:00:00+01:00").unwrap().to_string(),
            "2024-05-01T09:00:00Z"
        );
    }
}
