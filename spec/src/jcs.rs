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

/// As [`is_canonical`] (`None`: not canonical), and when `bytes` are an object of at most
/// [`MAX_MEMBERS`] members, those members and those of its member `nested` when that is an
/// object, found in the same pass: a reader of small canonical objects (a log entry's envelope
/// and its data) needs no second parse to find them.
pub fn canonical_members<'a>(bytes: &'a [u8], nested: &'a str) -> Option<Option<Objects<'a>>> {
    check::canonical_members(bytes, nested)
}

/// Whether `bytes` are I-JSON throughout (unknown members included), as every body read from
/// another system must be (STANDARD.md §13): one pass, no value built.
pub fn check_ijson(bytes: &[u8]) -> Result<(), IJsonError> {
    ijson::check(bytes)
}

pub use check::{MAX_MEMBERS, Members, Objects, plain_str};
pub use ijson::{IJsonError, MAX_DEPTH};

mod check;
mod ijson;
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
///
/// Decided on the UTF-8 bytes: UTF-8 byte order is code point order, and UTF-16 order differs
/// from it only between a character above U+FFFF (a surrogate pair, D800–DFFF) and one in
/// U+E000–U+FFFF, i.e. where the first differing bytes are a four-byte lead (F0–F4) and a
/// three-byte lead EE or EF. Differing continuation bytes belong to characters with the same
/// lead byte, which UTF-8 and UTF-16 order alike.
fn utf16_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    match a.iter().zip(b).find(|(x, y)| x != y) {
        None => a.len().cmp(&b.len()),
        Some((&x, &y)) => match (x, y) {
            (0xf0.., 0xee | 0xef) => Ordering::Less,
            (0xee | 0xef, 0xf0..) => Ordering::Greater,
            _ => x.cmp(&y),
        },
    }
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
    if f.fract() == 0.0 && f.abs() < EXACT_INTEGERS {
        // Integers of a double's exact range print as their digits (ECMAScript switches to
        // exponents only from 1e21): the common case, without the shortest-digits search.
        write_integer(f as i64, out);
        return;
    }
    let mut buf = ryu_js::Buffer::new();
    out.extend_from_slice(buf.format(f).as_bytes());
}

/// 2^53: every integer of smaller magnitude is a double exactly.
const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;

fn write_integer(n: i64, out: &mut Vec<u8>) {
    if n < 0 {
        out.push(b'-');
    }
    let mut u = n.unsigned_abs();
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// RFC 8785 §3.2.2.2: the mandatory escapes only, lower-case hex, everything else verbatim.
fn write_string(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // Names, ids and addresses need no escape: checked eight bytes at a time, then copied whole.
    if any_needs_escape(bytes) {
        write_escaped(bytes, out);
    } else {
        out.extend_from_slice(bytes);
    }
    out.push(b'"');
}

fn any_needs_escape(bytes: &[u8]) -> bool {
    let words = bytes.chunks_exact(8);
    words
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
        || words
            .filter_map(|w| <[u8; 8]>::try_from(w).ok())
            .any(|w| needs_escape(u64::from_le_bytes(w)))
}

fn write_escaped(bytes: &[u8], out: &mut Vec<u8>) {
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
}

/// Whether any of the eight bytes of `w` is a control character, `"` or `\`. The classic
/// word-at-a-time tests: `x - 0x01… & !x & 0x80…` is non-zero exactly when some byte of `x` is
/// zero, and with `0x20…` in place of `0x01…` when some byte is below 0x20.
fn needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH != 0;
    w.wrapping_sub(ONES * 0x20) & !w & HIGH != 0
        || zero_byte(w ^ (ONES * u64::from(b'"')))
        || zero_byte(w ^ (ONES * u64::from(b'\\')))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

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
    fn word_test_finds_every_byte_that_needs_an_escape() {
        for filler in [b' ', b'a', b'!', b']', 0x7f, 0x80, 0xc3, 0xff] {
            for b in 0..=255u8 {
                for at in 0..8 {
                    let mut w = [filler; 8];
                    w[at] = b;
                    assert_eq!(
                        needs_escape(u64::from_le_bytes(w)),
                        b < 0x20 || b == b'"' || b == b'\\',
                        "byte {b:#x} at {at} among {filler:#x}"
                    );
                }
            }
        }
    }

    proptest! {
        /// serde_json escapes exactly what RFC 8785 does, in the same spelling.
        #[test]
        fn strings_escape_as_serde_json_escapes(s in "[\\PC\\u{0}-\\u{1f}\"\\\\\u{7f}\u{1f600}]{0,40}") {
            let mut out = Vec::new();
            write_string(&s, &mut out);
            prop_assert_eq!(out, serde_json::to_vec(&s).unwrap());
        }

        /// The integer shortcut prints what the shortest-digits writer prints.
        #[test]
        fn numbers_print_as_ryu_js_prints_them(
            f in prop_oneof![
                proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL,
                (-(1i64 << 54)..(1i64 << 54)).prop_map(|i| i as f64),
                (-1000i64..1000).prop_map(|i| i as f64),
            ]
        ) {
            let mut out = Vec::new();
            write_double(f, &mut out);
            let want = if f == 0.0 { "0".to_owned() } else { ryu_js::Buffer::new().format(f).to_owned() };
            prop_assert_eq!(String::from_utf8(out).unwrap(), want);
        }

        #[test]
        fn utf16_order_is_decided_on_utf8_bytes(
            a in "[a\u{7f}\u{80}\u{7ff}\u{800}\u{d7ff}\u{e000}\u{fb33}\u{ffff}\u{10000}\u{1f600}\u{10ffff}]{0,4}",
            b in "[a\u{7f}\u{80}\u{7ff}\u{800}\u{d7ff}\u{e000}\u{fb33}\u{ffff}\u{10000}\u{1f600}\u{10ffff}]{0,4}",
            any_a in ".{0,6}",
            any_b in ".{0,6}",
        ) {
            for (a, b) in [(&a, &b), (&any_a, &any_b), (&a, &any_b)] {
                prop_assert_eq!(utf16_cmp(a, b), a.encode_utf16().cmp(b.encode_utf16()));
            }
        }
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
