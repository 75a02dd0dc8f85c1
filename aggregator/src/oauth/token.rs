//! The token endpoint's logic (RFC 6749 §4.4 with RFC 7523 client assertions and RFC 8707
//! resource indicators): authenticate the client, check the requested scope and resource,
//! sign an RFC 9068 access token. Blocking (it reads the store): run it off the executor.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use evfed_node::embed::tokens::AccessToken;
use evfed_spec::note::SigningKey;

use super::keys::Keys;
use super::{
    AuthServer, Client, Credential, MAX_ASSERTION_SECONDS, MAX_REMEMBERED_ASSERTIONS,
    TOKEN_TTL_SECONDS, secret_hash,
};

/// The `client_assertion_type` of RFC 7523 client authentication.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Allowed clock skew for client assertions.
const LEEWAY_SECONDS: u64 = 60;

/// A token request as received: the `Authorization` header and the form's parameters.
#[derive(Debug)]
pub struct TokenRequest {
    pub authorization: Option<String>,
    pub form: Vec<(String, String)>,
}

/// A successful answer (RFC 6749 §5.1).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds.
    pub expires_in: u64,
    pub scope: String,
}

/// An RFC 6749 §5.2 error; `Display` is the `error_description`.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidClient(String),
    #[error("{0}")]
    UnsupportedGrantType(String),
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    InvalidTarget(String),
    /// Logged, never described to the client.
    #[error("{0}")]
    Server(String),
}

impl OAuthError {
    /// The `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient(_) => "invalid_client",
            OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::InvalidTarget(_) => "invalid_target",
            OAuthError::Server(_) => "server_error",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            OAuthError::InvalidClient(_) => 401,
            OAuthError::Server(_) => 500,
            OAuthError::InvalidRequest(_)
            | OAuthError::UnsupportedGrantType(_)
            | OAuthError::InvalidScope(_)
            | OAuthError::InvalidTarget(_) => 400,
        }
    }
}

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    exp: u64,
    #[serde(default)]
    jti: Option<String>,
}

/// Signs an RFC 9068 access token with `key` at `now`, through the node's one token signer.
pub fn sign(key: &SigningKey, token: &AccessToken<'_>, now: u64) -> Result<String, String> {
    evfed_node::embed::tokens::sign_access_token(key, token, now).map_err(|e| e.to_string())
}

/// Answers a token request at `now` (Unix seconds).
pub fn grant(
    server: &AuthServer,
    req: &TokenRequest,
    now: u64,
) -> Result<TokenResponse, OAuthError> {
    let mut form: HashMap<&str, &str> = HashMap::new();
    for (k, v) in &req.form {
        if form.insert(k, v).is_some() {
            return Err(OAuthError::InvalidRequest(format!(
                "parameter {k} is repeated"
            )));
        }
    }
    match form.get("grant_type") {
        None => {
            return Err(OAuthError::InvalidRequest("grant_type is missing".into()));
        }
        Some(&"client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::UnsupportedGrantType(format!(
                "grant_type {other:?} is not supported; use client_credentials"
            )));
        }
    }
    let client = authenticate(server, req.authorization.as_deref(), &form, now)?;
    let scopes = match form.get("scope") {
        None => client.scopes.clone(),
        Some(s) => {
            let asked: Vec<String> = s.split(' ').map(str::to_owned).collect();
            if let Some(bad) = asked.iter().find(|a| !client.scopes.contains(a)) {
                return Err(OAuthError::InvalidScope(format!(
                    "scope {bad:?} is not granted to this client"
                )));
            }
            asked
        }
    };
    let audience = match (form.get("resource"), client.audiences.as_slice()) {
        (Some(r), _) if client.audiences.iter().any(|a| a == r) => (*r).to_owned(),
        (Some(r), _) => {
            return Err(OAuthError::InvalidTarget(format!(
                "this client may not ask tokens for resource {r:?}"
            )));
        }
        (None, [only]) => only.clone(),
        (None, _) => {
            return Err(OAuthError::InvalidTarget(
                "name the node's origin with the resource parameter".into(),
            ));
        }
    };
    let keys = Keys::load(&server.dir).map_err(|e| OAuthError::Server(format!("{e:#}")))?;
    let scope = scopes.join(" ");
    let access_token = sign(
        &keys.current,
        &AccessToken {
            issuer: &server.issuer,
            subject: &client.id,
            audience: &audience,
            scope: &scope,
            party: client.party.as_deref(),
            ttl: Duration::from_secs(TOKEN_TTL_SECONDS),
        },
        now,
    )
    .map_err(OAuthError::Server)?;
    tracing::info!(client = %client.id, aud = %audience, scope = %scope, "access token issued");
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: TOKEN_TTL_SECONDS,
        scope,
    })
}

