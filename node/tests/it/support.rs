//! Runs the real `evfed-node` binary on `127.0.0.1:0` against a fresh directory, and talks to it
//! over real HTTP.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_evfed-node");

/// A node directory in a temporary folder.
pub struct NodeDir {
    pub tmp: tempfile::TempDir,
    pub origin: String,
}

/// A running node; killed (SIGKILL) on drop unless stopped.
pub struct Running {
    pub child: Child,
    pub url: String,
    pub http: reqwest::blocking::Client,
}

impl NodeDir {
    /// `evfed-node init` with the given extra arguments.
    pub fn init(origin: &str, args: &[&str]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("node");
        let out = run(&[
            &["init", "--dir", dir.to_str().unwrap(), "--origin", origin],
            args,
        ]
        .concat());
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            tmp,
            origin: origin.to_owned(),
        }
    }

    /// A borough node for Camden.
    pub fn camden() -> Self {
        Self::init(
            "evfed.camden.example",
            &["--kind", "borough", "--borough", "E09000007"],
        )
    }

    pub fn path(&self) -> PathBuf {
        self.tmp.path().join("node")
    }

    pub fn dir_arg(&self) -> String {
        self.path().to_str().unwrap().to_owned()
    }

    /// Starts `serve` and waits for its ready file.
    pub fn serve(&self) -> Running {
        self.try_serve()
            .unwrap_or_else(|out| panic!("serve did not become ready: {out}"))
    }

    /// Starts `serve`; `Err` with its stderr when it exits before being ready.
    pub fn try_serve(&self) -> Result<Running, String> {
        let ready = self
            .tmp
            .path()
            .join(format!("ready-{}.json", std::process::id()));
        let _ = std::fs::remove_file(&ready);
        let stderr = std::fs::File::create(self.tmp.path().join("serve.log")).unwrap();
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--dir",
                &self.dir_arg(),
                "--listen",
                "127.0.0.1:0",
                "--ready-file",
            ])
            .arg(&ready)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                let url = v["url"].as_str().unwrap().to_owned();
                evfed_node::embed::outgoing::install_crypto_provider();
                let http = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .unwrap();
                return Ok(Running { child, url, http });
            }
            if let Some(status) = child.try_wait().unwrap() {
                let log =
                    std::fs::read_to_string(self.tmp.path().join("serve.log")).unwrap_or_default();
                return Err(format!("exited with {status}: {log}"));
            }
            assert!(Instant::now() < deadline, "node not ready after 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A token from the node's built-in issuer.
    pub fn token(&self, party: Option<&str>, scopes: &[&str]) -> String {
        let mut args = vec!["token", "issue", "--dir"];
        let dir = self.dir_arg();
        args.push(&dir);
        if let Some(p) = party {
            args.extend(["--party", p]);
        }
        for s in scopes {
            args.extend(["--scope", s]);
        }
        let out = run(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .to_owned()
    }

    pub fn writer(&self, party: &str) -> String {
        self.token(Some(party), &["data:write"])
    }
}

impl Running {
    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        self.http.get(format!("{}{path}", self.url)).send().unwrap()
    }

    pub fn get_auth(&self, path: &str, token: &str) -> reqwest::blocking::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .unwrap()
    }

    pub fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> reqwest::blocking::Response {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().unwrap()
    }

    pub fn json(&self, path: &str) -> serde_json::Value {
        let res = self.get(path);
        assert_eq!(res.status(), 200, "GET {path}");
        res.json().unwrap()
    }

    /// The public log's size as the node reports it.
    pub fn tree_size(&self) -> u64 {
        tree_size(&self.get("/healthz"))
    }

    /// Waits until the latest public checkpoint covers `size` entries.
    pub fn wait_for_checkpoint(&self, size: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let note = self.get("/v1/log/checkpoint").text().unwrap();
            let signed: u64 = note.lines().nth(1).unwrap().parse().unwrap();
            if signed >= size {
                return note;
            }
            assert!(Instant::now() < deadline, "no checkpoint of size {size}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id() as i32;
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "node did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn tree_size(res: &reqwest::blocking::Response) -> u64 {
    res.headers()
        .get("evfed-tree-size")
        .expect("every response carries Evfed-Tree-Size")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Runs the binary to completion.
pub fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// The project's fixtures, under `spec/testdata/` (the node crate has none of its own).
pub fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../spec/testdata")
        .join(rel)
}

/// The node's verifier keys, from its discovery document.
pub fn vkeys(run: &Running) -> Vec<evfed_spec::note::VerifierKey> {
    run.json("/.well-known/evfed")["vkeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().parse().unwrap())
        .collect()
}

/// Verifies one of the node's logs (`/v1/log` or `/v1/restricted/log`, whose entries need a
/// `usage:read` token): waits for a checkpoint of at least `min_size` entries, checks its
/// signature, and that every entry it covers hashes to its root. Returns the entries.
pub fn verified_log(run: &Running, base: &str, token: Option<&str>, min_size: u64) -> Vec<String> {
    use evfed_spec::merkle::MemoryTree;
    use evfed_spec::trust::Unverified;
    let deadline = Instant::now() + Duration::from_secs(20);
    let cp = loop {
        let note = run.get(&format!("{base}/checkpoint")).text().unwrap();
        let cp = Unverified::new(note.into_bytes())
            .verify_checkpoint(&vkeys(run))
            .expect("the checkpoint verifies");
        if cp.checkpoint().tree_size >= min_size {
            break cp;
        }
        assert!(
            Instant::now() < deadline,
            "no {base} checkpoint of size {min_size}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let size = cp.checkpoint().tree_size;
    let mut entries: Vec<String> = Vec::new();
    while (entries.len() as u64) < size {
        let path = format!("{base}/entries?start={}&end={size}", entries.len());
        let res = match token {
            Some(t) => run.get_auth(&path, t),
            None => run.get(&path),
        };
        assert_eq!(res.status(), 200, "GET {path}");
        let before = entries.len();
        entries.extend(res.text().unwrap().lines().map(str::to_owned));
        assert!(entries.len() > before, "entries page was empty");
    }
    let tree = MemoryTree::from_entries(&entries);
    assert_eq!(
        tree.root(),
        cp.checkpoint().root,
        "entries hash to the root"
    );
    entries
}
