//! Whether bytes are already canonical, decided in one pass over them without building a value:
//! the same answer as canonicalising and comparing (a property test holds the two together),
//! at a fraction of the cost. Every entry a verifier reads goes through this.

use std::borrow::Cow;
use std::cmp::Ordering;

// Nesting deeper than this is refused, as the parser behind `canonicalize` refuses it.
use super::MAX_DEPTH;

/// Whether `bytes` are exactly the canonical form of some I-JSON value.
pub(super) fn is_canonical(bytes: &[u8]) -> bool {
    Checker::new(bytes, None).check()
}

/// As [`is_canonical`] (`None`: not canonical), and when `bytes` are an object of at most
/// [`MAX_MEMBERS`] members, those members, and those of the object that is the value of its
/// member `nested`.
pub(super) fn canonical_members<'a>(
    bytes: &'a [u8],
    nested: &'a str,
) -> Option<Option<Objects<'a>>> {
    let mut c = Checker::new(bytes, Some(nested.as_bytes()));
    if !c.check() {
        return None;
    }
    let Some(r) = c
        .recording
        .filter(|r| bytes.first() == Some(&b'{') && !r.top.overflow)
    else {
        return Some(None);
    };
    Some(Some(Objects {
        top: r.top,
        nested: r.nested.filter(|n| !n.overflow),
    }))
}

/// Most members [`canonical_members`] records of one object.
pub const MAX_MEMBERS: usize = 8;

/// The members of a canonical object, and of one object within it.
#[derive(Debug, Clone, Copy)]
pub struct Objects<'a> {
    pub top: Members<'a>,
    /// The members of the value of the member asked for, when it is an object.
    pub nested: Option<Members<'a>>,
}

/// A canonical object's members, in order, as slices of its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Members<'a> {
    b: &'a [u8],
    spans: [Span; MAX_MEMBERS],
    len: usize,
    overflow: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Span {
    /// The name without its quotes, exactly as written.
    key: (usize, usize),
    key_escaped: bool,
    value: (usize, usize),
}

impl<'a> Members<'a> {
    fn new(b: &'a [u8]) -> Self {
        Members {
            b,
            spans: [Span::default(); MAX_MEMBERS],
            len: 0,
            overflow: false,
        }
    }

    fn push(&mut self, span: Span) {
        if self.len == MAX_MEMBERS {
            self.overflow = true;
        } else {
            self.spans[self.len] = span;
            self.len += 1;
        }
    }

    /// Each member: its name when written without escapes (else `None`), and its value's bytes.
    pub fn iter(&self) -> impl Iterator<Item = (Option<&'a str>, &'a [u8])> + '_ {
        self.spans[..self.len].iter().map(|s| {
            let key = (!s.key_escaped)
                .then(|| std::str::from_utf8(&self.b[s.key.0..s.key.1]).ok())
                .flatten();
            (key, &self.b[s.value.0..s.value.1])
        })
    }
}

/// The text of a canonical string value (with its quotes) written without escapes; `None` for
/// any other value.
pub fn plain_str(value: &[u8]) -> Option<&str> {
    let inner = value.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if inner.contains(&b'\\') {
        return None;
    }
    std::str::from_utf8(inner).ok()
}

/// What a check records on the way.
struct Recording<'a> {
    top: Members<'a>,
    /// The name of the top-level member whose object value's members are recorded.
    name: &'a [u8],
    /// Whether the top-level member being checked is that one.
    in_named: bool,
    nested: Option<Members<'a>>,
}

struct Checker<'a> {
    b: &'a [u8],
    i: usize,
    recording: Option<Recording<'a>>,
}

impl<'a> Checker<'a> {
    fn new(b: &'a [u8], nested: Option<&'a [u8]>) -> Self {
        Checker {
            b,
            i: 0,
            recording: nested.map(|name| Recording {
                top: Members::new(b),
                name,
                in_named: false,
                nested: None,
            }),
        }
    }

