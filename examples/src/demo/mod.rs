//! `london-demo`: a whole local London federation. It starts real `evfed-node` processes (a
//! node per borough and per operator), loads the synthetic London into them with 400 days of
//! history (sessions and status changes, `history`), then starts an `evfed-aggregator` on
//! loopback with every node registered, waits until the aggregator has verified every node's
//! public and restricted log, and then keeps the data moving: the simulation's status changes
//! and sessions sent as they happen.
//!
//! The history is sent before the aggregator first reads the nodes, so that it is history to
//! the aggregator and not a year-late live feed (its freshness indicator counts a status
//! change's lag only after a member's first harvest). For the same reason nothing is replayed
//! late after that: earlier versions replayed the last day at `--pace` times real time, and
//! every supplier's freshness read "p95 status lag up to 86400 s". The simulation cannot run
//! ahead of the clock (a node refuses times in the future), so after the back-fill it follows
//! the clock; `--pace 0` still means no changes after loading. A reused data directory
//! carries on from the latest status change its nodes hold and back-fills the time the demo
//! was stopped the same way (the aggregator reads a member re-added with its new port from
//! the start, so to it that is history too).
//!
//! At `--scale small` (about 1,000 EVSEs) 400 days are about 630,000 sessions and 1.3
//! million status changes; the back-fill sends every session (each to one node) but only the
//! status changes that matter for reliability before the last 30 days (`history`).
//!
//! The demo only uses the binaries' public surface: their command lines (`init`, `serve`,
//! `token issue`, `members add|list|remove`) and HTTP APIs.

mod cli;
mod feed;
mod history;
mod http;
mod plan;
mod procs;
mod suppliers;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

pub use plan::{Kind, NodePlan, plan};

use crate::synth::activity::{Activity, local_hour_minute};
use crate::synth::{self, Scale, World};
use cli::{
    Member, init_aggregator, init_node, issue_token, reader_token, sync_members, write_tokens,
};
use feed::{Feeder, Ready, ReadyNode, Sent};
use history::Part;
use http::Http;
use procs::{Children, Handle, POLL};

/// How long a process gets to announce it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the aggregator gets to verify every node after loading.
const SYNC_TIMEOUT: Duration = Duration::from_secs(900);
/// How often the slow supplier's node (`slow_feed`) gets its status changes and sessions.
const SLOW_FEED: Duration = Duration::from_secs(240);
/// The aggregator's pause between harvest rounds, shorter than its default so the demo's
/// changes show within a second.
pub(crate) const HARVEST_INTERVAL: &str = "500ms";

/// What `london-demo` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Keep nodes and aggregator here (reused when run again); `None` for a temporary
    /// directory removed at exit.
    pub data_dir: Option<PathBuf>,
    /// Where the aggregator listens.
    pub listen: SocketAddr,
    pub scale: Scale,
    pub seed: u64,
    /// Written once the aggregator has verified every node.
    pub ready_file: Option<PathBuf>,
    /// Simulated seconds per real second (0: no changes after loading).
    pub pace: f64,
    pub boroughs: usize,
    pub operators: usize,
    /// Seconds of history sent at start-up (`--history-days`, 400 days by default).
    pub history_s: i64,
}

/// The `evfed-node` and `evfed-aggregator` executables.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub node: PathBuf,
    pub aggregator: PathBuf,
}

impl Binaries {
    /// The binaries in `dir` (cargo puts all of a workspace's binaries in one directory).
    pub fn in_dir(dir: &Path) -> anyhow::Result<Self> {
        let node = dir.join("evfed-node");
        let aggregator = dir.join("evfed-aggregator");
        let missing: Vec<&str> = [("evfed-node", &node), ("evfed-aggregator", &aggregator)]
            .into_iter()
            .filter(|(_, p)| !p.is_file())
            .map(|(n, _)| n)
            .collect();
        if !missing.is_empty() {
            let release = dir.ends_with("release");
            bail!(
                "{} not found in {}; the demo runs the workspace's real binaries, so build them \
                 first: cargo build{} --workspace --bins",
                missing.join(" and "),
                dir.display(),
                if release { " --release" } else { "" }
            );
        }
        Ok(Binaries { node, aggregator })
    }

