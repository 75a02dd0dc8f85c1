//! Log entries (`spec::entry`): the bytes a follower fetches from another node's log and hashes
//! into its tree. `LogEntry::parse` must refuse what is not a v1 canonical entry and never
//! panic.
//!
//! Invariants checked:
//! - only canonical bytes parse (known or opaque);
//! - a known entry encodes (`to_bytes`) to canonical bytes that parse back to the same entry
//!   (unknown members are dropped on the way, so the bytes may differ from the input's, but
//!   never the entry), and encoding that entry again gives the same bytes.

use evfed_spec::entry::{LogEntry, Parsed};
use evfed_spec::jcs;

fn main() {
    afl::fuzz!(|data: &[u8]| check(data));
}

fn check(data: &[u8]) {
    let Ok(parsed) = LogEntry::parse(data) else {
        return;
    };
    assert!(jcs::is_canonical(data), "a non-canonical entry parsed");
    let Parsed::Known(entry) = parsed else {
        return;
    };
    let bytes = match entry.to_bytes() {
        Ok(b) => b,
        Err(e) => panic!("a parsed entry does not encode: {e}"),
    };
    assert!(
        jcs::is_canonical(&bytes),
        "to_bytes wrote non-canonical bytes"
    );
    match LogEntry::parse(&bytes) {
        Ok(Parsed::Known(back)) => {
            assert_eq!(back, entry, "entry changed on a round trip");
            assert_eq!(back.to_bytes().ok().as_deref(), Some(&bytes[..]));
        }
        other => panic!("an encoded entry does not parse back: {other:?}"),
    }
}
