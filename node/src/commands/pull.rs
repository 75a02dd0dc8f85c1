//! `pull ocpi`: one pull of an operator's OCPI sender into this node, then a signed checkpoint.
//!
//! The command takes the directory lock and writes in-process. While `serve` holds the lock it
//! refuses: the server keeps the logs' heads in memory, and only it may append to its
//! database. A running node pulls on its `[[pull]]` schedule instead.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use evfed_spec::ids::Party;
use url::Url;

use super::{explain, open_signer, policy, unix_now};
use crate::home::{Home, HomeError, write_atomic};
use crate::pull::{self, Module, Options, Report, Source, Stop};
use crate::store::Store;

/// What `pull ocpi` was asked to do.
#[derive(Debug, Clone)]
pub struct PullArgs {
    pub url: Url,
    pub token: Option<String>,
    pub party: Option<Party>,
    pub modules: Vec<Module>,
    /// Ignore the stored cursor.
    pub full: bool,
    /// Write the JSON report here.
    pub report: Option<PathBuf>,
}

/// Pulls once; returns the report (also when a module did not complete).
pub fn pull_ocpi(dir: &Path, args: PullArgs) -> anyhow::Result<Report> {
    let home = Home::new(dir);
    let _lock = match home.lock() {
        Ok(lock) => lock,
        Err(HomeError::Locked(_)) => bail!(
            "another evfed-node process is using {} (most likely `serve`). A serving node \
             keeps the logs' heads in memory, so this command will not write its database \
             behind it. Add a [[pull]] table to {} (the server then pulls on that schedule), or \
             stop the server and run this command again.",
            dir.display(),
            home.config_path().display()
        ),
        Err(e) => return Err(e.into()),
    };
    let config = home.config()?;
    let store = Store::open(&home.database_path())?;
    let signer = open_signer(&home, &config, &store).map_err(explain)?;
    let source = Source {
        url: args.url,
        token: args.token,
        party: args.party,
        modules: args.modules,
    };
    let opts = Options {
        full: args.full,
        ..Options::default()
    };
    let result = pull::run(&store, &policy(&config), &source, &opts, &Stop::default());
    // Cover whatever was appended, also when the pull stopped early.
    signer
        .sign_grown(&store, unix_now(), false)
        .map_err(explain)?;
    let report = result?;
    if let Some(path) = &args.report {
        let json = serde_json::to_vec_pretty(&report)?;
        write_atomic(path, &json, 0o644).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(report)
}
