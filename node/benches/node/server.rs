//! The real `evfed-node` release binary in a temporary directory: `init`, `token issue`, and
//! `serve` on `127.0.0.1:0`, timed from spawn to the ready file, with the server's memory and
//! CPU read from `/proc`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub const BIN: &str = env!("CARGO_BIN_EXE_evfed-node");

/// A node directory in a temporary folder.
#[derive(Debug)]
pub struct NodeDir {
    tmp: tempfile::TempDir,
}

/// A serving node; killed on drop unless stopped.
#[derive(Debug)]
pub struct Running {
    child: Child,
    pub url: String,
    /// Spawn to ready file.
    pub ready_after: Duration,
}

/// What `/proc/PID/status` says about memory, in KiB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    /// Heap and other private memory.
    pub anon_kib: u64,
    /// Mapped files (the executable, SQLite's shared WAL index).
    pub file_kib: u64,
}

impl NodeDir {
    /// `evfed-node init --kind cpo` accepting only the given party.
    pub fn init_cpo(origin: &str, party: &str) -> anyhow::Result<Self> {
        let tmp = tempfile::tempdir().context("creating a temporary directory")?;
        let dir = tmp.path().join("node");
        let out = Command::new(BIN)
            .arg("init")
            .arg("--dir")
            .arg(&dir)
            .args(["--origin", origin, "--kind", "cpo", "--party", party])
            .output()
            .context("running evfed-node init")?;
        if !out.status.success() {
            bail!("init failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        // The benchmark's clients send far more than the default 6,000 requests a minute from
        // one address and one token: it measures the node, not its rate limits.
        let config = dir.join("config.toml");
        let text = std::fs::read_to_string(&config).context("reading config.toml")?;
        let unlimited = "[limits]\nper_ip_per_minute = 0\nper_client_per_minute = 0\n";
        std::fs::write(&config, format!("{text}\n{unlimited}")).context("writing config.toml")?;
        Ok(Self { tmp })
    }

    pub fn path(&self) -> PathBuf {
        self.tmp.path().join("node")
    }

    /// A `data:write` token for `party` from the node's built-in issuer.
    pub fn writer_token(&self, party: &str) -> anyhow::Result<String> {
        let out = Command::new(BIN)
            .args(["token", "issue", "--dir"])
            .arg(self.path())
            .args(["--party", party, "--scope", "data:write", "--ttl", "2h"])
            .output()
            .context("running evfed-node token issue")?;
        if !out.status.success() {
            bail!(
                "token issue failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let stdout = String::from_utf8(out.stdout).context("token is not UTF-8")?;
        stdout
            .lines()
            .last()
            .map(str::to_owned)
            .context("token issue printed nothing")
    }

    /// Starts `serve` with the default log level, as an operator would, and waits for its
    /// ready file, polling every 0.5 ms.
    pub fn serve(&self) -> anyhow::Result<Running> {
        let ready = self.tmp.path().join("ready.json");
        let _ = std::fs::remove_file(&ready);
        let log = self.log_path();
        let stderr = std::fs::File::create(&log).context("creating serve.log")?;
        let started = Instant::now();
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--dir")
            .arg(self.path())
            .args(["--listen", "127.0.0.1:0", "--ready-file"])
            .arg(&ready)
            .env_remove("RUST_LOG")
            .env_remove("EVFED_LISTEN")
            .env_remove("EVFED_LOG_FORMAT")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .context("spawning evfed-node serve")?;
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                let ready_after = started.elapsed();
                let v: serde_json::Value =
                    serde_json::from_str(&text).context("ready file is not JSON")?;
                let url = v["url"]
                    .as_str()
                    .context("ready file has no url")?
                    .to_owned();
                return Ok(Running {
                    child,
                    url,
                    ready_after,
                });
            }
            if let Some(status) = child.try_wait()? {
                bail!("serve exited with {status}: {}", self.log_tail());
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                bail!("serve not ready after 60 s: {}", self.log_tail());
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    fn log_path(&self) -> PathBuf {
        self.tmp.path().join("serve.log")
    }

    /// The end of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Leaves the directory in place (for `EXPLAIN QUERY PLAN` and the like) and returns it.
    pub fn keep(self) -> PathBuf {
        let path = self.path();
        let _ = self.tmp.keep();
        path
    }

    /// Bytes the node's directory takes on disk (database, WAL, keys).
    pub fn disk_bytes(&self) -> u64 {
        dir_bytes(&self.path())
    }
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn memory(&self) -> anyhow::Result<Memory> {
        let path = format!("/proc/{}/status", self.pid());
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            let line = text
                .lines()
                .find(|l| l.starts_with(name))
                .with_context(|| format!("{path} has no {name}"))?;
            let kib = line[name.len()..].trim().trim_end_matches("kB").trim();
            kib.parse().with_context(|| format!("{path}: {line}"))
        };
        Ok(Memory {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
            anon_kib: field("RssAnon:")?,
            file_kib: field("RssFile:")? + field("RssShmem:")?,
        })
    }

    /// CPU time the server has used so far (user + system).
    pub fn cpu(&self) -> anyhow::Result<Duration> {
        let path = format!("/proc/{}/stat", self.pid());
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        // Linux reports these in USER_HZ, which is 100 on every architecture it runs on.
        Ok(Duration::from_millis((ticks(11) + ticks(12)) * 10))
    }

    /// Threads the server runs.
    pub fn threads(&self) -> u64 {
        std::fs::read_dir(format!("/proc/{}/task", self.pid())).map_or(0, |d| d.count() as u64)
    }

    /// SIGTERM, then waits for the clean exit (which signs a final checkpoint).
    ///
    /// Asks `/healthz` first: the ready file is written before actix-web installs its signal
    /// handlers, so a SIGTERM sent at once after it can kill the process outright (status 143).
    pub fn stop(mut self) -> anyhow::Result<()> {
        reqwest::blocking::get(format!("{}/healthz", self.url)).context("GET /healthz")?;
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.pid());
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("serve exited with {status} on SIGTERM");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("serve did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    })
}
