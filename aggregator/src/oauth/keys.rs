//! The authorization server's signing keys: `DIR/oauth.key` (current, mode 0600, made on first
//! use) and `DIR/oauth.previous.key` (the one before the last rotation, still published in the
//! JWKS so tokens it signed stay valid until they expire). Files with loose permissions are
//! refused like the node's keys.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use evfed_node::embed::{create_new, read_secret, write_atomic};
use evfed_spec::note::SigningKey;
use serde_json::{Value, json};

pub const KEY_FILE: &str = "oauth.key";
pub const PREVIOUS_KEY_FILE: &str = "oauth.previous.key";

/// The current key and, after a rotation, the previous one.
#[derive(Debug)]
pub struct Keys {
    pub current: SigningKey,
    pub previous: Option<SigningKey>,
}

impl Keys {
    /// Reads the keys of `dir`.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let current = read(&dir.join(KEY_FILE))?;
        let previous_path = dir.join(PREVIOUS_KEY_FILE);
        let previous = if previous_path.exists() {
            Some(read(&previous_path)?)
        } else {
            None
        };
        Ok(Self { current, previous })
    }

    /// The JWKS (RFC 7517): every key a valid token may be signed with.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .map(|k| {
                json!({
                    "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
                    "kid": kid(k),
                    "x": URL_SAFE_NO_PAD.encode(k.verifier().public_key().as_bytes()),
                })
            })
            .collect();
        json!({ "keys": keys })
    }
}

/// The `kid` of a key: its key id (spec §3.2) in hex.
pub fn kid(key: &SigningKey) -> String {
    evfed_node::embed::tokens::key_id(key)
}

/// The authorization server as an issuer the embedded node trusts (for the aggregator's own
/// origin): its keys are read from `dir` again whenever a token names one not cached, so a
/// rotation while serving takes effect at once.
pub fn local_issuer(
    dir: &Path,
    issuer: &str,
    origin: &str,
) -> evfed_node::embed::tokens::LocalIssuer {
    let dir = dir.to_owned();
    evfed_node::embed::tokens::LocalIssuer {
        issuer: issuer.to_owned(),
        audience: origin.to_owned(),
        keys: std::sync::Arc::new(move || {
            let keys = Keys::load(&dir).map_err(|e| format!("{e:#}"))?;
            Ok(std::iter::once(&keys.current)
                .chain(keys.previous.as_ref())
                .map(|k| (kid(k), *k.verifier().public_key().as_bytes()))
                .collect())
        }),
    }
}

/// Makes `DIR/oauth.key` unless it exists.
pub fn ensure(dir: &Path, origin: &str) -> anyhow::Result<()> {
    let path = dir.join(KEY_FILE);
    if path.exists() {
        return Ok(());
    }
    let key = generate(origin)?;
    create_new(
        &path,
        format!("{}\n", key.to_private_string()).as_bytes(),
        0o600,
    )
    .with_context(|| format!("creating {}", path.display()))
}

/// A new current key; the current one becomes the previous (the one before is dropped).
/// Returns the new `kid`.
pub fn rotate(dir: &Path, origin: &str) -> anyhow::Result<String> {
    ensure(dir, origin)?;
    let current = read(&dir.join(KEY_FILE))?;
    let previous: PathBuf = dir.join(PREVIOUS_KEY_FILE);
    write_atomic(
        &previous,
        format!("{}\n", current.to_private_string()).as_bytes(),
        0o600,
    )?;
    let key = generate(origin)?;
    write_atomic(
        &dir.join(KEY_FILE),
        format!("{}\n", key.to_private_string()).as_bytes(),
        0o600,
    )?;
    Ok(kid(&key))
}

fn generate(origin: &str) -> anyhow::Result<SigningKey> {
    SigningKey::generate(&format!("{origin}/oauth"), &mut rand::rngs::OsRng)
        .map_err(|e| anyhow::anyhow!("generating the OAuth signing key: {e}"))
}

fn read(path: &Path) -> anyhow::Result<SigningKey> {
    let text = read_secret(path)?;
    text.trim_end()
        .parse()
        .map_err(|e: evfed_spec::note::KeyError| anyhow::anyhow!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn rotation_keeps_the_previous_key_and_loose_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        ensure(dir.path(), "agg.example").unwrap();
        let first = Keys::load(dir.path()).unwrap();
        assert!(first.previous.is_none());
        assert_eq!(first.jwks()["keys"].as_array().unwrap().len(), 1);
        let new_kid = rotate(dir.path(), "agg.example").unwrap();
        let rotated = Keys::load(dir.path()).unwrap();
        assert_eq!(kid(&rotated.current), new_kid);
        assert_eq!(kid(rotated.previous.as_ref().unwrap()), kid(&first.current));
        let jwks = rotated.jwks();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, [new_kid.as_str(), kid(&first.current).as_str()]);
        let path = dir.path().join(KEY_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Keys::load(dir.path()).is_err());
    }
}
