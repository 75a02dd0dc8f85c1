//! `evfed-conformance`: runs the suite against a node and prints or writes its report.
//!
//! Exit codes: 0 every required case of the level passed; 1 a required case failed, or a case
//! listed as a known failure passed; 2 usage error (bad arguments, unreadable known-failures
//! file, unwritable output); 3 nothing failed but required cases were skipped (e.g. `--level
//! usage` without `--token`), so the level cannot be claimed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use evfed_conformance::output::{self, Format};
use evfed_conformance::{KnownList, Level, RunConfig, Verdict};

#[derive(Parser)]
#[command(
    name = "evfed-conformance",
    version,
    about = "Tests an evfed node over HTTP against the evfed Standard"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the cases of a level against a node.
    Run(Box<RunArgs>),
    /// List every case with its id, section, level and whether it is required.
    List,
    /// Check a signed report offline (an aggregator's DPS compliance evidence, as JSON or as
    /// the printable HTML page that carries it): its signature and every checkpoint it cites.
    /// Exit code 0 when it verifies, 1 when it does not, 2 when the file cannot be read.
    VerifyReport {
        /// The report: `report.json` or `report.html`.
        file: PathBuf,
        /// The aggregator's verifier key (repeatable). Without one, the key the report names is
        /// used, which shows the report is intact but not who signed it.
        #[arg(long)]
        vkey: Vec<String>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// The node's base URL; discovery is read from /.well-known/evfed under it.
    #[arg(long)]
    target: url::Url,
    /// Bearer token for restricted cases (usage:read); those cases skip without it. A token
    /// without usage:read (e.g. data:write) is used for access.wrong-scope instead.
    #[arg(long, env = "EVFED_CONFORMANCE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A valid token without usage:read (e.g. data:write), for access.wrong-scope (403); with
    /// a usage:read --token, one run covers every access case.
    #[arg(
        long,
        env = "EVFED_CONFORMANCE_WRONG_SCOPE_TOKEN",
        hide_env_values = true
    )]
    wrong_scope_token: Option<String>,
    /// core, usage (core + §14 and restricted data) or realtime (core + §1.6).
    #[arg(long, default_value = "core", value_parser = parse_level)]
    level: Level,
    /// text, json, junit or html.
    #[arg(long, default_value = "text", value_parser = parse_format)]
    format: Format,
    /// Write the report here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Known failures (TOML, or JSON by extension): `[[known]] id = "…" reason = "…"`.
    #[arg(long)]
    known: Option<PathBuf>,
    /// Seconds the realtime cases observe the node (RT-2 needs at least 300).
    #[arg(long, default_value_t = 10)]
    observe: u64,
    /// Timeout of each request, in seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Largest response body read, in bytes.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    max_body_bytes: u64,
    /// Most pages read from one list or log.
    #[arg(long, default_value_t = 10_000)]
    max_pages: u64,
    /// Most entries read from one log.
    #[arg(long, default_value_t = 2_000_000)]
    max_entries: u64,
    /// Seed for the random proof positions (random by default).
    #[arg(long)]
    seed: Option<u64>,
}

fn parse_level(s: &str) -> Result<Level, String> {
    s.parse()
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::List => {
            for c in evfed_conformance::case::all() {
                println!(
                    "{:<32} {:<12} {:<9} {:<9} {}",
                    c.id,
                    c.section,
                    c.level,
                    if c.required { "required" } else { "optional" },
                    c.description
                );
            }
            ExitCode::SUCCESS
        }
        Command::Run(args) => run(*args),
        Command::VerifyReport { file, vkey } => verify_report(&file, &vkey),
    }
}

/// The signed JSON inside a report file: the file itself, or the `<script
/// id="evfed-signed-report">` element of an HTML page.
fn signed_json(bytes: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.trim_start().starts_with('{') {
        return Some(bytes.to_vec());
    }
    let marker = "id=\"evfed-signed-report\">";
    let start = text.find(marker)? + marker.len();
    let end = start + text[start..].find("</script>")?;
    Some(text.as_bytes()[start..end].to_vec())
}

fn verify_report(file: &std::path::Path, vkeys: &[String]) -> ExitCode {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let keys = match vkeys
        .iter()
        .map(|k| k.parse::<evfed_spec::note::VerifierKey>())
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(k) => k,
        Err(e) => {
            eprintln!("--vkey: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(json) = signed_json(&bytes) else {
        eprintln!("{}: NOT VERIFIED: no signed report in it", file.display());
        return ExitCode::from(1);
    };
    match evfed_spec::report::verify(&json, &keys) {
        Ok(v) => {
            println!(
                "{}: verified: signed by {} ({}){}",
                file.display(),
                v.aggregator,
                v.signed_by,
                if keys.is_empty() {
                    " with the key the report names; pass --vkey to check who signed it"
                } else {
                    ""
                }
            );
            for (origin, size) in &v.checkpoints {
                println!("  cites {origin} checkpoint of {size} entries: signature verified");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{}: NOT VERIFIED: {e}", file.display());
            ExitCode::from(1)
        }
    }
}

fn run(args: RunArgs) -> ExitCode {
    let known = match &args.known {
        Some(p) => match KnownList::load(p) {
            Ok(k) => k,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => KnownList::default(),
    };
    let mut config = RunConfig::new(args.target);
    config.token = args.token;
    config.wrong_scope_token = args.wrong_scope_token;
    config.level = args.level;
    config.known = known;
    config.observe = Duration::from_secs(args.observe);
    config.seed = args.seed;
    config.limits.timeout = Duration::from_secs(args.timeout.max(1));
    config.limits.max_body_bytes = args.max_body_bytes;
    config.limits.max_pages = args.max_pages;
    config.limits.max_entries = args.max_entries;
    let report = evfed_conformance::run(&config);
    let text = output::render(&report, args.format);
    match &args.out {
        Some(p) => {
            if let Err(e) = std::fs::write(p, &text) {
                eprintln!("error: cannot write {}: {e}", p.display());
                return ExitCode::from(2);
            }
            eprint!("{}", summary(&report));
        }
        None => print!("{text}"),
    }
    match report.verdict() {
        Verdict::Pass => ExitCode::SUCCESS,
        Verdict::Fail => ExitCode::from(1),
        Verdict::Incomplete => ExitCode::from(3),
    }
}

fn summary(report: &evfed_conformance::Report) -> String {
    let c = &report.counts;
    format!(
        "{} cases: {} passed, {} failed, {} skipped, {} known, {} stale\n",
        c.total, c.pass, c.fail, c.skip, c.known_failure, c.unexpected_pass
    )
}
