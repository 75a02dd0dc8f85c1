//! C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys: the envelope of every
//! checkpoint an evfed node signs.
//!
//! A note is UTF-8 text ending in a newline, a blank line, then signature lines
//! `— <key name> <base64(4-byte key id ‖ signature)>`. The key id is
//! `SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)[:4]`. Verifier keys are written
//! `<name>+<hex key id>+<base64(0x01 ‖ public key)>`; private keys
//! `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>`, so one can never be mistaken for
//! the other.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey as DalekSigning, VerifyingKey as DalekVerifying};
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

/// The signature type byte C2SP assigns to Ed25519.
const ALG_ED25519: u8 = 0x01;
/// Signature lines beyond this make a note malformed (C2SP requires accepting at least 16).
pub const MAX_SIGNATURES: usize = 100;
/// A note larger than this is malformed; bounds work done on hostile input.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;
const PRIVATE_PREFIX: &str = "PRIVATE+KEY+";
const SIG_PREFIX: &str = "\u{2014} ";

/// What is wrong with a key string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key name must be non-empty and contain no white space or '+': {0:?}")]
    BadName(String),
    #[error("not a verifier key (<name>+<hex id>+<base64>): {0}")]
    BadVerifierKey(&'static str),
    #[error("not a private key (PRIVATE+KEY+<name>+<hex id>+<base64>): {0}")]
    BadPrivateKey(&'static str),
    #[error("key id does not match the name and key")]
    IdMismatch,
}

/// Why a note was refused. `Malformed` and `InvalidSignature` are hard errors; `NoKnownSignature`
/// means the note may be fine but is signed by nobody the reader trusts ("unverified").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("signature by known key {name} does not verify")]
    InvalidSignature { name: String },
    #[error("note is not signed by any known key")]
    NoKnownSignature,
    #[error(
        "note text must end in a newline, contain no blank-line separator, and use no control characters but newline"
    )]
    BadText,
}

/// C2SP key id: `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]`, big-endian.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn check_name(name: &str) -> Result<(), KeyError> {
    if name.is_empty()
        || name.contains('+')
        || name.chars().any(char::is_whitespace)
        || name.chars().any(char::is_control)
    {
        return Err(KeyError::BadName(name.chars().take(64).collect()));
    }
    Ok(())
}

/// A public key that verifies notes, with its name and key id.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: u32,
    key: DalekVerifying,
}

impl VerifierKey {
    pub fn new(name: &str, key: DalekVerifying) -> Result<Self, KeyError> {
        check_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            id: key_id(name, key.as_bytes()),
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn public_key(&self) -> &DalekVerifying {
        &self.key
    }

    /// The one way a signature is checked: strict Ed25519 (no malleable or small-order forms).
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
            return false;
        };
        self.key.verify_strict(msg, &sig).is_ok()
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = [0u8; 33];
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.id, B64.encode(raw))
    }
}

impl FromStr for VerifierKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        if s.starts_with(PRIVATE_PREFIX) {
            return Err(KeyError::BadVerifierKey(
                "this is a private key; publish its verifier key instead",
            ));
        }
        let (name, id, pk) = split_key_string(s, KeyError::BadVerifierKey)?;
        let key = DalekVerifying::from_bytes(&pk)
            .map_err(|_| KeyError::BadVerifierKey("not a valid Ed25519 point"))?;
        let vk = Self::new(name, key)?;
        if vk.id != id {
            return Err(KeyError::IdMismatch);
        }
        Ok(vk)
    }
}

/// Splits `<name>+<hex key id>+<base64(0x01 ‖ 32 bytes)>`, the shape shared by verifier and
/// private keys, reporting problems through `err`.
fn split_key_string(
    s: &str,
    err: fn(&'static str) -> KeyError,
) -> Result<(&str, u32, [u8; 32]), KeyError> {
    // Names never contain '+', but base64 may: split from the left.
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(hex), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(err("expected name, key id and key separated by '+'"));
    };
    let id = parse_id(hex).ok_or(err("key id must be 8 lower-case hex digits"))?;
    let raw = B64.decode(b64).map_err(|_| err("key is not base64"))?;
    let [ALG_ED25519, rest @ ..] = raw.as_slice() else {
        return Err(err("only Ed25519 (type 0x01) keys are supported"));
    };
    let bytes: [u8; 32] = rest
        .try_into()
        .map_err(|_| err("Ed25519 key must be 32 bytes"))?;
    Ok((name, id, bytes))
}

fn parse_id(hex: &str) -> Option<u32> {
    if hex.len() != 8 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok()
}

/// A named Ed25519 signing key. `Debug` never shows the secret.
#[derive(Clone)]
pub struct SigningKey {
    verifier: VerifierKey,
    key: DalekSigning,
}

