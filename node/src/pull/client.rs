//! The OCPI client of a pull: discovery (versions → version details → module URLs, or a
//! module URL given directly), the OCPI token header, retried fetches of one page, the
//! response envelope, and the pagination headers (`Link`, `X-Total-Count`, `X-Limit`), the
//! `Link` judged against the module's own URL (`pull::link`).
//!
//! Every fetch is bounded: requests go through `crate::outgoing` (a connect and a
//! whole-request timeout, a body size limit, at most five redirects), and a failed one is tried
//! again a bounded number of times with exponential backoff.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use evfed_spec::time::DateTime;
use serde_json::Value;
use url::Url;

use super::Stop;
pub use super::link::{Link, judge_link, offset_url};
use super::report::Deviation;
use crate::outgoing::header::{ACCEPT, AUTHORIZATION, HeaderMap, LINK};
pub use crate::outgoing::redact;
use crate::outgoing::{self, Bounds, Reach, Timeout};

/// Counts of deviations, kept by whoever asked for the fetch.
pub type Counts = BTreeMap<Deviation, u64>;

/// The OCPI modules a pull reads, in the order it reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Module {
    Tariffs,
    Locations,
    Sessions,
    Cdrs,
}

/// How fetches are bounded.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Whole-request limit (connect, headers and body).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Largest response body read, in bytes.
    pub max_body_bytes: usize,
    /// Retries of one request after a transient failure.
    pub retries: u32,
    /// First backoff; doubled per retry up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

/// How the token goes into `Authorization`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStyle {
    /// OCPI 2.2.x: `Token <base64 of the token>`.
    Base64,
    /// OCPI 2.1.1 (and 2.2 senders that never decode): `Token <token>`.
    Plain,
}

/// What a starting URL led to.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// The OCPI version, e.g. `2.2.1`.
    pub version: String,
    /// The sender modules found, in pull order.
    pub endpoints: Vec<(Module, Url)>,
}

/// One page as received.
#[derive(Debug)]
pub struct Page {
    /// The objects of the page (`data`).
    pub items: Vec<Value>,
    /// The `Link` header, judged against the module URL.
    pub link: Link,
    /// `X-Total-Count`.
    pub total: Option<u64>,
    /// `X-Limit`.
    pub limit: Option<u64>,
    /// The envelope's `timestamp`.
    pub timestamp: Option<DateTime>,
}

/// Why a fetch failed. `Display` names the URL without its query.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {detail} (gave up after {attempts} attempts)")]
    Transient {
        url: String,
        detail: String,
        attempts: u32,
    },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error(
        "{url}: the sender refused the token (HTTP {status}); it was sent base64-encoded as \
         OCPI 2.2.1 requires, and as sent"
    )]
    Unauthorized { url: String, status: u16 },
    #[error("{url}: TLS failed: {detail}")]
    Tls { url: String, detail: String },
    #[error("{url}: OCPI status_code {code}: {message}")]
    Envelope {
        url: String,
        code: u64,
        message: String,
    },
    #[error("{url}: {detail}")]
    Invalid { url: String, detail: String },
    #[error("stopped")]
    Stopped,
}

/// An OCPI client for one sender.
#[derive(Debug)]
pub struct Client {
    http: outgoing::Client,
    token: Option<String>,
    style: TokenStyle,
    /// Has the plain token been tried after the base64 one was refused?
    plain_tried: bool,
    /// Plain was tried and has not yet succeeded (then it is counted once).
    plain_pending: bool,
    opts: ClientOptions,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_body_bytes: 32 * 1024 * 1024,
            retries: 4,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl Module {
    pub const ALL: [Module; 4] = [
        Module::Tariffs,
        Module::Locations,
        Module::Sessions,
        Module::Cdrs,
    ];

    /// The OCPI module identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            Module::Tariffs => "tariffs",
            Module::Locations => "locations",
            Module::Sessions => "sessions",
            Module::Cdrs => "cdrs",
        }
    }

    pub fn from_identifier(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The module a URL names by its last path segment, e.g. `…/2.2.1/locations/`.
    pub fn of_url(url: &Url) -> Option<Self> {
        url.path()
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .and_then(Self::from_identifier)
    }
}

impl std::str::FromStr for Module {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::from_identifier(s).ok_or_else(|| {
            format!("`{s}` is not a module this node pulls (tariffs, locations, sessions, cdrs)")
        })
    }
}

