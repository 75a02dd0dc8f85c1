//! Backup benchmark: how long `evfed-node backup` takes on a database of some hundred MB, with
//! the node idle and while clients keep writing status changes as fast as it answers; and how
//! long `evfed-node verify` takes on the copy. Runs the real release binary on `127.0.0.1:0`.
//! Prints figures; asserts nothing about time.
//!
//! `cargo bench -p evfed-node --bench backup`. Knobs (environment): `EVFED_BENCH_LOCATIONS`
//! (default 40000, each with 8 EVSEs), `EVFED_BENCH_WRITERS` (status clients, default 4).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_evfed-node");
const PARTY: &str = "GB*BEN";

fn main() -> anyhow::Result<()> {
    evfed_node::embed::outgoing::install_crypto_provider();
    let locations: u32 = knob("EVFED_BENCH_LOCATIONS", 40_000)?;
    let writers: u32 = knob("EVFED_BENCH_WRITERS", 4)?;
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("node");
    let dir_arg = dir.to_str().context("temporary path")?.to_owned();
    cli(&[
        "init",
        "--dir",
        &dir_arg,
        "--origin",
        "evfed.backup.example",
        "--kind",
        "cpo",
        "--party",
        PARTY,
    ])?;
    // The clients here send more than the default per-address limit: this measures backups.
    let config = dir.join("config.toml");
    let text = std::fs::read_to_string(&config)?;
    std::fs::write(
        &config,
        format!("{text}\n[limits]\nper_ip_per_minute = 0\nper_client_per_minute = 0\n"),
    )?;
    let admin = last_line(&cli(&[
        "token", "issue", "--dir", &dir_arg, "--scope", "admin",
    ])?);
    let writer = last_line(&cli(&[
        "token",
        "issue",
        "--dir",
        &dir_arg,
        "--party",
        PARTY,
        "--scope",
        "data:write",
    ])?);
    let mut node = Node::start(&dir_arg, tmp.path(), None)?;
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;

    let loaded = Instant::now();
    for start in (0..locations).step_by(200) {
        let items: Vec<Value> = (start..(start + 200).min(locations))
            .map(location)
            .collect();
        let res = http
            .post(format!("{}/v1/admin/locations", node.url))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&items)?)
            .send()?;
        if !res.status().is_success() {
            bail!("loading: {} {}", res.status(), res.text()?);
        }
    }
    let db = dir.join("evfed.db");
    let size_mb = std::fs::metadata(&db)?.len() as f64 / 1e6;
    println!(
        "loaded {locations} locations (8 EVSEs each) in {:.1} s: database {size_mb:.0} MB",
        loaded.elapsed().as_secs_f64()
    );

    let idle_out = tmp.path().join("idle.db");
    let idle_arg = idle_out.to_str().context("temporary path")?.to_owned();
    let idle = timed(|| cli(&["backup", "--dir", &dir_arg, &idle_arg]))?;
    figure("backup.idle", idle, &idle_out, "no writes");

    let stop = AtomicBool::new(false);
    let writes = AtomicU64::new(0);
    let load_out = tmp.path().join("load.db");
    let load_arg = load_out.to_str().context("temporary path")?.to_owned();
    let (under_load, during) = std::thread::scope(|s| -> anyhow::Result<(Duration, u64)> {
        for t in 0..writers {
            let (http, url, writer, stop, writes) = (&http, &node.url, &writer, &stop, &writes);
            s.spawn(move || status_writer(http, url, writer, t, stop, writes));
        }
        // The load is steady before the copy starts.
        std::thread::sleep(Duration::from_secs(2));
        let before = writes.load(Ordering::Relaxed);
        let took = timed(|| cli(&["backup", "--dir", &dir_arg, &load_arg]));
        let during = writes.load(Ordering::Relaxed) - before;
        stop.store(true, Ordering::Relaxed);
        Ok((took?, during))
    })?;
    figure(
        "backup.under_load",
        under_load,
        &load_out,
        &format!(
            "{writers} clients posting single status changes: {during} acknowledged during the \
             copy, {:.0}/s",
            during as f64 / under_load.as_secs_f64()
        ),
    );
    let verify = timed(|| cli(&["verify", "--dir", &dir_arg, "--database", &load_arg]))?;
    figure(
        "verify.backup",
        verify,
        &load_out,
        "every entry re-hashed, every tree hash and checkpoint checked",
    );

    // A restart on the loaded database, with the start-up check in it.
    node.stop()?;
    let log = tmp.path().join("serve.log");
    let restarted = Instant::now();
    let node = Node::start(&dir_arg, tmp.path(), Some(&log))?;
    let ready = restarted.elapsed();
    let text = std::fs::read_to_string(&log)?;
    let check_ms = text
        .split("check_ms=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("?");
    println!(
        "figure startup.loaded: {:.2} s from spawn to ready on the {:.0} MB database; the \
         start-up integrity check took {check_ms} ms of it",
        ready.as_secs_f64(),
        std::fs::metadata(&db)?.len() as f64 / 1e6
    );
    drop(node);
    Ok(())
}

