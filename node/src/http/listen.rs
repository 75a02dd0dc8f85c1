//! The listener of both servers (the node's `serve` and the aggregator's): the app served by
//! actix-http's HTTP/1 dispatcher over plain TCP or rustls, as actix-web's `HttpServer` serves
//! it, but with every connection read through a [`head::HeadGuard`].
//!
//! actix-http answers a request head with more than 96 header fields, or one not complete
//! within 128 KiB, with an empty `431` built inside its dispatcher, before any middleware runs
//! and with no setting to change it. The guard finds those heads first and answers them itself,
//! with problem+json (`headers-too-large`, spec §13) and the headers the edge gives every API
//! response; `HttpServer` cannot be given a connection type of its own, hence this module.

mod head;

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};
use std::{fmt, io};

use actix_http::{HttpService, KeepAlive, Request, Response};
use actix_server::{GracefulShutdownSignal, ServerBuilder};
use actix_service::{IntoServiceFactory, ServiceFactory, ServiceFactoryExt as _, map_config};
use actix_tls::accept::TlsError;
use actix_tls::accept::rustls_0_23::{Acceptor, TlsStream};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Server, Service};
use actix_web::http::header::HttpDate;
use actix_web::rt::net::TcpStream;
use actix_web::web;
use evfed_spec::problem::{Problem, ProblemCode};

use self::head::{Answer, HeadGuard, TooLarge};
use super::{AppState, TREE_SIZE_HEADER};

/// Pending connections the kernel queues per listener (as `HttpServer`).
const BACKLOG: i32 = 1024;

/// A server being built: [`Listener::new`], then `bind`, then `run`.
pub struct Listener<F, S, B> {
    factory: F,
    app: PhantomData<fn() -> (S, B)>,
    state: web::Data<AppState>,
    builder: ServerBuilder,
    addrs: Vec<SocketAddr>,
}

impl<F, S, B> fmt::Debug for Listener<F, S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

impl<F, I, S, B> Listener<F, S, B>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    /// A server of the apps `factory` makes (one per worker), answering for `state`'s log.
    pub fn new(state: web::Data<AppState>, factory: F) -> Self {
        Self {
            factory,
            app: PhantomData,
            state,
            builder: ServerBuilder::new(),
            addrs: Vec::new(),
        }
    }

    /// Worker threads (default: one per core).
    pub fn workers(mut self, n: usize) -> Self {
        self.builder = self.builder.workers(n);
        self
    }

    /// Blocking threads per worker, for `web::block`.
    pub fn worker_max_blocking_threads(mut self, n: usize) -> Self {
        self.builder = self.builder.worker_max_blocking_threads(n);
        self
    }

    /// Seconds a graceful stop waits for open connections.
    pub fn shutdown_timeout(mut self, seconds: u64) -> Self {
        self.builder = self.builder.shutdown_timeout(seconds);
        self
    }

    /// Listens on `addr`, answering HTTPS with `tls` when given, HTTP otherwise.
    pub fn bind(mut self, addr: SocketAddr, tls: Option<rustls::ServerConfig>) -> io::Result<Self> {
        let listener = tcp_listener(addr)?;
        let local = listener.local_addr()?;
        let name = format!("evfed-{local}");
        let factory = self.factory.clone();
        let signal = self.builder.graceful_shutdown_signal();
        let answer = Refuser {
            state: self.state.clone(),
            https: tls.is_some(),
        };
        self.builder = match tls {
            None => self.builder.listen(name, listener, move || {
                let answer = answer.clone();
                actix_service::fn_service(move |io: TcpStream| {
                    let peer = io.peer_addr().ok();
                    std::future::ready(Ok((HeadGuard::new(io, answer.clone()), peer)))
                })
                .and_then(h1(factory(), signal.clone(), local, false))
            })?,
            Some(mut config) => {
                // What `HttpServer` offers over rustls (no HTTP/2 here).
                let mut alpn = vec![b"http/1.1".to_vec()];
                alpn.append(&mut config.alpn_protocols);
                config.alpn_protocols = alpn;
                self.builder.listen(name, listener, move || {
                    let answer = answer.clone();
                    Acceptor::new(config.clone())
                        .map_err(TlsError::into_service_error)
                        .map(move |io: TlsStream<TcpStream>| {
                            let peer = io.get_ref().0.peer_addr().ok();
                            (HeadGuard::new(io, answer.clone()), peer)
                        })
                        .and_then(
                            h1(factory(), signal.clone(), local, true).map_err(TlsError::Service),
                        )
                })?
            }
        };
        self.addrs.push(local);
        Ok(self)
    }

    /// The addresses bound, in order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    /// Starts the workers; the server runs while the returned future is polled. A graceful
    /// stop sets the state's `stopping`, which wakes the requests that wait.
    pub fn run(self) -> Server {
        let signal = self.builder.graceful_shutdown_signal();
        let state = self.state.clone();
        actix_web::rt::spawn(async move {
            signal.notified().await;
            state.stopping.send_replace(true);
        });
        self.builder.run()
    }
}

