//! Bearer tokens (spec §14.2): the node's built-in issuer signs EdDSA JWT access tokens for its
//! own origin, and every restricted or write request's token is validated here — header `typ`,
//! algorithm allow-list, signature, `iss`, `aud`, `exp`, `iat`, required claims — before any
//! handler sees its scopes or party.
//!
//! Tokens of other issuers the node's `config.toml` trusts are checked by [`crate::trust`].
//! [`sign_access_token`] is the one signer of evfed access tokens: the node's issuer and the
//! aggregator's authorization server both sign through it, so `kid`, `jti` and claims have one
//! form.
//!
//! Architecture Invariant: tokens are never logged; a validation failure says why in terms that
//! reveal nothing about keys.

use std::time::Duration;

use evfed_spec::ids::Party;
use evfed_spec::note::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Allowed clock skew for `exp`, `iat` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 60;

/// Scopes a node understands (spec §14.3).
pub const SCOPES: [&str; 3] = ["data:write", "usage:read", "admin"];

/// The node's built-in issuer: its key and the names it signs for.
pub struct Issuer {
    iss: String,
    audience: String,
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// A validated access token: what the caller may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The issuer that signed it (its configured `issuer`, or the node's origin).
    pub issuer: String,
    pub subject: String,
    pub scopes: Vec<String>,
    pub party: Option<Party>,
}

/// Why a token was refused (all answer `401 unauthorized`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a JWT access token (typ must be at+jwt)")]
    NotAccessToken,
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    #[error("the token is not from an issuer this node trusts")]
    UnknownIssuer,
    #[error("the token is invalid: {0}")]
    Invalid(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not for this node (aud)")]
    Audience,
    #[error("the token's party claim is not CC*PID")]
    Party,
    #[error("the token cannot be signed: {0}")]
    Sign(String),
}

/// What an access token says (RFC 9068 claims; spec §14.2).
#[derive(Debug, Clone, Copy)]
pub struct AccessToken<'a> {
    /// `iss`.
    pub issuer: &'a str,
    /// `sub` and `client_id`.
    pub subject: &'a str,
    /// `aud`: the origin the token is for.
    pub audience: &'a str,
    /// `scope`: space-separated scopes.
    pub scope: &'a str,
    /// `party`: the `CC*PID` the holder acts for.
    pub party: Option<&'a str>,
    /// `exp` minus `iat`.
    pub ttl: Duration,
}

/// The `kid` of tokens signed with `key`, as its JWKS entry names it.
pub fn key_id(key: &SigningKey) -> String {
    format!("{:08x}", key.verifier().id())
}

/// Signs `token` at `now` (Unix seconds) with `key`: EdDSA, `typ: at+jwt`, `kid` from
/// [`key_id`], a random 128-bit `jti`.
pub fn sign_access_token(
    key: &SigningKey,
    token: &AccessToken<'_>,
    now: u64,
) -> Result<String, TokenError> {
    sign_with(&encoding_key(key)?, &key_id(key), token, now)
}

fn encoding_key(key: &SigningKey) -> Result<EncodingKey, TokenError> {
    let der = key
        .to_pkcs8_der()
        .ok_or_else(|| TokenError::Sign("the signing key cannot be encoded".into()))?;
    Ok(EncodingKey::from_ed_der(&der))
}

fn sign_with(
    encoding: &EncodingKey,
    kid: &str,
    t: &AccessToken<'_>,
    now: u64,
) -> Result<String, TokenError> {
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid.to_owned());
    let mut jti = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut jti);
    let claims = Claims {
        iss: t.issuer.to_owned(),
        sub: t.subject.to_owned(),
        client_id: t.subject.to_owned(),
        aud: Audience::One(t.audience.to_owned()),
        exp: now + t.ttl.as_secs(),
        iat: now,
        jti: hex::encode(jti),
        nbf: None,
        scope: t.scope.to_owned(),
        party: t.party.map(str::to_owned),
    };
    jsonwebtoken::encode(&header, &claims, encoding).map_err(|e| TokenError::Sign(e.to_string()))
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    client_id: String,
    aud: Audience,
    exp: u64,
    iat: u64,
    jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    #[serde(default)]
    scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    party: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("iss", &self.iss)
            .field("kid", &self.kid)
            .finish()
    }
}

impl Issuer {
    /// The issuer of the node with `origin`, signing with `key`.
    pub fn new(origin: &str, key: &SigningKey) -> Result<Self, TokenError> {
        Ok(Self {
            iss: origin.to_owned(),
            audience: origin.to_owned(),
            kid: key_id(key),
            encoding: encoding_key(key)?,
            decoding: DecodingKey::from_ed_der(key.verifier().public_key().as_bytes()),
        })
    }

    /// Signs an access token for this node.
    pub fn issue(
        &self,
        subject: &str,
        party: Option<&Party>,
        scopes: &[String],
        ttl: Duration,
        now: u64,
    ) -> Result<String, TokenError> {
        let party = party.map(Party::to_string);
        let token = AccessToken {
            issuer: &self.iss,
            subject,
            audience: &self.audience,
            scope: &scopes.join(" "),
            party: party.as_deref(),
            ttl,
        };
        sign_with(&self.encoding, &self.kid, &token, now)
    }

