//! The suite's cases, by group. Each module exports `CASES` (a `&[Case]`), in run order.

pub mod access;
pub mod dates;
pub mod discovery;
pub mod errors;
pub mod filters;
pub mod http;
pub mod log;
pub mod model;
pub mod ocpi;
pub mod pagination;
pub mod quality;
pub mod realtime;
pub mod replay;
pub mod state;

use serde_json::Value;

use crate::case::Stop;
use crate::http::Exchange;

/// A record's key (§4.3): `(country_code, party_id, id)` as served.
pub type Key = (String, String, String);

/// The key of a Location or Tariff object.
pub fn key_of(v: &Value) -> Key {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    (s("country_code"), s("party_id"), s("id"))
}

/// `CC*PID` of a keyed object.
pub fn party_of(v: &Value) -> String {
    let (cc, pid, _) = key_of(v);
    format!("{cc}*{pid}")
}

/// Checks an RFC 9457 problem response (§13): status, media type, and the members `type`,
/// `title`, `status` and `code`.
pub fn problem(ex: &Exchange, status: u16, code: &str) -> Result<(), Stop> {
    let fail = |m: String| Err(Stop::Fail(ex.evidence(m)));
    if ex.status != status {
        return fail(format!(
            "expected HTTP {status} `{code}`, got {}",
            ex.status
        ));
    }
    if ex.media_type() != "application/problem+json" {
        return fail(format!(
            "expected application/problem+json, got {:?}",
            ex.header("content-type").unwrap_or("")
        ));
    }
    let body = match ex.json() {
        Ok(b) => b,
        Err(m) => return fail(m),
    };
    if body["code"] != code {
        return fail(format!("expected code {code:?}, got {}", body["code"]));
    }
    if body["type"] != format!("urn:evfed:problem:{code}").as_str() {
        return fail(format!(
            "`type` is {}, not urn:evfed:problem:{code}",
            body["type"]
        ));
    }
    if body["status"] != status {
        return fail(format!(
            "`status` member is {}, not {status}",
            body["status"]
        ));
    }
    if body["title"].as_str().is_none_or(|t| t.is_empty()) {
        return fail("no `title`".into());
    }
    Ok(())
}

/// Fails with the exchange as evidence.
pub fn fail_at<T>(ex: &Exchange, message: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Fail(ex.evidence(message)))
}

/// `true` when the exchange answered `200` with a JSON body; its parsed body.
pub fn json_200(ex: &Exchange) -> Result<Value, Stop> {
    if ex.status != 200 {
        return fail_at(ex, format!("expected 200, got {}", ex.status));
    }
    ex.json().or_else(|m| fail_at(ex, m))
}

/// The DateTime at `v[name]`, parsed.
pub fn time_of(v: &Value, name: &str) -> Option<evfed_spec::DateTime> {
    v.get(name)?.as_str()?.parse().ok()
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
