//! The `evfed-aggregator` subcommands.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::web;
use anyhow::{Context as _, bail};
use evfed_node::embed::write_atomic;
use serde::Deserialize;

use crate::harvest::{Harvester, Limits};
use crate::http::{AppState, routes};
use crate::london::London;
use crate::members::{MemberSpec, ReadmitSpec};
use crate::store::Store;
use evfed_node::embed::NodeAreas;
use evfed_node::embed::config::{Origin, parse_duration};

/// `DIR/aggregator.toml`, in the node's configuration style: durations are strings such as
/// `"2s"` or `"500ms"`, the origin is checked as a node's is. The millisecond and second keys of
/// earlier versions (`harvest_interval_ms`, `harvest_connect_timeout_ms`, `harvest_timeout_ms`,
/// `conformance_interval_s`) are still read ([`ConfigFile`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "ConfigFile")]
pub struct Config {
    /// This aggregator's origin.
    pub origin: Origin,
    /// Address `serve` listens on unless `--listen` says otherwise.
    pub listen: SocketAddr,
    /// Pause between harvest rounds.
    pub harvest_interval: Duration,
    /// Members harvested at once.
    pub harvest_concurrency: usize,
    /// Longest wait for a member to accept a connection.
    pub harvest_connect_timeout: Duration,
    /// Longest wait for one whole answer from a member.
    pub harvest_timeout: Duration,
    /// Whether `/v1/compliance/...` is open to everyone (the DPS's transparency) or needs a
    /// `usage:read` token.
    pub compliance_open: bool,
    /// The OAuth 2.0 issuer identifier of its authorization server (`crate::oauth`): the `iss`
    /// of its tokens and base URL of its endpoints. Default `https://ORIGIN`.
    pub oauth_issuer: Option<String>,
    /// The harvester's OAuth 2.0 client for members' `usage:read` tokens (`[usage_client]`).
    pub usage_client: Option<crate::oauth::client::UsageClientConfig>,
    /// Pause between runs of the conformance suite against every member (zero: never).
    pub conformance_interval: Duration,
    /// The level those runs test: core, usage or realtime.
    pub conformance_level: evfed_conformance::Level,
    /// Request limits at the HTTP edge (`[limits]`, as a node's).
    pub limits: evfed_node::embed::config::Limits,
    /// Serve HTTPS with this certificate and key (`[tls]`, paths relative to `DIR`).
    pub tls: Option<evfed_node::embed::config::TlsConfig>,
    /// The dashboard at `/` (`[dashboard]`: basemap tiles, small-number suppression).
    pub dashboard: crate::dashboard::DashboardConfig,
    /// The area set locations are placed in (GeoJSON, relative to `DIR`; docs/adopt.md).
    /// None: London's boroughs and wards, built in.
    pub areas: Option<PathBuf>,
}

/// `aggregator.toml` as written: [`Config`]'s keys, plus the older numeric ones. A duration
/// given both ways is refused rather than one of them silently winning.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    origin: Origin,
    #[serde(default = "default_listen")]
    listen: SocketAddr,
    #[serde(default, deserialize_with = "duration")]
    harvest_interval: Option<Duration>,
    harvest_interval_ms: Option<u64>,
    #[serde(default = "default_concurrency")]
    harvest_concurrency: usize,
    #[serde(default, deserialize_with = "duration")]
    harvest_connect_timeout: Option<Duration>,
    harvest_connect_timeout_ms: Option<u64>,
    #[serde(default, deserialize_with = "duration")]
    harvest_timeout: Option<Duration>,
    harvest_timeout_ms: Option<u64>,
    #[serde(default = "default_true")]
    compliance_open: bool,
    #[serde(default)]
    oauth_issuer: Option<String>,
    #[serde(default)]
    usage_client: Option<crate::oauth::client::UsageClientConfig>,
    #[serde(default, deserialize_with = "duration")]
    conformance_interval: Option<Duration>,
    conformance_interval_s: Option<u64>,
    #[serde(default = "default_conformance_level")]
    conformance_level: evfed_conformance::Level,
    #[serde(default)]
    limits: evfed_node::embed::config::Limits,
    #[serde(default)]
    tls: Option<evfed_node::embed::config::TlsConfig>,
    #[serde(default)]
    dashboard: crate::dashboard::DashboardConfig,
    #[serde(default)]
    areas: Option<PathBuf>,
}