/// The client, authenticated by exactly one method.
fn authenticate(
    server: &AuthServer,
    authorization: Option<&str>,
    form: &HashMap<&str, &str>,
    now: u64,
) -> Result<Client, OAuthError> {
    let basic = authorization.and_then(|h| {
        h.strip_prefix("Basic ")
            .or_else(|| h.strip_prefix("basic "))
    });
    let assertion = form.get("client_assertion");
    let client = match (basic, assertion) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::InvalidRequest(
                "use one client authentication method, not two".into(),
            ));
        }
        (Some(b), None) => by_secret(server, b)?,
        (None, Some(a)) => {
            if form.get("client_assertion_type") != Some(&JWT_BEARER) {
                return Err(OAuthError::InvalidClient(format!(
                    "client_assertion_type must be {JWT_BEARER}"
                )));
            }
            by_assertion(server, a, now)?
        }
        (None, None) if form.contains_key("client_secret") => {
            return Err(OAuthError::InvalidClient(
                "client_secret_post is not supported; use client_secret_basic".into(),
            ));
        }
        (None, None) => {
            return Err(OAuthError::InvalidClient(
                "authenticate with client_secret_basic or private_key_jwt".into(),
            ));
        }
    };
    match form.get("client_id") {
        Some(id) if *id != client.id => Err(OAuthError::InvalidClient(
            "client_id is not the authenticated client".into(),
        )),
        _ => Ok(client),
    }
}

fn lookup(server: &AuthServer, id: &str) -> Result<Option<Client>, OAuthError> {
    server
        .store
        .client(id)
        .map_err(|e| OAuthError::Server(e.to_string()))
}

fn by_secret(server: &AuthServer, basic: &str) -> Result<Client, OAuthError> {
    let refused = || OAuthError::InvalidClient("client authentication failed".into());
    let decoded = STANDARD.decode(basic.trim()).map_err(|_| refused())?;
    let text = String::from_utf8(decoded).map_err(|_| refused())?;
    let (id, secret) = text.split_once(':').ok_or_else(refused)?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded.
    let decode = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let (id, secret) = (decode(id), decode(secret));
    let client = lookup(server, &id)?.ok_or_else(refused)?;
    let Credential::SecretSha256(want) = &client.credential else {
        return Err(OAuthError::InvalidClient(
            "this client authenticates with private_key_jwt".into(),
        ));
    };
    let given = secret_hash(&secret);
    let same = given
        .iter()
        .zip(want)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0;
    if same { Ok(client) } else { Err(refused()) }
}

fn by_assertion(server: &AuthServer, assertion: &str, now: u64) -> Result<Client, OAuthError> {
    let refused = |why: &str| OAuthError::InvalidClient(format!("client assertion: {why}"));
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| refused("malformed"))?;
    if header.alg != Algorithm::EdDSA {
        return Err(refused("alg must be EdDSA"));
    }
    let id = unverified_claim(assertion, "iss").ok_or_else(|| refused("no iss"))?;
    let client = lookup(server, &id)?.ok_or_else(|| refused("unknown client"))?;
    let Credential::Ed25519(public) = &client.credential else {
        return Err(refused(
            "this client authenticates with client_secret_basic",
        ));
    };
    let mut v = Validation::new(Algorithm::EdDSA);
    v.leeway = LEEWAY_SECONDS;
    v.validate_nbf = true;
    v.set_audience(&[server.issuer.as_str(), server.token_endpoint().as_str()]);
    v.set_issuer(&[client.id.as_str()]);
    v.sub = Some(client.id.clone());
    v.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    let claims =
        jsonwebtoken::decode::<AssertionClaims>(assertion, &DecodingKey::from_ed_der(public), &v)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                refused(match e.kind() {
                    K::ExpiredSignature => "expired",
                    K::InvalidAudience => "aud must be the issuer or the token endpoint",
                    K::InvalidSignature => "bad signature",
                    K::InvalidSubject | K::InvalidIssuer => "iss and sub must be the client id",
                    _ => "invalid",
                })
            })?
            .claims;
    if claims.exp > now + MAX_ASSERTION_SECONDS {
        return Err(refused("lives longer than 10 minutes"));
    }
    let jti = claims
        .jti
        .filter(|j| !j.is_empty())
        .ok_or_else(|| refused("jti is missing"))?;
    let mut seen = server
        .seen
        .lock()
        .map_err(|_| OAuthError::Server("replay memory poisoned".into()))?;
    seen.retain(|_, exp| *exp + LEEWAY_SECONDS > now);
    if seen.len() >= MAX_REMEMBERED_ASSERTIONS {
        return Err(OAuthError::Server(
            "too many client assertions remembered".into(),
        ));
    }
    if seen.insert((client.id.clone(), jti), claims.exp).is_some() {
        return Err(refused("jti was already used"));
    }
    Ok(client)
}

/// A string claim, unverified: only to find which client's key to verify with.
fn unverified_claim(jwt: &str, name: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get(name)?.as_str().map(str::to_owned)
}
