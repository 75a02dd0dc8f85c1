//! Outgoing HTTP: the one place in the node that builds HTTP clients and sends requests to other
//! systems (an OCPI sender for `pull`, an issuer's JWKS for `trust`, the node serving from the
//! same directory for `remote`). Every client made here is bounded in the same way:
//!
//! - **Time.** A connect timeout, and either a *total* timeout on the answer's head and its
//!   whole body ([`Timeout::Total`]) or, for event streams, an *idle* timeout: no limit on the
//!   whole exchange, but each wait for the answer's head or for the next bytes of its body at
//!   most that long ([`Timeout::Idle`]).
//! - **Size.** A body is read up to [`Bounds::max_body_bytes`] (refused earlier when
//!   `Content-Length` says more); a stream is read line by line, each line bounded.
//! - **Redirects.** At most [`Bounds::redirects`] (0: none are followed).
//! - **Reach.** [`Reach::Any`] goes to any http(s) URL (through the environment's proxy, if one
//!   is set); [`Reach::Only`] reaches one origin and nothing else, never through a proxy and
//!   never redirected, which is how `remote` talks to the node serving from its directory.
//! - **TLS** is rustls with ring as the crypto provider (installed by [`install_crypto_provider`]
//!   before any client is built) and the platform's certificate verifier; plain `http` is
//!   allowed, and a TLS failure is told apart from other failures ([`Error::Tls`]).
//! - Every request says `User-Agent: evfed-node/VERSION`, or what an embedding program names
//!   itself ([`Client::with_user_agent`]).
//!
//! Clients are blocking: call them off the async executor.
//!
//! Architecture Invariant: this is the only module of the node that knows reqwest. What callers
//! need of its types is re-exported here: [`Method`], [`StatusCode`] and the [`header`] names.

use std::io::{BufRead as _, BufReader, Read as _};
use std::time::{Duration, Instant};

use url::Url;

pub use reqwest::header;
pub use reqwest::{Method, StatusCode};

/// How a client is bounded.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// Longest wait for a connection (TCP and TLS handshake).
    pub connect_timeout: Duration,
    pub timeout: Timeout,
    /// Largest body [`Response::body`] reads, in bytes.
    pub max_body_bytes: u64,
    /// Redirects followed (0: none).
    pub redirects: usize,
    pub reach: Reach,
}

/// How long an exchange may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// The answer's head within this time of sending the request, and no read of its body
    /// begun after it (one read waits at most this long, so a body ends within twice it).
    Total(Duration),
    /// No limit on the whole exchange (an event stream may last for hours), but at most this
    /// long waiting for the answer's head or for the next bytes of its body.
    Idle(Duration),
}

/// Where a client may send requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Any `http` or `https` URL, through the environment's proxy when one is configured.
    Any,
    /// Only this origin (scheme, host and port), directly: no proxy, no redirects.
    Only(Url),
}

/// Why a request failed. Every URL is shown without its query or credentials.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client could not be made (e.g. no TLS configuration).
    #[error("cannot build an HTTP client: {0}")]
    Build(String),
    /// The URL is outside the client's [`Reach`], or not http(s).
    #[error("{url}: {detail}")]
    Unreachable { url: String, detail: String },
    /// The request could not be made from what was given.
    #[error("{url}: {detail}")]
    Invalid { url: String, detail: String },
    /// A TLS failure: handshake, certificate, protocol.
    #[error("{url}: TLS failed: {detail}")]
    Tls { url: String, detail: String },
    /// Connecting, sending or waiting failed (a timeout, a refused or reset connection): worth
    /// trying again later.
    #[error("{url}: {detail}")]
    Transport { url: String, detail: String },
    /// The body (or a stream's line) is larger than allowed.
    #[error("{url}: the response is larger than {max} bytes")]
    TooLarge { url: String, max: u64 },
    /// Reading the body failed or took too long: worth trying again later.
    #[error("{url}: reading the body failed: {detail}")]
    Body { url: String, detail: String },
}

/// A bounded HTTP client; cheap to clone (clones share connections).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::blocking::Client,
    bounds: Bounds,
}

/// A request being built; [`Request::send`] sends it.
#[derive(Debug)]
pub struct Request<'a> {
    client: &'a Client,
    url: Url,
    builder: reqwest::blocking::RequestBuilder,
}

/// An answer whose head has arrived; its body is read with [`Response::body`] or, for an event
/// stream, [`Response::lines`].
#[derive(Debug)]
pub struct Response {
    inner: reqwest::blocking::Response,
    url: Url,
    max_body_bytes: u64,
    /// When the whole exchange must be over (total timeouts only).
    deadline: Option<Instant>,
}

