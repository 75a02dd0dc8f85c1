//! The demo's child processes: started in their own process group (so a terminal's Ctrl-C
//! reaches only the demo, which then stops them in order), their output appended to a log
//! file each, announced through `--ready-file`, and stopped with SIGTERM and waited for. A
//! child still running when [`Children`] is dropped is stopped the same way, so no error path
//! leaves one behind.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long a child gets to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// How often waiting loops look again.
pub const POLL: Duration = Duration::from_millis(50);

/// Running children, in start order.
#[derive(Debug, Default)]
pub struct Children {
    running: Vec<Running>,
}

#[derive(Debug)]
struct Running {
    name: String,
    child: Child,
    log: PathBuf,
}

/// A child's handle in [`Children`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle(usize);

impl Children {
    /// Starts `cmd` with its output appended to `log`.
    pub fn spawn(&mut self, name: &str, mut cmd: Command, log: &Path) -> anyhow::Result<Handle> {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let err = out.try_clone()?;
        // A failing child's log should end with its error, not a backtrace.
        let child = cmd
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        self.running.push(Running {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
        });
        Ok(Handle(self.running.len() - 1))
    }

    /// Waits until the child writes its ready file (`{"url": …}`) and returns the URL. Fails if
    /// the child exits first, `stop` is raised, or `timeout` passes.
    pub fn wait_ready(
        &mut self,
        h: Handle,
        ready_file: &Path,
        stop: &AtomicBool,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let started = Instant::now();
        loop {
            if let Ok(bytes) = std::fs::read(ready_file)
                && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
                && let Some(url) = v["url"].as_str()
            {
                return Ok(url.to_owned());
            }
            self.check(h)?;
            if stop.load(Ordering::Relaxed) {
                bail!("stopped");
            }
            if started.elapsed() > timeout {
                let r = &self.running[h.0];
                bail!(
                    "{} was not ready after {} s; see {}",
                    r.name,
                    timeout.as_secs(),
                    r.log.display()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Fails, quoting the end of its log, when the child has exited.
    pub fn check(&mut self, h: Handle) -> anyhow::Result<()> {
        let r = &mut self.running[h.0];
        if let Some(status) = r.child.try_wait()? {
            bail!(
                "{} exited ({status}) unexpectedly; the end of {}:\n{}",
                r.name,
                r.log.display(),
                tail(&r.log, 12)
            );
        }
        Ok(())
    }

    /// Fails when any child has exited.
    pub fn check_all(&mut self) -> anyhow::Result<()> {
        (0..self.running.len()).try_for_each(|i| self.check(Handle(i)))
    }

    /// Stops every child: SIGTERM to all at once (so they stop in parallel), then waits for
    /// each, killing one that does not stop within the grace time. Returns what did not exit
    /// with status 0.
    pub fn stop_all(&mut self) -> Vec<String> {
        for r in &self.running {
            let _ = term(&r.child);
        }
        let mut failed = Vec::new();
        while let Some(mut r) = self.running.pop() {
            match stop(&mut r.child) {
                Ok(s) if s.success() => {}
                Ok(s) => failed.push(format!("{} exited with {s}", r.name)),
                Err(e) => failed.push(format!("{}: {e}", r.name)),
            }
        }
        failed
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        let _ = self.stop_all();
    }
}

fn term(child: &Child) -> nix::Result<()> {
    let pid = i32::try_from(child.id()).map_err(|_| nix::Error::EINVAL)?;
    kill(Pid::from_raw(pid), Signal::SIGTERM)
}

/// SIGTERM (if still running), then wait up to the grace time, then SIGKILL.
fn stop(child: &mut Child) -> std::io::Result<ExitStatus> {
    if let Some(s) = child.try_wait()? {
        return Ok(s);
    }
    let _ = term(child);
    let until = Instant::now() + STOP_GRACE;
    while Instant::now() < until {
        if let Some(s) = child.try_wait()? {
            return Ok(s);
        }
        std::thread::sleep(POLL);
    }
    child.kill()?;
    child.wait()
}

/// The last `n` lines of a file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs a short command to completion and returns its standard output; fails with its
/// standard error when it fails.
pub fn run(mut cmd: Command, what: &str) -> anyhow::Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
