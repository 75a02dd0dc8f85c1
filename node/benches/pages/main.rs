//! Read benchmark of the list pages apps poll: the real release `evfed-node` with an estate of
//! 5,000 London locations (the node benchmark's fixtures) and, when the release
//! `evfed-aggregator` has been built beside it, a real aggregator whose London view follows
//! that node. `wrk -t2 -c64` with request limits off runs each mix of URLs (a Lua script walks
//! through the mix) and prints pages/s and latency; asserts nothing about time.
//!
//! Mixes: one first page; first pages, deep offsets and `date_from` = the last minute together,
//! as apps poll; and the same mix while a writer posts status changes (each change appends to
//! the public log, so every cached page of the moment is dropped).
//!
//! `cargo build --release -p evfed-node -p evfed-aggregator && cargo bench -p evfed-node --bench
//! pages`. Knobs: `EVFED_BENCH_LOCATIONS` (default 5000), `EVFED_BENCH_READ_SECS` (each wrk
//! run, default 10), `EVFED_BENCH_WRITE_RATE` (status changes a second in the runs under
//! writes, in batches of 50, default 500), `EVFED_BENCH_ONLY` (`node` or `london`: only the
//! node's runs or only the aggregator's), `EVFED_BENCH_AGGREGATOR` (another
//! `evfed-aggregator` binary to measure).

#[path = "../node/drive.rs"]
#[allow(
    dead_code,
    reason = "the node benchmark's writers; this one loads with them only"
)]
mod drive;
#[path = "../node/fixtures.rs"]
#[allow(dead_code, reason = "shared with the node benchmark")]
mod fixtures;
#[path = "../node/server.rs"]
#[allow(dead_code, reason = "shared with the node benchmark")]
mod server;
#[path = "../node/wrk.rs"]
#[allow(dead_code, reason = "shared with the node benchmark")]
mod wrk;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use evfed_spec::time::DateTime;
use serde_json::{Value, json};

use crate::server::NodeDir;

const THREADS: u32 = 2;
const CONNECTIONS: u32 = 64;
/// Status changes per batch in the runs under writes.
const WRITE_BATCH: usize = 50;

