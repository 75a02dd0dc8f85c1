//! A node's server at run time: the node opened for serving ([`OpenNode`]), `serve`'s actix
//! runtime around the listener ([`run`]: bind, prove `/healthz` answers, announce readiness in
//! the ready file and `DIR/serve.json`, start the background work, stop on SIGINT/SIGTERM), the
//! checkpoint ticker ([`checkpoint_loop`]) and the final checkpoint ([`sign_final`]). The
//! aggregator embeds an [`OpenNode`] as its own log and runs the same ticker.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use actix_web::web;
use anyhow::{Context as _, anyhow};

use super::AppState;
use crate::commands::unix_now;
use crate::domain::records;
use crate::home::{DirLock, Home, write_atomic};

/// A node opened for serving: its directory lock held, its store and signer open (every entry
/// covered by a checkpoint), and the state its handlers share. `serve` runs one; the
/// aggregator embeds one as its own log.
#[derive(Debug)]
pub struct OpenNode {
    pub state: web::Data<AppState>,
    pub home: Home,
    _lock: DirLock,
}

/// What `serve` does besides serving, started once the server is ready and announced: a
/// function that starts it and returns how to stop it (blocking, after the server stopped).
pub type Background<'a> = Box<dyn FnOnce() -> anyhow::Result<Stop> + 'a>;

/// Stops background work; may block.
pub type Stop = Box<dyn FnOnce() + Send>;

/// How [`run`] announces itself.
#[derive(Debug)]
pub struct Announce<'a> {
    /// Where to write `{"url": …}` once the server answers.
    pub ready_file: Option<&'a Path>,
    /// When `serve` started (for the ready log line).
    pub started: Instant,
}

/// Locations whose pending status changes the ticker writes into their bodies per tick: enough
/// to catch up with a busy estate within a minute, little enough (a few ms) not to hold up
/// writers.
const FOLD_PER_TICK: usize = 500;

/// The shortest time between two checkpoints of the same log (STANDARD.md RT-1): a write is
/// covered at once unless a checkpoint was signed this recently, and then at the end of this
/// window, so a log gets at most 50 checkpoints a second however fast it is written.
pub const MIN_CHECKPOINT_GAP: Duration = Duration::from_millis(20);

impl OpenNode {
    /// The node of `home`, serving `state`, while `lock` is held.
    pub fn new(state: AppState, home: Home, lock: DirLock) -> Self {
        Self {
            state: web::Data::new(state),
            home,
            _lock: lock,
        }
    }
}

