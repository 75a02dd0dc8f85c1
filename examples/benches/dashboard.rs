//! The dashboard's figures at London scale (BENCHMARKS.md), measured in headless Chromium and
//! with `wrk`: time from navigation to the map drawing every chargepoint, bytes transferred for
//! the first view, time to re-render after a filter change, requests per second of the map's
//! points, and the latency of `/v1/compliance/suppliers`. It measures; it asserts nothing.
//!
//! `cargo bench -p evfed-examples --bench dashboard` starts `london-demo --scale london
//! --history-days 7` from the release binaries (`cargo build --release --workspace --bins`;
//! the page's figures depend on the view, not on how much history it holds); with
//! `EVFED_AGGREGATOR=http://…` it measures a running aggregator instead.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/it/browser.rs"]
mod browser;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Demo(Option<Child>);

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = c.wait();
        }
    }
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (agg, demo, dir) = match std::env::var("EVFED_AGGREGATOR") {
        Ok(url) => (url, Demo(None), None),
        Err(_) => {
            let dir = tempfile::tempdir().unwrap();
            let ready = dir.path().join("ready.json");
            let demo =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/london-demo");
            let child = Command::new(&demo)
                .args([
                    "--listen",
                    "127.0.0.1:0",
                    "--scale",
                    "london",
                    "--pace",
                    "60",
                ])
                .args(["--history-days", "7"])
                .arg("--data-dir")
                .arg(dir.path().join("data"))
                .arg("--ready-file")
                .arg(&ready)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "{}: {e} (cargo build --release --workspace --bins)",
                        demo.display()
                    )
                });
            let started = Instant::now();
            while !ready.exists() {
                assert!(
                    started.elapsed() < Duration::from_secs(1800),
                    "the demo was not ready"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
            println!(
                "london-demo --scale london ready in {:.0} s",
                started.elapsed().as_secs_f64()
            );
            let r: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&ready).unwrap()).unwrap();
            (
                r["aggregator"].as_str().unwrap().to_owned(),
                Demo(Some(child)),
                Some(dir),
            )
        }
    };
    let http = reqwest::blocking::Client::new();
    let points: serde_json::Value = http
        .get(format!("{agg}/v1/london/map/points"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    println!(
        "view: {} locations, {} EVSEs",
        points["location_count"], points["evse_count"]
    );

    let b =
        browser::Browser::start(1280, 900).expect("chromedriver (apt-get install chromium-driver)");
    let mut ready_ms = Vec::new();
    let mut bytes = Vec::new();
    for run in 0..5 {
        // A fresh page each time (the first run fills the HTTP cache; later ones revalidate).
        b.goto("about:blank");
        b.goto(&format!("{agg}/?run={run}"));
        b.wait_for(
            "ready",
            "return document.body.dataset.ready === 'true'",
            Duration::from_secs(60),
        );
        ready_ms.push(
            b.js("return window.evfedDashboard.readyMs")
                .as_f64()
                .unwrap(),
        );
        bytes.push(
            b.js("return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
                   .reduce((n, e) => n + (e.transferSize || 0), 0)")
                .as_f64()
                .unwrap(),
        );
    }
    println!("navigation to every chargepoint on the map (ms, 5 loads): {ready_ms:.0?}");
    println!("bytes transferred for the first view (5 loads; the first uncached): {bytes:.0?}");

    let mut filter_ms = Vec::new();
    for (id, value) in [
        ("f-status", "AVAILABLE"),
        ("f-status", ""),
        ("f-operator", "0"),
        ("f-operator", ""),
        ("f-standard", "0"),
        ("f-standard", ""),
        ("f-borough", "0"),
        ("f-borough", ""),
    ] {
        b.js(&format!(
            "const s = document.getElementById({id:?}); s.value = {value:?};
             s.dispatchEvent(new Event('change', {{bubbles: true}}));"
        ));
        filter_ms.push(
            b.js("return window.evfedDashboard.lastFilterMs")
                .as_f64()
                .unwrap(),
        );
    }
    println!("filter change re-rendered (ms, 8 changes): {filter_ms:.1?}");
    drop(b);

    for (what, path) in [
        ("map points", "/v1/london/map/points"),
        ("compliance", "/v1/compliance/suppliers"),
    ] {
        let url = format!("{agg}{path}");
        let mut lat = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            let res = http
                .get(&url)
                .header("Accept-Encoding", "gzip")
                .send()
                .unwrap();
            let _ = res.bytes().unwrap();
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        lat.sort_by(f64::total_cmp);
        println!(
            "{what}: one request, median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
            lat[25], lat[45], lat[49]
        );
    }
    // Requests per second of the points with the edge's request limits off (as the node's
    // benchmark runs): the demo's aggregator again, on its data, with `[limits]` at 0.
    let (wrk_target, _serving) = match &dir {
        None => (agg.clone(), Demo(None)),
        Some(dir) => {
            drop(demo);
            let agg_dir = dir.path().join("data/aggregator");
            let mut config = std::fs::read_to_string(agg_dir.join("aggregator.toml")).unwrap();
            config.push_str("\n[limits]\nper_ip_per_minute = 0\nper_client_per_minute = 0\n");
            std::fs::write(agg_dir.join("aggregator.toml"), config).unwrap();
            let ready = dir.path().join("serve.json");
            let child = Command::new(
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../target/release/evfed-aggregator"),
            )
            .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
            .arg(&agg_dir)
            .arg("--ready-file")
            .arg(&ready)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
            let serving = Demo(Some(child));
            let started = Instant::now();
            while !ready.exists() {
                assert!(
                    started.elapsed() < Duration::from_secs(120),
                    "the aggregator did not start"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            let r: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&ready).unwrap()).unwrap();
            (r["url"].as_str().unwrap().to_owned(), serving)
        }
    };
    match Command::new("wrk")
        .args([
            "-t2",
            "-c64",
            "-d10s",
            "--latency",
            "-H",
            "Accept-Encoding: gzip",
        ])
        .arg(format!("{wrk_target}/v1/london/map/points"))
        .output()
    {
        Ok(out) => println!(
            "wrk -t2 -c64 -d10s /v1/london/map/points (gzip, limits off):\n{}",
            String::from_utf8_lossy(&out.stdout)
        ),
        Err(e) => println!("wrk not run ({e}): apt-get install wrk"),
    }
}