    fn check(&mut self) -> bool {
        self.value(0) && self.i == self.b.len()
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn value(&mut self, depth: usize) -> bool {
        match self.peek() {
            Some(b'{') => depth < MAX_DEPTH && self.object(depth),
            Some(b'[') => depth < MAX_DEPTH && self.array(depth),
            Some(b'"') => self.string().is_some(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    fn literal(&mut self, lit: &[u8]) -> bool {
        let found = self.b[self.i..].starts_with(lit);
        self.i += lit.len();
        found
    }

    fn array(&mut self, depth: usize) -> bool {
        self.i += 1;
        if self.peek() == Some(b']') {
            self.i += 1;
            return true;
        }
        loop {
            if !self.value(depth + 1) {
                return false;
            }
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return true;
                }
                _ => return false,
            }
        }
    }

    fn object(&mut self, depth: usize) -> bool {
        self.i += 1;
        if depth == 1
            && let Some(r) = &mut self.recording
            && r.in_named
        {
            r.nested = Some(Members::new(self.b));
        }
        if self.peek() == Some(b'}') {
            self.i += 1;
            return true;
        }
        // The previous name's text as UTF-8 bytes (`string` has checked that they are UTF-8).
        let mut previous: Option<Cow<'a, [u8]>> = None;
        loop {
            if self.peek() != Some(b'"') {
                return false;
            }
            let start = self.i + 1;
            let Some(escaped) = self.string() else {
                return false;
            };
            let key_end = self.i - 1;
            let raw = &self.b[start..key_end];
            let key = if escaped {
                let Some(text) = decode(raw, true) else {
                    return false;
                };
                Cow::Owned(text.into_owned().into_bytes())
            } else {
                Cow::Borrowed(raw)
            };
            // Strictly increasing in UTF-16 code units: sorted and without duplicates.
            if let Some(p) = &previous
                && utf16_cmp(p, &key) != Ordering::Less
            {
                return false;
            }
            previous = Some(key);
            if self.peek() != Some(b':') {
                return false;
            }
            self.i += 1;
            let value_start = self.i;
            if depth == 0
                && let Some(r) = &mut self.recording
            {
                r.in_named = !escaped && &self.b[start..key_end] == r.name;
            }
            if !self.value(depth + 1) {
                return false;
            }
            if let Some(r) = &mut self.recording {
                let span = Span {
                    key: (start, key_end),
                    key_escaped: escaped,
                    value: (value_start, self.i),
                };
                match depth {
                    0 => r.top.push(span),
                    1 if r.in_named => {
                        if let Some(n) = &mut r.nested {
                            n.push(span);
                        }
                    }
                    _ => {}
                }
            }
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return true;
                }
                _ => return false,
            }
        }
    }

    /// A canonical string starting at the opening quote: only the mandatory escapes, `\u00xx`
    /// in lower-case hex for the controls without a short escape, valid UTF-8. Returns whether
    /// it holds escapes.
    fn string(&mut self) -> Option<bool> {
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        let mut ascii = true;
        loop {
            // Eight plain ASCII bytes at a time, the common case.
            while let Some(chunk) = self.b.get(self.i..self.i + 8) {
                let mut word = [0; 8];
                word.copy_from_slice(chunk);
                if needs_a_look(u64::from_le_bytes(word)) {
                    break;
                }
                self.i += 8;
            }
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    match *self.b.get(self.i + 1)? {
                        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 2,
                        b'u' => {
                            let hex = self.b.get(self.i + 2..self.i + 6)?;
                            if &hex[..2] != b"00" {
                                return None;
                            }
                            let v = lower_hex(hex[2])? << 4 | lower_hex(hex[3])?;
                            if v >= 0x20 || matches!(v, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                                return None;
                            }
                            self.i += 6;
                        }
                        _ => return None,
                    }
                }
                0x00..=0x1f => return None,
                c => {
                    ascii &= c < 0x80;
                    self.i += 1;
                }
            }
        }
        if !ascii {
            std::str::from_utf8(&self.b[start..self.i]).ok()?;
        }
        self.i += 1;
        Some(escaped)
    }

    /// A JSON number token that is exactly how ECMAScript writes its double.
    fn number(&mut self) -> bool {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return false,
        }
        // A short integer is its own shortest form (up to 15 digits a double is exact).
        if !matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            let token = &self.b[start..self.i];
            let digits = token.len() - usize::from(token[0] == b'-');
            if digits <= 15 {
                return token != b"-0";
            }
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return false;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return false;
            }
        }
        let token = &self.b[start..self.i];
        let Some(f) = std::str::from_utf8(token)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
        else {
            return false;
        };
        if !f.is_finite() {
            return false;
        }
        if f == 0.0 {
            return token == b"0";
        }
        ryu_js::Buffer::new().format(f).as_bytes() == token
    }
}

