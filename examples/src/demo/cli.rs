//! The demo's use of the binaries' command lines: `evfed-node init` and `token issue`,
//! `evfed-aggregator init` and `members add|list|remove`.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};
use serde::Deserialize;

use super::plan::NodePlan;

/// Lifetime of the tokens the demo issues. The aggregator keeps each member's `usage:read`
/// token, and a kept data directory may be run again months later.
const TOKEN_TTL: &str = "365d";
use super::{Binaries, HARVEST_INTERVAL, Node, plan, procs};

/// One member as `GET /v1/members` and `members list --json` give it.
#[derive(Debug, Deserialize)]
pub(super) struct Member {
    pub(super) origin: String,
    pub(super) url: String,
    pub(super) state: String,
    pub(super) reason: Option<String>,
    pub(super) verified_size: u64,
    #[serde(default)]
    pub(super) vkeys: Vec<String>,
    /// The harvest of its restricted log; absent until it first ran.
    #[serde(default)]
    pub(super) usage: Option<UsageCursor>,
}

/// Where the aggregator's harvest of a member's restricted log stands.
#[derive(Debug, Deserialize)]
pub(super) struct UsageCursor {
    pub(super) verified_size: u64,
}

impl Member {
    /// Entries of the restricted log verified.
    pub(super) fn usage_verified(&self) -> u64 {
        self.usage.as_ref().map_or(0, |u| u.verified_size)
    }
}

/// `evfed-node init` unless the directory holds a node; the verifier key of a new node.
pub(super) fn init_node(
    bins: &Binaries,
    dir: &Path,
    p: &NodePlan,
) -> anyhow::Result<Option<String>> {
    if dir.join("config.toml").exists() {
        return Ok(None);
    }
    let mut cmd = Command::new(&bins.node);
    cmd.arg("init")
        .arg("--dir")
        .arg(dir)
        .args(["--origin", &p.origin, "--kind", p.kind.as_str()]);
    if let Some(b) = &p.borough {
        cmd.args(["--borough", b.as_str()]);
    }
    for party in &p.parties {
        cmd.arg("--party").arg(party.to_string());
    }
    let out = procs::run(cmd, &format!("evfed-node init for {}", p.origin))?;
    let vkey = out
        .lines()
        .skip_while(|l| !l.starts_with("verifier key"))
        .nth(1)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .with_context(|| format!("evfed-node init printed no verifier key: {out}"))?;
    Ok(Some(vkey.to_owned()))
}

/// `evfed-aggregator init` unless the directory holds one, with a shorter harvest interval.
pub(super) fn init_aggregator(bins: &Binaries, dir: &Path) -> anyhow::Result<()> {
    let config = dir.join("aggregator.toml");
    if config.exists() {
        return Ok(());
    }
    let mut cmd = Command::new(&bins.aggregator);
    cmd.arg("init")
        .arg("--dir")
        .arg(dir)
        .args(["--origin", plan::AGGREGATOR_ORIGIN]);
    procs::run(cmd, "evfed-aggregator init")?;
    let mut text = std::fs::read_to_string(&config)?;
    text.push_str(&format!(
        "# Set by london-demo: harvest twice a second.\nharvest_interval = {HARVEST_INTERVAL:?}\n"
    ));
    std::fs::write(&config, text)?;
    Ok(())
}

