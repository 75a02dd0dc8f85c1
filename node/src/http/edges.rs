//! The HTTP edge, decided in one place for the node and the aggregator: request limits per
//! peer address and per client (`[limits]`), security headers on every response, and CORS
//! only on open-data reads.
//!
//! Architecture Invariant: a route is open to cross-origin reads only when [`Edges::is_open`]
//! lists it (an allow-list), so a new restricted route never gets CORS headers by accident.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_extensible_rate_limit::HeaderCompatibleOutput as _;
use actix_extensible_rate_limit::backend::memory::InMemoryBackend;
use actix_extensible_rate_limit::backend::{Backend as _, SimpleInput, SimpleOutput};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use evfed_spec::problem::{CONTENT_TYPE, Problem, ProblemCode};
use sha2::{Digest as _, Sha256};

use crate::config::Limits;

/// Open reads a server adds to the node's own (the aggregator's London view and members).
pub type OpenExtra = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// What the edge middleware needs; built once per server (the limits' counters are shared by
/// every worker) and registered as app data.
#[derive(Clone)]
pub struct Edges {
    limiter: Option<Arc<Limiter>>,
    https: bool,
    open_extra: Option<OpenExtra>,
}

impl std::fmt::Debug for Edges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edges")
            .field("limiter", &self.limiter)
            .field("https", &self.https)
            .finish_non_exhaustive()
    }
}

/// The window the limits count in.
const WINDOW: Duration = Duration::from_secs(60);

/// `Content-Security-Policy` of API responses: nothing may be loaded or framed.
const CSP_API: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// Of the Swagger UI under `/docs/`: its own scripts and styles, inline style attributes and
/// data: images (its icons), and fetches of `/openapi.json` and "Try it out" from this origin.
const CSP_DOCS: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'none'";
/// Of other HTML pages (the aggregator's printable compliance report): one inline `<style>`;
/// its `<script type="application/json">` is data, never run.
const CSP_HTML: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const HSTS: &str = "max-age=31536000";
/// Response headers a cross-origin reader may see.
const EXPOSE: &str = "Evfed-Tree-Size, Link, X-Total-Count, ETag, Retry-After, \
     X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset";

const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The counters behind `[limits]`. Kept behind one `Arc`: the backend stops its collector of
/// expired counters when any copy of it is dropped.
struct Limiter {
    backend: InMemoryBackend,
    limits: Limits,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Which bucket a request was counted in, to say so in a `429`.
#[derive(Debug, Clone, Copy)]
enum Bucket {
    Address,
    Client,
}

impl Edges {
    /// The edge of a server with `limits`, answering HTTPS when `https`. Must run inside the
    /// actix runtime (the limiter's collector of expired counters is a task on it).
    pub fn new(limits: Limits, https: bool) -> Self {
        let on = limits.per_ip_per_minute > 0 || limits.per_client_per_minute > 0;
        let limiter = on.then(|| {
            Arc::new(Limiter {
                backend: InMemoryBackend::builder()
                    .with_gc_interval(Some(WINDOW))
                    .build(),
                limits,
            })
        });
        Self {
            limiter,
            https,
            open_extra: None,
        }
    }

    /// Also treats GET and HEAD of the paths `open` accepts as open reads.
    pub fn with_open_reads(mut self, open: OpenExtra) -> Self {
        self.open_extra = Some(open);
        self
    }

    /// Is a GET or HEAD of `path` an open-data read, served to any origin?
    pub fn is_open(&self, path: &str) -> bool {
        node_open_read(path) || self.open_extra.as_ref().is_some_and(|f| f(path))
    }
}

/// The node's open-data reads: discovery, locations, tariffs, status, both logs' public parts,
/// the OCPI sender, and the API documents.
fn node_open_read(path: &str) -> bool {
    const EXACT: [&str; 6] = [
        "/v1/locations",
        "/v1/tariffs",
        "/v1/status",
        "/v1/restricted/log/checkpoint",
        "/ocpi/2.2.1",
        "/openapi.json",
    ];
    const UNDER: [&str; 8] = [
        "/.well-known/",
        "/v1/locations/",
        "/v1/tariffs/",
        "/v1/log/",
        "/ocpi/versions",
        "/ocpi/2.2.1/locations",
        "/ocpi/2.2.1/tariffs",
        "/docs",
    ];
    EXACT.contains(&path) || UNDER.iter().any(|p| path.starts_with(p))
}

/// The edge middleware (see the module documentation). Registered by `app_with` around every
/// route; reads [`Edges`] from the app data.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(edges) = req.app_data::<web::Data<Edges>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let authorized = req.headers().contains_key(header::AUTHORIZATION);
    let open = edges.is_open(req.path());
    let method = req.method().clone();
    let readable = open && (method == Method::GET || method == Method::HEAD);
    let docs = req.path().starts_with("/docs");
    let counted = match &edges.limiter {
        Some(limiter) => match limiter.check(&req).await {
            Ok(counted) => counted,
            Err((bucket, output)) => {
                let mut res = too_many(bucket, &output);
                finish(&edges, res.headers_mut(), authorized, readable, docs);
                return Ok(req.into_response(res));
            }
        },
        None => None,
    };
    if method == Method::OPTIONS
        && open
        && let Some(mut res) = preflight(req.headers())
    {
        finish(&edges, res.headers_mut(), authorized, true, docs);
        return Ok(req.into_response(res));
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    let headers = res.headers_mut();
    if let Some(output) = counted {
        rate_headers(headers, &output);
    }
    finish(&edges, headers, authorized, readable, docs);
    Ok(res)
}

impl Limiter {
    /// Counts the request in its address's bucket and, with an `Authorization` header, in that
    /// client's. `Ok` with the tighter count, `Err` with the bucket that is full.
    async fn check(
        &self,
        req: &ServiceRequest,
    ) -> Result<Option<SimpleOutput>, (Bucket, SimpleOutput)> {
        let mut tightest: Option<SimpleOutput> = None;
        let Limits {
            per_ip_per_minute,
            per_client_per_minute,
        } = self.limits;
        if per_ip_per_minute > 0 {
            let key = match req.peer_addr().map(|a| a.ip()) {
                Some(ip) => format!("ip:{}", address_key(ip)),
                None => "ip:unknown".to_owned(),
            };
            let out = self.count(key, per_ip_per_minute).await;
            tightest = Some(out.map_err(|o| (Bucket::Address, o))?);
        }
        if per_client_per_minute > 0
            && let Some(auth) = req.headers().get(header::AUTHORIZATION)
        {
            // The credential's hash is only a bucket name: it is never trusted, never logged,
            // and a client that varies it is still held by its address's limit.
            let key = format!(
                "client:{}",
                hex::encode(&Sha256::digest(auth.as_bytes())[..16])
            );
            let out = self
                .count(key, per_client_per_minute)
                .await
                .map_err(|o| (Bucket::Client, o))?;
            if tightest
                .as_ref()
                .is_none_or(|t| out.remaining < t.remaining)
            {
                tightest = Some(out);
            }
        }
        Ok(tightest)
    }