impl TryFrom<ConfigFile> for Config {
    type Error = String;

    fn try_from(f: ConfigFile) -> Result<Self, String> {
        /// The key's value: given as a duration, as an older number of `unit`, or the default.
        fn pick(
            key: &str,
            given: Option<Duration>,
            old: Option<u64>,
            unit: Duration,
            default: Duration,
        ) -> Result<Duration, String> {
            match (given, old) {
                (Some(_), Some(_)) => Err(format!(
                    "`{key}` is given twice, as `{key}` and in its older numeric form: keep `{key}`"
                )),
                (Some(d), None) => Ok(d),
                (None, Some(n)) => u32::try_from(n)
                    .map(|n| unit * n)
                    .map_err(|_| format!("the older form of `{key}` is too large")),
                (None, None) => Ok(default),
            }
        }
        let (ms, s) = (Duration::from_millis(1), Duration::from_secs(1));
        let harvest_interval = pick(
            "harvest_interval",
            f.harvest_interval,
            f.harvest_interval_ms,
            ms,
            DEFAULT_HARVEST_INTERVAL,
        )?;
        if harvest_interval.is_zero() {
            return Err("`harvest_interval` must be more than zero, e.g. \"2s\"".into());
        }
        Ok(Self {
            origin: f.origin,
            listen: f.listen,
            harvest_interval,
            harvest_concurrency: f.harvest_concurrency,
            harvest_connect_timeout: pick(
                "harvest_connect_timeout",
                f.harvest_connect_timeout,
                f.harvest_connect_timeout_ms,
                ms,
                DEFAULT_CONNECT_TIMEOUT,
            )?,
            harvest_timeout: pick(
                "harvest_timeout",
                f.harvest_timeout,
                f.harvest_timeout_ms,
                ms,
                DEFAULT_REQUEST_TIMEOUT,
            )?,
            compliance_open: f.compliance_open,
            oauth_issuer: f.oauth_issuer,
            usage_client: f.usage_client,
            conformance_interval: pick(
                "conformance_interval",
                f.conformance_interval,
                f.conformance_interval_s,
                s,
                DEFAULT_CONFORMANCE_INTERVAL,
            )?,
            conformance_level: f.conformance_level,
            limits: f.limits,
            tls: f.tls,
            dashboard: f.dashboard,
            areas: f.areas,
        })
    }
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

const DEFAULT_HARVEST_INTERVAL: Duration = Duration::from_secs(2);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_CONFORMANCE_INTERVAL: Duration = Duration::from_secs(3_600);

fn default_conformance_level() -> evfed_conformance::Level {
    evfed_conformance::Level::Core
}

fn default_true() -> bool {
    true
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_concurrency() -> usize {
    8
}

const CONFIG: &str = "aggregator.toml";
const DATABASE: &str = "aggregator.db";

/// `init`: a new aggregator directory; `areas` is another city's area set (checked, then
/// copied into the directory), `None` London's.
pub fn init(dir: &Path, origin: &str, areas: Option<&Path>) -> anyhow::Result<()> {
    if dir.join(CONFIG).exists() {
        bail!("{} already holds an aggregator", dir.display());
    }
    if origin.is_empty() || origin.contains(char::is_whitespace) || origin.contains('+') {
        bail!("origin {origin:?} must be non-empty, without white space or '+'");
    }
    let set = match areas {
        Some(file) => Some(NodeAreas::load(file).map_err(anyhow::Error::msg)?),
        None => None,
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let areas_line = match set {
        Some(set) => {
            write_atomic(&dir.join(AREAS_FILE), set.geojson.as_bytes(), 0o644)?;
            format!(
                "# The area set locations are placed in ({}; docs/adopt.md).\nareas = {AREAS_FILE:?}\n",
                set.set.name
            )
        }
        None => {
            "# The area set locations are placed in (GeoJSON, docs/adopt.md); default London's.\n\
                 # areas = \"areas.geojson\"\n"
                .to_owned()
        }
    };
    let text = format!(
        "# evfed-aggregator configuration.\n\
         origin = {origin:?}\n\
         {areas_line}\
         # listen = \"127.0.0.1:8080\"\n\
         # Pause between harvest rounds and members harvested at once.\n\
         # harvest_interval = \"2s\"\n\
         # harvest_concurrency = 8\n\
         # Longest waits for a member: to connect, and for one whole answer.\n\
         # harvest_connect_timeout = \"5s\"\n\
         # harvest_timeout = \"30s\"\n\
         # DPS compliance (docs/compliance.md; suppliers in suppliers.toml): open to everyone,\n\
         # or only to usage:read tokens of this aggregator's issuer.\n\
         # compliance_open = true\n\
         # The conformance suite against every member: pause between runs (\"0s\": never), level.\n\
         # conformance_interval = \"1h\"\n\
         # conformance_level = \"core\"\n\
         # The OAuth 2.0 issuer (the public base URL of /oauth2/token); default https://ORIGIN.\n\
         # oauth_issuer = \"https://{origin}\"\n\
         # The harvester's OAuth 2.0 client: usage:read tokens for members' restricted logs by\n\
         # client credentials (resource = the member's origin), before their stored tokens.\n\
         # token_url defaults to this aggregator's own token endpoint.\n\
         # [usage_client]\n\
         # client_id = \"harvester\"\n\
         # secret_file = \"harvester.secret\"\n\
         # token_url = \"https://as.example/oauth2/token\"\n\
         # Requests a minute let through before 429 (code \"rate-limited\", with Retry-After),\n\
         # per peer address (IPv6 by its /64) and per client (per Authorization value); 0: off.\n\
         # Behind a reverse proxy, limit there and set per_ip_per_minute = 0 here.\n\
         # [limits]\n\
         # per_ip_per_minute = 6000\n\
         # per_client_per_minute = 6000\n\
         # Serve HTTPS directly (rustls), with Strict-Transport-Security: PEM files relative to\n\
         # this directory, the key mode 0600. With [tls], set [usage_client] token_url to a URL\n\
         # the certificate is valid for. Without [tls], plain HTTP.\n\
         # [tls]\n\
         # cert = \"tls/cert.pem\"\n\
         # key = \"tls/key.pem\"\n\
         # The dashboard at / (docs/dashboard.md). Its basemap is the embedded boroughs and\n\
         # wards; a tile server may be added (the page then loads images from it). Open usage\n\
         # figures resting on fewer sessions than min_sessions are suppressed.\n\
         # [dashboard]\n\
         # tile_url = \"https://tiles.example/{{z}}/{{x}}/{{y}}.png\"\n\
         # tile_attribution = \"© OpenStreetMap contributors\"\n\
         # min_sessions = 10\n"
    );
    write_atomic(&dir.join(CONFIG), text.as_bytes(), 0o644)?;
    Store::open(&dir.join(DATABASE))?;
    let vkey = own_log(dir, origin, areas.map(|_| dir.join(AREAS_FILE)).as_deref())?;
    crate::oauth::keys::ensure(dir, origin)?;
    println!("aggregator {origin} initialised in {}", dir.display());
    println!("verifier key of its own log: {vkey}");
    println!(
        "admin API tokens: `evfed-aggregator token issue --dir {} --scope admin`",
        dir.display()
    );
    Ok(())
}

/// The embedded node directory holding the aggregator's own signed log.
const NODE_DIR: &str = "node";

/// The name of the aggregator's copy of another city's area set, in its directory.
const AREAS_FILE: &str = "areas.geojson";

/// Creates the aggregator's own log (`DIR/node`, a node of kind `aggregator`, placing in the
/// same area set) unless it exists; returns its verifier key.
fn own_log(dir: &Path, origin: &str, areas: Option<&Path>) -> anyhow::Result<String> {
    let node_dir = dir.join(NODE_DIR);
    let home = evfed_node::embed::Home::new(&node_dir);
    if home.config_path().exists() {
        return Ok(home
            .vkeys()?
            .first()
            .map(ToString::to_string)
            .unwrap_or_default());
    }
    let origin: evfed_node::embed::config::Origin = origin
        .parse()
        .map_err(|e| anyhow::anyhow!("origin {origin:?}: {e}"))?;
    evfed_node::embed::init(
        &node_dir,
        &origin,
        evfed_node::embed::config::Kind::Aggregator,
        None,
        areas,
        &[],
    )
}

pub(crate) fn load(dir: &Path) -> anyhow::Result<(Config, Store)> {
    let path = dir.join(CONFIG);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (run `evfed-aggregator init` first)",
            path.display()
        )
    })?;
    let config: Config =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let store = Store::open(&dir.join(DATABASE))?;
    Ok((config, store))
}

