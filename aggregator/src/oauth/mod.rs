//! The aggregator as an OAuth 2.0 authorization server for its federation (STANDARD.md §14.4):
//! registered clients get EdDSA JWT access tokens (RFC 9068) for one node's origin, named with
//! the RFC 8707 `resource` parameter, by the `client_credentials` grant with
//! `client_secret_basic` or `private_key_jwt` (RFC 7523, Ed25519) client authentication.
//!
//! - [`keys`]: the signing key file `DIR/oauth.key`, its rotation, and the JWKS;
//! - [`token`]: the token endpoint's checks and the tokens it signs;
//! - [`http`]: the token endpoint, RFC 8414 metadata, the JWKS and the clients admin API;
//! - [`cli`]: `clients add|list|remove` and `oauth rotate-key`.
//!
//! Architecture Invariant: client secrets are stored only as SHA-256 hashes (of 256 random bits)
//! and printed once; access tokens, secrets and assertions are never logged. The token
//! endpoint's errors are RFC 6749 JSON, the one exception to problem+json.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::store::Store;

pub mod cli;
pub mod client;
pub mod http;
pub mod keys;
pub mod token;

/// Scopes a client may hold (STANDARD.md §14.3).
pub const SCOPES: [&str; 3] = evfed_node::embed::tokens::SCOPES;
/// Lifetime of the access tokens issued.
pub const TOKEN_TTL_SECONDS: u64 = 3600;
/// Longest lifetime accepted for a client assertion (bounds the replay memory).
pub const MAX_ASSERTION_SECONDS: u64 = 600;
/// Most client assertions remembered at once against replay.
pub const MAX_REMEMBERED_ASSERTIONS: usize = 100_000;

/// A registered client.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Client {
    pub id: String,
    pub scopes: Vec<String>,
    /// The party (CC*PID) its tokens carry.
    pub party: Option<String>,
    /// Node origins it may ask tokens for (`resource`).
    pub audiences: Vec<String>,
    #[serde(skip)]
    pub credential: Credential,
    pub created_ms: i64,
}

/// How a client authenticates: never a secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `client_secret_basic`: the SHA-256 of its secret.
    SecretSha256([u8; 32]),
    /// `private_key_jwt`: its Ed25519 public key.
    Ed25519([u8; 32]),
}

/// A client registration, from the CLI or the admin API.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// 1 to 128 characters of `A-Z a-z 0-9 . _ - :`.
    pub id: String,
    /// Of `usage:read`, `data:write`, `admin`.
    pub scopes: Vec<String>,
    /// CC*PID; required with `data:write`.
    #[serde(default)]
    pub party: Option<String>,
    /// Node origins it may ask tokens for.
    pub audiences: Vec<String>,
    /// Its Ed25519 public key as a JWK (`private_key_jwt`); none: a secret is made
    /// (`client_secret_basic`) and answered once.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub jwk: Option<Value>,
}

/// A new client and, for `client_secret_basic`, its secret (shown once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Registered {
    pub client: Client,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// The authorization server's state, shared by its handlers.
#[derive(Debug)]
pub struct AuthServer {
    /// The `iss` of its tokens and base of its endpoints (no trailing slash).
    pub issuer: String,
    pub store: Arc<Store>,
    /// The aggregator directory, holding `oauth.key`.
    pub dir: PathBuf,
    /// Client assertions seen (client id and jti) until they expire.
    seen: Mutex<HashMap<(String, String), u64>>,
}

impl Credential {
    pub fn method(&self) -> &'static str {
        match self {
            Credential::SecretSha256(_) => "client_secret_basic",
            Credential::Ed25519(_) => "private_key_jwt",
        }
    }
}

