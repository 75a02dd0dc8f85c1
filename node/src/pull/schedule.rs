//! `serve`'s `[[pull]]` schedule: one thread per configured sender, pulling, then sleeping for
//! its interval, until the node stops. The threads share the server's `Store`, so the log heads
//! it keeps in memory stay the only ones; the server's checkpoint ticker signs what they append.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Options, Source, Stop, run};
use crate::config::PullConfig;
use crate::domain::records::Policy;
use crate::store::Store;

/// The running pull threads.
#[derive(Debug)]
pub struct Schedule {
    stop: Stop,
    threads: Vec<JoinHandle<()>>,
    done: mpsc::Receiver<()>,
}

/// Starts one thread per `[[pull]]` entry; each pulls at once, then every `interval`.
pub fn start(
    entries: &[PullConfig],
    dir: &Path,
    store: Arc<Store>,
    policy: Policy,
    opts: Options,
) -> std::io::Result<Schedule> {
    let stop = Stop::default();
    let (tx, done) = mpsc::channel();
    let mut threads = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let job = Job {
            entry: entry.clone(),
            token_file: entry.token_file.as_ref().map(|f| dir.join(f)),
            store: store.clone(),
            policy: policy.clone(),
            opts: opts.clone(),
            stop: stop.clone(),
        };
        let tx = tx.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("pull-{i}"))
                .spawn(move || {
                    job.run();
                    let _ = tx.send(());
                })?,
        );
    }
    Ok(Schedule {
        stop,
        threads,
        done,
    })
}

impl Schedule {
    /// Asks every pull to stop and waits up to `wait` for them. A pull still inside a request
    /// after that is left to end with the process: everything it committed is durable, and what
    /// it had not committed is read again by the next pull.
    pub fn stop(self, wait: Duration) {
        self.stop.stop();
        let deadline = Instant::now() + wait;
        let mut left = self.threads.len();
        while left > 0 {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if self.done.recv_timeout(remaining).is_err() {
                tracing::warn!(
                    pulls = left,
                    "OCPI pulls still running at shutdown; they resume on the next start"
                );
                return;
            }
            left -= 1;
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}

struct Job {
    entry: PullConfig,
    token_file: Option<PathBuf>,
    store: Arc<Store>,
    policy: Policy,
    opts: Options,
    stop: Stop,
}

impl Job {
    fn run(&self) {
        loop {
            self.once();
            if self.stop.sleep(self.entry.interval) {
                return;
            }
        }
    }

    fn once(&self) {
        let url = super::client::redact(&self.entry.url);
        let token = match &self.token_file {
            None => None,
            Some(path) => match crate::home::read_secret(path) {
                Ok(t) => Some(t.trim().to_owned()),
                Err(e) => {
                    tracing::error!(source = %url, error = %e, "OCPI pull skipped: no token");
                    return;
                }
            },
        };
        let source = Source {
            url: self.entry.url.clone(),
            token,
            party: self.entry.party.clone(),
            modules: self.entry.modules.clone(),
        };
        match run(&self.store, &self.policy, &source, &self.opts, &self.stop) {
            Ok(report) if report.complete() => {
                tracing::info!(source = %url, appended = report.appended(), "OCPI pull complete");
            }
            Ok(report) => {
                tracing::warn!(source = %url, appended = report.appended(),
                    "OCPI pull incomplete; the next one resumes where it stopped");
            }
            Err(e) => tracing::error!(source = %url, error = %e, "OCPI pull failed"),
        }
    }
}
