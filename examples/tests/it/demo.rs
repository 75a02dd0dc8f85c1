//! `london-demo` as a real process: it brings up real nodes and the aggregator, the London view
//! holds exactly the distinct locations the nodes serve, the aggregator's usage figures hold
//! more than 13 months of history while no supplier's freshness suffers from it, SIGTERM stops
//! everything with status 0 and no process left behind, and a data directory is reused by a
//! second run.

use std::collections::{HashMap, HashSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use evfed_examples::demo::Binaries;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// How long a start may take. The binaries are debug builds here, several times slower than
/// release, and each start sends and verifies 400 days of history.
const READY_WITHIN: Duration = Duration::from_secs(400);

fn demo_binary() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_london-demo"));
    let dir = exe.parent().unwrap();
    if let Err(e) = Binaries::in_dir(dir) {
        panic!(
            "{e:#}\n(`cargo test -p evfed-examples` builds only this crate's binaries; the \
             demo test needs evfed-node and evfed-aggregator beside london-demo: run \
             `cargo build --workspace --bins` first, or `cargo test --workspace`)"
        );
    }
    exe
}

/// A running `london-demo`, stopped (and reaped) if a test fails half-way.
struct Demo {
    child: Child,
}

impl Demo {
    fn start(args: &[&str]) -> Demo {
        let child = Command::new(demo_binary())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Demo { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the ready file; fails with the demo's output if it exits first.
    fn ready(&mut self, path: &Path) -> Value {
        let started = Instant::now();
        loop {
            if let Ok(bytes) = std::fs::read(path) {
                return serde_json::from_slice(&bytes).unwrap();
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                let (out, err) = self.output();
                panic!("london-demo exited ({status}) before it was ready:\n{out}\n{err}");
            }
            assert!(
                started.elapsed() < READY_WITHIN,
                "london-demo was not ready after {} s",
                READY_WITHIN.as_secs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn output(&mut self) -> (String, String) {
        let mut out = String::new();
        let mut err = String::new();
        if let Some(o) = self.child.stdout.as_mut() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(e) = self.child.stderr.as_mut() {
            let _ = e.read_to_string(&mut err);
        }
        (out, err)
    }

    /// SIGTERM; returns the exit code and the demo's output.
    fn terminate(mut self) -> (Option<i32>, String) {
        kill(Pid::from_raw(self.pid() as i32), Signal::SIGTERM).unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "london-demo did not stop within 30 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let (out, err) = self.output();
        (status.code(), format!("{out}\n{err}"))
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
            let _ = self.child.wait();
        }
    }
}

/// Process ids whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces, so read after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}

fn http() -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn total_count(res: &reqwest::blocking::Response) -> usize {
    res.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Every `(country_code, party_id, id)` a node serves, read page by page.
fn node_keys(client: &reqwest::blocking::Client, url: &str) -> Vec<(String, String, String)> {
    let mut keys = Vec::new();
    loop {
        let res = client
            .get(format!(
                "{url}/v1/locations?limit=1000&offset={}",
                keys.len()
            ))
            .send()
            .unwrap();
        assert!(res.status().is_success());
        let total = total_count(&res);
        let page: Vec<Value> = res.json().unwrap();
        keys.extend(page.iter().map(|l| {
            let s = |k: &str| l[k].as_str().unwrap().to_owned();
            (s("country_code"), s("party_id"), s("id"))
        }));
        if page.is_empty() || keys.len() >= total {
            return keys;
        }
    }
}

/// Checks the London view against the nodes; returns the London count.
fn check_london(ready: &Value) -> usize {
    let client = http();
    let agg = ready["aggregator"].as_str().unwrap();
    let res = client
        .get(format!("{agg}/v1/london/locations?limit=1"))
        .send()
        .unwrap();
    let london = total_count(&res);
    let nodes = ready["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 10, "6 borough and 4 operator nodes by default");
    let mut kinds_of: HashMap<(String, String, String), HashSet<String>> = HashMap::new();
    let mut served = 0;
    for n in nodes {
        let keys = node_keys(&client, n["url"].as_str().unwrap());
        assert!(!keys.is_empty(), "{} serves nothing", n["origin"]);
        served += keys.len();
        for k in keys {
            kinds_of
                .entry(k)
                .or_default()
                .insert(n["kind"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        london,
        kinds_of.len(),
        "London = distinct locations the nodes serve"
    );
    assert!(served > london, "some locations are published twice");
    assert!(
        kinds_of.values().any(|k| k.len() == 2),
        "a site published by both a borough and its operator"
    );
    // The compliance view is populated: every operator is a DPS supplier with contracts, and
    // one falls short on a contracted charge point it never publishes.
    let suppliers: Value = client
        .get(format!("{agg}/v1/compliance/suppliers"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let suppliers = suppliers.as_array().unwrap();
    assert_eq!(suppliers.len(), 4, "{suppliers:?}");
    assert!(
        suppliers
            .iter()
            .any(|s| !s["contracts"].as_array().unwrap().is_empty())
    );
    let short: Vec<&Value> = suppliers
        .iter()
        .filter(|s| s["reasons"].to_string().contains("DEMO-UNPUBLISHED-1"))
        .collect();
    assert_eq!(short.len(), 1, "{suppliers:?}");
    assert_eq!(short[0]["status"], "red");
    london
}

/// Stops the demo and checks it exited 0 and left no child behind.
fn stop_cleanly(demo: Demo) -> String {
    let kids = children_of(demo.pid());
    assert_eq!(kids.len(), 11, "10 nodes and the aggregator: {kids:?}");
    let (code, output) = demo.terminate();
    assert_eq!(code, Some(0), "{output}");
    for k in kids {
        assert!(
            !Path::new(&format!("/proc/{k}")).exists(),
            "child {k} outlived london-demo"
        );
    }
    output
}

#[test]
fn london_demo_serves_every_node_s_locations_and_stops_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let ready = tmp.path().join("ready.json");
    let ready_arg = ready.to_str().unwrap();
    // 300 EVSEs rather than the default 1,000: each run sends 400 days of history through
    // debug builds (about 160,000 sessions instead of 550,000), and it still gives every node
    // sites to publish.
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--ready-file",
        ready_arg,
        "--scale",
        "300",
    ];

    // A temporary data directory, removed at exit.
    let mut demo = Demo::start(&args);
    let first = demo.ready(&ready);
    let london = check_london(&first);
    check_conformance(&first);
    let output = stop_cleanly(demo);
    let data = output
        .lines()
        .find_map(|l| l.trim().strip_prefix("data in "))
        .and_then(|l| l.split(" (removed at exit)").next())
        .unwrap_or_else(|| panic!("no data directory in:\n{output}"));
    assert!(!Path::new(data).exists(), "{data} was not removed");

    // A given data directory is kept, and a second run reuses it.
    let dir = tmp.path().join("data");
    let dir_arg = dir.to_str().unwrap();
    for run in 0..2 {
        std::fs::remove_file(&ready).ok();
        let mut demo =
            Demo::start(&[&args[..], &["--data-dir", dir_arg, "--pace", "600"]].concat());
        let r = demo.ready(&ready);
        assert_eq!(check_london(&r), london, "run {run}");
        check_history(&r, &dir.join("aggregator"));
        let output = stop_cleanly(demo);
        if run == 1 {
            assert!(
                output.contains("holds"),
                "the second run reuses the nodes:\n{output}"
            );
        }
        assert!(dir.join("aggregator/aggregator.db").exists());
    }
}

/// The aggregator's usage figures, read with a `usage:read` token of its own issuer, have at
/// least 13 months with sessions London-wide; the suppliers' freshness does not count that
/// history as late.
fn check_history(ready: &Value, agg_dir: &Path) {
    let exe = demo_binary();
    let out = Command::new(exe.parent().unwrap().join("evfed-aggregator"))
        .args(["token", "issue", "--scope", "usage:read", "--dir"])
        .arg(agg_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap()
        .trim();
    let client = http();
    let agg = ready["aggregator"].as_str().unwrap();
    let res = client
        .get(format!("{agg}/v1/london/usage?by=month&area=london"))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert!(res.status().is_success(), "{res:?}");
    let months: Vec<Value> = res.json().unwrap();
    let with_sessions = months
        .iter()
        .filter(|m| m["sessions"].as_i64().unwrap() > 0)
        .count();
    assert!(with_sessions >= 13, "{months:?}");
    let suppliers: Value = client
        .get(format!("{agg}/v1/compliance/suppliers"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    for s in suppliers.as_array().unwrap() {
        assert!(
            !s["reasons"].to_string().contains("status lag"),
            "history counted as late: {s}"
        );
    }
}

/// The conformance suite passes against every node (the aggregator runs it on each member as
/// soon as it holds data) and against the aggregator itself, as a node.
fn check_conformance(ready: &Value) {
    let client = http();
    let agg = ready["aggregator"].as_str().unwrap();
    let started = Instant::now();
    let runs = loop {
        let runs: Value = client
            .get(format!("{agg}/v1/conformance/members"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        if runs.as_array().unwrap().len() == 10 {
            break runs;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "not every node tested: {runs}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    for r in runs.as_array().unwrap() {
        assert_eq!(r["passed"], true, "{r}");
    }
    // The aggregator as a node, directly and through a plain forwarding proxy.
    let proxy = proxy::Proxy::start(agg, proxy::Mutation::none());
    for target in [agg, proxy.url.as_str()] {
        let config = evfed_conformance::RunConfig::new(target.parse().unwrap());
        let report = evfed_conformance::run(&config);
        assert_eq!(
            report.verdict(),
            evfed_conformance::Verdict::Pass,
            "the aggregator as a node at {target}: {:?}",
            report
                .results
                .iter()
                .filter(|r| r.outcome != evfed_conformance::Outcome::Pass)
                .map(|r| (&r.id, &r.evidence.message))
                .collect::<Vec<_>>()
        );
    }
}

/// The conformance suite's own test proxy.
#[path = "../../../conformance/tests/it/proxy.rs"]
#[allow(dead_code)]
mod proxy;