impl<'de> serde::Deserialize<'de> for Module {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <String as serde::Deserialize>::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Client {
    /// A client sending `token` (if any) in the style of `version` (see [`token_style`]).
    pub fn new(token: Option<String>, opts: ClientOptions) -> Result<Self, FetchError> {
        let http = outgoing::Client::new(Bounds {
            connect_timeout: opts.connect_timeout,
            timeout: Timeout::Total(opts.timeout),
            max_body_bytes: opts.max_body_bytes as u64,
            redirects: 5,
            reach: Reach::Any,
        })
        .map_err(|e| FetchError::Invalid {
            url: String::new(),
            detail: e.to_string(),
        })?;
        Ok(Self {
            http,
            token,
            style: TokenStyle::Base64,
            plain_tried: false,
            plain_pending: false,
            opts,
        })
    }

    /// Uses `version`'s token style, unless the sender already showed it wants the token plain.
    fn adopt(&mut self, version: &str) {
        if !self.plain_tried {
            self.style = token_style(version);
        }
    }

    /// Follows `url` to the sender modules: a versions list (the highest of 2.2.1, 2.2, 2.1.1
    /// and 2.1 is chosen), a version-details document, or a module URL (by its last path
    /// segment), which is used directly and counted as [`Deviation::NoVersionsEndpoint`].
    pub fn discover(
        &mut self,
        url: &Url,
        counts: &mut Counts,
        stop: &Stop,
    ) -> Result<Discovered, FetchError> {
        if let Some(module) = Module::of_url(url) {
            counts_add(counts, Deviation::NoVersionsEndpoint);
            let version = version_in_path(url).unwrap_or("2.2.1").to_owned();
            self.adopt(&version);
            return Ok(Discovered {
                version,
                endpoints: vec![(module, url.clone())],
            });
        }
        self.adopt(version_in_path(url).unwrap_or("2.2.1"));
        let (data, _) = self.get(url, counts, stop)?;
        let details_url = match &data {
            Value::Array(versions) => {
                let (version, found) =
                    choose_version(versions).ok_or_else(|| FetchError::Invalid {
                        url: redact(url),
                        detail: "the versions list offers none of 2.2.1, 2.2, 2.1.1, 2.1".into(),
                    })?;
                self.adopt(&version);
                Some(join(url, &found)?)
            }
            Value::Object(_) => None,
            _ => {
                return Err(FetchError::Invalid {
                    url: redact(url),
                    detail: "data is neither a versions list nor version details".into(),
                });
            }
        };
        let details = match &details_url {
            Some(u) => self.get(u, counts, stop)?.0,
            None => data,
        };
        let base = details_url.as_ref().unwrap_or(url);
        let version = details["version"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| FetchError::Invalid {
                url: redact(base),
                detail: "version details without `version`".into(),
            })?;
        self.adopt(&version);
        let mut endpoints = Vec::new();
        for e in details["endpoints"].as_array().into_iter().flatten() {
            let Some(module) = e["identifier"].as_str().and_then(Module::from_identifier) else {
                continue;
            };
            // OCPI 2.2.x names the role; 2.1.1 has none (a CPO's modules are its sender side).
            if e["role"].as_str().is_some_and(|r| r != "SENDER") {
                continue;
            }
            let Some(u) = e["url"].as_str() else { continue };
            if endpoints.iter().all(|(m, _)| *m != module) {
                endpoints.push((module, join(base, u)?));
            }
        }
        endpoints.sort_by_key(|(m, _)| *m);
        Ok(Discovered { version, endpoints })
    }

    /// Fetches one page of a module. `module_url` is what a `Link` is judged against.
    pub fn page(
        &mut self,
        url: &Url,
        module_url: &Url,
        counts: &mut Counts,
        stop: &Stop,
    ) -> Result<Page, FetchError> {
        let (data, headers) = self.get(url, counts, stop)?;
        let timestamp = headers.timestamp;
        let items = match data {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            _ => {
                return Err(FetchError::Invalid {
                    url: redact(url),
                    detail: "data is not a list".into(),
                });
            }
        };
        Ok(Page {
            items,
            link: judge_link(headers.link.as_deref(), url, module_url),
            total: headers.total,
            limit: headers.limit,
            timestamp,
        })
    }