    /// One request against `key`: `Err` when it is over `max`.
    async fn count(&self, key: String, max: u64) -> Result<SimpleOutput, SimpleOutput> {
        let input = SimpleInput {
            interval: WINDOW,
            max_requests: max,
            key,
        };
        // The in-memory backend cannot fail (its error type is `Infallible`).
        let Ok((decision, output, _)) = self.backend.request(input).await;
        if decision.is_allowed() {
            Ok(output)
        } else {
            Err(output)
        }
    }
}

/// The bucket of an address: IPv4 as is, IPv6 by its /64 (what one host or one customer gets).
fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// `429` as problem+json with `Retry-After` and the counters.
fn too_many(bucket: Bucket, output: &SimpleOutput) -> HttpResponse {
    let whose = match bucket {
        Bucket::Address => "from this address",
        Bucket::Client => "with this client's credentials",
    };
    let seconds = output.seconds_until_reset().max(1);
    let detail = format!(
        "more than {} requests a minute {whose}; retry after {seconds} s",
        output.limit
    );
    let body =
        serde_json::to_vec(&Problem::new(ProblemCode::RateLimited, detail)).unwrap_or_default();
    let mut res = HttpResponse::build(StatusCode::TOO_MANY_REQUESTS)
        .content_type(CONTENT_TYPE)
        .insert_header((header::RETRY_AFTER, seconds))
        .body(body);
    rate_headers(res.headers_mut(), output);
    res
}

fn rate_headers(headers: &mut HeaderMap, output: &SimpleOutput) {
    headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(output.limit));
    headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(output.remaining));
    headers.insert(
        X_RATELIMIT_RESET,
        HeaderValue::from(output.seconds_until_reset()),
    );
}

/// The answer to a CORS preflight for an open read (`GET` or `HEAD` asked), else `None` and
/// the request goes on to its route (a `405` without CORS headers).
fn preflight(headers: &HeaderMap) -> Option<HttpResponse> {
    headers.get(header::ORIGIN)?;
    let asked = headers.get(header::ACCESS_CONTROL_REQUEST_METHOD)?;
    if asked != "GET" && asked != "HEAD" {
        return None;
    }
    Some(
        HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD"))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "Accept, If-None-Match",
            ))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
            .finish(),
    )
}

/// The headers of a problem+json answer given before routing (`listen`, a request head over
/// the bounds): those of any API response, and never cached.
pub(crate) fn unrouted_headers(https: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    let edges = Edges {
        limiter: None,
        https,
        open_extra: None,
    };
    finish(&edges, &mut headers, true, false, false);
    headers
}

/// The headers every response gets, and CORS on open reads.
fn finish(edges: &Edges, headers: &mut HeaderMap, authorized: bool, cors: bool, docs: bool) {
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let csp = match (docs, html) {
        (true, _) => CSP_DOCS,
        (false, true) => CSP_HTML,
        (false, false) => CSP_API,
    };
    let fixed = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // A page that loads its own scripts (the aggregator's dashboard) sets its own policy;
    // everything else gets the strict one for its kind.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
    }
    if edges.https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    if authorized {
        // What a credential could see must not stay in any cache.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if cors {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_reads_are_an_allow_list() {
        let edges = Edges {
            limiter: None,
            https: false,
            open_extra: Some(Arc::new(|p: &str| p.starts_with("/v1/london/"))),
        };
        for open in [
            "/v1/locations",
            "/v1/locations/GB/ABC/L1",
            "/v1/tariffs",
            "/v1/status",
            "/v1/log/checkpoint",
            "/v1/log/entries",
            "/v1/restricted/log/checkpoint",
            "/.well-known/evfed",
            "/ocpi/versions",
            "/ocpi/2.2.1",
            "/ocpi/2.2.1/locations/L1",
            "/openapi.json",
            "/docs/",
            "/v1/london/locations",
        ] {
            assert!(edges.is_open(open), "{open}");
        }
        for closed in [
            "/v1/sessions",
            "/v1/restricted/log/entries",
            "/v1/admin/locations",
            "/ocpi/2.2.1/credentials",
            "/ocpi/2.2.1/receiver/locations/GB/ABC/L1",
            "/oauth2/token",
            "/metrics",
            "/v1/locationsX",
        ] {
            assert!(!edges.is_open(closed), "{closed}");
        }
    }

    #[test]
    fn ipv6_counts_by_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.1");
    }
}
