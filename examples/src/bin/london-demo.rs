//! london-demo: boots a whole local London federation (borough and operator nodes and the
//! aggregator) on loopback with synthetic data, and keeps it moving until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use evfed_examples::demo::{self, Binaries, Options};
use evfed_examples::synth::Scale;

#[derive(Debug, Parser)]
#[command(
    name = "london-demo",
    about = "Run a local London federation: borough and operator nodes, the aggregator, synthetic data"
)]
struct Cli {
    /// Keep the nodes and the aggregator here, and reuse them when run again (default: a
    /// temporary directory removed at exit).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Where the aggregator listens; port 0 picks a free one. Nodes always take free ports.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// small (~1,000 EVSEs), medium (~5,000), london (~25,000) or a number of EVSEs.
    #[arg(long, default_value = "small")]
    scale: Scale,
    /// Seed of the synthetic London; the same seed gives the same London.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write {"aggregator": URL, "nodes": [{"origin", "url", "kind"}]} here once the
    /// aggregator has verified every node.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// 0: no status changes or sessions after loading. Otherwise they carry on as the
    /// simulation makes them, which after the 400 days of history sent at start-up means as
    /// they happen; this is how fast the simulation catches up the seconds the start took.
    #[arg(long, default_value_t = 60.0)]
    pace: f64,
    /// Borough nodes (0 to 33).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(0..=33))]
    boroughs: u8,
    /// Operator nodes (0 to 6).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(0..=6))]
    operators: u8,
    /// Days of history sent before the aggregator starts (0 to 3,650); fewer start faster
    /// (the dashboard's benchmark at London scale uses 0).
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u32).range(0..=3650))]
    history_days: u32,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, stop.clone()) {
            eprintln!("london-demo: cannot handle signal {signal}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    if !(cli.pace.is_finite() && cli.pace >= 0.0) {
        eprintln!("london-demo: --pace must be a number, 0 or more");
        return std::process::ExitCode::from(2);
    }
    if cli.boroughs == 0 && cli.operators == 0 {
        eprintln!("london-demo: a federation needs at least one node");
        return std::process::ExitCode::from(2);
    }
    let opts = Options {
        data_dir: cli.data_dir,
        listen: cli.listen,
        scale: cli.scale,
        seed: cli.seed,
        ready_file: cli.ready_file,
        pace: cli.pace,
        boroughs: usize::from(cli.boroughs),
        operators: usize::from(cli.operators),
        history_s: i64::from(cli.history_days) * 86_400,
    };
    let result = Binaries::beside_current_exe().and_then(|bins| demo::run(&opts, &bins, &stop));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if stop.load(std::sync::atomic::Ordering::Relaxed) => {
            // Stopped while starting: the children are stopped by now.
            eprintln!("london-demo: stopped before the federation was up ({e:#})");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("london-demo: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
