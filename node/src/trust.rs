//! Issuers a node trusts besides its built-in one (spec §14.4): `[[issuer]]` tables naming an
//! OAuth 2.0 authorization server (an evfed aggregator, Keycloak, Microsoft Entra ID…) whose
//! JWT access tokens the node accepts, checked exactly like the built-in issuer's (spec §14.2)
//! with that issuer's keys, algorithms and claim mapping.
//!
//! Keys come from the issuer's JWKS (named directly, or through its RFC 8414 / OpenID Connect
//! discovery document), fetched with bounded time and size, cached, and fetched again when a
//! token names an unknown `kid` — at most once per `jwks_refresh` — or when the cache is an
//! hour old.
//!
//! Architecture Invariant: tokens are never logged; `none` and HMAC algorithms cannot even be
//! configured, so no JWKS `oct` key is ever used.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use evfed_spec::ids::Party;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::outgoing::{self, Bounds};
use crate::tokens::{Grant, Issuer, LEEWAY_SECONDS, TokenError};

/// Largest JWKS or discovery document read.
pub const MAX_DOCUMENT_BYTES: u64 = 256 * 1024;
/// Longest wait for an issuer's JWKS or discovery document.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Cached keys older than this are fetched again before use.
pub const MAX_KEY_AGE: Duration = Duration::from_secs(3600);

/// One `[[issuer]]` table of `config.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The `iss` of its tokens (and the `issuer` of its discovery document).
    pub issuer: String,
    /// Further `iss` values accepted for it (Entra ID v1 tokens say
    /// `https://sts.windows.net/{tenant}/`).
    #[serde(default)]
    pub also_iss: Vec<String>,
    /// Its JWKS. Give this or `discovery`.
    #[serde(default, deserialize_with = "opt_http_url")]
    pub jwks_uri: Option<url::Url>,
    /// Its RFC 8414 or OpenID Connect discovery document, which names the JWKS.
    #[serde(default, deserialize_with = "opt_http_url")]
    pub discovery: Option<url::Url>,
    /// The `aud` its tokens must carry. Default: this node's origin.
    #[serde(default)]
    pub audience: Option<String>,
    /// Accepted signature algorithms. Default `["EdDSA"]`; RSA and ECDSA ones only when listed.
    #[serde(default = "default_algorithms", deserialize_with = "algorithms")]
    pub algorithms: Vec<Algorithm>,
    /// Which claim holds the scopes.
    #[serde(default)]
    pub scope_claim: ScopeClaim,
    /// Renames of claim values to evfed scopes, e.g. `{ "Usage.Read" = "usage:read" }`.
    #[serde(default)]
    pub scope_map: BTreeMap<String, String>,
    /// Which claim holds the party (CC*PID).
    #[serde(default = "default_party_claim")]
    pub party_claim: String,
    /// Also accept header `typ: JWT` (Entra ID and Keycloak do not send `at+jwt`).
    #[serde(default)]
    pub accept_jwt_typ: bool,
    /// Shortest pause between two JWKS fetches for unknown `kid`s.
    #[serde(default = "default_refresh", deserialize_with = "duration")]
    pub jwks_refresh: Duration,
}

/// Where an issuer puts the scopes of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeClaim {
    /// `scope`: one space-separated string (RFC 9068).
    #[default]
    Scope,
    /// `scp`: a space-separated string or an array (Entra ID delegated tokens, Okta).
    Scp,
    /// `roles`: an array of application roles (Entra ID client-credentials tokens).
    Roles,
}

/// Every issuer a node trusts besides its built-in one.
#[derive(Debug, Default)]
pub struct Trusted {
    issuers: Vec<External>,
}

/// Why the cached keys could not decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The token is refused.
    Token(TokenError),
    /// The token names a key not cached: fetch the issuer's keys (blocking) and try again.
    NeedKeys,
}

struct External {
    config: IssuerConfig,
    audience: String,
    source: Source,
    cache: Mutex<Cache>,
}

/// Where an issuer's keys come from.
enum Source {
    /// Its JWKS, over HTTP.
    Remote(outgoing::Client),
    /// A function in this process (an aggregator's own authorization server).
    Local(LocalKeys),
}