impl ClientSpec {
    /// Checks the registration; makes the secret when no key is given.
    pub fn check(self, now_ms: i64) -> Result<Registered, String> {
        let ok_id = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':');
        if self.id.is_empty() || self.id.len() > 128 || !self.id.chars().all(ok_id) {
            return Err("a client id is 1 to 128 characters of A-Z a-z 0-9 . _ - :".into());
        }
        if self.scopes.is_empty() {
            return Err(format!("name at least one scope of {}", SCOPES.join(", ")));
        }
        if let Some(s) = self.scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
            return Err(format!("scope {s:?} is not one of {}", SCOPES.join(", ")));
        }
        let party = match &self.party {
            Some(p) => Some(
                p.parse::<evfed_spec::ids::Party>()
                    .map_err(|e| format!("party {p:?}: {e}"))?
                    .to_string(),
            ),
            None if self.scopes.iter().any(|s| s == "data:write") => {
                return Err("a data:write client must name its party (CC*PID)".into());
            }
            None => None,
        };
        if self.audiences.is_empty()
            || self
                .audiences
                .iter()
                .any(|a| a.is_empty() || a.contains(char::is_whitespace))
        {
            return Err("name at least one audience: a node's origin, without white space".into());
        }
        let (credential, secret) = match &self.jwk {
            Some(jwk) => (Credential::Ed25519(ed25519_jwk(jwk)?), None),
            None => {
                let mut bytes = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
                let secret = URL_SAFE_NO_PAD.encode(bytes);
                (Credential::SecretSha256(secret_hash(&secret)), Some(secret))
            }
        };
        let mut scopes = self.scopes;
        scopes.sort();
        scopes.dedup();
        Ok(Registered {
            client: Client {
                id: self.id,
                scopes,
                party,
                audiences: self.audiences,
                credential,
                created_ms: now_ms,
            },
            client_secret: secret,
        })
    }
}

/// The public key of an Ed25519 JWK (`kty` OKP, `crv` Ed25519); a private one is refused.
pub fn ed25519_jwk(jwk: &Value) -> Result<[u8; 32], String> {
    if jwk.get("kty").and_then(Value::as_str) != Some("OKP")
        || jwk.get("crv").and_then(Value::as_str) != Some("Ed25519")
    {
        return Err("the JWK must be an Ed25519 public key (kty OKP, crv Ed25519)".into());
    }
    if jwk.get("d").is_some() {
        return Err("the JWK holds a private key (d): register the public key only".into());
    }
    let x = jwk
        .get("x")
        .and_then(Value::as_str)
        .and_then(|x| URL_SAFE_NO_PAD.decode(x).ok())
        .and_then(|x| <[u8; 32]>::try_from(x).ok())
        .ok_or("the JWK's x is not a base64url 32-byte Ed25519 key")?;
    ed25519_dalek::VerifyingKey::from_bytes(&x)
        .map_err(|_| "the JWK's x is not an Ed25519 point".to_owned())?;
    Ok(x)
}

/// What is stored of a secret.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl AuthServer {
    pub fn new(issuer: &str, store: Arc<Store>, dir: PathBuf) -> Self {
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            store,
            dir,
            seen: Mutex::new(HashMap::new()),
        }
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/oauth2/token", self.issuer)
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/oauth2/jwks", self.issuer)
    }
}

/// The issuer identifier of an aggregator: configured, else `https://ORIGIN`.
pub fn issuer_of(configured: Option<&str>, origin: &str) -> String {
    configured
        .map(str::to_owned)
        .unwrap_or_else(|| format!("https://{origin}"))
        .trim_end_matches('/')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(scopes: &[&str], party: Option<&str>, jwk: Option<Value>) -> ClientSpec {
        ClientSpec {
            id: "analytics".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            party: party.map(str::to_owned),
            audiences: vec!["evfed.camden.example".into()],
            jwk,
        }
    }

    #[test]
    fn registrations_are_checked_and_secrets_only_hashed() {
        let r = spec(&["usage:read"], None, None).check(1).unwrap();
        let secret = r.client_secret.unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(&secret).unwrap().len(), 32);
        assert_eq!(
            r.client.credential,
            Credential::SecretSha256(secret_hash(&secret))
        );
        assert!(!serde_json::to_string(&r.client).unwrap().contains(&secret));
        assert!(spec(&["data:write"], None, None).check(1).is_err());
        assert!(spec(&["data:write"], Some("GB*ABC"), None).check(1).is_ok());
        assert!(spec(&["everything"], None, None).check(1).is_err());
        assert!(spec(&[], None, None).check(1).is_err());
        let mut no_audience = spec(&["usage:read"], None, None);
        no_audience.audiences.clear();
        assert!(no_audience.check(1).is_err());
    }

    #[test]
    fn only_ed25519_public_jwks_are_registered() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
        let public = json!({"kty": "OKP", "crv": "Ed25519", "x": x});
        let r = spec(&["usage:read"], None, Some(public.clone()))
            .check(1)
            .unwrap();
        assert!(r.client_secret.is_none());
        assert_eq!(r.client.credential.method(), "private_key_jwt");
        let mut private = public.clone();
        private["d"] = json!(URL_SAFE_NO_PAD.encode([7; 32]));
        assert!(ed25519_jwk(&private).is_err());
        assert!(ed25519_jwk(&json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"})).is_err());
        assert!(ed25519_jwk(&json!({"kty": "OKP", "crv": "Ed25519", "x": "short"})).is_err());
    }
}