fn main() -> anyhow::Result<()> {
    evfed_node::embed::outgoing::install_crypto_provider();
    if !wrk::available() {
        bail!("wrk is not installed (apt-get install -y wrk)");
    }
    let locations = knob("EVFED_BENCH_LOCATIONS", 5_000)?;
    let secs = knob("EVFED_BENCH_READ_SECS", 10)? as u64;
    let rate = knob("EVFED_BENCH_WRITE_RATE", 500)?;
    let scratch = tempfile::tempdir().context("scratch directory")?;
    println!("evfed list-page benchmark: {}", server::BIN);
    println!("load average before: {}", load_average());

    let dir = NodeDir::init_cpo("evfed.bench.example", fixtures::PARTY)?;
    let node = dir.serve()?;
    let token = dir.writer_token(fixtures::PARTY)?;
    let now = DateTime::now();
    let estate = fixtures::estate(locations, &now);
    drive::load(&node.url, &token, &estate, 4)?;
    load_tariffs(&node.url, &token)?;
    let evses: Vec<fixtures::EvseRef> = estate.iter().flat_map(|f| f.evses.clone()).collect();
    println!(
        "loaded {locations} locations, {} EVSEs, 20 tariffs",
        evses.len()
    );

    let last_minute = DateTime::from_unix_millis(DateTime::now().unix_millis() - 60_000)
        .context("a minute ago")?;
    let ocpi = mix("/ocpi/2.2.1/locations", locations, &last_minute);
    let v1 = mix("/v1/locations", locations, &last_minute);
    let runs: [(&str, Vec<String>, bool); 7] = [
        (
            "v1.first-page",
            vec!["/v1/locations?limit=100".into()],
            false,
        ),
        (
            "ocpi.first-page",
            vec!["/ocpi/2.2.1/locations?limit=100".into()],
            false,
        ),
        (
            "ocpi.tariffs",
            vec!["/ocpi/2.2.1/tariffs?limit=100".into()],
            false,
        ),
        ("v1.mix", v1.clone(), false),
        ("ocpi.mix", ocpi.clone(), false),
        ("v1.mix-under-writes", v1, true),
        ("ocpi.mix-under-writes", ocpi, true),
    ];
    let writer = Writer::new(&node.url, &token, evses, rate);
    let only = std::env::var("EVFED_BENCH_ONLY").unwrap_or_default();
    for (name, paths, writes) in runs.iter().filter(|_| only != "london") {
        measure(
            &scratch,
            &node.url,
            name,
            paths,
            secs,
            writes.then_some(&writer),
        )?;
    }

    let aggregator = std::env::var_os("EVFED_BENCH_AGGREGATOR").map_or_else(
        || Path::new(server::BIN).with_file_name("evfed-aggregator"),
        std::path::PathBuf::from,
    );
    if only == "node" {
        return Ok(());
    }
    if !aggregator.exists() {
        println!(
            "skipped the aggregator: {} is missing (cargo build --release -p evfed-aggregator)",
            aggregator.display()
        );
        return Ok(());
    }
    let vkey = get_json(&format!("{}/.well-known/evfed", node.url))?["vkeys"][0]
        .as_str()
        .context("no verifier key")?
        .to_owned();
    let agg = Aggregator::start(&aggregator, scratch.path(), &node.url, &vkey)?;
    let waited = agg.wait_for(locations)?;
    println!(
        "aggregator: London view holds {locations} locations {:.1} s after start",
        waited.as_secs_f64()
    );
    let london = vec![
        "/v1/london/locations?limit=100".to_owned(),
        "/v1/london/locations?limit=100&offset=1000".to_owned(),
        "/v1/london/locations?limit=100".to_owned(),
        format!(
            "/v1/london/locations?limit=100&offset={}",
            locations.saturating_sub(100)
        ),
        "/v1/london/locations?limit=100&borough=E09000007".to_owned(),
        "/v1/london/locations?limit=100&offset=2500".to_owned(),
        "/v1/london/locations?limit=100".to_owned(),
        "/v1/london/locations?limit=100&borough=Westminster".to_owned(),
        format!("/v1/london/locations?limit=100&date_from={last_minute}"),
        format!("/v1/london/locations?limit=100&offset=4000&date_from={last_minute}"),
    ];
    let runs: [(&str, Vec<String>, bool); 3] = [
        (
            "london.first-page",
            vec!["/v1/london/locations?limit=100".into()],
            false,
        ),
        ("london.mix", london.clone(), false),
        ("london.mix-under-writes", london, true),
    ];
    for (name, paths, writes) in &runs {
        measure(
            &scratch,
            &agg.url,
            name,
            paths,
            secs,
            writes.then_some(&writer),
        )?;
    }
    Ok(())
}

/// Pages of `list` as apps ask for them: first pages, deep offsets, and what changed in the
/// last minute (nothing, while no one writes; under writes, the changes of that minute).
fn mix(list: &str, locations: usize, last_minute: &DateTime) -> Vec<String> {
    let deep = |k: usize| format!("{list}?limit=100&offset={}", locations * k / 8);
    let since = format!("{list}?limit=100&date_from={last_minute}");
    let first = format!("{list}?limit=100");
    vec![
        first.clone(),
        deep(1),
        since.clone(),
        deep(2),
        first.clone(),
        deep(3),
        deep(4),
        since,
        first.clone(),
        deep(5),
        deep(6),
        first,
        deep(7),
        format!("{list}?limit=100&offset={}", locations.saturating_sub(100)),
    ]
}