/// The lines of a streamed body (`text/event-stream`, JSON lines), each without its line end.
#[derive(Debug)]
pub struct Lines {
    reader: BufReader<reqwest::blocking::Response>,
    url: Url,
    max_line: usize,
}

/// What every request says it is.
const USER_AGENT: &str = concat!("evfed-node/", env!("CARGO_PKG_VERSION"));

impl Bounds {
    /// A total timeout of `timeout` (connections too), `max_body_bytes`, no redirects, any URL.
    pub fn total(timeout: Duration, max_body_bytes: u64) -> Self {
        Self {
            connect_timeout: timeout,
            timeout: Timeout::Total(timeout),
            max_body_bytes,
            redirects: 0,
            reach: Reach::Any,
        }
    }

    /// For event streams: connections within `connect`, then no total limit but at most `idle`
    /// without a byte; no redirects, any URL.
    pub fn streaming(connect: Duration, idle: Duration, max_body_bytes: u64) -> Self {
        Self {
            connect_timeout: connect,
            timeout: Timeout::Idle(idle),
            max_body_bytes,
            redirects: 0,
            reach: Reach::Any,
        }
    }
}

impl Client {
    /// A client bounded by `bounds`.
    pub fn new(bounds: Bounds) -> Result<Self, Error> {
        Self::with_user_agent(bounds, USER_AGENT)
    }

    /// A client bounded by `bounds` that says `User-Agent: user_agent` (a program embedding the
    /// node names itself).
    pub fn with_user_agent(bounds: Bounds, user_agent: &str) -> Result<Self, Error> {
        install_crypto_provider();
        let wait = match bounds.timeout {
            Timeout::Total(d) | Timeout::Idle(d) => d,
        };
        // reqwest's blocking timeout bounds the wait for the head and each read of the body
        // (an idle timeout); `Response` enforces a total one on top.
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(wait)
            .connect_timeout(bounds.connect_timeout)
            .user_agent(user_agent);
        builder = match &bounds.reach {
            Reach::Any if bounds.redirects > 0 => {
                builder.redirect(reqwest::redirect::Policy::limited(bounds.redirects))
            }
            Reach::Any => builder.redirect(reqwest::redirect::Policy::none()),
            Reach::Only(_) => builder
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy(),
        };
        let http = builder.build().map_err(|e| Error::Build(chain(&e)))?;
        Ok(Self { http, bounds })
    }

    pub fn bounds(&self) -> &Bounds {
        &self.bounds
    }

    /// A `GET` of `url`.
    pub fn get(&self, url: &Url) -> Request<'_> {
        self.request(Method::GET, url)
    }

    /// A request of `method` to `url`.
    pub fn request(&self, method: Method, url: &Url) -> Request<'_> {
        Request {
            client: self,
            url: url.clone(),
            builder: self.http.request(method, url.clone()),
        }
    }

    /// Is `url` within this client's reach?
    fn check_reach(&self, url: &Url) -> Result<(), Error> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Unreachable {
                url: redact(url),
                detail: "only http and https URLs are fetched".into(),
            });
        }
        match &self.bounds.reach {
            Reach::Any => Ok(()),
            Reach::Only(origin) if url.origin() == origin.origin() => Ok(()),
            Reach::Only(origin) => Err(Error::Unreachable {
                url: redact(url),
                detail: format!(
                    "this client reaches only {}",
                    origin.origin().ascii_serialization()
                ),
            }),
        }
    }
}

impl Request<'_> {
    pub fn header(self, name: header::HeaderName, value: &str) -> Self {
        Self {
            builder: self.builder.header(name, value),
            ..self
        }
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        Self {
            builder: self.builder.bearer_auth(token),
            ..self
        }
    }

    /// `bytes` as the body (its `Content-Type` is the caller's to set).
    pub fn body(self, bytes: Vec<u8>) -> Self {
        Self {
            builder: self.builder.body(bytes),
            ..self
        }
    }

    /// `bytes` as the body, with `Content-Type: application/json`.
    pub fn json_bytes(self, bytes: Vec<u8>) -> Self {
        Self {
            builder: self
                .builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(bytes),
            ..self
        }
    }

    /// Sends the request and waits for the answer's head.
    pub fn send(self) -> Result<Response, Error> {
        self.client.check_reach(&self.url)?;
        let started = Instant::now();
        let inner = self.builder.send().map_err(|e| classify(&self.url, &e))?;
        let bounds = &self.client.bounds;
        let deadline = match bounds.timeout {
            Timeout::Total(d) => Some(started + d),
            Timeout::Idle(_) => None,
        };
        // After redirects, errors name where the answer came from.
        let url = inner.url().clone();
        Ok(Response {
            inner,
            url,
            max_body_bytes: bounds.max_body_bytes,
            deadline,
        })
    }
}

