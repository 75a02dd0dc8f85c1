//! RFC 8785 JSON Canonicalization Scheme (JCS): the one byte encoding of everything evfed signs
//! or hashes.
//!
//! Rules (RFC 8785 §3.2): no insignificant white space; object members sorted by the UTF-16 code
//! units of their names; strings with only the mandatory escapes (`\"`, `\\`, `\b`, `\f`, `\n`,
//! `\r`, `\t`, other controls as `\u00xx` in lower-case hex) and everything else literal UTF-8;
//! numbers as IEEE 754 doubles written the way ECMAScript's `Number.prototype.toString` writes
//! them. Input must be I-JSON (RFC 7493): duplicate member names and lone surrogates are refused,
//! and so are numbers a double cannot hold (NaN and infinities cannot occur in JSON text, but a
//! literal like `1e400` overflows and is refused rather than silently made infinite).

use std::cmp::Ordering;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// Why input could not be canonicalised.
#[derive(Debug, thiserror::Error)]
pub enum JcsError {
    #[error("not valid JSON: {0}")]
    Syntax(#[source] serde_json::Error),
    #[error("duplicate member name {0:?}: JCS input must be I-JSON")]
    DuplicateKey(String),
    #[error("number {0} is outside the range of an IEEE 754 double")]
    NumberRange(String),
    #[error("value could not be represented as JSON: {0}")]
    Serialize(#[source] serde_json::Error),
}

/// Canonicalises JSON text. The input is parsed with I-JSON's restrictions, then written in
/// canonical form. Idempotent: `canonicalize(canonicalize(x)) == canonicalize(x)`.
pub fn canonicalize(json: &[u8]) -> Result<Vec<u8>, JcsError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let value = IJson::deserialize(&mut de).map_err(classify)?;
    de.end().map_err(JcsError::Syntax)?;
    let mut out = Vec::with_capacity(json.len());
    write_value(&value.0, &mut out);
    Ok(out)
}

/// Canonicalises any serialisable value (the way log entries are made), writing canonical bytes
/// straight from `serde::Serialize` without an intermediate `serde_json::Value`. The result is
/// what `serde_json::to_value` followed by canonical writing would give, except that input with
/// no canonical form is refused: non-finite floats ([`JcsError::NumberRange`]), duplicate member
/// names, e.g. from `#[serde(flatten)]` ([`JcsError::DuplicateKey`]), and `RawValue` text that
/// is not I-JSON. Other failures (a map key that is not a string, integer, bool or char; an error
/// from a `Serialize` impl) are [`JcsError::Serialize`] with serde_json's own error.
pub fn to_canonical_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, JcsError> {
    ser::to_vec(value)
}

/// Whether `bytes` are already exactly in canonical form (`canonicalize` would return them
/// unchanged), decided in one pass without building a value.
pub fn is_canonical(bytes: &[u8]) -> bool {
    check::is_canonical(bytes)
}

mod check;
mod ser;

/// serde_json reports our custom errors as `Error::custom(text)`; map them back to variants.
fn classify(e: serde_json::Error) -> JcsError {
    let text = e.to_string();
    if let Some(rest) = text.strip_prefix(DUPLICATE_PREFIX) {
        let key = rest.split(" at line").next().unwrap_or(rest).to_owned();
        return JcsError::DuplicateKey(key);
    }
    if let Some(rest) = text.strip_prefix(RANGE_PREFIX) {
        let num = rest.split(" at line").next().unwrap_or(rest).to_owned();
        return JcsError::NumberRange(num);
    }
    if text.starts_with("number out of range") {
        return JcsError::NumberRange(text);
    }
    JcsError::Syntax(e)
}

const DUPLICATE_PREFIX: &str = "evfed-jcs-duplicate:";
const RANGE_PREFIX: &str = "evfed-jcs-range:";

/// A JSON value parsed with I-JSON's restrictions.
struct IJson(serde_json::Value);

impl<'de> Deserialize<'de> for IJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IJsonVisitor).map(IJson)
    }
}

struct IJsonVisitor;