/// One wrk run over `paths` against `base`, with `writer` posting meanwhile if given.
fn measure(
    scratch: &tempfile::TempDir,
    base: &str,
    name: &str,
    paths: &[String],
    secs: u64,
    writer: Option<&Writer>,
) -> anyhow::Result<()> {
    let script = scratch.path().join(format!("{name}.lua"));
    let list = paths
        .iter()
        .map(|p| format!("  {p:?},\n"))
        .collect::<String>();
    std::fs::write(
        &script,
        format!(
            "local paths = {{\n{list}}}\nlocal i = 0\n\
             setup = function(thread) thread:set(\"start\", math.random(#paths)) end\n\
             init = function(args) i = tonumber(start) or 0 end\n\
             request = function()\n  i = i + 1\n  \
             return wrk.format(\"GET\", paths[(i % #paths) + 1])\nend\n"
        ),
    )?;
    wrk::run_script(base, THREADS, CONNECTIONS, 2, &[], Some(&script)).context("warm-up")?;
    let before = load_average();
    let stop = AtomicBool::new(false);
    let (r, written) = std::thread::scope(|s| -> anyhow::Result<_> {
        let writing = writer.map(|w| s.spawn(|| w.run(&stop)));
        let r = wrk::run_script(base, THREADS, CONNECTIONS, secs, &[], Some(&script));
        stop.store(true, Ordering::SeqCst);
        let written = match writing {
            Some(h) => {
                let n = h.join().unwrap_or_else(|_| bail!("the writer panicked"))?;
                format!("; {n} status changes written meanwhile")
            }
            None => String::new(),
        };
        Ok((r?, written))
    })?;
    let errors = r.non_2xx + r.socket_errors;
    println!(
        "figure {name:<24} {:>8.0} pages/s  p50 {:>6.1} ms  p99 {:>6.1} ms  max {:>7.1} ms | \
         {} URLs, {} requests, {} errors, {}/s{written}; load average {before}",
        r.requests_per_sec,
        ms(r.p50),
        ms(r.p99),
        ms(r.max),
        paths.len(),
        r.requests,
        errors,
        r.transfer_per_sec,
    );
    Ok(())
}

/// A background writer: `rate` status changes a second to the estate's EVSEs, in batches.
struct Writer {
    url: String,
    token: String,
    evses: Mutex<Vec<fixtures::EvseRef>>,
    rate: usize,
}

impl Writer {
    fn new(url: &str, token: &str, evses: Vec<fixtures::EvseRef>, rate: usize) -> Self {
        Self {
            url: url.to_owned(),
            token: token.to_owned(),
            evses: Mutex::new(evses),
            rate: rate.max(1),
        }
    }