impl SigningKey {
    pub fn generate<R: RngCore + CryptoRng>(name: &str, rng: &mut R) -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Self::from_seed(name, &seed)
    }

    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, KeyError> {
        let key = DalekSigning::from_bytes(seed);
        Ok(Self {
            verifier: VerifierKey::new(name, key.verifying_key())?,
            key,
        })
    }

    pub fn verifier(&self) -> &VerifierKey {
        &self.verifier
    }

    /// The private key as PKCS #8 DER (RFC 8410), for libraries such as JWT signers that take
    /// that form. As secret as the key itself.
    pub fn to_pkcs8_der(&self) -> Option<Vec<u8>> {
        use ed25519_dalek::pkcs8::EncodePrivateKey as _;
        self.key.to_pkcs8_der().ok().map(|d| d.as_bytes().to_vec())
    }

    pub fn name(&self) -> &str {
        self.verifier.name()
    }

    /// `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 ‖ seed)>`: the private key file format.
    pub fn to_private_string(&self) -> String {
        let mut raw = [0u8; 33];
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(&self.key.to_bytes());
        format!(
            "{PRIVATE_PREFIX}{}+{:08x}+{}",
            self.verifier.name,
            self.verifier.id,
            B64.encode(raw)
        )
    }

    /// Signs raw bytes (used by [`sign`] and by other evfed signatures over exact bytes).
    pub fn sign_bytes(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, secret redacted)", self.verifier)
    }
}

impl FromStr for SigningKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let s = s.trim_end_matches('\n');
        let rest = s
            .strip_prefix(PRIVATE_PREFIX)
            .ok_or(KeyError::BadPrivateKey("missing the PRIVATE+KEY+ prefix"))?;
        let (name, id, seed) = split_key_string(rest, KeyError::BadPrivateKey)?;
        let key = Self::from_seed(name, &seed)?;
        if key.verifier.id != id {
            return Err(KeyError::IdMismatch);
        }
        Ok(key)
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub id: u32,
    pub signature: Vec<u8>,
}

/// A note whose text was signed by at least one known key, every known-key signature checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote {
    /// The signed text, final newline included.
    pub text: String,
    /// The names of the known keys whose signatures verified.
    pub verified_by: Vec<String>,
    /// Signatures from keys the reader does not know (kept, e.g. witness cosignatures).
    pub other_signatures: Vec<NoteSignature>,
}

/// Signs `text` with each key; the result is the whole note. The text must be non-empty, end in
/// a newline, have no blank line at the end and contain no control characters except newline.
pub fn sign(text: &str, keys: &[&SigningKey]) -> Result<String, NoteError> {
    check_text(text)?;
    if keys.is_empty() || keys.len() > MAX_SIGNATURES {
        return Err(NoteError::Malformed(
            "a note needs between 1 and 100 signatures",
        ));
    }
    let mut out = String::with_capacity(text.len() + 1 + keys.len() * 120);
    out.push_str(text);
    out.push('\n');
    for k in keys {
        let mut raw = Vec::with_capacity(68);
        raw.extend_from_slice(&k.verifier.id.to_be_bytes());
        raw.extend_from_slice(&k.sign_bytes(text.as_bytes()));
        out.push_str(SIG_PREFIX);
        out.push_str(&k.verifier.name);
        out.push(' ');
        out.push_str(&B64.encode(raw));
        out.push('\n');
    }
    Ok(out)
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with('\n') || text.ends_with("\n\n") {
        return Err(NoteError::BadText);
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::BadText);
    }
    Ok(())
}

/// Splits a note into text and signature lines without checking any signature.
pub fn parse(note: &[u8]) -> Result<(String, Vec<NoteSignature>), NoteError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(NoteError::Malformed("note is larger than 64 KiB"));
    }
    let s = std::str::from_utf8(note).map_err(|_| NoteError::Malformed("not UTF-8"))?;
    if s.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Malformed("control character other than newline"));
    }
    if !s.ends_with('\n') {
        return Err(NoteError::Malformed("does not end in a newline"));
    }
    // The text ends at the last blank line; everything after it is signature lines.
    let split = s
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let (text, sigs) = (&s[..=split], &s[split + 2..]);
    let mut signatures = Vec::new();
    for line in sigs.split_terminator('\n') {
        if signatures.len() == MAX_SIGNATURES {
            return Err(NoteError::Malformed("more than 100 signature lines"));
        }
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
            "signature line does not start with an em dash and a space",
        ))?;
        let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed(
            "signature line has no space after the key name",
        ))?;
        check_name(name).map_err(|_| NoteError::Malformed("bad key name in a signature line"))?;
        let raw = B64
            .decode(b64)
            .map_err(|_| NoteError::Malformed("signature is not base64"))?;
        let (id, sig) = raw
            .split_first_chunk::<4>()
            .ok_or(NoteError::Malformed("signature shorter than its key id"))?;
        if sig.is_empty() {
            return Err(NoteError::Malformed("empty signature"));
        }
        signatures.push(NoteSignature {
            name: name.to_owned(),
            id: u32::from_be_bytes(*id),
            signature: sig.to_vec(),
        });
    }
    if signatures.is_empty() {
        return Err(NoteError::Malformed("no signature lines"));
    }
    Ok((text.to_owned(), signatures))
}

