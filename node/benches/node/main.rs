//! Node benchmark: runs the real `evfed-node` release binary on `127.0.0.1:0` and measures
//! start-up, memory, the location load rate, `GET /v1/locations` under `wrk`, and batched status
//! writes. Prints one `figure` line per result with the project's goal beside it; asserts
//! nothing about time.
//!
//! `cargo bench -p evfed-node --bench node`. Knobs (environment):
//! `EVFED_BENCH_LOCATIONS` (default 10000), `EVFED_BENCH_LOADERS` (PUT clients, default 4),
//! `EVFED_BENCH_READ_SECS` (wrk run, default 10), `EVFED_BENCH_WRITE_SECS` (each status phase,
//! default 8), `EVFED_BENCH_KEEP` (set: keep the node directory and print its path).

mod drive;
mod fixtures;
mod server;
mod wrk;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use evfed_spec::time::DateTime;

use crate::server::{NodeDir, Running};

/// Start-ups timed for each state; the median is reported.
const EMPTY_STARTS: usize = 5;
const LOADED_STARTS: usize = 3;
/// Status changes per `POST /v1/status` (the most a batch may hold).
const BATCH: usize = 1000;
/// wrk's load: threads and connections.
const WRK_THREADS: u32 = 2;
const WRK_CONNECTIONS: u32 = 64;
const UNCACHED_READ_SECS: u64 = 3;

