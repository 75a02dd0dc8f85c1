//! The OCPI client of a pull: the only code in the node that speaks HTTP outwards (reqwest).
//! Discovery (versions → version details → module URLs, or a module URL given directly), the
//! OCPI token header, bounded and retried fetches of one page, the response envelope, and the
//! pagination headers (`Link`, `X-Total-Count`, `X-Limit`) read and judged against the module's
//! own URL.
//!
//! Every fetch is bounded: a connect and a whole-request timeout, a body size limit, a small
//! number of redirects, and a bounded number of retries with exponential backoff.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::time::Duration;

use base64::Engine as _;
use evfed_spec::time::DateTime;
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderMap, LINK};
use serde_json::Value;

use super::Stop;
use super::report::Deviation;

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

/// The next-page `Link` of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// No `Link` header, or an empty one.
    Absent,
    /// A `rel="next"` URL on the module's own scheme, host, port and path.
    Next(Url),
    /// A header that does not parse as a `Link` with `rel="next"` (its first 200 characters).
    Malformed(String),
    /// A `rel="next"` URL elsewhere.
    Foreign(Url),
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
    http: reqwest::blocking::Client,
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
        install_crypto_provider();
        let http = reqwest::blocking::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.connect_timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("evfed-node/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Invalid {
                url: String::new(),
                detail: format!("cannot build an HTTP client: {e}"),
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

    pub fn set_style(&mut self, style: TokenStyle) {
        self.style = style;
    }

    pub fn style(&self) -> TokenStyle {
        self.style
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
        let mut req = self
            .http
            .get(url.clone())
            .header("accept", "application/json");
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
            req = req.header(AUTHORIZATION, value);
        }
        let resp = req.send().map_err(|e| classify(url, &e))?;
        let status = resp.status().as_u16();
        let headers = Headers::read(resp.headers());
        if status == 401 || status == 403 {
            return Err(Attempt::Refused(status));
        }
        if status == 429 || status >= 500 {
            return Err(Attempt::Transient(format!("HTTP {status}")));
        }
        let body = read_bounded(resp, self.opts.max_body_bytes).map_err(|e| match e {
            BodyError::TooLarge => Attempt::Final(FetchError::Invalid {
                url: redact(url),
                detail: format!(
                    "the response is larger than {} bytes",
                    self.opts.max_body_bytes
                ),
            }),
            BodyError::Read(detail) => Attempt::Transient(detail),
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

/// The URL of page `offset` of a module: the module URL with `date_from`, `offset` and (when
/// the sender told it) `limit`.
pub fn offset_url(
    module_url: &Url,
    date_from: Option<&DateTime>,
    offset: u64,
    limit: Option<u64>,
) -> Url {
    let mut url = module_url.clone();
    let kept: Vec<(String, String)> = module_url
        .query_pairs()
        .filter(|(k, _)| !matches!(k.as_ref(), "date_from" | "offset" | "limit"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = url.query_pairs_mut();
        q.clear();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        if let Some(d) = date_from {
            q.append_pair("date_from", &d.to_string());
        }
        if offset > 0 {
            q.append_pair("offset", &offset.to_string());
        }
        if let Some(l) = limit {
            q.append_pair("limit", &l.to_string());
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    url
}

/// A URL for logs and errors: scheme, host, port and path; no credentials, no query.
pub fn redact(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// Judges a `Link` header against the module URL.
pub fn judge_link(header: Option<&str>, request: &Url, module_url: &Url) -> Link {
    let Some(header) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Link::Absent;
    };
    let malformed = || Link::Malformed(header.chars().take(200).collect());
    let Some(target) = next_target(header) else {
        return malformed();
    };
    let Ok(next) = request.join(target) else {
        return malformed();
    };
    let same = next.scheme() == module_url.scheme()
        && next.host_str() == module_url.host_str()
        && next.port_or_known_default() == module_url.port_or_known_default()
        && next.path().trim_end_matches('/') == module_url.path().trim_end_matches('/');
    if same {
        Link::Next(next)
    } else {
        Link::Foreign(next)
    }
}

/// The target of the `rel="next"` link in a `Link` header (RFC 8288), if there is one.
fn next_target(header: &str) -> Option<&str> {
    let mut rest = header;
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        let open = rest.strip_prefix('<')?;
        let close = open.find('>')?;
        let target = &open[..close];
        let after = &open[close + 1..];
        // Parameters run to the next link (a ',' followed by '<') or the end.
        let end = after.find(",<").or_else(|| after.find(", <"));
        let params = &after[..end.unwrap_or(after.len())];
        let is_next = params.split(';').skip(1).any(|p| {
            let Some((k, v)) = p.split_once('=') else {
                return false;
            };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim()
                    .trim_matches('"')
                    .split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next && !target.is_empty() && !params.trim().is_empty() {
            return Some(target);
        }
        rest = &after[end?..];
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

enum BodyError {
    TooLarge,
    Read(String),
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

fn read_bounded(resp: reqwest::blocking::Response, max: usize) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    resp.take(max as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| BodyError::Read(format!("reading the body failed: {e}")))?;
    if body.len() > max {
        return Err(BodyError::TooLarge);
    }
    Ok(body)
}

fn classify(url: &Url, e: &reqwest::Error) -> Attempt {
    if is_tls(e) {
        return Attempt::Final(FetchError::Tls {
            url: redact(url),
            detail: chain(e),
        });
    }
    if e.is_builder() {
        return Attempt::Final(FetchError::Invalid {
            url: redact(url),
            detail: chain(e),
        });
    }
    Attempt::Transient(chain(e))
}

/// Does a TLS failure (handshake, certificate, protocol) lie anywhere in the error's causes?
fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && (inner.downcast_ref::<rustls::Error>().is_some() || is_tls(inner))
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// The error and its causes on one line (reqwest's own message is terse).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        let s = err.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = err.source();
    }
    out.chars().take(400).collect()
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

/// reqwest is built with rustls but no default crypto provider (that would pull in aws-lc):
/// every process that builds a reqwest client, tests and benchmarks included, calls this first
/// (installing ring once), or the client build panics.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn links_are_judged_against_the_module_url() {
        let module = url("https://cpo.example/ocpi/2.2.1/locations");
        let req = url("https://cpo.example/ocpi/2.2.1/locations?offset=0");
        let next = |h: &str| judge_link(Some(h), &req, &module);
        assert_eq!(
            next(r#"<https://cpo.example/ocpi/2.2.1/locations?offset=50&limit=50>; rel="next""#),
            Link::Next(url(
                "https://cpo.example/ocpi/2.2.1/locations?offset=50&limit=50"
            ))
        );
        // A trailing slash is the same path; a relative reference resolves against the request.
        assert!(matches!(
            next(r#"</ocpi/2.2.1/locations/?offset=50>; rel=next"#),
            Link::Next(_)
        ));
        for foreign in [
            r#"<http://cpo.example/ocpi/2.2.1/locations?offset=50>; rel="next""#,
            r#"<https://evil.example/ocpi/2.2.1/locations?offset=50>; rel="next""#,
            r#"<https://cpo.example:8443/ocpi/2.2.1/locations?offset=50>; rel="next""#,
            r#"<https://cpo.example/ocpi/cpo/VersionNumber.v_2_2_1/ModuleID.locations/?offset=50>; rel="next""#,
        ] {
            assert!(matches!(next(foreign), Link::Foreign(_)), "{foreign}");
        }
        for malformed in [
            "https://cpo.example/ocpi/2.2.1/locations?offset=50",
            r#"<https://cpo.example/ocpi/2.2.1/locations?offset=50>"#,
            r#"<https://cpo.example/ocpi/2.2.1/locations?offset=50>; rel="prev""#,
            r#"<https://cpo.example/ocpi/2.2.1/locations?offset=50; rel="next""#,
            r#"<>; rel="next""#,
        ] {
            assert_eq!(
                next(malformed),
                Link::Malformed(malformed.into()),
                "{malformed}"
            );
        }
        assert_eq!(judge_link(Some("  "), &req, &module), Link::Absent);
        assert_eq!(judge_link(None, &req, &module), Link::Absent);
        // Several links: the one with rel="next" counts.
        assert!(matches!(
            next(r#"<https://cpo.example/ocpi/2.2.1/locations>; rel="first", <https://cpo.example/ocpi/2.2.1/locations?offset=9>; rel="next""#),
            Link::Next(u) if u.query() == Some("offset=9")
        ));
    }

    #[test]
    fn offset_urls_keep_other_parameters() {
        let module = url("https://cpo.example/ocpi/2.2.1/locations/?region=ldn&offset=7");
        let t: DateTime = "2026-01-02T03:04:05Z".parse().unwrap();
        let u = offset_url(&module, Some(&t), 100, Some(50));
        assert_eq!(
            u.as_str(),
            "https://cpo.example/ocpi/2.2.1/locations/?region=ldn&date_from=2026-01-02T03%3A04%3A05Z&offset=100&limit=50"
        );
        let plain = offset_url(&url("https://cpo.example/l"), None, 0, None);
        assert_eq!(plain.as_str(), "https://cpo.example/l");
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

    #[test]
    fn redaction_drops_credentials_and_query() {
        let u = url("https://user:secret@cpo.example/ocpi/2.2.1/locations?token=abc");
        assert_eq!(redact(&u), "https://cpo.example/ocpi/2.2.1/locations");
    }
}