impl Response {
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    pub fn headers(&self) -> &header::HeaderMap {
        self.inner.headers()
    }

    /// The whole body, at most the client's `max_body_bytes`, within its total timeout.
    pub fn body(self) -> Result<Vec<u8>, Error> {
        let max = self.max_body_bytes;
        self.body_within(max)
    }

    /// The whole body, at most `max` bytes (and never more than the client's
    /// `max_body_bytes`), within its total timeout: for a client whose answers differ in size.
    pub fn body_within(self, max: u64) -> Result<Vec<u8>, Error> {
        let max = max.min(self.max_body_bytes);
        let too_large = || Error::TooLarge {
            url: redact(&self.url),
            max,
        };
        if self.inner.content_length().is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        let mut reader = self.inner.take(max.saturating_add(1));
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if self.deadline.is_some_and(|d| Instant::now() > d) {
                return Err(Error::Body {
                    url: redact(&self.url),
                    detail: "the response took longer than its timeout".into(),
                });
            }
            let n = match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::Body {
                        url: redact(&self.url),
                        detail: chain(&e),
                    });
                }
            };
            body.extend_from_slice(&chunk[..n]);
            if body.len() as u64 > max {
                return Err(too_large());
            }
        }
        Ok(body)
    }

    /// The body as a stream of lines of at most `max_line` bytes each, for as long as the
    /// server sends them (only the client's idle timeout applies between them).
    pub fn lines(self, max_line: usize) -> Lines {
        Lines {
            url: self.url,
            reader: BufReader::new(self.inner),
            max_line,
        }
    }
}

impl Lines {
    /// The next line without its `\n` (or `\r\n`); `None` at the end of the stream.
    pub fn next_line(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let mut line = Vec::new();
        let limit = self.max_line as u64 + 2;
        let read = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::Body {
                url: redact(&self.url),
                detail: chain(&e),
            })?;
        if read == 0 {
            return Ok(None);
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        if line.len() > self.max_line {
            return Err(Error::TooLarge {
                url: redact(&self.url),
                max: self.max_line as u64,
            });
        }
        Ok(Some(line))
    }
}

/// reqwest is built with rustls but no default crypto provider (that would pull in aws-lc):
/// every process that builds a client, tests and benchmarks included, calls this first
/// (installing ring once), or the client build panics. [`Client::new`] calls it.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
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

