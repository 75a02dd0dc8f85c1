//! A loopback HTTP/1.1 forwarding proxy for tests: each request is forwarded to the upstream
//! node unchanged (the Host header becomes the upstream's), one request per connection. A
//! [`Mutation`] may rewrite the request before it is forwarded and the response before it is
//! returned; that is how the broken servers are made from a real node.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A request as the proxy forwards it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path and query, e.g. `/v1/locations?limit=10`.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A response as the proxy returns it.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

type ReqHook = Arc<dyn Fn(&mut Req) + Send + Sync>;
type RespHook = Arc<dyn Fn(&Req, &mut Resp) + Send + Sync>;

/// How a broken server differs from the node behind it.
#[derive(Clone, Default)]
pub struct Mutation {
    pub request: Option<ReqHook>,
    pub response: Option<RespHook>,
}

/// A running proxy; stops accepting on drop.
pub struct Proxy {
    pub url: String,
    stop: Arc<AtomicBool>,
}

impl Mutation {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn on_request(f: impl Fn(&mut Req) + Send + Sync + 'static) -> Self {
        Self {
            request: Some(Arc::new(f)),
            response: None,
        }
    }

    pub fn on_response(f: impl Fn(&Req, &mut Resp) + Send + Sync + 'static) -> Self {
        Self {
            request: None,
            response: Some(Arc::new(f)),
        }
    }
}

impl Req {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
    }
}

impl Proxy {
    /// Starts a proxy in front of `upstream` (e.g. `http://127.0.0.1:1234`).
    pub fn start(upstream: &str, mutation: Mutation) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let client = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let upstream = upstream.trim_end_matches('/').to_owned();
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (client, upstream, mutation) =
                            (client.clone(), upstream.clone(), mutation.clone());
                        std::thread::spawn(move || {
                            let _ = serve(stream, &client, &upstream, &mutation);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Self { url, stop }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    stream: TcpStream,
    client: &reqwest::blocking::Client,
    upstream: &str,
    m: &Mutation,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_owned(),
        parts.next().unwrap_or("/").to_owned(),
    );
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let mut req = Req {
        method,
        target,
        headers,
        body,
    };
    if let Some(f) = &m.request {
        f(&mut req);
    }
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut out = client
        .request(method, format!("{upstream}{}", req.target))
        .body(req.body.clone());
    for (k, v) in &req.headers {
        let skip = ["host", "connection", "content-length", "transfer-encoding"];
        if !skip.iter().any(|s| k.eq_ignore_ascii_case(s)) {
            out = out.header(k, v);
        }
    }
    let mut resp = match out.send() {
        Ok(r) => {
            let status = r.status().as_u16();
            let headers = r
                .headers()
                .iter()
                .filter(|(k, _)| {
                    !["connection", "content-length", "transfer-encoding"].contains(&k.as_str())
                })
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            Resp {
                status,
                headers,
                body: r.bytes().map(|b| b.to_vec()).unwrap_or_default(),
            }
        }
        Err(_) => Resp {
            status: 502,
            headers: Vec::new(),
            body: Vec::new(),
        },
    };
    if let Some(f) = &m.response {
        f(&req, &mut resp);
    }
    let mut w = stream;
    write!(w, "HTTP/1.1 {} X\r\n", resp.status)?;
    for (k, v) in &resp.headers {
        write!(w, "{k}: {v}\r\n")?;
    }
    write!(
        w,
        "content-length: {}\r\nconnection: close\r\n\r\n",
        resp.body.len()
    )?;
    w.write_all(&resp.body)?;
    w.flush()
}