/// The Ed25519 public keys (`kid`, 32 bytes) of an issuer in the same process, read when a
/// token names a key not cached (blocking: it may read files).
pub type LocalKeys = Arc<dyn Fn() -> Result<Vec<(String, [u8; 32])>, String> + Send + Sync>;

/// An issuer living in the same process as the node, e.g. the authorization server of the
/// aggregator embedding it: EdDSA only, `typ: at+jwt` only, `scope` and `party` claims, keys
/// from [`LocalKeys`] instead of a JWKS fetched over HTTP.
pub struct LocalIssuer {
    /// The `iss` of its tokens.
    pub issuer: String,
    /// The `aud` its tokens must carry (the node's origin).
    pub audience: String,
    pub keys: LocalKeys,
}

impl std::fmt::Debug for LocalIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalIssuer")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

#[derive(Default)]
struct Cache {
    keys: Vec<(Option<String>, Option<String>, DecodingKey)>,
    fetched: Option<Instant>,
    tried: Option<Instant>,
}

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("{0}")]
    Http(String),
    #[error("{0}")]
    Document(String),
}

impl std::fmt::Debug for External {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("External")
            .field("issuer", &self.config.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl IssuerConfig {
    /// Start-up checks, said so that the operator knows what to change.
    pub fn check(&self) -> Result<(), String> {
        match (&self.jwks_uri, &self.discovery) {
            (Some(_), None) | (None, Some(_)) => {}
            _ => {
                return Err(format!(
                    "[[issuer]] {}: give exactly one of `jwks_uri` and `discovery`",
                    self.issuer
                ));
            }
        }
        if self.algorithms.is_empty() {
            return Err(format!(
                "[[issuer]] {}: `algorithms` must name at least one, e.g. [\"EdDSA\"]",
                self.issuer
            ));
        }
        if self.jwks_refresh < Duration::from_secs(1) {
            return Err(format!(
                "[[issuer]] {}: `jwks_refresh` must be at least \"1s\"",
                self.issuer
            ));
        }
        Ok(())
    }
}

impl Trusted {
    /// The issuers of `configs`, for a node of `origin`. Fetches nothing yet; fails only when
    /// the HTTP client for their keys cannot be made.
    pub fn new(configs: &[IssuerConfig], origin: &str) -> Result<Self, outgoing::Error> {
        if configs.is_empty() {
            return Ok(Self::default());
        }
        // Whole fetches within FETCH_TIMEOUT, MAX_DOCUMENT_BYTES, no redirects.
        let http = outgoing::Client::new(Bounds::total(FETCH_TIMEOUT, MAX_DOCUMENT_BYTES))?;
        let issuers = configs
            .iter()
            .map(|c| External {
                audience: c.audience.clone().unwrap_or_else(|| origin.to_owned()),
                source: Source::Remote(http.clone()),
                config: c.clone(),
                cache: Mutex::new(Cache::default()),
            })
            .collect();
        Ok(Self { issuers })
    }

    /// Also trusts `local`, checked like a configured issuer that accepts only EdDSA,
    /// `typ: at+jwt`, `scope` and `party`; its keys are read again (at most once a second)
    /// when a token names one not cached.
    pub fn add_local(&mut self, local: LocalIssuer) {
        let config = IssuerConfig {
            issuer: local.issuer,
            also_iss: Vec::new(),
            jwks_uri: None,
            discovery: None,
            audience: Some(local.audience.clone()),
            algorithms: default_algorithms(),
            scope_claim: ScopeClaim::Scope,
            scope_map: BTreeMap::new(),
            party_claim: default_party_claim(),
            accept_jwt_typ: false,
            jwks_refresh: Duration::from_secs(1),
        };
        self.issuers.push(External {
            config,
            audience: local.audience,
            source: Source::Local(local.keys),
            cache: Mutex::new(Cache::default()),
        });
    }

    /// Validates `token` at `now`: with the built-in issuer unless its `iss` names a configured
    /// one. With `fetch`, this may block on the issuer's JWKS (call it off the executor).
    pub fn validate(
        &self,
        builtin: &Issuer,
        token: &str,
        now: u64,
        fetch: bool,
    ) -> Result<Grant, Refusal> {
        let iss = unverified_iss(token);
        let external = iss.as_deref().and_then(|iss| {
            self.issuers
                .iter()
                .find(|e| e.config.issuer == iss || e.config.also_iss.iter().any(|a| a == iss))
        });
        match external {
            Some(e) => e.validate(token, now, fetch),
            None => builtin.validate(token, now).map_err(Refusal::Token),
        }
    }
}

impl External {
    fn validate(&self, token: &str, now: u64, fetch: bool) -> Result<Grant, Refusal> {
        let invalid = |s: &str| Refusal::Token(TokenError::Invalid(s.to_owned()));
        crate::tokens::check_algorithm(token, &self.config.algorithms).map_err(Refusal::Token)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed header"))?;
        match header.typ.as_deref() {
            Some("at+jwt" | "application/at+jwt") => {}
            Some("JWT") | None if self.config.accept_jwt_typ => {}
            _ => return Err(Refusal::Token(TokenError::NotAccessToken)),
        }
        if !self.config.algorithms.contains(&header.alg) {
            return Err(Refusal::Token(TokenError::Algorithm));
        }
        let key = match self.key(header.kid.as_deref(), header.alg, true) {
            Some(k) => k,
            None if fetch => {
                self.refresh();
                // Keys older than an hour still serve while the issuer cannot be reached.
                self.key(header.kid.as_deref(), header.alg, false)
                    .ok_or_else(|| invalid("signed with a key the issuer does not publish"))?
            }
            None => return Err(Refusal::NeedKeys),
        };
        let mut v = Validation::new(header.alg);
        v.algorithms = vec![header.alg];
        v.leeway = LEEWAY_SECONDS;
        v.validate_nbf = true;
        v.set_audience(&[&self.audience]);
        let mut issuers = vec![self.config.issuer.as_str()];
        issuers.extend(self.config.also_iss.iter().map(String::as_str));
        v.set_issuer(&issuers);
        v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &v)
            .map_err(|e| Refusal::Token(crate::tokens::refusal(&e)))?
            .claims;
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        if exp + LEEWAY_SECONDS <= now {
            return Err(Refusal::Token(TokenError::Expired));
        }
        match claims.get("iat").and_then(Value::as_u64) {
            Some(iat) if iat <= now + LEEWAY_SECONDS => {}
            _ => return Err(invalid("issued in the future or without iat")),
        }
        let client = ["client_id", "azp", "appid"]
            .iter()
            .find_map(|c| claims.get(*c).and_then(Value::as_str));
        if client.is_none_or(str::is_empty) {
            return Err(invalid("missing claim client_id"));
        }
        let party = match claims.get(&self.config.party_claim) {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(
                p.parse::<Party>()
                    .map_err(|_| Refusal::Token(TokenError::Party))?,
            ),
            Some(_) => return Err(Refusal::Token(TokenError::Party)),
        };
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(Grant {
            issuer: self.config.issuer.clone(),
            subject,
            scopes: self.scopes(&claims),
            party,
        })
    }

    fn scopes(&self, claims: &Map<String, Value>) -> Vec<String> {
        let name = match self.config.scope_claim {
            ScopeClaim::Scope => "scope",
            ScopeClaim::Scp => "scp",
            ScopeClaim::Roles => "roles",
        };
        let raw: Vec<&str> = match claims.get(name) {
            Some(Value::String(s)) if self.config.scope_claim != ScopeClaim::Roles => {
                s.split_whitespace().collect()
            }
            Some(Value::Array(a)) if self.config.scope_claim != ScopeClaim::Scope => {
                a.iter().filter_map(Value::as_str).collect()
            }
            _ => Vec::new(),
        };
        raw.into_iter()
            .map(|s| self.config.scope_map.get(s).map_or(s, String::as_str))
            .map(str::to_owned)
            .collect()
    }

    /// The cached key for `kid` (the only key when the token names none); with `fresh`, none
    /// from a cache older than [`MAX_KEY_AGE`].
    fn key(&self, kid: Option<&str>, alg: Algorithm, fresh: bool) -> Option<DecodingKey> {
        let cache = self.cache.lock().ok()?;
        if fresh && cache.fetched.is_none_or(|t| t.elapsed() > MAX_KEY_AGE) {
            return None;
        }
        let alg = format!("{alg:?}");
        let usable = |(_, a, _): &&(Option<String>, Option<String>, DecodingKey)| {
            a.as_deref().is_none_or(|a| a == alg)
        };
        match kid {
            Some(kid) => cache
                .keys
                .iter()
                .filter(usable)
                .find(|(k, _, _)| k.as_deref() == Some(kid)),
            None if cache.keys.len() == 1 => cache.keys.first(),
            None => None,
        }
        .map(|(_, _, key)| key.clone())
    }

    /// Fetches the JWKS again unless that was tried less than `jwks_refresh` ago.
    fn refresh(&self) {
        {
            let Ok(mut cache) = self.cache.lock() else {
                return;
            };
            if cache
                .tried
                .is_some_and(|t| t.elapsed() < self.config.jwks_refresh)
            {
                return;
            }
            cache.tried = Some(Instant::now());
        }
        match self.fetch_keys() {
            Ok(keys) => {
                tracing::info!(issuer = %self.config.issuer, keys = keys.len(), "issuer keys fetched");
                if let Ok(mut cache) = self.cache.lock() {
                    cache.keys = keys;
                    cache.fetched = Some(Instant::now());
                }
            }
            Err(e) => {
                tracing::warn!(issuer = %self.config.issuer, error = %e, "issuer keys not fetched")
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn fetch_keys(&self) -> Result<Vec<(Option<String>, Option<String>, DecodingKey)>, FetchError> {
        if let Source::Local(keys) = &self.source {
            return Ok(keys()
                .map_err(FetchError::Document)?
                .into_iter()
                .map(|(kid, public)| {
                    (
                        Some(kid),
                        Some(format!("{:?}", Algorithm::EdDSA)),
                        DecodingKey::from_ed_der(&public),
                    )
                })
                .collect());
        }
        let jwks_uri = match (&self.config.jwks_uri, &self.config.discovery) {
            (Some(u), _) => u.clone(),
            (None, Some(d)) => {
                let doc = self.fetch_json(d)?;
                if doc.get("issuer").and_then(Value::as_str) != Some(self.config.issuer.as_str()) {
                    return Err(FetchError::Document(format!(
                        "{d} names another issuer than {}",
                        self.config.issuer
                    )));
                }
                doc.get("jwks_uri")
                    .and_then(Value::as_str)
                    .and_then(|u| url::Url::parse(u).ok())
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or_else(|| FetchError::Document(format!("{d} has no http(s) jwks_uri")))?
            }
            (None, None) => return Err(FetchError::Document("no jwks_uri".into())),
        };
        let doc = self.fetch_json(&jwks_uri)?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| FetchError::Document(format!("{jwks_uri} is not a JWKS")))?;
        Ok(keys
            .iter()
            .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
            .filter(|jwk| {
                !matches!(
                    jwk.algorithm,
                    jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_)
                ) && !matches!(
                    jwk.common.public_key_use,
                    Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
                )
            })
            .filter_map(|jwk| {
                let key = DecodingKey::from_jwk(&jwk).ok()?;
                let alg = jwk.common.key_algorithm.map(|a| format!("{a:?}"));
                Some((jwk.common.key_id, alg, key))
            })
            .collect())
    }

    fn fetch_json(&self, url: &url::Url) -> Result<Value, FetchError> {
        let Source::Remote(http) = &self.source else {
            return Err(FetchError::Http(
                "keys of a local issuer are not fetched".into(),
            ));
        };
        let res = http
            .get(url)
            .header(outgoing::header::ACCEPT, "application/json")
            .send()
            .map_err(|e| FetchError::Http(e.to_string()))?;
        if !res.status().is_success() {
            return Err(FetchError::Http(format!("{url}: status {}", res.status())));
        }
        let body = res.body().map_err(|e| match e {
            outgoing::Error::TooLarge { .. } => {
                FetchError::Document(format!("{url} is larger than {MAX_DOCUMENT_BYTES} bytes"))
            }
            e => FetchError::Http(e.to_string()),
        })?;
        serde_json::from_slice(&body).map_err(|e| FetchError::Document(format!("{url}: {e}")))
    }
}

/// The `iss` claim, unverified: only to choose which issuer's checks apply.
fn unverified_iss(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    #[derive(Deserialize)]
    struct Iss {
        iss: String,
    }
    serde_json::from_slice::<Iss>(&bytes).ok().map(|i| i.iss)
}

fn default_algorithms() -> Vec<Algorithm> {
    vec![Algorithm::EdDSA]
}

fn default_party_claim() -> String {
    "party".to_owned()
}

fn default_refresh() -> Duration {
    Duration::from_secs(60)
}

fn algorithms<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Algorithm>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|a| match a.as_str() {
            "EdDSA" => Ok(Algorithm::EdDSA),
            "RS256" => Ok(Algorithm::RS256),
            "RS384" => Ok(Algorithm::RS384),
            "RS512" => Ok(Algorithm::RS512),
            "PS256" => Ok(Algorithm::PS256),
            "PS384" => Ok(Algorithm::PS384),
            "PS512" => Ok(Algorithm::PS512),
            "ES256" => Ok(Algorithm::ES256),
            "ES384" => Ok(Algorithm::ES384),
            other => Err(serde::de::Error::custom(format!(
                "algorithm `{other}` is not accepted: use EdDSA, RS256/384/512, PS256/384/512, \
                 ES256 or ES384 (never none or HMAC)"
            ))),
        })
        .collect()
}