impl<'de> Visitor<'de> for IJsonVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an I-JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(b.into())
    }
    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(n.into())
    }
    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(n.into())
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
        serde_json::Number::from_f64(n)
            .map(serde_json::Value::Number)
            .ok_or_else(|| E::custom(format_args!("{RANGE_PREFIX}{n}")))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(s.into())
    }
    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(s.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(IJson(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(serde_json::Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let IJson(v) = map.next_value()?;
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("{DUPLICATE_PREFIX}{key}")));
            }
            out.insert(key, v);
        }
        Ok(serde_json::Value::Object(out))
    }
}

fn write_value(v: &serde_json::Value, out: &mut Vec<u8>) {
    match v {
        serde_json::Value::Null => out.extend_from_slice(b"null"),
        serde_json::Value::Bool(true) => out.extend_from_slice(b"true"),
        serde_json::Value::Bool(false) => out.extend_from_slice(b"false"),
        serde_json::Value::Number(n) => write_number(n, out),
        serde_json::Value::String(s) => write_string(s, out),
        serde_json::Value::Array(a) => {
            out.push(b'[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        serde_json::Value::Object(o) => {
            let mut members: Vec<(&String, &serde_json::Value)> = o.iter().collect();
            members.sort_by(|a, b| utf16_cmp(a.0, b.0));
            out.push(b'{');
            for (i, (k, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_value(item, out);
            }
            out.push(b'}');
        }
    }
}

/// RFC 8785 §3.2.3: member names compare as arrays of UTF-16 code units.
fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

fn write_number(n: &serde_json::Number, out: &mut Vec<u8>) {
    // `as_f64` is lossy for integers beyond 2^53 exactly as JCS requires (round to nearest).
    write_double(n.as_f64().unwrap_or(f64::NAN), out);
}

/// RFC 8785 §3.2.2.3: every number is an IEEE 754 double, written as ECMAScript does. Callers
/// have refused non-finite values.
fn write_double(f: f64, out: &mut Vec<u8>) {
    if f == 0.0 {
        // Covers -0, which ECMAScript writes as "0".
        out.push(b'0');
        return;
    }
    let mut buf = ryu_js::Buffer::new();
    out.extend_from_slice(buf.format(f).as_bytes());
}

/// RFC 8785 §3.2.2.2: the mandatory escapes only, lower-case hex, everything else verbatim.
fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0a => b"\\n",
            0x0c => b"\\f",
            0x0d => b"\\r",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        String::from_utf8(canonicalize(s.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn rfc8785_appendix_numbers() {
        // Values from RFC 8785 Appendix B.
        assert_eq!(
            c("[0.000001, 1e-7, 1e21, 1e20, -0, 333333333.33333329, 4.50, 2e-3]"),
            "[0.000001,1e-7,1e+21,100000000000000000000,0,333333333.3333333,4.5,0.002]"
        );
        assert_eq!(c("9007199254740993"), "9007199254740992");
        assert_eq!(c("1.7976931348623157e308"), "1.7976931348623157e+308");
        assert_eq!(c("5e-324"), "5e-324");
    }

    #[test]
    fn sorts_by_utf16_code_units() {
        // U+1F600 (surrogates D83D DE00) sorts before U+FB33 in UTF-16, after it in UTF-8.
        assert_eq!(
            c("{\"\u{fb33}\":1,\"\u{1f600}\":2,\"a\":3}"),
            "{\"a\":3,\"\u{1f600}\":2,\"\u{fb33}\":1}"
        );
    }

    #[test]
    fn escapes_only_what_it_must() {
        assert_eq!(
            c(r#""\u0041\u00e9\u2028\/\u001f\u007f""#),
            "\"A\u{e9}\u{2028}/\\u001f\u{7f}\""
        );
    }

    #[test]
    fn refuses_non_i_json() {
        assert!(
            matches!(canonicalize(br#"{"a":1,"a":2}"#), Err(JcsError::DuplicateKey(k)) if k == "a")
        );
        assert!(matches!(
            canonicalize(b"1e400"),
            Err(JcsError::NumberRange(_))
        ));
        assert!(matches!(
            canonicalize(br#""\ud800""#),
            Err(JcsError::Syntax(_))
        ));
        assert!(matches!(canonicalize(b"[1,]"), Err(JcsError::Syntax(_))));
        assert!(matches!(canonicalize(b"{} {}"), Err(JcsError::Syntax(_))));
    }
}