fn main() -> anyhow::Result<()> {
    // reqwest has rustls without a default provider (see evfed_node::embed::outgoing).
    evfed_node::embed::outgoing::install_crypto_provider();
    let bench_started = Instant::now();
    let locations = knob("EVFED_BENCH_LOCATIONS", 10_000)?;
    let loaders = knob("EVFED_BENCH_LOADERS", 4)?.max(1);
    let read_secs = knob("EVFED_BENCH_READ_SECS", 10)? as u64;
    let write_secs = knob("EVFED_BENCH_WRITE_SECS", 8)? as u64;
    println!("evfed-node benchmark: {}", server::BIN);
    println!("machine: {}", machine());

    // 1. Start-up and idle memory of an empty node.
    let dir = NodeDir::init_cpo("evfed.bench.example", fixtures::PARTY)?;
    let (node, times) = start_times(&dir, EMPTY_STARTS)?;
    figure(
        "startup.empty",
        ms(median(&times)),
        "ms",
        None,
        format!(
            "spawn to ready file, median of {EMPTY_STARTS} (min {:.1})",
            ms(times[0])
        ),
    );
    std::thread::sleep(Duration::from_secs(1));
    let idle = node.memory()?;
    figure(
        "rss.idle",
        mib(idle.rss_kib),
        "MiB",
        Some(Goal::AtMost(20.0)),
        format!(
            "VmRSS 1 s after ready, {} threads (VmHWM {:.1} MiB)",
            node.threads(),
            mib(idle.hwm_kib)
        ),
    );

    // 2. Load the estate with concurrent PUTs.
    let token = dir.writer_token(fixtures::PARTY)?;
    let now = DateTime::now();
    let estate = fixtures::estate(locations, &now);
    let evses: usize = estate.iter().map(|f| f.evses.len()).sum();
    let body_bytes: usize = estate.iter().map(|f| f.body.len()).sum();
    let cpu0 = node.cpu()?;
    let load = drive::load(&node.url, &token, &estate, loaders)?;
    let cpu = node.cpu()? - cpu0;
    figure(
        "load.locations-per-s",
        load.rate(),
        "/s",
        None,
        format!(
            "{locations} locations, {evses} EVSEs, mean body {} B, {loaders} clients, \
             {:.1} s; PUT p50 {:.1} ms p99 {:.1} ms; server CPU {:.2} cores",
            body_bytes / locations.max(1),
            load.elapsed.as_secs_f64(),
            ms(load.quantile(0.5)),
            ms(load.quantile(0.99)),
            cpu.as_secs_f64() / load.elapsed.as_secs_f64()
        ),
    );
    check_total(&node, locations)?;
    let loaded = node.memory()?;
    figure(
        "rss.after-load",
        mib(loaded.rss_kib),
        "MiB",
        Some(Goal::AtMost(64.0)),
        format!(
            "VmRSS with the estate loaded (VmHWM {:.1} MiB); node directory {:.1} MB on disk",
            mib(loaded.hwm_kib),
            dir.disk_bytes() as f64 / 1e6
        ),
    );
    node.stop()?;

    // 3. Start-up of the loaded node.
    let (node, times) = start_times(&dir, LOADED_STARTS)?;
    figure(
        "startup.loaded",
        ms(median(&times)),
        "ms",
        None,
        format!(
            "{locations} locations, median of {LOADED_STARTS} (min {:.1})",
            ms(times[0])
        ),
    );
    std::thread::sleep(Duration::from_secs(1));
    let restarted = node.memory()?;
    figure(
        "rss.loaded-idle",
        mib(restarted.rss_kib),
        "MiB",
        Some(Goal::AtMost(64.0)),
        "VmRSS 1 s after restarting the loaded node".into(),
    );

    // 4. Reads: one page of 100 locations, 64 connections.
    let list_url = format!("{}/v1/locations?limit=100", node.url);
    if wrk::available() {
        wrk::run(&list_url, WRK_THREADS, WRK_CONNECTIONS, 2, &[]).context("wrk warm-up")?;
        let cpu0 = node.cpu()?;
        let r = wrk::run(&list_url, WRK_THREADS, WRK_CONNECTIONS, read_secs, &[])?;
        let cpu = node.cpu()? - cpu0;
        let errors = if r.non_2xx + r.socket_errors > 0 {
            format!(
                "; {} non-2xx and {} socket errors",
                r.non_2xx, r.socket_errors
            )
        } else {
            String::new()
        };
        let detail = format!(
            "wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{read_secs}s --latency: {} requests, \
             {}/s; server CPU {:.2} cores (wrk shares the machine){errors}",
            r.requests,
            r.transfer_per_sec,
            cpu.as_secs_f64() / read_secs as f64
        );
        figure(
            "read.pages-per-s",
            r.requests_per_sec,
            "/s",
            Some(Goal::AtLeast(5000.0)),
            detail,
        );
        figure(
            "read.p99",
            ms(r.p99),
            "ms",
            Some(Goal::AtMost(20.0)),
            format!("p50 {:.2} ms, max {:.1} ms", ms(r.p50), ms(r.max)),
        );
    } else {
        println!(
            "skipped read.pages-per-s and read.p99: wrk is not on PATH \
             (Debian/Ubuntu: sudo apt-get install -y wrk)"
        );
    }
    uncached_reads(&node, &token, "read.uncached-pages-per-s", "")?;
    let after_reads = node.memory()?;
    figure(
        "rss.after-reads",
        mib(after_reads.rss_kib),
        "MiB",
        Some(Goal::AtMost(64.0)),
        format!(
            "VmRSS after the read run, {} threads (VmHWM {:.1} MiB)",
            node.threads(),
            mib(after_reads.hwm_kib)
        ),
    );

    // 5. Batched status changes: one client, then several.
    let mut feed = drive::StatusFeed::new(&estate, &now);
    for clients in [1, 2, 4] {
        let cpu0 = node.cpu()?;
        let run = feed.run(
            &node.url,
            &token,
            clients,
            BATCH,
            Duration::from_secs(write_secs),
        )?;
        let cpu = node.cpu()? - cpu0;
        let skipped = if run.items == run.sent {
            String::new()
        } else {
            format!(
                "; {} of {} changes appended nothing",
                run.sent - run.items,
                run.sent
            )
        };
        figure(
            &format!("status.writes-per-s.c{clients}"),
            run.rate(),
            "/s",
            Some(Goal::AtLeast(20_000.0)),
            format!(
                "{} batches of {} over {} EVSEs, {:.1} s; batch p50 {:.0} ms p99 {:.0} ms; \
                 server CPU {:.2} cores{skipped}",
                run.requests,
                run.sent / run.requests.max(1),
                feed.evse_count(),
                run.elapsed.as_secs_f64(),
                ms(run.quantile(0.5)),
                ms(run.quantile(0.99)),
                cpu.as_secs_f64() / run.elapsed.as_secs_f64()
            ),
        );
    }
    uncached_reads(
        &node,
        &token,
        "read.uncached-pending-pages-per-s",
        ", right after the status runs (bodies not yet folded)",
    )?;
    let after_writes = node.memory()?;
    figure(
        "rss.after-writes",
        mib(after_writes.rss_kib),
        "MiB",
        Some(Goal::AtMost(64.0)),
        format!(
            "VmRSS after the status runs (VmHWM {:.1} MiB, anonymous {:.1} MiB, files {:.1} MiB); \
             node directory {:.1} MB on disk",
            mib(after_writes.hwm_kib),
            mib(after_writes.anon_kib),
            mib(after_writes.file_kib),
            dir.disk_bytes() as f64 / 1e6
        ),
    );
    node.stop()?;
    if std::env::var_os("EVFED_BENCH_KEEP").is_some() {
        println!("node directory kept: {}", dir.keep().display());
    }
    println!("done in {:.0} s", bench_started.elapsed().as_secs_f64());
    Ok(())
}