    /// Validates `token` (spec §14.2) at time `now`.
    pub fn validate(&self, token: &str, now: u64) -> Result<Grant, TokenError> {
        check_algorithm(token, &[Algorithm::EdDSA])?;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| TokenError::Invalid("malformed header".into()))?;
        match header.typ.as_deref() {
            Some("at+jwt" | "application/at+jwt") => {}
            _ => return Err(TokenError::NotAccessToken),
        }
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Algorithm);
        }
        let mut v = Validation::new(Algorithm::EdDSA);
        v.leeway = LEEWAY_SECONDS;
        v.validate_nbf = true;
        v.set_audience(&[&self.audience]);
        v.set_issuer(&[&self.iss]);
        v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &v).map_err(|e| refusal(&e))?;
        let claims = data.claims;
        // The `exp` check has the library's clock; check against ours too, and `iat`.
        if claims.exp + LEEWAY_SECONDS <= now {
            return Err(TokenError::Expired);
        }
        if claims.iat > now + LEEWAY_SECONDS {
            return Err(TokenError::Invalid("issued in the future (iat)".into()));
        }
        if claims.jti.is_empty() || claims.client_id.is_empty() {
            return Err(TokenError::Invalid("missing claim jti or client_id".into()));
        }
        let party = match claims.party {
            Some(p) => Some(p.parse().map_err(|_| TokenError::Party)?),
            None => None,
        };
        Ok(Grant {
            issuer: claims.iss,
            subject: claims.sub,
            scopes: claims.scope.split_whitespace().map(str::to_owned).collect(),
            party,
        })
    }
}

/// Refuses a token whose header's `alg` is not one of `allowed`, read from the raw header
/// before anything else looks at the token: `none` and the HMAC algorithms (`HS*`), which no
/// allow-list can name, are refused here as [`TokenError::Algorithm`] rather than left to
/// whatever the JWT library makes of them.
pub(crate) fn check_algorithm(token: &str, allowed: &[Algorithm]) -> Result<(), TokenError> {
    use base64::Engine as _;
    let malformed = || TokenError::Invalid("malformed header".into());
    let header = token.split('.').next().ok_or_else(malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| malformed())?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|_| malformed())?;
    let alg = header
        .get("alg")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(malformed)?;
    if allowed.iter().any(|a| format!("{a:?}") == alg) {
        Ok(())
    } else {
        Err(TokenError::Algorithm)
    }
}

/// The refusal a JWT library error means.
pub(crate) fn refusal(e: &jsonwebtoken::errors::Error) -> TokenError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => TokenError::Expired,
        K::InvalidAudience => TokenError::Audience,
        K::InvalidIssuer => TokenError::UnknownIssuer,
        K::InvalidAlgorithm => TokenError::Algorithm,
        K::InvalidSignature => TokenError::Invalid("bad signature".into()),
        K::ImmatureSignature => TokenError::Invalid("not valid yet (nbf)".into()),
        K::MissingRequiredClaim(c) => TokenError::Invalid(format!("missing claim {c}")),
        _ => TokenError::Invalid("malformed token".into()),
    }
}

impl Grant {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn issuer(origin: &str) -> Issuer {
        let key =
            SigningKey::generate(&format!("{origin}/issuer"), &mut rand::rngs::OsRng).unwrap();
        Issuer::new(origin, &key).unwrap()
    }

    fn token(i: &Issuer) -> String {
        let party: Party = "GB*ABC".parse().unwrap();
        i.issue(
            "cli",
            Some(&party),
            &["data:write".into()],
            Duration::from_secs(3600),
            NOW,
        )
        .unwrap()
    }

    #[test]
    fn issued_tokens_validate_with_scopes_and_party() {
        let i = issuer("node.example");
        let g = i.validate(&token(&i), NOW + 10).unwrap();
        assert!(g.has_scope("data:write"));
        assert!(!g.has_scope("usage:read"));
        assert_eq!(g.party.unwrap().to_string(), "GB*ABC");
    }

    #[test]
    fn expired_foreign_and_tampered_tokens_are_refused() {
        let i = issuer("node.example");
        let t = token(&i);
        assert_eq!(
            i.validate(&t, NOW + 3600 + LEEWAY_SECONDS + 1),
            Err(TokenError::Expired)
        );
        // Same origin, another key: the signature fails.
        assert!(issuer("node.example").validate(&t, NOW).is_err());
        // Another node's token: wrong audience and issuer.
        assert!(issuer("other.example").validate(&t, NOW).is_err());
        // Change the payload, keep the signature.
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        let payload = URL_SAFE_NO_PAD.decode(&parts[1]).unwrap();
        let forged = String::from_utf8(payload)
            .unwrap()
            .replace("GB*ABC", "GB*XYZ");
        parts[1] = URL_SAFE_NO_PAD.encode(forged);
        assert!(i.validate(&parts.join("."), NOW).is_err());
    }

    #[test]
    fn none_hmac_and_untyped_tokens_are_refused() {
        let i = issuer("node.example");
        let claims = serde_json::json!({"iss":"node.example","sub":"x","client_id":"x",
            "aud":"node.example","exp":NOW+100,"iat":NOW,"jti":"1","scope":"data:write"});
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        assert_eq!(i.validate(&none, NOW), Err(TokenError::Algorithm));
        let lower = none.replacen(
            &URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#),
            &URL_SAFE_NO_PAD.encode(r#"{"alg":"None","typ":"at+jwt"}"#),
            1,
        );
        assert_eq!(i.validate(&lower, NOW), Err(TokenError::Algorithm));
        let mut h = Header::new(Algorithm::HS256);
        h.typ = Some("at+jwt".into());
        let hs = jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(b"k")).unwrap();
        assert_eq!(i.validate(&hs, NOW), Err(TokenError::Algorithm));
        let untyped =
            jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &i.encoding).unwrap();
        assert_eq!(i.validate(&untyped, NOW), Err(TokenError::NotAccessToken));
    }
}