/// Makes the aggregator's members exactly the running nodes at their current URLs. A node
/// whose URL changed (ports are new each run) is removed and added again with its pinned keys,
/// and is then harvested from the start.
pub(super) fn sync_members(bins: &Binaries, dir: &Path, nodes: &[Node]) -> anyhow::Result<()> {
    let mut cmd = Command::new(&bins.aggregator);
    cmd.args(["members", "list", "--json", "--dir"]).arg(dir);
    let listed: Vec<Member> =
        serde_json::from_str(&procs::run(cmd, "evfed-aggregator members list")?)
            .context("reading `evfed-aggregator members list --json`")?;
    let by_origin: HashMap<&str, &Member> = listed.iter().map(|m| (m.origin.as_str(), m)).collect();
    let wanted: BTreeSet<&str> = nodes.iter().map(|n| n.plan.origin.as_str()).collect();
    let remove = |origin: &str| {
        let mut cmd = Command::new(&bins.aggregator);
        cmd.args(["members", "remove", "--origin", origin, "--dir"])
            .arg(dir);
        procs::run(cmd, "evfed-aggregator members remove")
    };
    for m in &listed {
        if !wanted.contains(m.origin.as_str()) {
            remove(&m.origin)?;
        }
    }
    for n in nodes {
        let known = by_origin.get(n.plan.origin.as_str());
        let vkeys = match (known, &n.vkey) {
            (Some(m), None) if m.url == n.url => continue,
            (Some(m), None) => {
                remove(&m.origin)?;
                m.vkeys.clone()
            }
            (Some(m), Some(k)) => {
                // A new node under an old name (its directory was removed): new key.
                remove(&m.origin)?;
                vec![k.clone()]
            }
            (None, Some(k)) => vec![k.clone()],
            (None, None) => bail!(
                "the aggregator in {} does not know {}, and this run did not create it, so its \
                 verifier key is not at hand; remove the data directory and start again",
                dir.display(),
                n.plan.origin
            ),
        };
        // The node's usage:read token lets the aggregator follow its restricted log (sessions).
        let usage = issue_token(bins, &n.dir, None, "usage:read")?;
        let mut cmd = Command::new(&bins.aggregator);
        cmd.args(["members", "add", "--dir"])
            .arg(dir)
            .args(["--origin", &n.plan.origin, "--url", &n.url])
            .args(["--kind", n.plan.kind.as_str()])
            .env("EVFED_USAGE_TOKEN", usage);
        for k in &vkeys {
            cmd.args(["--vkey", k]);
        }
        for p in &n.plan.parties {
            cmd.arg("--party").arg(p.to_string());
        }
        if let Some(b) = &n.plan.borough {
            cmd.args(["--borough", b.as_str()]);
        }
        procs::run(
            cmd,
            &format!("evfed-aggregator members add {}", n.plan.origin),
        )?;
    }
    Ok(())
}

/// A token from the node's built-in issuer (`evfed-node token issue`).
pub(super) fn issue_token(
    bins: &Binaries,
    dir: &Path,
    party: Option<&str>,
    scope: &str,
) -> anyhow::Result<String> {
    let mut cmd = Command::new(&bins.node);
    cmd.args(["token", "issue", "--dir"])
        .arg(dir)
        .args(["--scope", scope, "--ttl", TOKEN_TTL]);
    if let Some(p) = party {
        cmd.args(["--party", p]);
    }
    let out = procs::run(cmd, "evfed-node token issue")?;
    out.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
        .context("evfed-node token issue printed no token")
}

/// A `usage:read` token of the aggregator's own issuer, for its usage analytics.
pub(super) fn reader_token(bins: &Binaries, dir: &Path) -> anyhow::Result<String> {
    let mut cmd = Command::new(&bins.aggregator);
    cmd.args([
        "token",
        "issue",
        "--scope",
        "usage:read",
        "--ttl",
        TOKEN_TTL,
        "--dir",
    ])
    .arg(dir);
    let out = procs::run(cmd, "evfed-aggregator token issue")?;
    out.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
        .context("evfed-aggregator token issue printed no token")
}

/// A `data:write` token for every party each node publishes for.
pub(super) fn write_tokens(
    bins: &Binaries,
    nodes: &[Node],
) -> anyhow::Result<HashMap<(usize, String), String>> {
    let mut tokens = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for p in &n.plan.parties {
            let party = p.to_string();
            let t = issue_token(bins, &n.dir, Some(&party), "data:write")?;
            tokens.insert((i, party), t);
        }
    }
    Ok(tokens)
}