    /// The binaries beside the running executable.
    pub fn beside_current_exe() -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("finding the running executable")?;
        let dir = exe.parent().context("the executable has no directory")?;
        Self::in_dir(dir)
    }
}

/// A node of the running federation.
#[derive(Debug)]
struct Node {
    plan: NodePlan,
    dir: PathBuf,
    handle: Handle,
    url: String,
    /// The verifier key `init` printed, for a node created by this run.
    vkey: Option<String>,
}

/// Runs the demo until `stop` is raised (by SIGINT or SIGTERM).
pub fn run(opts: &Options, bins: &Binaries, stop: &AtomicBool) -> anyhow::Result<()> {
    let started = Instant::now();
    let http = Http::new()?;
    let world = synth::generate(opts.seed, opts.scale)?;
    let plans = plan(&world, opts.boroughs, opts.operators)?;
    let temp;
    let root = match &opts.data_dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::Builder::new().prefix("london-demo-").tempdir()?;
            temp.path().to_owned()
        }
    };
    let logs = root.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    println!(
        "london-demo: {} borough and {} operator nodes, synthetic London of {} locations ({} EVSEs, seed {})",
        plans.iter().filter(|p| p.kind == Kind::Borough).count(),
        plans.iter().filter(|p| p.kind == Kind::Cpo).count(),
        world.sites.len(),
        world.evse_count(),
        opts.seed,
    );
    println!(
        "  data in {}{}, logs in {}",
        root.display(),
        if opts.data_dir.is_none() {
            " (removed at exit)"
        } else {
            ""
        },
        logs.display()
    );

    // Nodes and the aggregator are created once; a reused directory keeps them.
    let mut vkeys = Vec::new();
    for p in &plans {
        vkeys.push(init_node(bins, &root.join("nodes").join(&p.slug), p)?);
    }
    let agg_dir = root.join("aggregator");
    init_aggregator(bins, &agg_dir)?;

    let mut children = Children::default();
    let mut nodes = Vec::new();
    for (p, vkey) in plans.into_iter().zip(vkeys) {
        let dir = root.join("nodes").join(&p.slug);
        let ready = dir.join("ready.json");
        let _ = std::fs::remove_file(&ready);
        let mut cmd = Command::new(&bins.node);
        cmd.arg("serve")
            .arg("--dir")
            .arg(&dir)
            .args(["--listen", "127.0.0.1:0", "--ready-file"])
            .arg(&ready);
        let handle = children.spawn(&p.origin, cmd, &logs.join(format!("{}.log", p.slug)))?;
        nodes.push(Node {
            plan: p,
            dir,
            handle,
            url: String::new(),
            vkey,
        });
    }
    for n in &mut nodes {
        n.url = children.wait_ready(n.handle, &n.dir.join("ready.json"), stop, READY_TIMEOUT)?;
    }
    println!(
        "  {} nodes up after {:.1} s; loading them",
        nodes.len(),
        started.elapsed().as_secs_f64()
    );
    let now = chrono::Utc::now().timestamp();
    let loaded_now = load_all(
        &http,
        bins,
        &nodes,
        &world,
        Activity::begins(now - opts.history_s),
        stop,
    )?;
    let feeder = Feeder {
        urls: nodes.iter().map(|n| n.url.clone()).collect(),
        tokens: write_tokens(bins, &nodes)?,
        publishers: plan::publishers(
            &world,
            &nodes.iter().map(|n| n.plan.clone()).collect::<Vec<_>>(),
        ),
        usage_publisher: plan::usage_publishers(
            &world,
            &nodes.iter().map(|n| n.plan.clone()).collect::<Vec<_>>(),
        ),
    };
    let from = if loaded_now {
        now - opts.history_s
    } else {
        history::resume_point(&http, &feeder.urls, now, opts.history_s)?
    };
    let days = (now - from) as f64 / 86_400.0;
    let (_, done) = history::backfill(
        &http,
        &feeder,
        &world,
        opts.seed,
        from,
        now,
        Part::StatusChanges,
        stop,
    )?;
    println!(
        "  history: {days:.0} days, {} of {} status changes sent in {:.1} s",
        done.sent.status_changes, done.simulated.status_changes, done.secs
    );
    // The aggregator's first harvest must find the history signed, or the rest of it would
    // count as late in the next one.
    wait_signed(&http, &mut children, &nodes, stop)?;

    sync_members(bins, &agg_dir, &nodes)?;
    suppliers::write(
        &agg_dir,
        &world,
        &nodes.iter().map(|n| n.plan.clone()).collect::<Vec<_>>(),
    )?;
    let agg_ready = agg_dir.join("ready.json");
    let _ = std::fs::remove_file(&agg_ready);
    let mut cmd = Command::new(&bins.aggregator);
    cmd.arg("serve")
        .arg("--dir")
        .arg(&agg_dir)
        .arg("--listen")
        .arg(opts.listen.to_string())
        .arg("--ready-file")
        .arg(&agg_ready);
    let agg = children.spawn("evfed-aggregator", cmd, &logs.join("aggregator.log"))?;
    let agg_url = children
        .wait_ready(agg, &agg_ready, stop, READY_TIMEOUT)
        .with_context(|| {
            format!(
                "the aggregator did not start on {}; if that address is taken, pass \
                 --listen 127.0.0.1:0 for a free port",
                opts.listen
            )
        })?;
    println!(
        "  the aggregator is up after {:.1} s; sending the history's sessions",
        started.elapsed().as_secs_f64()
    );
    let (mut activity, done) = history::backfill(
        &http,
        &feeder,
        &world,
        opts.seed,
        from,
        now,
        Part::Sessions,
        stop,
    )?;
    println!(
        "  history: {days:.0} days, {} sessions sent in {:.1} s; waiting for the aggregator \
         to verify every node",
        done.sent.sessions, done.secs
    );

    let targets = nodes
        .iter()
        .map(|n| log_sizes(&http, &n.url))
        .collect::<anyhow::Result<Vec<LogSizes>>>()?;
    wait_for_sync(&http, &mut children, &agg_url, &nodes, &targets, stop)?;
    let london = http.total_count(&format!("{agg_url}/v1/london/locations?limit=1"))?;
    if let Some(path) = &opts.ready_file {
        write_ready(path, &agg_url, &nodes)?;
    }
    print_ready(&http, started, &agg_url, &nodes, london);
    match reader_token(bins, &agg_dir) {
        Ok(t) => println!(
            "  usage analytics (sessions the aggregator read from the nodes' restricted logs):\n    \
             curl -H 'Authorization: Bearer {t}' '{agg_url}/v1/london/usage?by=hour&area=borough'\n"
        ),
        Err(e) => println!("  (no usage:read token for the aggregator's usage analytics: {e:#})\n"),
    }

    match opts.pace > 0.0 {
        true => {
            let slow = slow_feed(&nodes);
            println!(
                "Synthetic London carries on as it happens: status changes to every node \
                 publishing the site, each session to one node{}. Ctrl-C to stop.",
                slow.map_or_else(String::new, |n| format!(
                    "; {} gets its changes only every {} s (a slow back office)",
                    nodes[n].plan.origin,
                    SLOW_FEED.as_secs()
                ))
            );
            feed_loop(
                &http,
                &mut children,
                &feeder,
                &mut activity,
                opts.pace,
                slow,
                stop,
            )?;
        }
        false => {
            println!("No changes after loading (--pace 0). Ctrl-C to stop.");
            while !stop.load(Ordering::Relaxed) {
                children.check_all()?;
                std::thread::sleep(POLL * 4);
            }
        }
    }
    println!("london-demo: stopping");
    let failed = children.stop_all();
    if !failed.is_empty() {
        bail!("not every process stopped cleanly: {}", failed.join("; "));
    }
    println!("london-demo: stopped");
    Ok(())
}