/// What a failed send was.
fn classify(url: &Url, e: &reqwest::Error) -> Error {
    let (url, detail) = (redact(url), chain(e));
    if is_tls(e) {
        Error::Tls { url, detail }
    } else if e.is_builder() {
        Error::Invalid { url, detail }
    } else {
        Error::Transport { url, detail }
    }
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

/// The error and its causes on one line (reqwest's own message is terse), at most 400
/// characters.
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

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::net::{TcpListener, TcpStream};
    use std::sync::mpsc;

    use super::*;

    /// A one-connection server on loopback: reads the request head, then lets `answer` write.
    fn serve(answer: impl FnOnce(TcpStream) + Send + 'static) -> Url {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            answer(stream);
        });
        Url::parse(&format!("http://{addr}/x?secret=1")).unwrap()
    }

    fn head(stream: &mut TcpStream, extra: &str) {
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nConnection: close\r\n{extra}\r\n"
        )
        .unwrap();
    }

    #[test]
    fn a_body_is_read_whole_up_to_its_bound() {
        let url = serve(|mut s| {
            head(&mut s, "Content-Length: 5\r\n");
            s.write_all(b"hello").unwrap();
        });
        let client = Client::new(Bounds::total(Duration::from_secs(5), 5)).unwrap();
        assert_eq!(client.get(&url).send().unwrap().body().unwrap(), b"hello");

        // Without a Content-Length, the bound is found while reading.
        let url = serve(|mut s| {
            head(&mut s, "");
            s.write_all(&[b'a'; 100]).unwrap();
        });
        let client = Client::new(Bounds::total(Duration::from_secs(5), 99)).unwrap();
        let err = client.get(&url).send().unwrap().body().unwrap_err();
        assert!(matches!(err, Error::TooLarge { max: 99, .. }), "{err}");
        assert!(!err.to_string().contains("secret"), "{err}");

        // A smaller bound for one answer than the client's.
        let url = serve(|mut s| {
            head(&mut s, "");
            s.write_all(&[b'a'; 100]).unwrap();
        });
        let client = Client::new(Bounds::total(Duration::from_secs(5), 1000)).unwrap();
        let err = client
            .get(&url)
            .send()
            .unwrap()
            .body_within(50)
            .unwrap_err();
        assert!(matches!(err, Error::TooLarge { max: 50, .. }), "{err}");
    }

    #[test]
    fn a_total_timeout_ends_a_trickling_body_and_an_idle_one_does_not() {
        // One byte every 20 ms: never idle for long, but never done either.
        let trickle = |mut s: TcpStream| {
            head(&mut s, "");
            for _ in 0..200 {
                if s.write_all(b"x\n").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        let url = serve(trickle);
        let client = Client::new(Bounds::total(Duration::from_millis(300), 1 << 20)).unwrap();
        let started = Instant::now();
        let err = client.get(&url).send().unwrap().body().unwrap_err();
        assert!(matches!(err, Error::Body { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));

        let url = serve(trickle);
        let streaming =
            Bounds::streaming(Duration::from_secs(5), Duration::from_millis(300), 1 << 20);
        let mut lines = Client::new(streaming)
            .unwrap()
            .get(&url)
            .send()
            .unwrap()
            .lines(16);
        let started = Instant::now();
        for _ in 0..30 {
            assert_eq!(lines.next_line().unwrap().unwrap(), b"x");
        }
        assert!(started.elapsed() > Duration::from_millis(300));
    }

    #[test]
    fn an_idle_stream_times_out_and_long_lines_are_refused() {
        let (done, wait) = mpsc::channel::<()>();
        let url = serve(move |mut s| {
            head(&mut s, "");
            s.write_all(b"data: one\r\n").unwrap();
            // Then silence, until the test has seen the timeout.
            let _ = wait.recv();
        });
        let streaming =
            Bounds::streaming(Duration::from_secs(5), Duration::from_millis(200), 1 << 20);
        let client = Client::new(streaming.clone()).unwrap();
        let mut lines = client.get(&url).send().unwrap().lines(64);
        assert_eq!(lines.next_line().unwrap().unwrap(), b"data: one");
        let err = lines.next_line().unwrap_err();
        assert!(matches!(err, Error::Body { .. }), "{err}");
        drop(done);

        let url = serve(|mut s| {
            head(&mut s, "");
            s.write_all(&[b'a'; 100]).unwrap();
            s.write_all(b"\n").unwrap();
        });
        let mut lines = Client::new(streaming)
            .unwrap()
            .get(&url)
            .send()
            .unwrap()
            .lines(64);
        assert!(matches!(
            lines.next_line(),
            Err(Error::TooLarge { max: 64, .. })
        ));
    }

    #[test]
    fn a_client_for_one_origin_reaches_nothing_else() {
        let url = serve(|mut s| {
            head(&mut s, "Content-Length: 2\r\n");
            s.write_all(b"ok").unwrap();
        });
        let bounds = Bounds {
            reach: Reach::Only(url.clone()),
            ..Bounds::total(Duration::from_secs(5), 1024)
        };
        let client = Client::new(bounds).unwrap();
        let other = Url::parse("http://192.0.2.1:9/x").unwrap();
        assert!(matches!(
            client.get(&other).send(),
            Err(Error::Unreachable { .. })
        ));
        let mut same = url.clone();
        same.set_path("/y");
        assert_eq!(client.get(&same).send().unwrap().body().unwrap(), b"ok");
        let file = Url::parse("file:///etc/passwd").unwrap();
        let any = Client::new(Bounds::total(Duration::from_secs(5), 1024)).unwrap();
        assert!(matches!(
            any.get(&file).send(),
            Err(Error::Unreachable { .. })
        ));
    }

    #[test]
    fn a_client_says_who_it_is() {
        let agent = |client: Client| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
            let (seen, got) = mpsc::channel();
            std::thread::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 2 {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("user-agent:") {
                        seen.send(v.trim().to_owned()).unwrap();
                    }
                    line.clear();
                }
                head(&mut stream, "Content-Length: 0\r\n");
            });
            client.get(&url).send().unwrap().body().unwrap();
            got.recv_timeout(Duration::from_secs(5)).unwrap()
        };
        let bounds = Bounds::total(Duration::from_secs(5), 1024);
        assert_eq!(agent(Client::new(bounds.clone()).unwrap()), USER_AGENT);
        let named = Client::with_user_agent(bounds, "evfed-aggregator/9").unwrap();
        assert_eq!(agent(named), "evfed-aggregator/9");
    }

    #[test]
    fn redaction_drops_credentials_and_query() {
        let u =
            Url::parse("https://user:secret@cpo.example/ocpi/2.2.1/locations?token=abc").unwrap();
        assert_eq!(redact(&u), "https://cpo.example/ocpi/2.2.1/locations");
    }

    #[test]
    fn a_refused_connection_is_a_transport_failure() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        drop(listener);
        let client = Client::new(Bounds::total(Duration::from_secs(5), 1024)).unwrap();
        assert!(matches!(
            client.get(&url).send(),
            Err(Error::Transport { .. })
        ));
    }
}
