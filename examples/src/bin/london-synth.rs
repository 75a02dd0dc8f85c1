//! london-synth: writes the synthetic London for a seed and scale, as OCPI 2.2.1 Locations in
//! JSON lines (what `POST /v1/admin/locations` takes in batches), and with `--out DIR` also the
//! status changes and sessions of `--days` days from `--start`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use evfed_examples::synth::{self, Scale, activity};
use evfed_spec::time::DateTime;

#[derive(Debug, Parser)]
#[command(
    name = "london-synth",
    about = "Write a deterministic synthetic London: locations, status changes, sessions"
)]
struct Cli {
    /// Same seed and scale, same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// small (~1,000 EVSEs), medium (~5,000), london (~25,000) or a number of EVSEs.
    #[arg(long, default_value = "small")]
    scale: Scale,
    /// Write locations.jsonl, status.jsonl and sessions.jsonl here (else locations to stdout).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Start of the activity written with --out.
    #[arg(long, default_value = "2026-11-23T00:00:00Z")]
    start: DateTime,
    /// Days of activity written with --out.
    #[arg(long, default_value_t = 1)]
    days: u32,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let world = synth::generate(cli.seed, cli.scale)?;
    let mut kinds: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for s in &world.sites {
        let k = kinds.entry(s.kind.label()).or_default();
        k.0 += 1;
        k.1 += s.location.evses.len();
    }
    let Some(dir) = &cli.out else {
        std::io::stdout().write_all(&world.locations_jsonl())?;
        summary(&world, &kinds, None);
        return Ok(());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("locations.jsonl"), world.locations_jsonl())?;
    let start = cli.start.unix_seconds();
    let mut sim = activity::Activity::new(&world, cli.seed, start);
    let mut status = Vec::new();
    let mut sessions = Vec::new();
    for e in sim.statuses() {
        if let activity::Change::Status(s) = &e.change {
            serde_json::to_writer(&mut status, s)?;
            status.push(b'\n');
        }
    }
    for e in sim.advance(start + i64::from(cli.days) * 86_400) {
        match &e.change {
            activity::Change::Status(s) => {
                serde_json::to_writer(&mut status, s)?;
                status.push(b'\n');
            }
            activity::Change::Session(r) => {
                serde_json::to_writer(&mut sessions, r)?;
                sessions.push(b'\n');
            }
        }
    }
    std::fs::write(dir.join("status.jsonl"), &status)?;
    std::fs::write(dir.join("sessions.jsonl"), &sessions)?;
    let lines = |b: &[u8]| b.iter().filter(|c| **c == b'\n').count();
    summary(
        &world,
        &kinds,
        Some((lines(&status), lines(&sessions), dir.display().to_string())),
    );
    Ok(())
}

fn summary(
    world: &synth::World,
    kinds: &BTreeMap<&str, (usize, usize)>,
    activity: Option<(usize, usize, String)>,
) {
    eprintln!(
        "seed {}: {} locations, {} EVSEs",
        world.seed,
        world.sites.len(),
        world.evse_count()
    );
    for (kind, (sites, evses)) in kinds {
        eprintln!("  {kind:<16} {sites:>6} locations {evses:>6} EVSEs");
    }
    if let Some((status, sessions, dir)) = activity {
        eprintln!("  {status} status changes and {sessions} sessions written to {dir}");
    }
}
