//! C2SP signed notes and checkpoints (`spec::note`, `spec::checkpoint`): what a follower reads
//! from another node's `/checkpoint`. Bytes are split into text and signature lines, opened with
//! the golden vectors' key, and the text read as a checkpoint body, whether or not a signature
//! verified, so the body parser is reached by every input.
//!
//! Invariants checked:
//! - a parsed note is exactly its text, a blank line and its signature lines re-encoded: no two
//!   byte strings parse to the same note (no malleable encodings of a signature);
//! - a checkpoint body that parses writes back to the same text (`to_text`), and a checkpoint
//!   that verifies (`verify_checkpoint`: `note::open`, then the body) keeps the bytes received,
//!   names a known key, and is the one its note's text (as `parse` reads it) describes.
//!
//! Signatures are checked once per input (through `verify_checkpoint`), since an Ed25519
//! verification costs more than everything else here together.

use std::sync::LazyLock;

use base64::Engine as _;
use evfed_spec::checkpoint::Checkpoint;
use evfed_spec::note::{self, VerifierKey};
use evfed_spec::trust::Unverified;

/// The key of `spec/testdata/vectors/checkpoints.json`, whose signed notes seed the corpus.
const VKEY: &str = "evfed.example/camden+b06dd379+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c";

static KEYS: LazyLock<Vec<VerifierKey>> =
    LazyLock::new(|| VKEY.parse().map(|k| vec![k]).unwrap_or_default());

fn main() {
    assert_eq!(KEYS.len(), 1, "the vectors' verifier key does not parse");
    afl::fuzz!(|data: &[u8]| check(data));
}

fn check(data: &[u8]) {
    let parsed = note::parse(data);
    if let Ok((text, signatures)) = &parsed {
        let mut again = format!("{text}\n");
        for s in signatures {
            let mut raw = s.id.to_be_bytes().to_vec();
            raw.extend_from_slice(&s.signature);
            let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
            again.push_str(&format!("\u{2014} {} {b64}\n", s.name));
        }
        assert_eq!(
            again.as_bytes(),
            data,
            "note does not re-encode to its bytes"
        );
        if let Ok(cp) = Checkpoint::parse_text(text) {
            assert_eq!(&cp.to_text(), text, "checkpoint body does not re-encode");
        }
    }
    if let Ok(verified) = Unverified::new(data.to_vec()).verify_checkpoint(&KEYS) {
        let signed = verified.into_inner();
        assert_eq!(
            signed.note_bytes(),
            data,
            "verified note bytes are not the bytes received"
        );
        assert!(!signed.signed_by().is_empty());
        let text = parsed.as_ref().map(|(t, _)| t.as_str());
        assert_eq!(text.ok(), Some(signed.checkpoint().to_text().as_str()));
    }
}
