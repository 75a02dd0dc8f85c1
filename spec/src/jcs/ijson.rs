//! Whether text is I-JSON (RFC 7493) throughout, decided in one pass without building a value.
//!
//! A typed parse checks only what it reads: serde skips an unknown member without looking at
//! its names, numbers or escapes, and without a depth bound. §13 refuses non-I-JSON anywhere in
//! a body, unknown members included, so every body is checked whole, once, before it is read:
//! UTF-8 throughout; no duplicate member names (compared after unescaping); no number a double
//! cannot hold (`1e400`); no unpaired surrogate escape (`"\ud800"`); at most [`MAX_DEPTH`]
//! nested arrays and objects; one value and nothing else but white space.

use std::borrow::Cow;

/// Most arrays and objects nested in one another that a body may hold: the bound of the parser
/// behind [`super::canonicalize`] and of [`super::is_canonical`], so whatever passes this check
/// every parser here can read. An OCPI Location nests about six deep.
pub const MAX_DEPTH: usize = 127;

/// Why text is not I-JSON. Positions are byte offsets into the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IJsonError {
    #[error("not UTF-8 at byte {0}")]
    NotUtf8(usize),
    #[error("malformed JSON at byte {0}")]
    Syntax(usize),
    #[error("duplicate member name {0:?} in the object at byte {1}")]
    DuplicateKey(String, usize),
    #[error("the number at byte {0} is outside the range of an IEEE 754 double")]
    NumberRange(usize),
    #[error("unpaired surrogate escape at byte {0}")]
    LoneSurrogate(usize),
    #[error("more than {MAX_DEPTH} nested arrays and objects at byte {0}")]
    TooDeep(usize),
}

/// Checks that `bytes` are one I-JSON value with optional surrounding white space.
pub fn check(bytes: &[u8]) -> Result<(), IJsonError> {
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(IJsonError::NotUtf8(e.valid_up_to()));
    }
    let mut c = Checker {
        b: bytes,
        i: 0,
        keys: Vec::new(),
    };
    c.ws();
    c.value(0)?;
    c.ws();
    if c.i == bytes.len() {
        Ok(())
    } else {
        Err(IJsonError::Syntax(c.i))
    }
}

/// Objects of at most this many members are checked for duplicates pairwise; larger ones are
/// sorted, so a 1 MiB object of short names costs `n log n`, not `n²`.
const PAIRWISE: usize = 16;

struct Checker<'a> {
    b: &'a [u8],
    i: usize,
    /// The member names of every open object, innermost last (a stack shared by all of them:
    /// no allocation per object).
    keys: Vec<Cow<'a, [u8]>>,
}