/// The HTTP/1 service of one worker, configured as `HttpServer` configures it.
fn h1<T, I, S, B>(
    app: I,
    signal: GracefulShutdownSignal,
    local: SocketAddr,
    secure: bool,
) -> impl ServiceFactory<
    (T, Option<SocketAddr>),
    Config = (),
    Response = (),
    Error = actix_http::error::DispatchError,
    InitError = (),
>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let app = app
        .into_factory()
        .map_err(|err| err.into().error_response());
    let host = local.to_string();
    HttpService::build()
        // Lets a graceful stop close idle keep-alive connections at once, as `HttpServer` does
        // (hidden in actix-http's documentation, but what actix-web calls).
        .graceful_shutdown_signal(move || {
            let signal = signal.clone();
            async move { signal.notified().await }
        })
        .keep_alive(KeepAlive::default())
        .client_request_timeout(Duration::from_secs(5))
        .client_disconnect_timeout(Duration::from_secs(1))
        .h1_allow_half_closed(true)
        .local_addr(local)
        .h1(map_config(app, move |()| {
            // The one public constructor of the app's connection config: the one actix-web's
            // own test server uses (semver-exempt; a change breaks the build, not behaviour).
            AppConfig::__priv_test_new(secure, host.clone(), local)
        }))
}

/// A listening socket on `addr`, as `HttpServer` makes one.
fn tcp_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Answers a refused request head: problem+json with the headers the edge gives every API
/// response and `Evfed-Tree-Size` (spec §10.1), counted as a `4xx`.
#[derive(Clone)]
struct Refuser {
    state: web::Data<AppState>,
    https: bool,
}

impl fmt::Debug for Refuser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refuser")
            .field("https", &self.https)
            .finish_non_exhaustive()
    }
}

impl Answer for Refuser {
    fn answer(&self, why: TooLarge) -> Vec<u8> {
        let detail = match why {
            TooLarge::Fields => format!(
                "the request head has more than {} header fields",
                head::MAX_HEADERS
            ),
            TooLarge::Bytes => format!(
                "the request head is not complete within {} bytes",
                head::MAX_HEAD_BYTES
            ),
        };
        tracing::info!(%detail, "request refused before routing");
        self.state.metrics.requests[3].fetch_add(1, Ordering::Relaxed);
        let problem = Problem::new(ProblemCode::HeadersTooLarge, detail);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut out = format!(
            "HTTP/1.1 431 Request Header Fields Too Large\r\n\
             content-length: {}\r\nconnection: close\r\ndate: {}\r\n{TREE_SIZE_HEADER}: {}\r\n",
            body.len(),
            HttpDate::from(SystemTime::now()),
            self.state.store.public_size(),
        )
        .into_bytes();
        for (name, value) in super::edges::unrouted_headers(self.https).iter() {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&body);
        out
    }
}
