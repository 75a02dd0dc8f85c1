//! Real-time benchmark (issue targets in `BENCHMARKS.md`, "Real time"): how long a status
//! change takes from a node to the London view and to the view's status stream, with real
//! processes and the aggregator's default configuration.
//!
//! 1. Starts `EVFED_BENCH_NODES` (default 5) release `evfed-node` processes, each with
//!    `EVFED_BENCH_SITES` (default 200) two-EVSE locations of its own party, and a release
//!    `evfed-aggregator` (default `aggregator.toml`: rounds every 2 s) following them.
//! 2. A background writer posts `EVFED_BENCH_RATE` (default 500) status changes a second,
//!    spread over the nodes, to the first EVSE of every site.
//! 3. `EVFED_BENCH_PROBES` (default 400) probes, 4 at a time: each flips the second EVSE of a
//!    random site with `POST /v1/status` and polls `/v1/london/locations/{cc}/{pid}/{id}` every
//!    10 ms until the change shows; meanwhile one subscriber of `/v1/london/status/stream`
//!    notes when each probe's change arrives. Prints p50/p95/p99/max of both.
//! 4. `EVFED_BENCH_SUBSCRIBERS` (default 1,000) streams held open for `EVFED_BENCH_HOLD`
//!    seconds (default 60) while the writer goes on, each read as it arrives: the aggregator's
//!    extra resident memory, and how many streams failed.
//!
//! Build the node first (the bench builds only this package's binaries):
//! `cargo build --release -p evfed-node && cargo bench -p evfed-aggregator --bench realtime`.
//! Prints one `figure` line per result; asserts nothing about time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

#[allow(dead_code)] // the tests' set-up, of which this bench uses a part
#[path = "../tests/it/support.rs"]
mod support;

use support::{
    AGGREGATOR, Node as NodeDir, Serve, Server, ServerLog, add_member_for, init_aggregator,
    node_bin, node_token,
};

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().expect(name))
        .unwrap_or(default)
}

/// Serves `dir` with its log discarded (the bench prints figures only).
fn serve(bin: &Path, dir: &Path) -> Server {
    Server::serve(
        bin,
        dir,
        Serve {
            log: ServerLog::Discard,
            ..Serve::default()
        },
    )
}

/// A process's resident memory in kB (0 when it cannot be read).
fn rss_kb(server: &Server) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

struct Node {
    server: Server,
    origin: String,
    party_id: String,
    token: String,
}

fn post_status(http: &reqwest::blocking::Client, node: &Node, changes: &[(usize, u8, &str)]) {
    let time = evfed_spec::time::DateTime::now().to_string();
    let body: Vec<Value> = changes
        .iter()
        .map(|(site, evse, status)| {
            json!({"country_code": "GB", "party_id": node.party_id,
                   "location_id": format!("S{site:04}"), "evse_uid": format!("S{site:04}-{evse}"),
                   "status": status, "event_time": time})
        })
        .collect();
    let res = http
        .post(format!("{}/v1/status", node.server.url))
        .bearer_auth(&node.token)
        .json(&body)
        .send()
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().unwrap());
}

fn percentiles(name: &str, mut ms: Vec<f64>, goals: &str) {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "figure {name}: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} probes ({goals})",
        at(0.50),
        at(0.95),
        at(0.99),
        at(1.0),
        ms.len()
    );
}

