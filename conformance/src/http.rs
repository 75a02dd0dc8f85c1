//! Bounded HTTP exchanges with the target: every fetch has a timeout and a body limit, and every
//! exchange can be turned into evidence for a report.

use std::io::Read;
use std::time::Duration;

use reqwest::blocking::Client;
pub use reqwest::header::HeaderMap;
use url::Url;

use crate::report::Evidence;

/// How many bytes of a response body go into a report's excerpt.
const EXCERPT_CHARS: usize = 400;

/// One request and the response to it, body bounded.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub url: Url,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// A request that got no (usable) response.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{method} {url}: {detail}")]
pub struct FetchError {
    pub method: String,
    pub url: String,
    pub detail: String,
}

/// The client the suite talks to the target with.
#[derive(Debug, Clone)]
pub struct Http {
    client: Client,
    max_body_bytes: u64,
}

impl Http {
    pub fn new(timeout: Duration, max_body_bytes: u64) -> Result<Self, FetchError> {
        install_crypto_provider();
        let client = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("evfed-conformance/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError {
                method: String::new(),
                url: String::new(),
                detail: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Self {
            client,
            max_body_bytes,
        })
    }

    /// Sends a request with an optional bearer token and reads at most the body limit.
    pub fn send(
        &self,
        method: &str,
        url: &Url,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Exchange, FetchError> {
        let fail = |detail: String| FetchError {
            method: method.to_owned(),
            url: url.to_string(),
            detail,
        };
        let m = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| fail(format!("bad method: {e}")))?;
        let mut req = self.client.request(m, url.clone());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().map_err(|e| fail(error_chain(&e)))?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let mut body = Vec::new();
        res.take(self.max_body_bytes + 1)
            .read_to_end(&mut body)
            .map_err(|e| fail(format!("reading the body: {e}")))?;
        if body.len() as u64 > self.max_body_bytes {
            return Err(fail(format!(
                "body exceeds the limit of {} bytes",
                self.max_body_bytes
            )));
        }
        Ok(Exchange {
            method: method.to_owned(),
            url: url.clone(),
            status,
            headers,
            body,
        })
    }
}

impl Exchange {
    /// A header's value as text, if present and readable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type without parameters, lower-case.
    pub fn media_type(&self) -> String {
        self.header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("body is not JSON: {e}"))
    }

    /// `Evfed-Tree-Size`, if present and a number.
    pub fn tree_size(&self) -> Option<u64> {
        self.header("evfed-tree-size")?.trim().parse().ok()
    }

    /// The start of the body as text, for a report.
    pub fn excerpt(&self) -> String {
        excerpt(&self.body)
    }

    /// Evidence of this exchange with a message.
    pub fn evidence(&self, message: impl Into<String>) -> Evidence {
        Evidence {
            method: Some(self.method.clone()),
            url: Some(self.url.to_string()),
            status: Some(self.status),
            excerpt: Some(self.excerpt()),
            message: message.into(),
        }
    }
}

impl FetchError {
    pub fn evidence(&self) -> Evidence {
        Evidence {
            method: Some(self.method.clone()),
            url: Some(self.url.clone()),
            status: None,
            excerpt: None,
            message: self.detail.clone(),
        }
    }
}

/// The first characters of a body, lossily decoded.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(EXCERPT_CHARS * 4)]);
    let mut out: String = text.chars().take(EXCERPT_CHARS).collect();
    if text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// reqwest is built with `rustls-no-provider`: install ring as the process's rustls provider
/// before the first client is built (an HTTPS target would otherwise panic inside reqwest).
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
