//! Import benchmark: generates an `evfed` asset-register CSV of 100,000 rows (25,000 London
//! locations, 2 EVSEs of 2 connectors each), imports it into a fresh node in process, imports it
//! again (every location unchanged), and imports it into a node that is serving (through
//! `POST /v1/admin/locations`, with the real release binary). Prints one `figure` line per
//! result; asserts nothing about time.
//!
//! `cargo bench -p evfed-node --bench import`. Knobs: `EVFED_BENCH_ROWS` (default 100000, a
//! multiple of 4), `EVFED_BENCH_SERVE=0` to skip the run through a serving node.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use evfed_node::cli::ingest::{Format, ImportOptions};
use evfed_node::cli::{self as commands, Kind, Origin};

const BIN: &str = env!("CARGO_BIN_EXE_evfed-node");
const PARTY: &str = "GB*BEN";

fn main() -> anyhow::Result<()> {
    let rows: usize = std::env::var("EVFED_BENCH_ROWS")
        .ok()
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(100_000);
    let serve = std::env::var("EVFED_BENCH_SERVE").map_or(true, |v| v != "0");
    let tmp = tempfile::tempdir()?;
    let csv = tmp.path().join("register.csv");
    let started = Instant::now();
    let bytes = generate(&csv, rows / 4)?;
    println!(
        "generated {rows} rows ({} locations, {:.1} MB) in {:.2} s: {}",
        rows / 4,
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        csv.display()
    );
    let opts = ImportOptions {
        format: Format::Evfed,
        party: PARTY.parse()?,
        within: None,
        areas: Default::default(),
        dry_run: false,
        report: None,
    };

    // 1. In process, into an empty node: every location created.
    let dir = tmp.path().join("node");
    init(&dir)?;
    let (secs, out) = timed(|| commands::import(&dir, &csv, &opts))?;
    check(&out.summary.locations.created, rows / 4, "created")?;
    figure(
        "import.create",
        rows as f64 / secs,
        "rows/s",
        Some(50_000.0),
        format!(
            "{rows} rows, {} locations created, {} entries, {secs:.2} s (read, convert, write, sign)",
            out.summary.locations.created, out.summary.appended
        ),
    );

    // 2. The same file again: every location unchanged, nothing appended.
    let (secs, out) = timed(|| commands::import(&dir, &csv, &opts))?;
    check(&out.summary.locations.unchanged, rows / 4, "unchanged")?;
    figure(
        "import.unchanged",
        rows as f64 / secs,
        "rows/s",
        None,
        format!(
            "{rows} rows, all unchanged, {} entries appended, {secs:.2} s",
            out.summary.appended
        ),
    );
    let db = std::fs::metadata(dir.join("evfed.db"))?.len()
        + std::fs::metadata(dir.join("evfed.db-wal")).map_or(0, |m| m.len());
    println!("database after the import: {:.1} MB", db as f64 / 1e6);

    // 3. Into a node that is serving: through its admin endpoint, in requests of at most
    //    max_body_bytes.
    if serve {
        let dir = tmp.path().join("served");
        init(&dir)?;
        let mut node = Served::start(&dir)?;
        let (secs, out) = timed(|| commands::import(&dir, &csv, &opts))?;
        check(&out.summary.locations.created, rows / 4, "created")?;
        figure(
            "import.through-serve",
            rows as f64 / secs,
            "rows/s",
            None,
            format!(
                "{rows} rows through {}, {secs:.2} s",
                out.via.as_deref().unwrap_or("?")
            ),
        );
        node.stop();
    }
    Ok(())
}

/// `rows` locations shaped like a borough's lamp-post register, spread over inner London.
fn generate(path: &Path, locations: usize) -> anyhow::Result<usize> {
    let mut out = String::with_capacity(locations * 4 * 200);
    out.push_str(
        "location_id,name,address,city,postal_code,latitude,longitude,parking_type,\
         operator_name,operator_website,dps_contract,evse_uid,evse_id,status,capabilities,\
         connector_id,standard,format,power_type,max_voltage,max_amperage,max_electric_power,\
         tariff_ids,last_updated\n",
    );
    // A small linear congruential generator: the same file on every run.
    let mut seed: u64 = 0x5eed;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    for i in 0..locations {
        let lat = 51.45 + next() * 0.10;
        let lon = -0.25 + next() * 0.30;
        for e in 1..=2 {
            for c in 1..=2 {
                let (standard, amps, watts) = if c == 1 {
                    ("IEC_62196_T2", 32, 7400)
                } else {
                    ("DOMESTIC_G", 13, 3000)
                };
                writeln!(
                    out,
                    "BEN-{i:06},Lamp post {i},{} Example Street,London,SW1A 1AA,{lat:.6},{lon:.6},\
                     ON_STREET,Bench Charging Ltd,https://charging.example,LEVI-DPS-2024-001,\
                     BEN-{i:06}-{e},GB*BEN*E{i:06}{e},AVAILABLE,RFID_READER;REMOTE_START_STOP_CAPABLE,\
                     {c},{standard},SOCKET,AC_1_PHASE,230,{amps},{watts},AC-1,2024-05-01T09:00:00Z",
                    i % 300 + 1
                )?;
            }
        }
    }
    std::fs::write(path, &out)?;
    Ok(out.len())
}

fn init(dir: &Path) -> anyhow::Result<()> {
    let origin: Origin = "evfed.import-bench.example"
        .parse()
        .map_err(anyhow::Error::msg)?;
    commands::init(dir, &origin, Kind::Cpo, None, None, &[PARTY.parse()?])?;
    Ok(())
}

/// Wall-clock seconds of `f`, and prints the CPU seconds this process spent meanwhile (both
/// threads of an in-process import; the client side only, through a serving node), which the
/// other users of a shared machine disturb less.
fn timed<T>(f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(f64, T)> {
    let cpu = cpu_seconds();
    let started = Instant::now();
    let value = f()?;
    let wall = started.elapsed().as_secs_f64();
    if let (Some(a), Some(b)) = (cpu, cpu_seconds()) {
        println!("  {wall:.2} s wall, {:.2} s CPU in this process", b - a);
    }
    Ok((wall, value))
}

/// User plus system CPU seconds of this process, from `/proc/self/stat` (Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn check(got: &u64, want: usize, what: &str) -> anyhow::Result<()> {
    if *got != want as u64 {
        anyhow::bail!("expected {want} locations {what}, got {got}");
    }
    Ok(())
}

fn figure(name: &str, value: f64, unit: &str, goal: Option<f64>, detail: String) {
    let (goal, verdict) = match goal {
        None => ("-".to_owned(), "-"),
        Some(g) => (
            format!(">={g:.0}"),
            if value >= g { "met" } else { "MISSED" },
        ),
    };
    println!("figure {name:<22} {value:>9.0} {unit:<6} goal {goal:<7} {verdict:<6} | {detail}");
}

/// `evfed-node serve` from the release binary, until stopped.
struct Served {
    child: Child,
}

impl Served {
    fn start(dir: &Path) -> anyhow::Result<Self> {
        let child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !dir.join("serve.json").exists() {
            if Instant::now() > deadline {
                anyhow::bail!("serve did not announce itself in 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self { child })
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
