//! What the aggregator's end-to-end tests share (and its real-time bench, which includes this
//! file): the binaries beside the test's own, their commands, a node or aggregator directory
//! served on `127.0.0.1:0` once its ready file appears, an aggregator directory with its
//! `aggregator.toml`, members registered through the command line, and waiting on a condition
//! with a deadline rather than sleeping.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const AGGREGATOR: &str = env!("CARGO_BIN_EXE_evfed-aggregator");

/// How often a wait looks at its condition again.
const POLL: Duration = Duration::from_millis(20);

/// The longest wait for a server's ready file (a release build loading a large view included).
const READY_WITHIN: Duration = Duration::from_secs(60);

/// The longest wait for an aggregator to reach a member state or a node to sign.
pub const WITHIN: Duration = Duration::from_secs(20);

/// The binary `name` of this workspace, built beside this package's.
pub fn sibling_bin(name: &str) -> PathBuf {
    let bin = Path::new(AGGREGATOR).with_file_name(name);
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p {name}` (with --release for the benches; \
         cargo test --workspace builds it)",
        bin.display()
    );
    bin
}

pub fn node_bin() -> PathBuf {
    sibling_bin("evfed-node")
}

pub fn conformance_bin() -> PathBuf {
    sibling_bin("evfed-conformance")
}

/// Runs `bin args…`, which must succeed; its standard output.
pub fn run(bin: &Path, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The last line of a command's output (where `token issue` prints the token).
pub fn last_line(out: &str) -> String {
    out.lines().last().unwrap().trim().to_owned()
}

/// Polls `check` until it gives a value, failing after `within` with `what` and the last
/// observation `check` reported.
pub fn wait_until<T>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let started = Instant::now();
    loop {
        match check() {
            Ok(v) => return v,
            Err(seen) => assert!(
                started.elapsed() < within,
                "{what}: not within {within:?}; last seen: {seen}"
            ),
        }
        std::thread::sleep(POLL);
    }
}

/// Where a served process's log (standard error) goes.
#[derive(Debug, Clone, Copy)]
pub enum ServerLog<'a> {
    /// Warnings, to the test's standard error.
    Warnings,
    /// `RUST_LOG=debug`, written to this file.
    DebugTo(&'a Path),
    /// Nowhere (benches print figures only).
    #[allow(dead_code)] // the real-time bench's
    Discard,
}

/// How to serve a directory.
#[derive(Debug, Clone, Copy)]
pub struct Serve<'a> {
    pub listen: &'a str,
    pub log: ServerLog<'a>,
}

impl Default for Serve<'_> {
    fn default() -> Self {
        Serve {
            listen: "127.0.0.1:0",
            log: ServerLog::Warnings,
        }
    }
}

/// A node or aggregator serving a directory; killed when dropped.
#[derive(Debug)]
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    pub fn start(bin: &Path, dir: &Path) -> Server {
        Server::serve(bin, dir, Serve::default())
    }

    pub fn start_on(bin: &Path, dir: &Path, listen: &str) -> Server {
        Server::serve(
            bin,
            dir,
            Serve {
                listen,
                ..Serve::default()
            },
        )
    }

    /// Serving with `RUST_LOG=debug`, its log (standard error) written to `log`.
    pub fn start_logged(bin: &Path, dir: &Path, log: &Path) -> Server {
        Server::serve(
            bin,
            dir,
            Serve {
                log: ServerLog::DebugTo(log),
                ..Serve::default()
            },
        )
    }

    /// `bin serve --dir DIR` with a ready file; returns once the file names the bound URL.
    pub fn serve(bin: &Path, dir: &Path, how: Serve<'_>) -> Server {
        // The test's own reqwest clients need rustls's provider too.
        evfed_aggregator::outgoing::install_crypto_provider();
        let ready = dir.join("ready.json");
        let _ = std::fs::remove_file(&ready);
        let mut command = Command::new(bin);
        command
            .args(["serve", "--dir"])
            .arg(dir)
            .args(["--listen", how.listen, "--ready-file"])
            .arg(&ready);
        match how.log {
            ServerLog::Warnings => command.env("RUST_LOG", "warn"),
            ServerLog::DebugTo(log) => command
                .env("RUST_LOG", "debug")
                .stderr(std::fs::File::create(log).unwrap()),
            ServerLog::Discard => command.env("RUST_LOG", "warn").stderr(Stdio::null()),
        };
        let mut child = command.spawn().unwrap();
        let started = Instant::now();
        while !ready.exists() {
            if started.elapsed() > READY_WITHIN || child.try_wait().unwrap().is_some() {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} serve --dir {}: no ready file",
                    bin.display(),
                    dir.display()
                );
            }
            std::thread::sleep(POLL);
        }
        let v: Value = serde_json::from_slice(&std::fs::read(&ready).unwrap()).unwrap();
        Server {
            child,
            url: v["url"].as_str().unwrap().to_owned(),
        }
    }

    /// Stops with SIGTERM (a node signs its final checkpoint) and waits for the process.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    pub fn json(&self, path: &str) -> Value {
        reqwest::blocking::get(format!("{}{path}", self.url))
            .unwrap()
            .json()
            .unwrap()
    }

    /// The bound `host:port`.
    pub fn addr(&self) -> &str {
        self.url.strip_prefix("http://").unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A node directory made by `evfed-node init`.
#[derive(Debug)]
pub struct Node {
    pub dir: PathBuf,
    pub origin: String,
}

impl Node {
    /// `ROOT/NAME`, a `cpo` node of origin `evfed.NAME.example`.
    pub fn init(root: &Path, name: &str) -> Node {
        Node::init_as(&root.join(name), &format!("evfed.{name}.example"))
    }

    /// A `cpo` node of `origin` in `dir`.
    pub fn init_as(dir: &Path, origin: &str) -> Node {
        run(
            &node_bin(),
            &[
                "init",
                "--dir",
                dir.to_str().unwrap(),
                "--origin",
                origin,
                "--kind",
                "cpo",
            ],
        );
        Node {
            dir: dir.to_owned(),
            origin: origin.to_owned(),
        }
    }

    /// Appends `settings` to the node's `config.toml`.
    #[allow(dead_code)] // the real-time bench's
    pub fn configure(&self, settings: &str) {
        append(&self.dir.join("config.toml"), settings);
    }

    /// A `data:write` token for `party`, from the node's built-in issuer.
    pub fn token(&self, party: &str) -> String {
        node_token(&self.dir, party)
    }

    /// The node's current verifier key, from its discovery document.
    pub fn vkey(server: &Server) -> String {
        server.json("/.well-known/evfed")["vkeys"][0]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// A `data:write` token for `party` from the built-in issuer of the node in `dir`.
pub fn node_token(dir: &Path, party: &str) -> String {
    last_line(&run(
        &node_bin(),
        &[
            "token",
            "issue",
            "--dir",
            dir.to_str().unwrap(),
            "--party",
            party,
            "--scope",
            "data:write",
        ],
    ))
}

pub fn put_location(server: &Server, token: &str, id: &str, lat: &str) {
    put_location_of(server, token, "RHX", id, lat);
}

pub fn put_location_of(server: &Server, token: &str, party_id: &str, id: &str, lat: &str) {
    let body = json!({
        "country_code": "GB", "party_id": party_id, "id": id, "publish": true,
        "address": "1 Test Street", "city": "London", "country": "GBR",
        "coordinates": {"latitude": lat, "longitude": "-0.14000"},
        "time_zone": "Europe/London", "last_updated": "2026-10-22T10:00:00Z",
        "evses": [{"uid": format!("{id}-1"), "status": "AVAILABLE",
                   "last_updated": "2026-10-22T10:00:00Z",
                   "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                                   "power_type": "AC_1_PHASE", "max_voltage": 230,
                                   "max_amperage": 32, "last_updated": "2026-10-22T10:00:00Z"}]}]
    });
    let res = reqwest::blocking::Client::new()
        .put(format!("{}/v1/locations/GB/{party_id}/{id}", server.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().unwrap());
}

/// The public log's size once a signed checkpoint covers every entry written so far.
pub fn log_size(node: &Server) -> u64 {
    wait_until("a checkpoint of every entry", WITHIN, || {
        let res = reqwest::blocking::get(format!("{}/v1/log/checkpoint", node.url)).unwrap();
        let current: u64 = res.headers()["evfed-tree-size"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let note = res.text().unwrap();
        let signed: u64 = note.lines().nth(1).unwrap().parse().unwrap();
        if signed == current {
            Ok(signed)
        } else {
            Err(format!("signed {signed} of {current}"))
        }
    })
}

/// The settings every test aggregator runs with unless it says otherwise: harvest rounds
/// 100 ms apart and no conformance runs.
pub const QUICK: &str = "harvest_interval = \"100ms\"\nconformance_interval = \"0s\"\n";

/// `evfed-aggregator init --dir DIR --origin ORIGIN [init_args…]`, then `settings` appended to
/// the `aggregator.toml` it wrote (whose tables are all commented out, so appended keys are
/// top-level).
pub fn init_aggregator(dir: &Path, origin: &str, init_args: &[&str], settings: &str) {
    let mut args = vec!["init", "--dir", dir.to_str().unwrap(), "--origin", origin];
    args.extend_from_slice(init_args);
    run(Path::new(AGGREGATOR), &args);
    configure_aggregator(dir, settings);
}

/// Appends `settings` to the aggregator's `aggregator.toml`.
pub fn configure_aggregator(dir: &Path, settings: &str) {
    append(&dir.join("aggregator.toml"), settings);
}

fn append(file: &Path, text: &str) {
    let mut toml = std::fs::read_to_string(file).unwrap();
    toml.push('\n');
    toml.push_str(text);
    if !toml.ends_with('\n') {
        toml.push('\n');
    }
    std::fs::write(file, toml).unwrap();
}

/// Serves the aggregator directory `dir`.
pub fn start_aggregator(dir: &Path) -> Server {
    Server::start(Path::new(AGGREGATOR), dir)
}

/// `ROOT/london`, the aggregator `evfed.london.example` with [`QUICK`] settings.
pub fn aggregator(root: &Path) -> PathBuf {
    let dir = root.join("london");
    init_aggregator(&dir, "evfed.london.example", &[], QUICK);
    dir
}

/// An `admin` access token of the aggregator's own authorization server, as its CLI mints it.
pub fn admin_token(agg: &Path) -> String {
    last_line(&run(
        Path::new(AGGREGATOR),
        &[
            "token",
            "issue",
            "--dir",
            agg.to_str().unwrap(),
            "--scope",
            "admin",
            "--ttl",
            "10m",
        ],
    ))
}

pub fn add_member(agg: &Path, origin: &str, url: &str, vkey: &str) {
    add_member_for(agg, origin, url, vkey, "GB*RHX");
}

/// `members add` of a `cpo` member allowed to publish `party`.
pub fn add_member_for(agg: &Path, origin: &str, url: &str, vkey: &str, party: &str) {
    add_member_with(
        agg,
        &[
            "--origin", origin, "--url", url, "--vkey", vkey, "--kind", "cpo", "--party", party,
        ],
    );
}

/// `members add --dir AGG args…`.
pub fn add_member_with(agg: &Path, args: &[&str]) {
    let mut all = vec!["members", "add", "--dir", agg.to_str().unwrap()];
    all.extend_from_slice(args);
    run(Path::new(AGGREGATOR), &all);
}

/// Waits until `origin`'s member entry satisfies `done`.
pub fn wait_member(agg: &Server, origin: &str, done: impl Fn(&Value) -> bool) -> Value {
    wait_until(&format!("member {origin}"), WITHIN, || {
        let members = agg.json("/v1/members");
        members
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["origin"] == origin && done(m))
            .cloned()
            .ok_or_else(|| members.to_string())
    })
}

/// Waits until `origin`'s evidence satisfies `done`.
pub fn wait_evidence(agg: &Server, origin: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    wait_until(&format!("evidence of {origin}"), WITHIN, || {
        let evidence = agg.json(&format!("/v1/members/{origin}/evidence"));
        let rows = evidence.as_array().unwrap();
        if done(rows) {
            Ok(rows.clone())
        } else {
            Err(evidence.to_string())
        }
    })
}

/// The evidence rows of one kind.
pub fn of_kind<'a>(rows: &'a [Value], kind: &str) -> Vec<&'a Value> {
    rows.iter().filter(|e| e["kind"] == kind).collect()
}

/// `X-Total-Count` of the London view.
pub fn total(agg: &Server) -> String {
    let res = reqwest::blocking::get(format!("{}/v1/london/locations", agg.url)).unwrap();
    res.headers()["x-total-count"].to_str().unwrap().to_owned()
}

/// Copies a directory with `cp -a` (a node's twin: same origin, same key).
pub fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Whether `note` is a checkpoint that verifies with `vkey`.
pub fn note_verifies(note: &str, vkey: &str) -> bool {
    let key: evfed_spec::note::VerifierKey = vkey.parse().unwrap();
    evfed_spec::trust::Unverified::new(note.as_bytes().to_vec())
        .verify_checkpoint(&[key])
        .is_ok()
}

/// The tree size a checkpoint note claims.
pub fn tree_size(note: &str) -> u64 {
    note.lines().nth(1).unwrap().parse().unwrap()
}