pub fn add_member(dir: &Path, spec: MemberSpec) -> anyhow::Result<()> {
    let (_, store) = load(dir)?;
    let member = spec.check().map_err(anyhow::Error::msg)?;
    store.add_member(&member)?;
    println!("member {} added", member.origin);
    Ok(())
}

/// `token issue`: an access token for the aggregator's own origin from its authorization
/// server (signed with `DIR/oauth.key`), e.g. `admin` for its admin API or `usage:read` for
/// its usage analytics.
pub fn issue_token(dir: &Path, scopes: &[String], ttl: Duration) -> anyhow::Result<String> {
    let (config, _) = load(dir)?;
    if let Some(s) = scopes
        .iter()
        .find(|s| !crate::oauth::SCOPES.contains(&s.as_str()) || *s == "data:write")
    {
        bail!("scope {s:?} cannot be issued here: use usage:read or admin");
    }
    crate::oauth::keys::ensure(dir, config.origin.as_str())?;
    let keys = crate::oauth::keys::Keys::load(dir)?;
    let issuer = crate::oauth::issuer_of(config.oauth_issuer.as_deref(), config.origin.as_str());
    let now = u64::try_from(unix_ms() / 1000).unwrap_or(0);
    crate::oauth::token::sign(
        &keys.current,
        &evfed_node::embed::tokens::AccessToken {
            issuer: &issuer,
            subject: "evfed-aggregator-cli",
            audience: config.origin.as_str(),
            scope: &scopes.join(" "),
            party: None,
            ttl,
        },
        now,
    )
    .map_err(anyhow::Error::msg)
}