/// Posts one status change at a time to this client's 100 EVSEs, each a change (every visit
/// flips the EVSE's status), until told to stop.
fn status_writer(
    http: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    t: u32,
    stop: &AtomicBool,
    writes: &AtomicU64,
) {
    let mut k = 0u64;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        let loc = u64::from(t) * 100 + k % 100;
        let at = evfed_spec::time::DateTime::from_unix_seconds(1_793_491_200 + k as i64)
            .unwrap_or_else(evfed_spec::time::DateTime::now);
        let status = if (k / 100).is_multiple_of(2) {
            "CHARGING"
        } else {
            "AVAILABLE"
        };
        let batch = json!([{"country_code": "GB", "party_id": "BEN",
            "location_id": format!("B{loc}"), "evse_uid": format!("B{loc}-1"),
            "status": status, "event_time": at.to_string()}]);
        let ok = http
            .post(format!("{url}/v1/status"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(batch.to_string())
            .send()
            .is_ok_and(|r| r.status().is_success());
        if ok {
            writes.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A published London location with 8 EVSEs (about 3.5 kB of JSON).
fn location(i: u32) -> Value {
    let evses: Vec<Value> = (1..=8)
        .map(|n| {
            json!({"uid": format!("B{i}-{n}"), "status": "AVAILABLE",
                "last_updated": "2026-10-01T12:00:00Z",
                "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                    "power_type": "AC_1_PHASE", "max_voltage": 230, "max_amperage": 32,
                    "last_updated": "2026-10-01T12:00:00Z"}]})
        })
        .collect();
    json!({
        "country_code": "GB", "party_id": "BEN", "id": format!("B{i}"), "publish": true,
        "address": format!("{i} Camden High Street"), "city": "London", "postal_code": "NW1 7JR",
        "country": "GBR", "coordinates": {"latitude": "51.539200", "longitude": "-0.142600"},
        "time_zone": "Europe/London", "last_updated": "2026-10-01T12:00:00Z", "evses": evses
    })
}

struct Node {
    child: Child,
    url: String,
}

impl Node {
    /// Serves `dir`; with `log`, its `info` log goes there.
    fn start(dir: &str, tmp: &Path, log: Option<&Path>) -> anyhow::Result<Self> {
        let ready = tmp.join("ready.json");
        let _ = std::fs::remove_file(&ready);
        let (level, stderr) = match log {
            Some(path) => ("info", Stdio::from(std::fs::File::create(path)?)),
            None => ("warn", Stdio::null()),
        };
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--dir",
                dir,
                "--listen",
                "127.0.0.1:0",
                "--ready-file",
            ])
            .arg(&ready)
            .env("RUST_LOG", level)
            .env("EVFED_LOG_FORMAT", "text")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                let v: Value = serde_json::from_str(&text)?;
                let url = v["url"].as_str().context("ready file")?.to_owned();
                return Ok(Self { child, url });
            }
            if let Some(status) = child.try_wait()? {
                bail!("serve exited with {status}");
            }
            if Instant::now() > deadline {
                bail!("serve not ready after 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Node {
    /// SIGTERM, and wait for the final checkpoint and a clean exit.
    fn stop(&mut self) -> anyhow::Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("serve exited with {status}");
        }
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(BIN).args(args).output()?;
    if !out.status.success() {
        bail!(
            "evfed-node {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn last_line(s: &str) -> String {
    s.lines().last().unwrap_or_default().to_owned()
}

/// Runs `f`, prints the first line of what it printed, and returns how long it took.
fn timed(f: impl FnOnce() -> anyhow::Result<String>) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let out = f()?;
    let took = t.elapsed();
    // The command's summary: backup's one line, verify's line for the public log.
    let line = out
        .lines()
        .find(|l| l.contains("entries"))
        .unwrap_or_default();
    println!("  {line}");
    Ok(took)
}

fn figure(name: &str, took: Duration, file: &Path, note: &str) {
    let mb = std::fs::metadata(file).map_or(0.0, |m| m.len() as f64 / 1e6);
    println!(
        "figure {name}: {:.2} s for {mb:.0} MB ({:.0} MB/s); {note}",
        took.as_secs_f64(),
        mb / took.as_secs_f64()
    );
}

fn knob(name: &str, default: u32) -> anyhow::Result<u32> {
    match std::env::var(name) {
        Ok(v) => v.parse().with_context(|| format!("{name}={v}")),
        Err(_) => Ok(default),
    }
}