    /// One GET with retries; the envelope's `data` and the headers that matter.
    fn get(
        &mut self,
        url: &Url,
        counts: &mut Counts,
        stop: &Stop,
    ) -> Result<(Value, Headers), FetchError> {
        let mut attempt = 0u32;
        loop {
            if stop.stopped() {
                return Err(FetchError::Stopped);
            }
            attempt += 1;
            let result = self.get_once(url, counts);
            let transient = match result {
                Ok(ok) => {
                    if self.plain_pending {
                        self.plain_pending = false;
                        counts_add(counts, Deviation::TokenPlain);
                    }
                    return Ok(ok);
                }
                Err(Attempt::Final(e)) => return Err(e),
                Err(Attempt::Refused(status)) => {
                    if self.style == TokenStyle::Base64 && !self.plain_tried && self.token.is_some()
                    {
                        // Some 2.2 senders never decode the token: try it as sent, once.
                        self.style = TokenStyle::Plain;
                        self.plain_tried = true;
                        self.plain_pending = true;
                        attempt -= 1;
                        continue;
                    }
                    return Err(FetchError::Unauthorized {
                        url: redact(url),
                        status,
                    });
                }
                Err(Attempt::Transient(detail)) => detail,
            };
            if attempt > self.opts.retries {
                return Err(FetchError::Transient {
                    url: redact(url),
                    detail: transient,
                    attempts: attempt,
                });
            }
            counts_add(counts, Deviation::Retried);
            let factor = 2u32.saturating_pow(attempt - 1);
            let wait = self
                .opts
                .backoff
                .saturating_mul(factor)
                .min(self.opts.max_backoff);
            tracing::debug!(url = %redact(url), attempt, error = %transient, "retrying");
            if stop.sleep(wait) {
                return Err(FetchError::Stopped);
            }
        }
    }

    fn get_once(&self, url: &Url, counts: &mut Counts) -> Result<(Value, Headers), Attempt> {
        let mut req = self.http.get(url).header(ACCEPT, "application/json");
        if let Some(token) = &self.token {
            let value = match self.style {
                TokenStyle::Base64 => {
                    format!(
                        "Token {}",
                        base64::engine::general_purpose::STANDARD.encode(token)
                    )
                }
                TokenStyle::Plain => format!("Token {token}"),
            };
            req = req.header(AUTHORIZATION, &value);
        }
        let resp = req.send().map_err(|e| match e {
            outgoing::Error::Tls { url, detail } => Attempt::Final(FetchError::Tls { url, detail }),
            outgoing::Error::Transport { detail, .. } => Attempt::Transient(detail),
            e @ (outgoing::Error::Build(_)
            | outgoing::Error::Unreachable { .. }
            | outgoing::Error::Invalid { .. }
            | outgoing::Error::TooLarge { .. }
            | outgoing::Error::Body { .. }) => Attempt::Final(FetchError::Invalid {
                url: redact(url),
                detail: e.to_string(),
            }),
        })?;
        let status = resp.status().as_u16();
        let headers = Headers::read(resp.headers());
        if status == 401 || status == 403 {
            return Err(Attempt::Refused(status));
        }
        if status == 429 || status >= 500 {
            return Err(Attempt::Transient(format!("HTTP {status}")));
        }
        let body = resp.body().map_err(|e| match e {
            outgoing::Error::TooLarge { max, .. } => Attempt::Final(FetchError::Invalid {
                url: redact(url),
                detail: format!("the response is larger than {max} bytes"),
            }),
            other => Attempt::Transient(match other {
                outgoing::Error::Body { detail, .. } => {
                    format!("reading the body failed: {detail}")
                }
                other => other.to_string(),
            }),
        })?;
        let envelope: Option<Value> = serde_json::from_slice(&body).ok();
        let code = envelope
            .as_ref()
            .and_then(|v| v.get("status_code"))
            .and_then(Value::as_u64);
        let Some((mut envelope, code)) = envelope.zip(code) else {
            if !(200..300).contains(&status) {
                return Err(Attempt::Final(FetchError::Status {
                    url: redact(url),
                    status,
                }));
            }
            // A body cut short is worth another try; anything else is not OCPI.
            return Err(if body.is_empty() {
                Attempt::Transient("empty response body".into())
            } else {
                Attempt::Final(FetchError::Invalid {
                    url: redact(url),
                    detail: "the response is not an OCPI envelope (JSON with status_code)".into(),
                })
            });
        };
        let mut headers = headers;
        headers.timestamp = envelope["timestamp"].as_str().and_then(|s| s.parse().ok());
        if !(1000..2000).contains(&code) {
            counts_add(counts, Deviation::EnvelopeError);
            let message: String = envelope["status_message"]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect();
            if (3000..4000).contains(&code) {
                return Err(Attempt::Transient(format!(
                    "OCPI status_code {code}: {message}"
                )));
            }
            return Err(Attempt::Final(FetchError::Envelope {
                url: redact(url),
                code,
                message,
            }));
        }
        if !(200..300).contains(&status) {
            return Err(Attempt::Final(FetchError::Status {
                url: redact(url),
                status,
            }));
        }
        Ok((envelope["data"].take(), headers))
    }
}

impl FetchError {
    /// Should a failed `Link` be abandoned for offsets? Yes for 4xx, OCPI 2xxx and TLS.
    pub fn falls_back(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => (400..500).contains(status),
            FetchError::Envelope { code, .. } => (2000..3000).contains(code),
            FetchError::Tls { .. } | FetchError::Unauthorized { .. } => true,
            FetchError::Transient { .. } | FetchError::Invalid { .. } | FetchError::Stopped => {
                false
            }
        }
    }
}

