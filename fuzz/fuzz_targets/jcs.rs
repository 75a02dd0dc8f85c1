//! RFC 8785 canonical JSON and I-JSON (`spec::jcs`): any bytes a peer sends go through
//! `canonicalize`, `is_canonical`, `canonical_members` and `check_ijson` without a panic, and
//! these agree with each other and with the `Serialize` path that makes log entries.
//!
//! Invariants checked on every input:
//! - canonical output is a fixed point: canonicalising it again gives the same bytes, and
//!   `is_canonical` accepts it;
//! - input that `is_canonical` accepts canonicalises to itself (the one-pass checker never
//!   accepts what the parser would change or refuse);
//! - `canonical_members` accepts exactly what `is_canonical` accepts;
//! - `check_ijson` (the one-pass check every body passes before it is read) accepts exactly
//!   what `canonicalize` (a full parse under I-JSON's rules) accepts;
//! - the value written by `to_canonical_vec` (how entries are made) is byte-for-byte what
//!   `canonicalize` writes for the same JSON.

use evfed_spec::jcs;

fn main() {
    afl::fuzz!(|data: &[u8]| check(data));
}

fn check(data: &[u8]) {
    let canonical_input = jcs::is_canonical(data);
    assert_eq!(
        jcs::canonical_members(data, "data").is_some(),
        canonical_input,
        "canonical_members and is_canonical disagree"
    );
    let ijson = jcs::check_ijson(data);
    let parsed = jcs::canonicalize(data);
    assert_eq!(
        ijson.is_ok(),
        parsed.is_ok(),
        "check_ijson says {ijson:?}, canonicalize says {:?}",
        parsed.as_ref().map(|_| ()).map_err(|e| e.to_string())
    );
    let Ok(out) = parsed else {
        assert!(
            !canonical_input,
            "is_canonical accepted what canonicalize refuses"
        );
        return;
    };
    if canonical_input {
        assert_eq!(out, data, "canonical input changed by canonicalize");
    }
    assert!(
        jcs::is_canonical(&out),
        "canonicalize wrote non-canonical bytes"
    );
    let again = jcs::canonicalize(&out).ok();
    assert_eq!(
        again.as_deref(),
        Some(&out[..]),
        "canonical form is not a fixed point"
    );
    // Input canonicalize accepts has no duplicate names, so serde_json's own `Value` holds the
    // same members, and the serializer path must write the same bytes.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let via_serde = jcs::to_canonical_vec(&value).ok();
        assert_eq!(
            via_serde.as_deref(),
            Some(&out[..]),
            "Serialize path differs"
        );
    }
}