/// `members readmit`: a member that lost its key (or moved origin) after a disaster starts a
/// new log; only an administrator can let it back in, and its history is kept.
pub fn readmit_member(dir: &Path, origin: &str, spec: ReadmitSpec) -> anyhow::Result<()> {
    let (_, store) = load(dir)?;
    let r = spec.check(origin).map_err(anyhow::Error::msg)?;
    store.readmit(origin, &r, unix_ms())?;
    println!(
        "member {origin} re-admitted{}; its harvest starts again from an empty log",
        r.origin
            .as_deref()
            .map(|o| format!(" as {o}"))
            .unwrap_or_default()
    );
    Ok(())
}

pub fn list_members(dir: &Path, as_json: bool) -> anyhow::Result<()> {
    let (_, store) = load(dir)?;
    let members = store.members()?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&members)?);
        return Ok(());
    }
    for m in members {
        println!(
            "{}\t{}\t{:?}\t{:?}\t{} entries\t{}",
            m.origin,
            m.url,
            m.kind,
            m.state,
            m.verified_size,
            m.reason.unwrap_or_default()
        );
    }
    Ok(())
}

pub fn remove_member(dir: &Path, origin: &str) -> anyhow::Result<()> {
    let (_, store) = load(dir)?;
    store.remove_member(origin)?;
    println!("member {origin} removed");
    Ok(())
}