/// The token style of an OCPI version: 2.1.x and 2.0 plain, everything later base64.
pub fn token_style(version: &str) -> TokenStyle {
    if version.starts_with("2.1") || version.starts_with("2.0") {
        TokenStyle::Plain
    } else {
        TokenStyle::Base64
    }
}

/// One attempt's failure.
enum Attempt {
    /// Worth retrying: a timeout, a connection failure, a 5xx, a 429, an OCPI 3xxx.
    Transient(String),
    /// The token was refused.
    Refused(u16),
    Final(FetchError),
}

#[derive(Debug, Default)]
struct Headers {
    link: Option<String>,
    total: Option<u64>,
    limit: Option<u64>,
    timestamp: Option<DateTime>,
}

impl Headers {
    fn read(h: &HeaderMap) -> Self {
        let num = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.trim().parse().ok())
        };
        let links: Vec<&str> = h
            .get_all(LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Self {
            link: (!links.is_empty()).then(|| links.join(", ")),
            total: num("x-total-count"),
            limit: num("x-limit"),
            timestamp: None,
        }
    }
}

fn counts_add(counts: &mut Counts, d: Deviation) {
    *counts.entry(d).or_default() += 1;
}

/// The OCPI version a URL path names, e.g. `/ocpi/2.1.1/locations`.
fn version_in_path(url: &Url) -> Option<&'static str> {
    let path = url.path();
    ["2.2.1", "2.2", "2.1.1", "2.1", "2.0"]
        .into_iter()
        .find(|v| path.split('/').any(|seg| seg == *v))
}

/// The best version in an OCPI versions list and its details URL.
fn choose_version(versions: &[Value]) -> Option<(String, String)> {
    ["2.2.1", "2.2", "2.1.1", "2.1"].iter().find_map(|want| {
        versions.iter().find_map(|v| {
            let url = v["url"].as_str()?;
            (v["version"].as_str()? == *want).then(|| ((*want).to_owned(), url.to_owned()))
        })
    })
}

fn join(base: &Url, s: &str) -> Result<Url, FetchError> {
    base.join(s).map_err(|e| FetchError::Invalid {
        url: redact(base),
        detail: format!("bad URL {:?}: {e}", s.chars().take(80).collect::<String>()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn modules_and_versions_from_urls() {
        let u = url("https://cpo.example/ocpi/cpo/2.1.1/locations/");
        assert_eq!(Module::of_url(&u), Some(Module::Locations));
        assert_eq!(version_in_path(&u), Some("2.1.1"));
        assert_eq!(
            Module::of_url(&url("https://cpo.example/ocpi/versions")),
            None
        );
        assert_eq!(token_style("2.1.1"), TokenStyle::Plain);
        assert_eq!(token_style("2.2.1"), TokenStyle::Base64);
        let versions: Vec<Value> = serde_json::from_str(
            r#"[{"version":"2.1.1","url":"https://a/211"},{"version":"2.2.1","url":"https://a/221"},{"version":"3.0","url":"https://a/3"}]"#,
        )
        .unwrap();
        assert_eq!(
            choose_version(&versions),
            Some(("2.2.1".into(), "https://a/221".into()))
        );
    }
}