/// Loads every node that holds no location yet, in parallel (the nodes do the work), as the
/// world is when the simulation begins at `begin`. True when no node held any.
fn load_all(
    http: &Http,
    bins: &Binaries,
    nodes: &[Node],
    world: &World,
    begin: i64,
    stop: &AtomicBool,
) -> anyhow::Result<bool> {
    std::thread::scope(|s| {
        let jobs: Vec<_> = nodes
            .iter()
            .map(|n| {
                s.spawn(move || -> anyhow::Result<bool> {
                    if stop.load(Ordering::Relaxed) {
                        bail!("stopped");
                    }
                    let held = http.total_count(&format!("{}/v1/locations?limit=1", n.url))?;
                    if held > 0 {
                        println!("  {}: holds {held} locations already", n.plan.origin);
                        return Ok(false);
                    }
                    let token = issue_token(bins, &n.dir, None, "admin")?;
                    let t = Instant::now();
                    let l = feed::load(http, &n.url, &token, world, &n.plan.sites, begin)?;
                    println!(
                        "  {}: {} locations loaded in {:.1} s",
                        n.plan.origin,
                        l.created + l.updated + l.unchanged,
                        t.elapsed().as_secs_f64()
                    );
                    Ok(true)
                })
            })
            .collect();
        jobs.into_iter().try_fold(true, |all, j| {
            let loaded = j
                .join()
                .map_err(|_| anyhow::anyhow!("a loading thread panicked"))??;
            anyhow::Ok(all && loaded)
        })
    })
}