pub fn serve(
    dir: &Path,
    listen: Option<SocketAddr>,
    ready_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    init_tracing();
    let (config, store) = load(dir)?;
    let areas = match &config.areas {
        Some(file) => NodeAreas::load(&dir.join(file)).map_err(anyhow::Error::msg)?,
        None => NodeAreas::london(),
    };
    crate::domain::places::use_areas(areas).map_err(anyhow::Error::msg)?;
    own_log(
        dir,
        config.origin.as_str(),
        config.areas.as_ref().map(|f| dir.join(f)).as_deref(),
    )?;
    crate::oauth::keys::ensure(dir, config.origin.as_str())?;
    let issuer = crate::oauth::issuer_of(config.oauth_issuer.as_deref(), config.origin.as_str());
    let (doc, doc_json) = crate::openapi::served(config.compliance_open);
    let allowed = Arc::new(evfed_node::embed::http::RouteTable::from_document(&doc));
    drop(doc);
    let node = evfed_node::embed::open_as(
        &dir.join(NODE_DIR),
        None,
        doc_json,
        vec![crate::oauth::keys::local_issuer(
            dir,
            &issuer,
            config.origin.as_str(),
        )],
    )?;
    let node_state = node.state.clone();
    if node_state.config.origin != config.origin {
        bail!(
            "{} is the log of {}, not of this aggregator's origin {}",
            dir.join(NODE_DIR).display(),
            node_state.config.origin,
            config.origin
        );
    }
    let store = Arc::new(store);
    let london = Arc::new(London::load(&store, &store.members()?)?);
    crate::publish::reconcile(&london, &node_state.store)?;
    let harvester = Arc::new(Harvester::new(Limits {
        connect: config.harvest_connect_timeout,
        request: config.harvest_timeout,
        ..Limits::default()
    })?);
    let addr = listen.unwrap_or(config.listen);
    let state = web::Data::new(AppState {
        store: store.clone(),
        london: london.clone(),
        origin: config.origin.to_string(),
        dir: dir.to_owned(),
        report_key: Arc::new(evfed_node::embed::Home::new(dir.join(NODE_DIR)).signing_key()?),
        compliance_open: config.compliance_open,
        compliance_cache: crate::compliance::Cache::default(),
        dashboard: Arc::new(crate::dashboard::Dashboard::new(config.dashboard.clone())),
    });
    let oauth = web::Data::new(crate::oauth::AuthServer::new(
        &issuer,
        store.clone(),
        dir.to_owned(),
    ));
    let tls = match &config.tls {
        Some(t) => Some(evfed_node::embed::tls_server_config(dir, t)?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let stop = Arc::new(AtomicBool::new(false));
    let rt = actix_web::rt::System::new();
    rt.block_on(async move {
        let (app_state, app_node) = (state.clone(), node_state.clone());
        // Built once, inside the runtime: both workers count in the same limits.
        let edges = evfed_node::embed::http::Edges::new(config.limits, tls.is_some())
            .with_open_reads(crate::http::open_reads(config.compliance_open));
        let server = evfed_node::embed::http::Listener::new(node_state.clone(), move || {
            let (agg, oauth) = (app_state.clone(), oauth.clone());
            evfed_node::embed::http::app_with(
                app_node.clone(),
                allowed.clone(),
                edges.clone(),
                move |cfg| {
                    cfg.app_data(agg).app_data(oauth);
                    crate::http::pages(crate::oauth::http::routes(routes(cfg)));
                },
            )
        })
        .workers(2);
        let server = server
            .bind(addr, tls)
            .with_context(|| format!("binding {addr}"))?;
        let bound = server
            .addrs()
            .first()
            .copied()
            .context("no address bound")?;
        if let Some(client) = config.usage_client.clone() {
            // Off the executor: a blocking HTTP client must not be made or dropped on it.
            let (dir, own) = (dir.to_owned(), format!("{scheme}://{bound}/oauth2/token"));
            let timeout = config.harvest_timeout;
            let tokens = web::block(move || {
                crate::oauth::client::UsageTokens::new(&client, &dir, &own, timeout)
            })
            .await??;
            harvester.use_oauth(tokens);
        }
        let running = server.shutdown_timeout(10).run();
        let serving = actix_web::rt::spawn(running);
        let ticker = actix_web::rt::spawn(evfed_node::embed::checkpoint_loop(
            node_state.clone(),
            node_state.config.checkpoint_interval,
        ));
        let harvest = {
            let (store, london, stop) = (store.clone(), london.clone(), stop.clone());
            let node_state = node_state.clone();
            let interval = config.harvest_interval;
            let connect = config.harvest_connect_timeout;
            let concurrency = config.harvest_concurrency.max(1);
            std::thread::spawn(move || {
                let round = Round {
                    store: &store,
                    london: &london,
                    harvester: &harvester,
                    own: &node_state,
                    connect,
                };
                harvest_loop(&round, &stop, interval, concurrency)
            })
        };
        let conformance = (!config.conformance_interval.is_zero()).then(|| {
            let (store, stop) = (store.clone(), stop.clone());
            let interval = config.conformance_interval;
            let level = config.conformance_level;
            std::thread::spawn(move || {
                crate::conformance::run_loop(&store, &stop, interval, level, unix_ms)
            })
        });
        if let Some(path) = &ready_file {
            let ready = serde_json::json!({"url": format!("{scheme}://{bound}")});
            write_atomic(path, ready.to_string().as_bytes(), 0o644)?;
        }
        tracing::info!(%bound, origin = %config.origin, "evfed-aggregator ready");
        let result = serving.await;
        stop.store(true, Ordering::Relaxed);
        ticker.abort();
        // A conformance run in progress is not waited for: it only reads from members, and
        // its result is recorded only once it completes.
        drop(conformance);
        let _ = web::block(move || harvest.join()).await;
        evfed_node::embed::sign_final(node_state).await;
        tracing::info!("stopped");
        result
            .context("server task failed")?
            .context("server failed")
    })
}

/// What one harvest round works with.
struct Round<'a> {
    store: &'a Store,
    london: &'a London,
    harvester: &'a Harvester,
    /// The aggregator's own log.
    own: &'a evfed_node::embed::http::AppState,
    /// Longest wait for a member to accept a connection (its follower's too).
    connect: Duration,
}

/// Harvests every member each `interval` (a round: public and usage logs, then the
/// aggregator's own log), and in between, at once, each member whose follower saw it sign
/// more entries (`crate::follow`).
fn harvest_loop(round: &Round<'_>, stop: &AtomicBool, interval: Duration, concurrency: usize) {
    let Round {
        store,
        london,
        harvester,
        own,
        connect,
    } = *round;
    let wake = Arc::new(crate::follow::Wakeups::default());
    let mut followers = crate::follow::Followers::default();
    // Each member's verified size last round: a smaller one means an administrator reset its
    // log (re-admission, possibly from another process), so its old copies go.
    let mut sizes: HashMap<String, u64> = HashMap::new();
    while !stop.load(Ordering::Relaxed) {
        match store.members() {
            Ok(members) => {
                let known: Vec<String> = members.iter().map(|m| m.origin.clone()).collect();
                london.retain_members(&known);
                for m in &members {
                    if sizes.insert(m.origin.clone(), m.verified_size).unwrap_or(0)
                        > m.verified_size
                    {
                        london.forget(&m.origin);
                    }
                }
                followers.sync(&members, &wake, connect);
                crate::harvest::bounded(&members, concurrency, |m| {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    if let Err(e) = harvester.harvest(store, london, m, unix_ms()) {
                        tracing::error!(origin = %m.origin, error = %e, "harvest not recorded");
                    }
                    if let Err(e) = harvester.harvest_usage(store, m, unix_ms()) {
                        tracing::error!(origin = %m.origin, error = %e, "usage harvest not recorded");
                    }
                });
                if stop.load(Ordering::Relaxed) {
                    followers.stop_all();
                    return;
                }
            }
            Err(e) => tracing::error!(error = %e, "reading members"),
        }
        match crate::publish::sync(london, &own.store, &own.policy) {
            Ok(s) if s.looked_at > 0 => {
                tracing::debug!(
                    looked_at = s.looked_at,
                    changed = s.changed,
                    refused = s.refused,
                    "own log synced"
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "writing the London view to the aggregator's log")
            }
        }
        let until = std::time::Instant::now() + interval;
        loop {
            let due = wake.wait(until, stop);
            if due.is_empty() {
                break;
            }
            match store.members() {
                Ok(members) => {
                    let due: Vec<_> = members
                        .into_iter()
                        .filter(|m| due.contains(&m.origin))
                        .collect();
                    crate::harvest::bounded(&due, concurrency, |m| {
                        if let Err(e) = harvester.harvest(store, london, m, unix_ms()) {
                            tracing::error!(origin = %m.origin, error = %e, "harvest not recorded");
                        }
                    });
                }
                Err(e) => tracing::error!(error = %e, "reading members"),
            }
        }
    }
    followers.stop_all();
}

pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn init_tracing() {
    // The node's set-up: no colour codes when stderr is not a terminal (log files).
    evfed_node::embed::init_tracing(evfed_node::embed::config::LogFormat::Text);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn durations_read_in_the_node_style_with_defaults() {
        let c = read("origin = \"agg.example\"\nharvest_interval = \"500ms\"\n").unwrap();
        assert_eq!(c.harvest_interval, Duration::from_millis(500));
        assert_eq!(c.harvest_connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(c.harvest_timeout, DEFAULT_REQUEST_TIMEOUT);
        assert_eq!(c.conformance_interval, DEFAULT_CONFORMANCE_INTERVAL);
        assert_eq!(c.origin.as_str(), "agg.example");
        let off = read("origin = \"agg.example\"\nconformance_interval = \"0s\"\n").unwrap();
        assert!(off.conformance_interval.is_zero());
    }

    #[test]
    fn the_older_numeric_keys_still_read() {
        let c = read(
            "origin = \"agg.example\"\nharvest_interval_ms = 100\n\
             harvest_connect_timeout_ms = 500\nharvest_timeout_ms = 1500\n\
             conformance_interval_s = 0\n",
        )
        .unwrap();
        assert_eq!(c.harvest_interval, Duration::from_millis(100));
        assert_eq!(c.harvest_connect_timeout, Duration::from_millis(500));
        assert_eq!(c.harvest_timeout, Duration::from_millis(1500));
        assert!(c.conformance_interval.is_zero());
    }

    #[test]
    fn bad_values_say_what_to_write() {
        let twice =
            read("origin = \"a.example\"\nharvest_timeout = \"1s\"\nharvest_timeout_ms = 9\n");
        assert!(twice.unwrap_err().contains("keep `harvest_timeout`"));
        let word = read("origin = \"a.example\"\nharvest_interval = \"soon\"\n").unwrap_err();
        assert!(word.contains("not a duration"), "{word}");
        let zero = read("origin = \"a.example\"\nharvest_interval = \"0ms\"\n").unwrap_err();
        assert!(zero.contains("more than zero"), "{zero}");
        let unknown = read("origin = \"a.example\"\nharvest_intervall = \"1s\"\n").unwrap_err();
        assert!(unknown.contains("harvest_intervall"), "{unknown}");
        assert!(
            read("origin = \"a b\"\n").is_err(),
            "origins are checked as a node's"
        );
    }

    /// What `init` writes reads back, and so does it with every commented key and table
    /// uncommented.
    #[test]
    fn the_template_reads_back() {
        let dir = std::env::temp_dir().join(format!("evfed-agg-config-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        init(&dir, "agg.example", None).unwrap();
        let text = std::fs::read_to_string(dir.join(CONFIG)).unwrap();
        read(&text).unwrap();
        let uncommented: String = text
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest)
                    if rest.split_once(" = ").is_some_and(|(key, _)| {
                        !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    }) || (rest.starts_with('[') && rest.ends_with(']')) =>
                {
                    rest
                }
                _ => l,
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let _ = std::fs::remove_dir_all(&dir);
        let c = read(&uncommented).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
        assert_eq!(c.harvest_interval, DEFAULT_HARVEST_INTERVAL);
        assert_eq!(c.conformance_interval, DEFAULT_CONFORMANCE_INTERVAL);
    }
}