/// Whether any of the eight bytes of `x` is a quote, a backslash, a control character or not
/// ASCII: the bytes a string scan must look at one by one.
fn needs_a_look(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH != 0;
    below_space
        || has_zero(x ^ (ONES * u64::from(b'"')))
        || has_zero(x ^ (ONES * u64::from(b'\\')))
        || x & HIGH != 0
}

/// Order by UTF-16 code units. UTF-8 byte order is code point order, which differs from UTF-16
/// order only where a code point at or above U+E000 (lead byte 0xEE and up) is compared.
/// Takes UTF-8 bytes, read as text only when the byte order may differ.
fn utf16_cmp(a: &[u8], b: &[u8]) -> Ordering {
    if a.iter().chain(b).all(|&c| c < 0xee) {
        return a.cmp(b);
    }
    match (std::str::from_utf8(a), std::str::from_utf8(b)) {
        (Ok(a), Ok(b)) => a.encode_utf16().cmp(b.encode_utf16()),
        _ => a.cmp(b),
    }
}

fn lower_hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// The text of a string already checked by `Checker::string` (without its quotes).
fn decode(raw: &[u8], escaped: bool) -> Option<Cow<'_, str>> {
    let text = std::str::from_utf8(raw).ok()?;
    if !escaped {
        return Some(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
            }
            other => other,
        });
    }
    Some(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::canonicalize;

    /// The definition: canonicalising changes nothing.
    fn by_definition(bytes: &[u8]) -> bool {
        canonicalize(bytes).is_ok_and(|c| c == bytes)
    }

    fn json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            "[\\PC\\u{0}-\\u{1f}\"\\\\\u{1f600}\u{fb33}]{0,24}".prop_map(serde_json::Value::from),
            // Mostly ASCII, long enough for the eight-bytes-at-a-time scan.
            "[a-z0-9 :\\-\"\\\\\u{1}\u{e9}]{0,40}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                prop::collection::btree_map(
                    "[a-c\u{e9}\u{1f600}\u{fb33}\\u{1}\"]{0,12}",
                    inner,
                    0..6
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn canonical_bytes_are_recognised(v in json()) {
            let bytes = canonicalize(&serde_json::to_vec(&v).unwrap()).unwrap();
            prop_assert!(super::is_canonical(&bytes), "{}", String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn any_change_is_judged_as_the_definition_judges_it(
            v in json(),
            at in any::<prop::sample::Index>(),
            byte in prop_oneof![Just(b' '), Just(b'"'), Just(b'\\'), Just(b'0'), Just(b'e'),
                                Just(b'.'), Just(b'-'), Just(b','), Just(b'}'), Just(b'a'),
                                Just(b'u'), Just(b'1'), Just(0xc3u8), Just(0x1fu8)],
            mode in 0..3u8,
        ) {
            let mut bytes = canonicalize(&serde_json::to_vec(&v).unwrap()).unwrap();
            let i = at.index(bytes.len());
            match mode {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => { bytes.remove(i); }
            }
            prop_assert_eq!(
                super::is_canonical(&bytes),
                by_definition(&bytes),
                "{}",
                String::from_utf8_lossy(&bytes)
            );
            prop_assert_eq!(
                super::canonical_members(&bytes, "a").is_some(),
                super::is_canonical(&bytes)
            );
        }

        /// The members found are the object's, name and value, in order.
        #[test]
        fn members_are_the_object_s(v in json()) {
            let bytes = canonicalize(&serde_json::to_vec(&v).unwrap()).unwrap();
            let objects = super::canonical_members(&bytes, "a").unwrap();
            if let (serde_json::Value::Object(o), Some(objects)) = (&v, objects) {
                let nested = o.get("a").and_then(|a| a.as_object()).filter(|a| a.len() <= super::MAX_MEMBERS);
                prop_assert_eq!(objects.nested.is_some(), nested.is_some());
                if let (Some(found), Some(want)) = (objects.nested, nested) {
                    prop_assert_eq!(found.iter().count(), want.len());
                }
            }
            match (&v, objects.map(|o| o.top)) {
                (serde_json::Value::Object(o), Some(m)) => {
                    let found: Vec<_> = m.iter().collect();
                    prop_assert_eq!(found.len(), o.len());
                    let mut sorted: Vec<_> = o.iter().collect();
                    sorted.sort_by(|a, b| super::utf16_cmp(a.0.as_bytes(), b.0.as_bytes()));
                    for ((key, value), (name, want)) in found.into_iter().zip(sorted) {
                        if let Some(key) = key {
                            prop_assert_eq!(key, name.as_str());
                        }
                        let want = canonicalize(&serde_json::to_vec(want).unwrap()).unwrap();
                        prop_assert_eq!(value, &want[..]);
                    }
                }
                (serde_json::Value::Object(o), None) => prop_assert!(o.len() > super::MAX_MEMBERS),
                (_, m) => prop_assert!(m.is_none()),
            }
        }
    }

    #[test]
    fn hand_picked_cases_agree_with_the_definition() {
        let cases: &[&[u8]] = &[
            b"0",
            b"-0",
            b"1",
            b"1.0",
            b"1e21",
            b"1e+21",
            b"1E+21",
            b"0.1",
            b".1",
            b"01",
            b"-",
            b"1e400",
            b"5e-324",
            b"9007199254740993",
            b"9007199254740992",
            b"1.5e-7",
            b"1.5E-7",
            b"\"\\u001f\"",
            b"\"\\u001F\"",
            b"\"\\u0041\"",
            b"\"\\/\"",
            b"\"\\u000a\"",
            b"\"\x7f\"",
            b"\"\xff\"",
            b"{\"a\":1,\"a\":1}",
            b"{\"b\":1,\"a\":1}",
            b"{\"\xef\xac\xb3\":1,\"\xf0\x9f\x98\x80\":2}",
            b"{\"\xf0\x9f\x98\x80\":2,\"\xef\xac\xb3\":1}",
            b"[1,]",
            b"[]",
            b"{}",
            b"[ ]",
            b"true",
            b"tru",
            b"nul",
            b"nulll",
            b"{\"a\":[1,{\"b\":null}]}",
            b"",
            b"\"\\ud800\"",
            b"{\"\\u0001\":1,\"\\u0002\":2}",
            b"{\"\\u0002\":1,\"\\u0001\":2}",
        ];
        for c in cases {
            assert_eq!(
                super::is_canonical(c),
                by_definition(c),
                "{}",
                String::from_utf8_lossy(c)
            );
        }
        for n in [100, 126, 127, 128, 129, 200] {
            let deep = format!("{}{}", "[".repeat(n), "]".repeat(n));
            let deep = deep.as_bytes();
            assert_eq!(super::is_canonical(deep), by_definition(deep), "{n} levels");
        }
    }
}
