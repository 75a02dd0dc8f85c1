//! `london-demo`: a whole local London federation. It starts real `evfed-node` processes (a
//! node per borough and per operator) and an `evfed-aggregator`, all on loopback, loads the
//! synthetic London into the nodes, registers them with the aggregator, waits until the
//! aggregator has verified every node's log, and then keeps the data moving: status changes
//! and sessions, replayed from a day ago at `pace` times real time until they reach now.
//!
//! The demo only uses the binaries' public surface: their command lines (`init`, `serve`,
//! `token issue`, `members add|list|remove`) and HTTP APIs.

mod cli;
mod feed;
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
use feed::{Feeder, Ready, ReadyNode};
use http::Http;
use procs::{Children, Handle, POLL};

/// How far back the replay of activity starts.
const REPLAY: i64 = 24 * 3600;
/// How long a process gets to announce it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the aggregator gets to verify every node after loading.
const SYNC_TIMEOUT: Duration = Duration::from_secs(900);
/// The aggregator's pause between harvest rounds, shorter than its default so the demo's
/// changes show within a second.
pub(crate) const HARVEST_INTERVAL_MS: u64 = 500;

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
        "  {} processes up after {:.1} s; loading the nodes",
        nodes.len() + 1,
        started.elapsed().as_secs_f64()
    );
    load_all(&http, bins, &nodes, &world, stop)?;
    let activity_start = chrono::Utc::now().timestamp() - REPLAY;
    let mut activity = (opts.pace > 0.0).then(|| Activity::new(&world, opts.seed, activity_start));
    let feeder = Feeder {
        urls: nodes.iter().map(|n| n.url.clone()).collect(),
        tokens: write_tokens(bins, &nodes)?,
        publishers: plan::publishers(
            &world,
            &nodes.iter().map(|n| n.plan.clone()).collect::<Vec<_>>(),
        ),
    };
    if let Some(a) = &activity {
        feeder.send(&http, &a.statuses())?;
    }

    let targets = nodes
        .iter()
        .map(|n| public_log_size(&http, &n.url))
        .collect::<anyhow::Result<Vec<u64>>>()?;
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

    match activity.as_mut() {
        Some(a) => {
            println!(
                "Replaying synthetic London from 24 h ago at {}x real time until it reaches now \
                 (status changes and sessions to every node publishing the site). Ctrl-C to stop.",
                opts.pace
            );
            feed_loop(&http, &mut children, &feeder, a, opts.pace, stop)?;
        }
        None => {
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

/// Loads every node that holds no location yet, in parallel (the nodes do the work).
fn load_all(
    http: &Http,
    bins: &Binaries,
    nodes: &[Node],
    world: &World,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    std::thread::scope(|s| {
        let jobs: Vec<_> = nodes
            .iter()
            .map(|n| {
                s.spawn(move || -> anyhow::Result<()> {
                    if stop.load(Ordering::Relaxed) {
                        bail!("stopped");
                    }
                    let held = http.total_count(&format!("{}/v1/locations?limit=1", n.url))?;
                    if held > 0 {
                        println!("  {}: holds {held} locations already", n.plan.origin);
                        return Ok(());
                    }
                    let token = issue_token(bins, &n.dir, None, "admin")?;
                    let t = Instant::now();
                    let l = feed::load(http, &n.url, &token, world, &n.plan.sites)?;
                    println!(
                        "  {}: {} locations loaded in {:.1} s",
                        n.plan.origin,
                        l.created + l.updated + l.unchanged,
                        t.elapsed().as_secs_f64()
                    );
                    Ok(())
                })
            })
            .collect();
        jobs.into_iter().try_for_each(|j| {
            j.join()
                .map_err(|_| anyhow::anyhow!("a loading thread panicked"))?
        })
    })
}

/// The node's public log size, from `/metrics`.
fn public_log_size(http: &Http, url: &str) -> anyhow::Result<u64> {
    let text = http.get_text(&format!("{url}/metrics"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("evfed_log_size{log=\"public\"} "))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("{url}/metrics has no public log size"))
}

/// Waits until the aggregator reports every node `ok` with at least `targets[i]` entries
/// verified.
fn wait_for_sync(
    http: &Http,
    children: &mut Children,
    agg_url: &str,
    nodes: &[Node],
    targets: &[u64],
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
                Some(m) if m.state == "ok" && m.verified_size >= *target => {}
                Some(m) => behind.push(format!(
                    "{} {} {}/{}",
                    m.origin, m.state, m.verified_size, target
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
    println!("  London view     {agg_url}/v1/london/locations");
    println!("  by borough      {agg_url}/v1/london/stats/boroughs");
    println!("  status          {agg_url}/v1/london/status");
    println!("  members         {agg_url}/v1/members");
    println!("  DPS compliance  {agg_url}/v1/compliance/suppliers");
    println!("  API docs        {agg_url}/docs\n");
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

/// Sends the simulation's events as simulated time passes, until `stop`.
fn feed_loop(
    http: &Http,
    children: &mut Children,
    feeder: &Feeder,
    activity: &mut Activity,
    pace: f64,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let real_start = Instant::now();
    let sim_start = activity.now();
    let mut total = feed::Sent::default();
    let mut reported = Instant::now();
    let mut caught_up = false;
    while !stop.load(Ordering::Relaxed) {
        children.check_all()?;
        let now = chrono::Utc::now().timestamp();
        let sim = sim_start + (real_start.elapsed().as_secs_f64() * pace) as i64;
        let until = sim.min(now);
        if until >= now && !caught_up {
            caught_up = true;
            println!("  the replay has reached now; carrying on in real time");
        }
        let events = activity.advance(until);
        match feeder.send(http, &events) {
            Ok(s) => {
                total.status_changes += s.status_changes;
                total.sessions += s.sessions;
                total.appended += s.appended;
            }
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