impl<'a> Checker<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn syntax(&self) -> IJsonError {
        IJsonError::Syntax(self.i)
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), IJsonError> {
        if self.peek() == Some(byte) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    /// One value; `depth` is the number of arrays and objects around it.
    fn value(&mut self, depth: usize) -> Result<(), IJsonError> {
        match self.peek() {
            Some(b'{' | b'[') if depth >= MAX_DEPTH => Err(IJsonError::TooDeep(self.i)),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(drop),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.syntax()),
        }
    }

    fn literal(&mut self, lit: &[u8]) -> Result<(), IJsonError> {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), IJsonError> {
        self.i += 1;
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.value(depth)?;
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.syntax()),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<(), IJsonError> {
        let at = self.i;
        self.i += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        let first = self.keys.len();
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.syntax());
            }
            let (start, escaped) = self.string()?;
            let b = self.b;
            let raw = &b[start..self.i];
            let key = if escaped {
                // Validated just now, so this only unescapes; rare enough to allocate.
                let text: String = serde_json::from_slice(raw).map_err(|_| self.syntax())?;
                Cow::Owned(text.into_bytes())
            } else {
                Cow::Borrowed(&raw[1..raw.len() - 1])
            };
            self.keys.push(key);
            self.ws();
            self.expect(b':')?;
            self.ws();
            self.value(depth)?;
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b'}') => {
                    self.i += 1;
                    break;
                }
                _ => return Err(self.syntax()),
            }
        }
        let duplicate = duplicate(&mut self.keys[first..]);
        let found = duplicate.map(|k| IJsonError::DuplicateKey(short(&k), at));
        self.keys.truncate(first);
        found.map_or(Ok(()), Err)
    }

    /// A string starting at the quote; leaves `i` after the closing quote and returns where the
    /// string began and whether it holds escapes.
    fn string(&mut self) -> Result<(usize, bool), IJsonError> {
        let start = self.i;
        self.i += 1;
        let mut escaped = false;
        loop {
            // Most text has nothing to look at: eight bytes at a time until something does.
            while let Some(w) = self.b.get(self.i..self.i + 8) {
                let w = u64::from_le_bytes(w.try_into().unwrap_or_default());
                if super::needs_escape(w) {
                    break;
                }
                self.i += 8;
            }
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok((start, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                Some(0x20..) => self.i += 1,
                _ => return Err(self.syntax()),
            }
        }
    }

    /// An escape at the backslash; a `\u` escape of a surrogate must be one half of a pair.
    fn escape(&mut self) -> Result<(), IJsonError> {
        let at = self.i;
        match self.b.get(self.i + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.i += 2;
                Ok(())
            }
            Some(b'u') => match self.hex4(self.i + 2)? {
                0xd800..=0xdbff => {
                    let low = (self.b.get(self.i + 6..self.i + 8) == Some(b"\\u"))
                        .then(|| self.hex4(self.i + 8))
                        .transpose()?;
                    match low {
                        Some(0xdc00..=0xdfff) => {
                            self.i += 12;
                            Ok(())
                        }
                        _ => Err(IJsonError::LoneSurrogate(at)),
                    }
                }
                0xdc00..=0xdfff => Err(IJsonError::LoneSurrogate(at)),
                _ => {
                    self.i += 6;
                    Ok(())
                }
            },
            _ => Err(self.syntax()),
        }
    }

    fn hex4(&self, at: usize) -> Result<u16, IJsonError> {
        let digits = self.b.get(at..at + 4).ok_or(IJsonError::Syntax(at))?;
        digits.iter().try_fold(0u16, |n, &d| {
            let v = (d as char).to_digit(16).ok_or(IJsonError::Syntax(at))?;
            Ok(n << 4 | v as u16)
        })
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    /// RFC 8259's number grammar; a number that could overflow a double (an exponent, or more
    /// than 308 integer digits) is converted to find out.
    fn number(&mut self) -> Result<(), IJsonError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let int = match self.peek() {
            Some(b'0') => {
                self.i += 1;
                1
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.syntax()),
        };
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.syntax());
            }
        }
        let mut exponent = false;
        if matches!(self.peek(), Some(b'e' | b'E')) {
            exponent = true;
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.syntax());
            }
        }
        if exponent || int > 308 {
            let finite = std::str::from_utf8(&self.b[start..self.i])
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(f64::is_finite);
            if !finite {
                return Err(IJsonError::NumberRange(start));
            }
        }
        Ok(())
    }
}

/// The first name that occurs twice, if any.
fn duplicate<'k>(keys: &mut [Cow<'k, [u8]>]) -> Option<Cow<'k, [u8]>> {
    if keys.len() <= PAIRWISE {
        return (1..keys.len())
            .find(|&i| keys[..i].contains(&keys[i]))
            .map(|i| keys[i].clone());
    }
    keys.sort_unstable();
    keys.windows(2).find(|w| w[0] == w[1]).map(|w| w[0].clone())
}