/// Serves `node` until SIGINT or SIGTERM, then stops `background` and signs a final checkpoint.
pub fn run(
    node: OpenNode,
    announce: Announce<'_>,
    background: Background<'_>,
) -> anyhow::Result<()> {
    let OpenNode { state, home, _lock } = node;
    let listen = state.config.listen;
    let interval = state.config.checkpoint_interval;
    let app_state = state.clone();
    let serve_file = home.serve_file_path();
    let tls = match &state.config.tls {
        Some(t) => Some(crate::tls::server_config(home.dir(), t)?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let limits = state.config.limits;
    actix_web::rt::System::new().block_on(async move {
        // Built once, inside the runtime: every worker counts in the same limits.
        let edges = super::Edges::new(limits, tls.is_some());
        let allowed = super::route_table();
        let server = super::listen::Listener::new(state.clone(), move || {
            // The operator's page at `/` is the node's own: an embedding aggregator has its own.
            super::app_with(
                app_state.clone(),
                allowed.clone(),
                edges.clone(),
                super::home_page,
            )
        });
        let server = server
            .bind(listen, tls)
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = server
            .addrs()
            .first()
            .copied()
            .ok_or_else(|| anyhow!("no address bound"))?;
        let server = server
            .shutdown_timeout(10)
            .worker_max_blocking_threads(4)
            .run();
        // Run the server (which installs its SIGINT/SIGTERM handlers when first polled) and
        // prove it answers before announcing readiness.
        let serving = actix_web::rt::spawn(server);
        let plain = scheme == "http";
        web::block(move || probe(addr, plain))
            .await?
            .context("the server did not answer /healthz")?;
        if let Some(path) = announce.ready_file {
            let ready = serde_json::json!({ "url": format!("{scheme}://{addr}") });
            write_atomic(path, ready.to_string().as_bytes(), 0o644)?;
        }
        // Tells `import` (which cannot take the directory lock while this runs) where to send.
        let announced = serde_json::json!({
            "url": format!("{scheme}://{}", reachable(addr)),
            "pid": std::process::id(),
        });
        write_atomic(&serve_file, announced.to_string().as_bytes(), 0o644)?;
        tracing::info!(%addr, ready_ms = announce.started.elapsed().as_millis() as u64, "evfed-node ready");
        let ticker = actix_web::rt::spawn(checkpoint_loop(state.clone(), interval));
        let stop = background()?;
        let served = serving.await;
        let _ = std::fs::remove_file(&serve_file);
        served
            .context("server task failed")?
            .context("server failed")?;
        ticker.abort();
        web::block(stop).await?;
        sign_final(state).await;
        Ok(())
    })
}

/// Signs a last checkpoint over whatever the log grew by (at shutdown).
pub async fn sign_final(state: web::Data<AppState>) {
    let signed = web::block(move || state.signer.sign_grown(&state.store, unix_now(), false)).await;
    match signed {
        Ok(Ok(n)) => tracing::info!(signed = n, "final checkpoint signed; stopped"),
        Ok(Err(e)) => tracing::error!(error = %e, "final checkpoint not signed"),
        Err(e) => tracing::error!(error = %e, "final checkpoint not signed"),
    }
}

/// The background work of a serving node: signs a checkpoint as soon as a write grows a log
/// (at most one per [`MIN_CHECKPOINT_GAP`]), and every `interval` also folds pending statuses
/// and checkpoints the WAL (and signs, should a wake-up ever be missed).
pub async fn checkpoint_loop(state: web::Data<AppState>, interval: Duration) {
    let mut tick = actix_web::rt::time::interval(interval);
    let mut last_signed = Instant::now() - MIN_CHECKPOINT_GAP;
    loop {
        let housekeeping = tokio::select! {
            _ = tick.tick() => true,
            () = state.store.grown().notified() => false,
        };
        let since = last_signed.elapsed();
        if !housekeeping && since < MIN_CHECKPOINT_GAP {
            actix_web::rt::time::sleep(MIN_CHECKPOINT_GAP - since).await;
        }
        let st = state.clone();
        match web::block(move || st.signer.sign_grown(&st.store, unix_now(), false)).await {
            Ok(Ok(n)) => {
                if n > 0 {
                    last_signed = Instant::now();
                }
                state
                    .metrics
                    .checkpoints_signed
                    .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(Err(e)) => tracing::error!(error = %e, "checkpoint not signed"),
            Err(e) => tracing::error!(error = %e, "checkpoint task failed"),
        }
        if !housekeeping {
            continue;
        }
        let st = state.clone();
        if let Ok(Err(e)) =
            web::block(move || records::fold_pending(&st.store, FOLD_PER_TICK)).await
        {
            tracing::warn!(error = %e, "folding status changes into locations failed");
        }
        let st = state.clone();
        if let Ok(Err(e)) = web::block(move || st.store.checkpoint_wal()).await {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

/// The address a local client reaches a server bound to `addr` at (loopback for a wildcard).
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, addr.port()))
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

/// One `GET /healthz` over a plain socket; over HTTPS (`plain` false), only that the server
/// accepts a connection (its certificate need not name the loopback address).
fn probe(addr: SocketAddr, plain: bool) -> std::io::Result<()> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    if !plain {
        return Ok(());
    }
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    if head.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        Err(std::io::Error::other("unexpected answer"))
    }
}
