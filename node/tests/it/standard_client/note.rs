//! §3.2 verifier keys and §9 checkpoints as C2SP signed notes, verified in the order of §9.3;
//! written from the standard, not from `evfed_spec::note` or `evfed_spec::checkpoint`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use super::rfc9162::Hash;

/// A trusted verifier key: its name, 4-byte id and Ed25519 public key.
#[derive(Debug, Clone)]
pub struct VerifierKey {
    pub name: String,
    pub id: [u8; 4],
    pub key: VerifyingKey,
}

/// A checkpoint body (§9.1).
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub time: u64,
}

/// The failing verdicts of §9.3; `Malformed` says which rule.
#[derive(Debug)]
pub enum Verdict {
    Malformed(&'static str),
    InvalidSignature,
    UnknownKey,
}

impl VerifierKey {
    /// `<name>+<id as 8 hex digits>+<base64(0x01 ‖ key)>`, split at the first two `+` (§3.2).
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        if s.starts_with("PRIVATE+KEY+") {
            return Err("a private key");
        }
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("not <name>+<id>+<key>");
        };
        let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if id.len() != 8 || !id.bytes().all(lower_hex) {
            return Err("id is not 8 lower-case hex digits");
        }
        let id = u32::from_str_radix(id, 16)
            .map_err(|_| "bad id")?
            .to_be_bytes();
        let raw = canonical_b64(key).ok_or("key is not canonical base64")?;
        let [0x01, key @ ..] = raw.as_slice() else {
            return Err("key does not start with 0x01 (Ed25519)");
        };
        let key: [u8; 32] = key.try_into().map_err(|_| "key is not 32 bytes")?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| "not an Ed25519 point")?;
        let parsed = Self::from_key(name, &key);
        if parsed.id != id {
            return Err("id does not match the name and key");
        }
        Ok(parsed)
    }

    /// The key `key` under `name`, with `key_id = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key)[:4]`.
    pub fn from_key(name: &str, key: &VerifyingKey) -> Self {
        let digest = Sha256::new()
            .chain_update(name.as_bytes())
            .chain_update([0x0A, 0x01])
            .chain_update(key.as_bytes())
            .finalize();
        let id = [digest[0], digest[1], digest[2], digest[3]];
        Self {
            name: name.to_owned(),
            id,
            key: *key,
        }
    }
}

/// §9.3 in its order: a well-formed note, then every signature by a trusted key (one bad one
/// rejects the note), then the body.
pub fn verify(note: &[u8], keys: &[VerifierKey]) -> Result<Checkpoint, Verdict> {
    use Verdict::Malformed;
    if note.len() > 65_536 {
        return Err(Malformed("over 64 KiB"));
    }
    let note = std::str::from_utf8(note).map_err(|_| Malformed("not UTF-8"))?;
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Malformed("a control character other than line feed"));
    }
    if !note.ends_with('\n') {
        return Err(Malformed("no final line feed"));
    }
    let split = note.rfind("\n\n").ok_or(Malformed("no empty line"))?;
    let (text, signatures) = (&note[..split + 1], &note[split + 2..]);
    let lines: Vec<&str> = signatures.split_terminator('\n').collect();
    if lines.is_empty() || lines.len() > 100 {
        return Err(Malformed("no signature line, or over 100"));
    }
    let mut parsed = Vec::new();
    for line in lines {
        let rest = line
            .strip_prefix("— ")
            .ok_or(Malformed("no em dash and space"))?;
        let (name, value) = rest
            .split_once(' ')
            .ok_or(Malformed("no space after the name"))?;
        if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '+') {
            return Err(Malformed("bad key name"));
        }
        let value = canonical_b64(value).ok_or(Malformed("not canonical base64"))?;
        if value.len() <= 4 {
            return Err(Malformed("signature value of 4 bytes or fewer"));
        }
        parsed.push((name, value));
    }
    let mut verified = false;
    for (name, value) in parsed {
        let (id, signature) = value.split_at(4);
        let Some(key) = keys.iter().find(|k| k.name == name && k.id == id) else {
            continue; // not a key we trust, e.g. a witness cosignature
        };
        let signature = Signature::from_slice(signature).map_err(|_| Verdict::InvalidSignature)?;
        key.key
            .verify_strict(text.as_bytes(), &signature)
            .map_err(|_| Verdict::InvalidSignature)?;
        verified = true;
    }
    if !verified {
        return Err(Verdict::UnknownKey);
    }
    body(text).ok_or(Malformed("not a checkpoint body"))
}

/// The four lines of §9.1: origin, tree size, root hash, `time <POSIX seconds>`.
fn body(text: &str) -> Option<Checkpoint> {
    let lines: Vec<&str> = text.strip_suffix('\n')?.split('\n').collect();
    let [origin, size, root, time] = lines.as_slice() else {
        return None;
    };
    let bad = |c: char| c.is_whitespace() || c.is_control() || c == '+';
    if !(1..=255).contains(&origin.len()) || origin.contains(bad) {
        return None;
    }
    Some(Checkpoint {
        origin: origin.to_string(),
        size: decimal(size)?,
        root: canonical_b64(root)?.try_into().ok()?,
        time: decimal(time.strip_prefix("time ")?)?,
    })
}

/// ASCII digits, no sign, no leading zeros, at most 2^64 − 1.
fn decimal(s: &str) -> Option<u64> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// RFC 4648 §4 base64 that encodes back to exactly the same text (§1.2 "canonical base64").
pub fn canonical_b64(s: &str) -> Option<Vec<u8>> {
    let bytes = B64.decode(s).ok()?;
    (B64.encode(&bytes) == s).then_some(bytes)
}