/// A node's log sizes, from `/metrics`.
#[derive(Debug, Clone, Copy)]
struct LogSizes {
    public: u64,
    restricted: u64,
    /// Entries of the public log its latest checkpoint covers.
    public_signed: u64,
}

fn log_sizes(http: &Http, url: &str) -> anyhow::Result<LogSizes> {
    let text = http.get_text(&format!("{url}/metrics"))?;
    let metric = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .with_context(|| format!("{url}/metrics has no {name}"))
    };
    Ok(LogSizes {
        public: metric("evfed_log_size{log=\"public\"}")?,
        restricted: metric("evfed_log_size{log=\"restricted\"}")?,
        public_signed: metric("evfed_log_signed_size{log=\"public\"}")?,
    })
}

/// Waits until every node has signed a checkpoint of its whole public log.
fn wait_signed(
    http: &Http,
    children: &mut Children,
    nodes: &[Node],
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    for n in nodes {
        loop {
            children.check_all()?;
            if stop.load(Ordering::Relaxed) {
                bail!("stopped");
            }
            let s = log_sizes(http, &n.url)?;
            if s.public_signed >= s.public {
                break;
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!(
                    "{} had signed {} of its {} public entries after {} s",
                    n.plan.origin,
                    s.public_signed,
                    s.public,
                    READY_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(POLL);
        }
    }
    Ok(())
}

/// Waits until the aggregator reports every node `ok` with at least `targets[i]` entries of
/// its public and restricted logs verified.
fn wait_for_sync(
    http: &Http,
    children: &mut Children,
    agg_url: &str,
    nodes: &[Node],
    targets: &[LogSizes],
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut reported = Instant::now();
    loop {
        children.check_all()?;
        if stop.load(Ordering::Relaxed) {
            bail!("stopped");
        }
        let members: Vec<Member> = http.get(&format!("{agg_url}/v1/members"))?;
        let mut behind = Vec::new();
        for (n, target) in nodes.iter().zip(targets) {
            let m = members.iter().find(|m| m.origin == n.plan.origin);
            match m {
                Some(m) if m.state == "invalid" || m.state == "forked" => bail!(
                    "the aggregator found {} {}: {}",
                    m.origin,
                    m.state,
                    m.reason.as_deref().unwrap_or("no reason given")
                ),
                Some(m)
                    if m.state == "ok"
                        && m.verified_size >= target.public
                        && m.usage_verified() >= target.restricted => {}
                Some(m) => behind.push(format!(
                    "{} {} {}/{} public, {}/{} restricted",
                    m.origin,
                    m.state,
                    m.verified_size,
                    target.public,
                    m.usage_verified(),
                    target.restricted
                )),
                None => behind.push(format!("{} not registered", n.plan.origin)),
            }
        }
        if behind.is_empty() {
            return Ok(());
        }
        if started.elapsed() > SYNC_TIMEOUT {
            bail!(
                "the aggregator had not verified every node after {} s: {}",
                SYNC_TIMEOUT.as_secs(),
                behind.join(", ")
            );
        }
        if reported.elapsed() > Duration::from_secs(5) {
            println!("  waiting for the aggregator: {}", behind.join(", "));
            reported = Instant::now();
        }
        std::thread::sleep(POLL * 2);
    }
}

/// Writes the ready file atomically (a temporary file renamed into place).
fn write_ready(path: &Path, agg_url: &str, nodes: &[Node]) -> anyhow::Result<()> {
    let ready = Ready {
        aggregator: agg_url.to_owned(),
        nodes: nodes
            .iter()
            .map(|n| ReadyNode {
                origin: n.plan.origin.clone(),
                url: n.url.clone(),
                kind: n.plan.kind.as_str(),
            })
            .collect(),
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, serde_json::to_vec_pretty(&ready)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn print_ready(http: &Http, started: Instant, agg_url: &str, nodes: &[Node], london: u64) {
    println!(
        "\nLondon is up after {:.1} s: the aggregator has verified all {} nodes; {london} locations in the London view.\n",
        started.elapsed().as_secs_f64(),
        nodes.len()
    );
    println!("  Dashboard       {agg_url}/   <- open this in a browser\n");
    println!("  London view     {agg_url}/v1/london/locations");
    println!("  by borough      {agg_url}/v1/london/stats/boroughs");
    println!("  status          {agg_url}/v1/london/status");
    println!("  members         {agg_url}/v1/members");
    println!("  DPS compliance  {agg_url}/v1/compliance/suppliers");
    println!("  API docs        {agg_url}/docs/\n");
    println!(
        "  nodes (API docs at /docs, OpenAPI at /openapi.json, open OCPI feed at /ocpi/versions):"
    );
    for n in nodes {
        let held = http
            .total_count(&format!("{}/v1/locations?limit=1", n.url))
            .map_or_else(|_| "?".to_owned(), |c| c.to_string());
        println!(
            "    {:<8} {:<36} {}/docs  {held} locations",
            n.plan.kind.as_str(),
            n.plan.origin,
            n.url
        );
    }
    println!();
}

/// The node whose operator's back office sends its changes only every [`SLOW_FEED`] (the last
/// operator node), so that the compliance page shows one supplier amber for freshness beside
/// the prompt ones, as a real federation would.
fn slow_feed(nodes: &[Node]) -> Option<usize> {
    nodes.iter().rposition(|n| n.plan.kind == Kind::Cpo)
}

/// Sends the simulation's events as simulated time passes, until `stop`; the node `slow`
/// gets them only every [`SLOW_FEED`].
fn feed_loop(
    http: &Http,
    children: &mut Children,
    feeder: &Feeder,
    activity: &mut Activity,
    pace: f64,
    slow: Option<usize>,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let real_start = Instant::now();
    let sim_start = activity.now();
    let mut total = Sent::default();
    let mut reported = Instant::now();
    let mut held = Vec::new();
    let mut flushed = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        children.check_all()?;
        let now = chrono::Utc::now().timestamp();
        // Since the back-fill the simulation is a little behind the clock; it catches up at
        // `pace` and then follows the clock (a node refuses times in the future).
        let sim = sim_start + (real_start.elapsed().as_secs_f64() * pace) as i64;
        let until = sim.min(now);
        let events = activity.advance(until);
        let mut sent = feeder.send_where(http, &events, |n| Some(n) != slow);
        if slow.is_some() {
            held.extend(events);
            if flushed.elapsed() >= SLOW_FEED {
                let late = feeder.send_where(http, &held, |n| Some(n) == slow);
                sent = sent.and_then(|s| {
                    late.map(|l| Sent {
                        appended: s.appended + l.appended,
                        ..s
                    })
                });
                held.clear();
                flushed = Instant::now();
            }
        }
        match sent {
            Ok(s) => total.add(s),
            // A node that is stopping answers no more; anything else is reported and the
            // demo goes on.
            Err(_) if stop.load(Ordering::Relaxed) => break,
            Err(e) => println!("  sending changes failed: {e:#}"),
        }
        if reported.elapsed() >= Duration::from_secs(10) {
            let (h, m) = local_hour_minute(until);
            println!(
                "  {:02}:{:02} London time (simulated): {} status changes and {} sessions sent so far",
                h, m, total.status_changes, total.sessions
            );
            reported = Instant::now();
        }
        let next = Instant::now() + Duration::from_secs(1);
        while Instant::now() < next && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(POLL);
        }
    }
    Ok(())
}
