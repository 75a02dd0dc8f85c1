//! The harvester's OAuth 2.0 client: `usage:read` tokens for each member's restricted log by the
//! client-credentials grant (`oauth2` crate, `client_secret_basic`, RFC 8707 `resource` = the
//! member's origin), from the aggregator's own authorization server (it is its own client) or a
//! configured one. Cached per member until a minute before they expire. A member the
//! authorization server issues no token for (`invalid_target`: the client is not registered for
//! it) is harvested with its stored `--usage-token`, if any, or not at all.
//!
//! Architecture Invariant: the client secret and the tokens are never logged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    ClientId, ClientSecret, HttpRequest, HttpResponse, RequestTokenError, Scope, TokenResponse,
    TokenUrl,
};
use serde::{Deserialize, Serialize};

use crate::outgoing::{self, Bounds};

/// How long a member the server issues no token for is not asked about again.
const NOT_FOR_MEMBER: Duration = Duration::from_secs(60);
/// Largest token response read.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// `[usage_client]` in `aggregator.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageClientConfig {
    /// The client id registered at the authorization server.
    pub client_id: String,
    /// File holding its secret (mode 0600); relative paths are inside the aggregator directory.
    pub secret_file: PathBuf,
    /// The token endpoint. Default: this aggregator's own, at the address it listens on.
    #[serde(default)]
    pub token_url: Option<url::Url>,
}

/// Tokens for members' restricted logs.
pub struct UsageTokens {
    client_id: String,
    secret: String,
    token_url: String,
    http: outgoing::Client,
    /// Per member origin: its token (none: the server issues none) and until when to use that.
    cache: Mutex<HashMap<String, (Option<String>, Instant)>>,
}

/// Why no token came.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The authorization server issues none for this member.
    #[error("the authorization server issues no token for {0}")]
    NotForMember(String),
    #[error("token request: {0}")]
    Request(String),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SendError(String);

impl std::fmt::Debug for UsageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageTokens")
            .field("client_id", &self.client_id)
            .field("token_url", &self.token_url)
            .finish()
    }
}

impl UsageTokens {
    /// The client of `config`; `own` is this aggregator's token endpoint, used when the config
    /// names none.
    pub fn new(
        config: &UsageClientConfig,
        dir: &Path,
        own: &str,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let path = dir.join(&config.secret_file);
        let secret = evfed_node::embed::read_secret(&path)
            .with_context(|| format!("reading the usage client's secret {}", path.display()))?
            .trim()
            .to_owned();
        let http = outgoing::client(Bounds::total(timeout, MAX_RESPONSE_BYTES))
            .context("building the token client")?;
        Ok(Self {
            client_id: config.client_id.clone(),
            secret,
            token_url: config
                .token_url
                .as_ref()
                .map_or_else(|| own.to_owned(), ToString::to_string),
            http,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// A `usage:read` token for the member of `origin`, cached or fresh.
    pub fn token_for(&self, origin: &str) -> Result<String, ClientError> {
        if let Ok(cache) = self.cache.lock()
            && let Some((token, until)) = cache.get(origin)
            && Instant::now() < *until
        {
            return token
                .clone()
                .ok_or_else(|| ClientError::NotForMember(origin.to_owned()));
        }
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.secret.clone()))
            .set_token_uri(
                TokenUrl::new(self.token_url.clone())
                    .map_err(|e| ClientError::Request(e.to_string()))?,
            );
        let send = |req: HttpRequest| self.send(req);
        let answer = client
            .exchange_client_credentials()
            .add_scope(Scope::new("usage:read".into()))
            .add_extra_param("resource", origin)
            .request(&send)
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r)
                    if *r.error() == BasicErrorResponseType::Extension("invalid_target".into()) =>
                {
                    if let Ok(mut cache) = self.cache.lock() {
                        cache.insert(origin.to_owned(), (None, Instant::now() + NOT_FOR_MEMBER));
                    }
                    ClientError::NotForMember(origin.to_owned())
                }
                RequestTokenError::ServerResponse(r) => {
                    ClientError::Request(format!("refused: {}", r.error()))
                }
                other => ClientError::Request(other.to_string()),
            })?;
        let token = answer.access_token().secret().clone();
        let lifetime = answer
            .expires_in()
            .unwrap_or(Duration::from_secs(300))
            .saturating_sub(Duration::from_secs(60));
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(
                origin.to_owned(),
                (Some(token.clone()), Instant::now() + lifetime),
            );
        }
        Ok(token)
    }

    /// Forgets the token of `origin` (the member refused it).
    pub fn forget(&self, origin: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(origin);
        }
    }

    /// Sends an `oauth2` request with the aggregator's bounded client and rebuilds the answer.
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, SendError> {
        let err = |e: &dyn std::fmt::Display| SendError(e.to_string());
        let (parts, body) = req.into_parts();
        let url = url::Url::parse(&parts.uri.to_string()).map_err(|e| err(&e))?;
        let mut rb = self.http.request(parts.method, &url).body(body);
        for (name, value) in &parts.headers {
            let value = value.to_str().map_err(|e| err(&e))?;
            rb = rb.header(name.clone(), value);
        }
        let res = rb.send().map_err(|e| err(&e))?;
        let mut out = oauth2::http::Response::builder().status(res.status().as_u16());
        for (name, value) in res.headers() {
            out = out.header(name.as_str(), value.as_bytes());
        }
        let bytes = res.body().map_err(|e| err(&e))?;
        out.body(bytes).map_err(|e| err(&e))
    }
}