/// Opens a note: every signature by a known key (same name and id) must verify, and at least one
/// must be present. Signatures by unknown keys are ignored, as C2SP requires.
pub fn open(note: &[u8], known: &[VerifierKey]) -> Result<OpenedNote, NoteError> {
    let (text, signatures) = parse(note)?;
    let mut verified_by = Vec::new();
    let mut other_signatures = Vec::new();
    for sig in signatures {
        match known.iter().find(|k| k.name == sig.name && k.id == sig.id) {
            Some(k) if k.verify(text.as_bytes(), &sig.signature) => verified_by.push(sig.name),
            Some(_) => return Err(NoteError::InvalidSignature { name: sig.name }),
            None => other_signatures.push(sig),
        }
    }
    if verified_by.is_empty() {
        return Err(NoteError::NoKnownSignature);
    }
    Ok(OpenedNote {
        text,
        verified_by,
        other_signatures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, seed: u8) -> SigningKey {
        SigningKey::from_seed(name, &[seed; 32]).unwrap()
    }

    #[test]
    fn keys_whose_base64_holds_a_plus_round_trip() {
        let mut seen = 0;
        for seed in 0..=255u8 {
            let k = key("evfed.example/a-b", seed);
            let vkey = k.verifier().to_string();
            let b64 = vkey.splitn(3, '+').nth(2).unwrap();
            if b64.contains('+') {
                seen += 1;
                assert_eq!(&vkey.parse::<VerifierKey>().unwrap(), k.verifier());
                let private: SigningKey = k.to_private_string().parse().unwrap();
                assert_eq!(private.verifier(), k.verifier());
            }
        }
        assert!(seen > 0, "no seed gave a '+' in base64");
    }

    #[test]
    fn keys_round_trip_and_are_not_confusable() {
        let k = key("node.example/a", 7);
        let private = k.to_private_string();
        assert!(private.starts_with("PRIVATE+KEY+node.example/a+"));
        let back: SigningKey = private.parse().unwrap();
        assert_eq!(back.verifier(), k.verifier());
        let vk: VerifierKey = k.verifier().to_string().parse().unwrap();
        assert_eq!(&vk, k.verifier());
        assert!(private.parse::<VerifierKey>().is_err());
        assert!(k.verifier().to_string().parse::<SigningKey>().is_err());
        assert!(!format!("{k:?}").contains(&private[private.len() - 20..]));
    }

    #[test]
    fn open_sign() {
        let a = key("a.example", 1);
        let b = key("b.example", 2);
        let note = sign("hello\nworld\n", &[&a, &b]).unwrap();
        let opened = open(note.as_bytes(), &[a.verifier().clone()]).unwrap();
        assert_eq!(opened.text, "hello\nworld\n");
        assert_eq!(opened.verified_by, vec!["a.example"]);
        assert_eq!(opened.other_signatures.len(), 1);
        assert_eq!(
            open(note.as_bytes(), &[key("c.example", 3).verifier().clone()]),
            Err(NoteError::NoKnownSignature)
        );
        let tampered = note.replacen("world", "World", 1);
        assert!(matches!(
            open(tampered.as_bytes(), &[a.verifier().clone()]),
            Err(NoteError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn malformed_notes() {
        let a = key("a.example", 1);
        let known = [a.verifier().clone()];
        let note = sign("x\n", &[&a]).unwrap();
        for bad in [
            note.trim_end().to_owned(),
            note.replace('\u{2014}', "-"),
            note.replace("\n\n", "\n"),
            format!("{note}\n"),
            note.replace("x\n", "x\r\n"),
        ] {
            assert!(
                matches!(open(bad.as_bytes(), &known), Err(NoteError::Malformed(_))),
                "{bad:?}"
            );
        }
        let line = note.split("\n\n").nth(1).unwrap();
        let many = format!("x\n\n{}", line.repeat(101));
        assert_eq!(
            open(many.as_bytes(), &known),
            Err(NoteError::Malformed("more than 100 signature lines"))
        );
        assert!(sign("x", &[&a]).is_err());
        assert!(sign("x\n\n", &[&a]).is_err());
    }
}