/// A name as echoed back in an error: at most 40 characters.
fn short(key: &[u8]) -> String {
    let text = String::from_utf8_lossy(key);
    let mut out: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn err(text: &[u8]) -> IJsonError {
        check(text).unwrap_err()
    }

    #[test]
    fn accepts_json_with_every_form() {
        for ok in [
            &br#" {"a":[1,-0,0.5,-1.5e-3,2E+2,1.7976931348623157e308,5e-324,1e-400],"b":{"c":null}} "#[..],
            br#"["\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", true, false, {}, []]"#,
            "[\"caf\u{e9} \u{1f600}\"]".as_bytes(),
            br#"{"a":1,"\u0062":2,"A":3}"#,
            b"0",
        ] {
            assert_eq!(check(ok), Ok(()), "{}", String::from_utf8_lossy(ok));
        }
    }

    #[test]
    fn refuses_what_i_json_refuses_in_any_member() {
        assert_eq!(
            err(br#"{"x":{"a":1,"a":2}}"#),
            IJsonError::DuplicateKey("a".into(), 5)
        );
        // The same name, escaped once.
        assert!(
            matches!(err(br#"{"ab":1,"\u0061b":2}"#), IJsonError::DuplicateKey(k, 0) if k == "ab")
        );
        assert_eq!(err(br#"{"x":[1e400]}"#), IJsonError::NumberRange(6));
        assert_eq!(err(b"-1e309"), IJsonError::NumberRange(0));
        let big = format!("1{}", "0".repeat(400));
        assert_eq!(err(big.as_bytes()), IJsonError::NumberRange(0));
        assert_eq!(err(br#"{"x":"\ud800"}"#), IJsonError::LoneSurrogate(6));
        assert_eq!(err(br#""\udc00\ud800""#), IJsonError::LoneSurrogate(1));
        assert_eq!(err(br#""\ud800\u0041""#), IJsonError::LoneSurrogate(1));
        assert_eq!(err(b"\"\xff\""), IJsonError::NotUtf8(1));
        for bad in [
            &b""[..],
            b"[1,]",
            b"{} {}",
            b"{\"a\"}",
            b"01",
            b"1.",
            b"1e",
            b"\"\x01\"",
            b"\"abc",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"nul",
            b"\xef\xbb\xbf{}",
        ] {
            assert!(check(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn depth_is_bounded_as_serde_json_bounds_it() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let ok = nested(MAX_DEPTH);
        assert_eq!(check(ok.as_bytes()), Ok(()));
        assert!(serde_json::from_str::<serde_json::Value>(&ok).is_ok());
        let deep = nested(MAX_DEPTH + 1);
        assert_eq!(check(deep.as_bytes()), Err(IJsonError::TooDeep(MAX_DEPTH)));
        assert!(serde_json::from_str::<serde_json::Value>(&deep).is_err());
        // Half a million levels: refused without touching the stack beyond the bound.
        let hostile = format!(r#"{{"x":{}}}"#, "[".repeat(500_000));
        assert_eq!(
            check(hostile.as_bytes()),
            Err(IJsonError::TooDeep(4 + MAX_DEPTH))
        );
    }

    #[test]
    fn large_objects_are_checked_without_quadratic_cost() {
        let n = 100_000;
        let mut text = String::from("{");
        for i in 0..n {
            text.push_str(&format!("\"k{i}\":0,"));
        }
        text.push_str("\"k7\":1}");
        let started = std::time::Instant::now();
        assert!(matches!(check(text.as_bytes()), Err(IJsonError::DuplicateKey(k, 0)) if k == "k7"));
        assert!(started.elapsed().as_secs() < 5);
    }

    proptest! {
        /// On any JSON text, the check agrees with canonicalisation, which parses with I-JSON's
        /// restrictions through serde_json.
        #[test]
        fn agrees_with_canonicalize(v in json_text()) {
            prop_assert_eq!(check(v.as_bytes()).is_ok(), crate::jcs::canonicalize(v.as_bytes()).is_ok(), "{}", v);
        }
    }

    fn json_text() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,3})?",
            Just(r#""\ud800""#.to_owned()),
            Just(r#""\ud83d\ude00""#.to_owned()),
            "\"[a-c\u{e9}]{0,3}\"",
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(("[ab]{1}", inner), 0..4).prop_map(|m| {
                    let members: Vec<String> =
                        m.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }
}