fn opt_http_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<url::Url>, D::Error> {
    let s = String::deserialize(d)?;
    match url::Url::parse(&s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(Some(u)),
        _ => Err(serde::de::Error::custom(format!(
            "`{s}` is not an http(s) URL such as \"https://login.example/.well-known/openid-configuration\""
        ))),
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    crate::config::parse_duration(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_tables_parse_and_refuse_none_and_hmac() {
        let entra = r#"
            issuer = "https://login.microsoftonline.com/t/v2.0"
            also_iss = ["https://sts.windows.net/t/"]
            discovery = "https://login.microsoftonline.com/t/v2.0/.well-known/openid-configuration"
            audience = "api://evfed-camden"
            algorithms = ["RS256"]
            scope_claim = "roles"
            scope_map = { "Usage.Read" = "usage:read" }
            accept_jwt_typ = true
        "#;
        let c: IssuerConfig = toml::from_str(entra).unwrap();
        c.check().unwrap();
        assert_eq!(c.algorithms, [Algorithm::RS256]);
        assert_eq!(c.scope_claim, ScopeClaim::Roles);
        assert_eq!(c.party_claim, "party");
        for bad in ["none", "HS256"] {
            let t = format!("issuer = \"i\"\njwks_uri = \"https://i/j\"\nalgorithms = [\"{bad}\"]");
            assert!(toml::from_str::<IssuerConfig>(&t).is_err(), "{bad}");
        }
        let both = "issuer = \"i\"\njwks_uri = \"https://i/j\"\ndiscovery = \"https://i/d\"";
        assert!(
            toml::from_str::<IssuerConfig>(both)
                .unwrap()
                .check()
                .is_err()
        );
        let typo = "issuer = \"i\"\njwks_uri = \"https://i/j\"\nscope_claims = \"roles\"";
        assert!(toml::from_str::<IssuerConfig>(typo).is_err());
    }

    #[test]
    fn role_claims_map_to_scopes() {
        let c: IssuerConfig = toml::from_str(
            "issuer = \"i\"\njwks_uri = \"https://i/j\"\nscope_claim = \"roles\"\n\
             scope_map = { \"Usage.Read\" = \"usage:read\" }",
        )
        .unwrap();
        let t = Trusted::new(&[c], "node.example").unwrap();
        let claims: Map<String, Value> =
            serde_json::from_str(r#"{"roles":["Usage.Read","Other"],"scope":"admin"}"#).unwrap();
        assert_eq!(t.issuers[0].scopes(&claims), ["usage:read", "Other"]);
    }
}