/// A project goal for a figure.
#[derive(Debug, Clone, Copy)]
enum Goal {
    AtMost(f64),
    AtLeast(f64),
}

/// Prints `figure NAME VALUE UNIT goal GOAL VERDICT | DETAIL`; `grep '^figure'` collects them.
fn figure(name: &str, value: f64, unit: &str, goal: Option<Goal>, detail: String) {
    let (goal, verdict) = match goal {
        None => ("-".to_owned(), "-"),
        Some(Goal::AtMost(g)) => (format!("<={}", num(g)), met(value <= g)),
        Some(Goal::AtLeast(g)) => (format!(">={}", num(g)), met(value >= g)),
    };
    println!(
        "figure {name:<24} {:>9} {unit:<4} goal {goal:<7} {verdict:<6} | {detail}",
        num(value)
    );
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// Whole numbers from 100 up, one decimal below.
fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Starts the node `n` times (stopping all but the last) and returns the last one with the
/// sorted spawn-to-ready times.
fn start_times(dir: &NodeDir, n: usize) -> anyhow::Result<(Running, Vec<Duration>)> {
    let mut times = Vec::with_capacity(n);
    for _ in 1..n {
        let node = dir.serve()?;
        times.push(node.ready_after);
        node.stop()?;
    }
    let node = dir.serve()?;
    times.push(node.ready_after);
    times.sort_unstable();
    Ok((node, times))
}

/// The node lists exactly the locations loaded.
fn check_total(node: &Running, expected: usize) -> anyhow::Result<()> {
    let res = reqwest::blocking::get(format!("{}/v1/locations?limit=1", node.url))
        .context("GET /v1/locations")?;
    let total = res
        .headers()
        .get("x-total-count")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if total != Some(expected) {
        bail!("the node lists {total:?} locations; {expected} were loaded");
    }
    Ok(())
}

/// `GET /v1/locations?limit=100` as the estate's writer: pages for a token are never cached,
/// so this measures the store and rendering.
fn uncached_reads(node: &Running, token: &str, name: &str, when: &str) -> anyhow::Result<()> {
    if !wrk::available() {
        return Ok(());
    }
    let url = format!("{}/v1/locations?limit=100", node.url);
    let auth = [format!("Authorization: Bearer {token}")];
    let r = wrk::run(
        &url,
        WRK_THREADS,
        WRK_CONNECTIONS,
        UNCACHED_READ_SECS,
        &auth,
    )?;
    figure(
        name,
        r.requests_per_sec,
        "/s",
        None,
        format!(
            "as above with a data:write token (uncached){when}; {} requests, p99 {:.1} ms",
            r.requests,
            ms(r.p99)
        ),
    );
    Ok(())
}

fn knob(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v:?} is not a whole number")),
        Err(_) => Ok(default),
    }
}

/// Cores, CPU model, memory and the filesystem the node's directory is on.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    format!(
        "{cores} cores ({model}), {:.1} GiB, temporary directory {} on {}",
        mem_kib as f64 / 1024.0 / 1024.0,
        std::env::temp_dir().display(),
        fs_type(&std::env::temp_dir())
    )
}

/// The type of the filesystem holding `path`, from `/proc/mounts` (longest matching mount).
fn fs_type(path: &std::path::Path) -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let path = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((*f.get(1)?, *f.get(2)?))
        })
        .filter(|(mount, _)| path.starts_with(mount))
        .max_by_key(|(mount, _)| mount.len())
        .map_or_else(|| "unknown".into(), |(_, fs)| fs.to_owned())
}

fn median(sorted: &[Duration]) -> Duration {
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