    /// Posts batches of `WRITE_BATCH` changes, `rate` a second, until `stop`; returns how
    /// many were appended. Each change flips an EVSE between AVAILABLE and CHARGING at the
    /// time it is sent, so the `date_from` pages see them.
    fn run(&self, stop: &AtomicBool) -> anyhow::Result<u64> {
        let mut evses = self.evses.lock().unwrap_or_else(|e| e.into_inner());
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        let every = Duration::from_secs_f64(WRITE_BATCH as f64 / self.rate as f64);
        let started = Instant::now();
        let (mut appended, mut cursor, mut batches) = (0u64, 0usize, 0u32);
        let mut last_ms = 0i64;
        while !stop.load(Ordering::SeqCst) && !evses.is_empty() {
            let mut items = Vec::with_capacity(WRITE_BATCH);
            for _ in 0..WRITE_BATCH {
                let n = evses.len();
                let e = &mut evses[cursor % n];
                cursor += 1;
                e.status = if e.status == "AVAILABLE" {
                    "CHARGING"
                } else {
                    "AVAILABLE"
                };
                let ms = DateTime::now().unix_millis().max(last_ms + 1);
                last_ms = ms;
                items.push(json!({
                    "country_code": fixtures::COUNTRY_CODE, "party_id": fixtures::PARTY_ID,
                    "location_id": e.location_id, "evse_uid": e.uid, "status": e.status,
                    "event_time": DateTime::from_unix_millis(ms).context("event time")?.to_string(),
                }));
            }
            let res = http
                .post(format!("{}/v1/status", self.url))
                .bearer_auth(&self.token)
                .json(&items)
                .send()?;
            let status = res.status();
            let v: Value = res.json().unwrap_or(Value::Null);
            if !status.is_success() {
                bail!("POST /v1/status answered {status}: {v}");
            }
            appended += v["appended"].as_u64().unwrap_or(0);
            batches += 1;
            if let Some(wait) = (every * batches).checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        Ok(appended)
    }
}

/// Twenty tariffs of the estate's party, for `/ocpi/2.2.1/tariffs`.
fn load_tariffs(url: &str, token: &str) -> anyhow::Result<()> {
    let http = reqwest::blocking::Client::new();
    for i in 0..20 {
        let body = json!({
            "country_code": fixtures::COUNTRY_CODE, "party_id": fixtures::PARTY_ID,
            "id": format!("T{i:02}"), "currency": "GBP",
            "elements": [{"price_components": [
                {"type": "ENERGY", "price": 0.40 + f64::from(i) / 100.0, "vat": 20.0, "step_size": 1}
            ]}],
            "last_updated": "2026-10-01T00:00:00Z",
        });
        let res = http
            .put(format!(
                "{url}/v1/tariffs/{}/{}/T{i:02}",
                fixtures::COUNTRY_CODE,
                fixtures::PARTY_ID
            ))
            .bearer_auth(token)
            .json(&body)
            .send()?;
        if !res.status().is_success() {
            bail!("PUT tariff: {} {}", res.status(), res.text()?);
        }
    }
    Ok(())
}

/// A release `evfed-aggregator` following the node, request limits off.
struct Aggregator {
    child: Child,
    url: String,
    started: Instant,
}

impl Aggregator {
    fn start(bin: &Path, root: &Path, node_url: &str, vkey: &str) -> anyhow::Result<Self> {
        let dir = root.join("london");
        let run = |args: &[&str]| -> anyhow::Result<()> {
            let out = Command::new(bin).args(args).output()?;
            if !out.status.success() {
                bail!(
                    "evfed-aggregator {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Ok(())
        };
        let d = dir.to_str().context("scratch path")?;
        run(&["init", "--dir", d, "--origin", "evfed.london.example"])?;
        let config = dir.join("aggregator.toml");
        let text = std::fs::read_to_string(&config)?;
        std::fs::write(
            &config,
            format!(
                "{text}\nconformance_interval = \"0s\"\n\
                 [limits]\nper_ip_per_minute = 0\nper_client_per_minute = 0\n"
            ),
        )?;
        run(&[
            "members",
            "add",
            "--dir",
            d,
            "--origin",
            "evfed.bench.example",
            "--url",
            node_url,
            "--vkey",
            vkey,
            "--kind",
            "cpo",
            "--party",
            fixtures::PARTY,
        ])?;
        let ready = dir.join("ready.json");
        let started = Instant::now();
        let mut child = Command::new(bin)
            .args([
                "serve",
                "--dir",
                d,
                "--listen",
                "127.0.0.1:0",
                "--ready-file",
            ])
            .arg(&ready)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        while !ready.exists() {
            if child.try_wait()?.is_some() || started.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                bail!("the aggregator did not start");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let v: Value = serde_json::from_slice(&std::fs::read(&ready)?)?;
        let url = v["url"]
            .as_str()
            .context("no url in ready file")?
            .to_owned();
        Ok(Self {
            child,
            url,
            started,
        })
    }

    /// Waits until the London view holds `n` locations.
    fn wait_for(&self, n: usize) -> anyhow::Result<Duration> {
        let http = reqwest::blocking::Client::new();
        loop {
            let res = http
                .get(format!("{}/v1/london/locations?limit=1", self.url))
                .send()?;
            let total: usize = res
                .headers()
                .get("x-total-count")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(0);
            if total >= n {
                return Ok(self.started.elapsed());
            }
            if self.started.elapsed() > Duration::from_secs(300) {
                bail!("the London view holds {total} of {n} locations after 300 s");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Aggregator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get_json(url: &str) -> anyhow::Result<Value> {
    Ok(reqwest::blocking::get(url)?.json()?)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn knob(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v:?} is not a whole number")),
        Err(_) => Ok(default),
    }
}
