//! `verify`: the full integrity check of a node's logs (or of a backup, before restoring it),
//! and the cheap check every command that opens a node to write or serve runs first
//! (`domain::integrity` has both).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::domain::integrity::{self, Expected, LogReport};
use crate::domain::signer::SignError;
use crate::home::{Home, SignedState};
use crate::store::{self, LogId, Store};

/// What `verify` found in one database.
#[derive(Debug)]
pub struct Verification {
    pub database: PathBuf,
    /// Whether the database was held to `signed-state.json` (the node's own; not a backup).
    pub held_to_signed_state: bool,
    pub logs: Vec<LogReport>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.logs.iter().all(LogReport::ok)
    }

    /// The summary `evfed-node verify` prints: one line per log, then each finding.
    pub fn render(&self) -> String {
        let mut out = format!("{}\n", self.database.display());
        for log in &self.logs {
            let latest = match log.latest_checkpoint {
                Some(n) if n == log.size => "the latest covers every entry".to_owned(),
                Some(n) => format!(
                    "the latest covers {n}; the {} after it are signed when the node next starts",
                    log.size - n
                ),
                None => "none stored".to_owned(),
            };
            let _ = writeln!(
                out,
                "{} log: {} entries re-hashed, {} tree hashes recomputed, {} signed checkpoints \
                 checked ({latest}): {}",
                name(log.log),
                log.entries,
                log.nodes,
                log.checkpoints,
                if log.ok() { "ok" } else { "DAMAGED" }
            );
            for f in &log.findings {
                let _ = writeln!(out, "  {} log, {f}", name(log.log));
            }
            if log.more > 0 {
                let _ = writeln!(out, "  … and {} more findings", log.more);
            }
        }
        if self.ok() {
            let against = if self.held_to_signed_state {
                ", and the logs extend what signed-state.json records as signed"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "ok: every entry hashes into its tree and every stored checkpoint verifies{against}"
            );
        }
        out
    }
}

/// `verify`: re-hashes every entry of both logs of the node in `dir` (or of the backup
/// `database`), recomputes every stored subtree hash and checks every stored checkpoint with
/// the node's keys. The node's own database must also extend `signed-state.json`; a backup may
/// be older. Safe while the node serves (it reads one snapshot).
pub fn verify(dir: &Path, database: Option<&Path>) -> anyhow::Result<Verification> {
    let home = Home::new(dir);
    let config = home.config()?;
    let keys = home.vkeys()?;
    // Read before the snapshot: a serving node records a checkpoint in the database before
    // signed-state.json, so the snapshot is never behind what this says.
    let signed = match database {
        Some(_) => None,
        None => home.signed_state()?,
    };
    let path = database.map_or_else(|| home.database_path(), Path::to_owned);
    let logs = store::inspect(&path, |r| {
        LogId::BOTH
            .iter()
            .map(|&log| {
                let expected = Expected {
                    origin: config.origin.as_str(),
                    keys: &keys,
                    signed: signed.map(|s| head(&s, log)),
                };
                integrity::verify_log(r, log, &expected)
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .with_context(|| format!("reading {}", path.display()))?;
    Ok(Verification {
        database: path,
        held_to_signed_state: signed.is_some(),
        logs,
    })
}

/// The start-up check (`integrity::check_head`) of both logs: `Err(SignError::Inconsistent)`
/// with what differs and what to do, so every caller refuses as it refuses an inconsistent log.
pub fn check_at_start(home: &Home, origin: &str, store: &Store) -> Result<(), SignError> {
    let started = std::time::Instant::now();
    let keys = home.vkeys()?;
    let signed = home.signed_state()?;
    let found = store.read(|r| {
        for log in LogId::BOTH {
            let expected = Expected {
                origin,
                keys: &keys,
                signed: signed.map(|s| head(&s, log)),
            };
            if let Some(f) = integrity::check_head(r, log, &expected)? {
                return Ok(Some((log, f)));
            }
        }
        Ok::<_, store::StoreError>(None)
    })?;
    let Some((log, finding)) = found else {
        tracing::info!(
            check_ms = started.elapsed().as_millis() as u64,
            "the newest entries and checkpoints match what this node signed"
        );
        return Ok(());
    };
    let dir = home.dir().display();
    Err(SignError::Inconsistent(format!(
        "refusing to serve: the database's {} log does not match what this node signed: {finding}. \
         The database was changed outside evfed-node, or the disk damaged it; readers would find \
         entries that fail verification against the node's signed checkpoints. \
         Run `evfed-node verify --dir {dir}` for the full list, then restore the newest backup \
         that verifies: `evfed-node verify --dir {dir} --database BACKUP`, then \
         `evfed-node restore --dir {dir} BACKUP`.",
        name(log)
    )))
}

fn head(state: &SignedState, log: LogId) -> crate::home::SignedHead {
    match log {
        LogId::Public => state.public,
        LogId::Restricted => state.restricted,
    }
}

fn name(log: LogId) -> &'static str {
    match log {
        LogId::Public => "public",
        LogId::Restricted => "restricted",
    }
}