fn main() {
    evfed_aggregator::outgoing::install_crypto_provider();
    let nodes_n = knob("EVFED_BENCH_NODES", 5);
    let sites = knob("EVFED_BENCH_SITES", 200);
    let rate = knob("EVFED_BENCH_RATE", 500);
    let probes = knob("EVFED_BENCH_PROBES", 400);
    let subscribers = knob("EVFED_BENCH_SUBSCRIBERS", 1_000);
    let hold = knob("EVFED_BENCH_HOLD", 60);
    let root = tempfile::tempdir().unwrap();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // 1. Nodes, their sites, and the aggregator.
    let mut nodes = Vec::new();
    for i in 0..nodes_n {
        let party_id = format!("R{i:02}");
        let origin = format!("evfed.rt{i}.example");
        let dir = NodeDir::init_as(&root.path().join(format!("n{i}")), &origin);
        dir.configure("[limits]\nper_ip_per_minute = 0\nper_client_per_minute = 0\n");
        let server = serve(&node_bin(), &dir.dir);
        let token = node_token(&dir.dir, &format!("GB*{party_id}"));
        let node = Node {
            server,
            origin,
            party_id,
            token,
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(i as u64);
        for s in 0..sites {
            let (lat, lon) = (rng.gen_range(51.45..51.56), rng.gen_range(-0.25..0.05));
            let t = "2026-11-01T09:00:00Z";
            let connector = json!({"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                "power_type": "AC_1_PHASE", "max_voltage": 230, "max_amperage": 32,
                "last_updated": t});
            let body = json!({
                "country_code": "GB", "party_id": node.party_id, "id": format!("S{s:04}"),
                "publish": true, "address": format!("{s} Bench Road"), "city": "London",
                "country": "GBR",
                "coordinates": {"latitude": format!("{lat:.6}"), "longitude": format!("{lon:.6}")},
                "time_zone": "Europe/London", "last_updated": t,
                "evses": ([1, 2].map(|e| json!({"uid": format!("S{s:04}-{e}"), "status": "AVAILABLE",
                    "last_updated": t, "connectors": [connector.clone()]}))),
            });
            let res = http
                .put(format!(
                    "{}/v1/locations/GB/{}/S{s:04}",
                    node.server.url, node.party_id
                ))
                .bearer_auth(&node.token)
                .json(&body)
                .send()
                .unwrap();
            assert!(res.status().is_success(), "{}", res.text().unwrap());
        }
        nodes.push(node);
    }
    let agg_dir = root.path().join("agg");
    // Default harvesting; only the rate limits and the hourly conformance runs are off, as
    // every benchmark here runs.
    init_aggregator(
        &agg_dir,
        "evfed.rt.example",
        &[],
        "conformance_interval_s = 0\n[limits]\nper_ip_per_minute = 0\nper_client_per_minute = 0\n",
    );
    for n in &nodes {
        let vkey = http
            .get(format!("{}/.well-known/evfed", n.server.url))
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap()["vkeys"][0]
            .as_str()
            .unwrap()
            .to_owned();
        let party = format!("GB*{}", n.party_id);
        add_member_for(&agg_dir, &n.origin, &n.server.url, &vkey, &party);
    }
    let agg = serve(Path::new(AGGREGATOR), &agg_dir);
    let expected = (nodes_n * sites) as u64;
    let started = Instant::now();
    loop {
        let res = http
            .get(format!("{}/v1/london/locations?limit=1", agg.url))
            .send()
            .unwrap();
        let total: u64 = res.headers()["x-total-count"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        if total == expected {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "view holds {total}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let nodes = Arc::new(nodes);

    // 2. The background writer: `rate` changes a second on the first EVSE of sites.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (nodes, stop, written, http) =
            (nodes.clone(), stop.clone(), written.clone(), http.clone());
        std::thread::spawn(move || {
            let mut rng = rand::rngs::StdRng::seed_from_u64(99);
            let tick = Duration::from_millis(100);
            let per_tick = (rate / 10).max(1);
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                for (i, node) in nodes.iter().enumerate() {
                    let share = per_tick / nodes.len() + usize::from(i < per_tick % nodes.len());
                    let changes: Vec<(usize, u8, &str)> = (0..share)
                        .map(|_| {
                            let status = ["AVAILABLE", "CHARGING", "BLOCKED"][rng.gen_range(0..3)];
                            (rng.gen_range(0..sites), 1, status)
                        })
                        .collect();
                    if !changes.is_empty() {
                        post_status(&http, node, &changes);
                        written.fetch_add(changes.len() as u64, Ordering::Relaxed);
                    }
                }
                next += tick;
                if let Some(d) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
        })
    };
    std::thread::sleep(Duration::from_secs(3));

    // 3. Probes, and one subscriber noting when each probe's change arrives.
    let arrivals: Arc<Mutex<HashMap<(String, String), Instant>>> = Arc::default();
    let subscriber = {
        let (arrivals, stop, url) = (arrivals.clone(), stop.clone(), agg.url.clone());
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(None)
                .build()
                .unwrap();
            let res = client
                .get(format!("{url}/v1/london/status/stream"))
                .send()
                .unwrap();
            for line in BufReader::new(res).lines() {
                let Ok(line) = line else { break };
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Some(data) = line.strip_prefix("data: ")
                    && let Ok(e) = serde_json::from_str::<Value>(data)
                    && e["evse_uid"].as_str().is_some_and(|u| u.ends_with("-2"))
                {
                    let key = (
                        format!(
                            "{}{}",
                            e["party_id"].as_str().unwrap(),
                            e["evse_uid"].as_str().unwrap()
                        ),
                        e["status"].as_str().unwrap_or("").to_owned(),
                    );
                    arrivals
                        .lock()
                        .unwrap()
                        .entry(key)
                        .or_insert_with(Instant::now);
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let view_ms = Arc::new(Mutex::new(Vec::new()));
    let stream_ms = Arc::new(Mutex::new(Vec::new()));
    let probers: Vec<_> = (0..4)
        .map(|t| {
            let (nodes, view_ms, stream_ms, arrivals, http, url) = (
                nodes.clone(),
                view_ms.clone(),
                stream_ms.clone(),
                arrivals.clone(),
                http.clone(),
                agg.url.clone(),
            );
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(1000 + t);
                let mut state: HashMap<(usize, usize), &str> = HashMap::new();
                for _ in 0..probes / 4 {
                    let n = rng.gen_range(0..nodes.len());
                    // Each prober its own quarter of the sites: probes never race each other.
                    let site = (rng.gen_range(0..sites / 4)) * 4 + t as usize;
                    let next = match state.get(&(n, site)).copied() {
                        Some("CHARGING") => "AVAILABLE",
                        _ => "CHARGING",
                    };
                    state.insert((n, site), next);
                    let node = &nodes[n];
                    let posted = Instant::now();
                    post_status(&http, node, &[(site, 2, next)]);
                    let path = format!("{url}/v1/london/locations/GB/{}/S{site:04}", node.party_id);
                    loop {
                        let v: Value = http.get(&path).send().unwrap().json().unwrap();
                        if v["evses"][1]["status"] == next {
                            break;
                        }
                        assert!(posted.elapsed() < Duration::from_secs(30), "never shown");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    view_ms
                        .lock()
                        .unwrap()
                        .push(posted.elapsed().as_secs_f64() * 1000.0);
                    let key = (format!("{}S{site:04}-2", node.party_id), next.to_owned());
                    let waited = Instant::now();
                    while waited.elapsed() < Duration::from_secs(5) {
                        if let Some(at) = arrivals.lock().unwrap().remove(&key) {
                            stream_ms
                                .lock()
                                .unwrap()
                                .push(at.duration_since(posted).as_secs_f64() * 1000.0);
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    std::thread::sleep(Duration::from_millis(rng.gen_range(20..80)));
                }
            })
        })
        .collect();
    let probing = Instant::now();
    for p in probers {
        p.join().unwrap();
    }
    let seconds = probing.elapsed().as_secs_f64();
    let w = written.load(Ordering::Relaxed);
    percentiles(
        "write_to_view",
        view_ms.lock().unwrap().clone(),
        &format!(
            "goal p50 ≤ 50, p99 ≤ 250; background {:.0} changes/s over {nodes_n} nodes",
            w as f64 / (seconds + 3.5)
        ),
    );
    let streamed = stream_ms.lock().unwrap().clone();
    let missed = probes - probes % 4 - streamed.len();
    percentiles(
        "write_to_stream",
        streamed,
        &format!("goal p99 ≤ 250; {missed} probes not seen on the stream"),
    );

    // 4. Many subscribers held open, each read as events come.
    let before = rss_kb(&agg);
    let addr = agg.url.trim_start_matches("http://").to_owned();
    let failed = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let mut sockets = Vec::new();
    for _ in 0..subscribers {
        match TcpStream::connect(&addr) {
            Ok(mut s) => {
                let req = format!(
                    "GET /v1/london/status/stream HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
                );
                if s.write_all(req.as_bytes()).is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                s.set_nonblocking(true).unwrap();
                sockets.push(s);
            }
            Err(_) => {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let readers: Vec<_> = sockets
        .chunks(250)
        .map(|c| c.iter().map(|s| s.try_clone().unwrap()).collect::<Vec<_>>())
        .map(|mut chunk| {
            let (failed, bytes) = (failed.clone(), bytes.clone());
            std::thread::spawn(move || {
                let until = Instant::now() + Duration::from_secs(hold as u64);
                let mut buf = [0u8; 16 * 1024];
                let mut ok = vec![true; chunk.len()];
                while Instant::now() < until {
                    for (i, s) in chunk.iter_mut().enumerate() {
                        if !ok[i] {
                            continue;
                        }
                        match s.read(&mut buf) {
                            Ok(0) => {
                                ok[i] = false;
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(n) => {
                                bytes.fetch_add(n as u64, Ordering::Relaxed);
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                            Err(_) => {
                                ok[i] = false;
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        })
        .collect();
    let mut peak = before;
    let holding = Instant::now();
    while holding.elapsed() < Duration::from_secs(hold as u64) {
        peak = peak.max(rss_kb(&agg));
        std::thread::sleep(Duration::from_millis(500));
    }
    for r in readers {
        r.join().unwrap();
    }
    println!(
        "figure subscribers: {} streams held {hold} s, {} failed, {:.1} MB read; aggregator RSS {:.1} → peak {:.1} MB, +{:.1} MB (goal ≤ 50 MB, 0 errors)",
        subscribers,
        failed.load(Ordering::Relaxed),
        bytes.load(Ordering::Relaxed) as f64 / 1e6,
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        peak.saturating_sub(before) as f64 / 1024.0
    );
    stop.store(true, Ordering::Relaxed);
    drop(sockets);
    writer.join().unwrap();
    drop(agg);
    let _ = subscriber.join();
}
