//! evfed-node: publishes a borough's or an operator's chargepoint data, signed, under the
//! evfed standard.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use evfed_node::cli::{self, LogFormat, Origin, ServeOptions, ingest, parse_duration};
use evfed_spec::ext::GssCode;
use evfed_spec::ids::Party;

#[derive(Debug, Parser)]
#[command(
    name = "evfed-node",
    version,
    about = "Publish chargepoint data as a signed, tamper-evident evfed node"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum KindArg {
    Borough,
    Cpo,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a node directory: config.toml, signing and issuer keys, database, first checkpoints.
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// The public log's origin, e.g. evfed.camden.example (never reuse one).
        #[arg(long)]
        origin: Origin,
        #[arg(long, value_enum)]
        kind: KindArg,
        /// The node's authority (kind borough): a code of the area set, e.g. E09000007
        /// (Camden) in London's. `--borough` is London's name for it.
        #[arg(long, visible_alias = "borough")]
        area: Option<GssCode>,
        /// Another city's area set: a GeoJSON FeatureCollection of authorities and wards
        /// (docs/adopt.md). It is checked and copied into the node directory. Default:
        /// London's, built in.
        #[arg(long)]
        areas: Option<PathBuf>,
        /// Accept records of these parties only (CC*PID; repeat for several).
        #[arg(long = "party")]
        parties: Vec<Party>,
    },
    /// Serve the node until SIGINT or SIGTERM.
    Serve {
        #[arg(long)]
        dir: PathBuf,
        /// Address to listen on (default from config.toml, else 127.0.0.1:8080); port 0 picks one.
        #[arg(long, env = "EVFED_LISTEN")]
        listen: Option<SocketAddr>,
        /// Write {"url": "http://ADDR"} here once ready.
        #[arg(long)]
        ready_file: Option<PathBuf>,
        #[arg(long, value_enum, env = "EVFED_LOG_FORMAT")]
        log_format: Option<LogFormat>,
    },
    /// Signing key management.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Copy the database to OUT while the node may be serving.
    Backup {
        #[arg(long)]
        dir: PathBuf,
        out: PathBuf,
    },
    /// Check the whole log: re-hash every entry, recompute every tree hash, check every stored
    /// checkpoint's signature and root. Exits non-zero when anything differs.
    Verify {
        #[arg(long)]
        dir: PathBuf,
        /// Check this backup instead of the node's database (with the node's keys).
        #[arg(long)]
        database: Option<PathBuf>,
    },
    /// Replace the database with a backup (the node must be stopped).
    Restore {
        #[arg(long)]
        dir: PathBuf,
        backup: PathBuf,
        /// Restore even a backup older than the last signed checkpoint.
        #[arg(long)]
        force: bool,
    },
    /// Access tokens from the node's built-in issuer.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the node's OpenAPI 3.1 document (the one committed as spec/openapi/node.json).
    Openapi,
    /// Pull records from another system into a node that is not serving.
    Pull {
        #[command(subcommand)]
        command: PullCommand,
    },
    /// Import locations from a file (see node/docs/import.md).
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// OCPI credentials for operators whose platforms push OCPI 2.2.1 to this node (see
    /// node/docs/ocpi-receiver.md). Work whether or not the node is serving.
    Ocpi {
        #[command(subcommand)]
        command: OcpiCommand,
    },
}

#[derive(Debug, Subcommand)]
enum OcpiCommand {
    /// Print a registration token (token A) for one party's OCPI platform, and the node's
    /// versions URL. The platform POSTs its credentials with it and receives the node's token.
    Register {
        #[arg(long)]
        dir: PathBuf,
        /// The party (CC*PID) the credential may push for; it can touch no other party's data.
        #[arg(long)]
        party: Party,
        /// How long the registration token stays valid (at most 90d).
        #[arg(long, default_value = "7d", value_parser = parse_duration)]
        ttl: std::time::Duration,
    },
    /// List the OCPI credentials: party, registration state, the platform's versions URL.
    List {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Revoke a party's OCPI credential: its tokens stop working at once.
    Revoke {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        party: Party,
    },
}

#[derive(Debug, Subcommand)]
enum PullCommand {
    /// Pull Tariffs, Locations, Sessions and CDRs from an operator's OCPI 2.2.1 (or 2.1.1)
    /// sender once, repairing known feed deviations; prints a report. A serving node pulls on
    /// its [[pull]] schedule instead (see config.toml).
    Ocpi {
        #[arg(long)]
        dir: PathBuf,
        /// The sender's versions URL, or a module URL such as …/ocpi/2.2.1/locations.
        #[arg(long)]
        url: url::Url,
        /// The credentials token the operator issued (sent as OCPI requires).
        #[arg(long, env = "EVFED_PULL_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// The party (CC*PID) of objects without country_code/party_id (OCPI 2.1.1 feeds).
        #[arg(long)]
        party: Option<Party>,
        /// Only this module (tariffs, locations, sessions, cdrs); repeat for several.
        #[arg(long = "module")]
        modules: Vec<cli::pull::Module>,
        /// Ignore the stored cursor and read everything again.
        #[arg(long)]
        full: bool,
        /// Also write the report as JSON here.
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// Import a CSV file: an `evfed` asset register or a National Chargepoint Registry export.
    /// Works whether or not the node is serving.
    Csv {
        #[arg(long)]
        dir: PathBuf,
        file: PathBuf,
        #[arg(long, value_enum)]
        format: FormatArg,
        /// Owner of the imported locations, CC*PID (required for evfed; ncr default GB*NCR).
        #[arg(long)]
        party: Option<Party>,
        /// Keep only locations in the node's area set (`london`, or `all` in any city) or in
        /// one authority (its code, e.g. a London borough's GSS code).
        #[arg(long, value_parser = parse_area)]
        within_borough: Option<ingest::Area>,
        /// Check everything and print what would happen; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Write every rejected or filtered row, and every changed value, here (JSON lines).
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Evfed,
    Ncr,
}

fn parse_area(s: &str) -> Result<ingest::Area, String> {
    ingest::Area::parse(s)
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Replace the signing key, announced by a key_rotation entry signed with the old key.
    Rotate {
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print a JWT access token (last line of stdout).
    Issue {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        party: Option<Party>,
        /// data:write, usage:read or admin; repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        #[arg(long, default_value = "1h", value_parser = parse_duration)]
        ttl: std::time::Duration,
    },
}

fn ocpi(command: OcpiCommand, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    use cli::ocpi;
    let through = |via: &Option<String>| match via {
        Some(url) => format!(" (through the serving node at {url})"),
        None => String::new(),
    };
    match command {
        OcpiCommand::Register { dir, party, ttl } => {
            let done = ocpi::register(&dir, &party, ttl)?;
            let reg = &done.value;
            writeln!(
                out,
                "registration token for {} (token A), valid until {}{}.\n\
                 Give the operator the token and the node's versions URL; their platform POSTs its\n\
                 credentials to the credentials module with it. Behind a proxy, give the public URL.",
                reg.party,
                reg.expires_at,
                through(&done.via)
            )?;
            writeln!(out, "versions URL: {}", reg.versions_url)?;
            writeln!(out, "token: {}", reg.token)?;
        }
        OcpiCommand::List { dir } => {
            let done = ocpi::list(&dir)?;
            if done.value.is_empty() {
                writeln!(out, "no OCPI credentials{}", through(&done.via))?;
            }
            for c in &done.value {
                let registered = match &c.registered_at {
                    Some(t) => format!("registered {t}"),
                    None => "not registered".to_owned(),
                };
                let pending = match &c.pending_until {
                    Some(t) => format!(", registration token valid until {t}"),
                    None => String::new(),
                };
                let url = c.client_url.as_deref().unwrap_or("-");
                writeln!(out, "{}\t{registered}{pending}\t{url}", c.party)?;
            }
        }
        OcpiCommand::Revoke { dir, party } => {
            let done = ocpi::revoke(&dir, &party)?;
            writeln!(
                out,
                "revoked the OCPI credential of {party}{}",
                through(&done.via)
            )?;
        }
    }
    Ok(())
}

/// Runs the command; a node that refuses to sign exits with `EXIT_REFUSES_TO_SIGN` (spec
/// §9.4), any other failure with 1, as `anyhow` reports it.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match cli::refuses_to_sign(&e) {
            Some(refusal) => {
                eprintln!("evfed-node: {refusal}");
                let code = u8::try_from(cli::EXIT_REFUSES_TO_SIGN).unwrap_or(1);
                ExitCode::from(code)
            }
            None => {
                eprintln!("Error: {e:?}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut out = std::io::stdout();
    match cli.command {
        Command::Init {
            dir,
            origin,
            kind,
            area,
            areas,
            parties,
        } => {
            let kind = match kind {
                KindArg::Borough => cli::Kind::Borough,
                KindArg::Cpo => cli::Kind::Cpo,
            };
            let vkey = cli::init(
                &dir,
                &origin,
                kind,
                area.as_ref(),
                areas.as_deref(),
                &parties,
            )?;
            writeln!(
                out,
                "initialised {}\nverifier key:\n{vkey}\n",
                dir.display()
            )?;
            write!(out, "{}", cli::next_steps(&dir, &parties))?;
        }
        Command::Serve {
            dir,
            listen,
            ready_file,
            log_format,
        } => {
            cli::serve(
                &dir,
                ServeOptions {
                    listen,
                    ready_file,
                    log_format,
                },
            )?;
        }
        Command::Key {
            command: KeyCommand::Rotate { dir },
        } => {
            let vkey = cli::rotate_key(&dir)?;
            writeln!(out, "rotated; new verifier key:\n{vkey}")?;
        }
        Command::Backup { dir, out: path } => {
            let heads = cli::backup(&dir, &path)?;
            writeln!(
                out,
                "backed up to {}: public log {} entries, restricted log {} entries",
                path.display(),
                heads[0].0,
                heads[1].0
            )?;
        }
        Command::Verify { dir, database } => {
            let report = cli::verify(&dir, database.as_deref())?;
            write!(out, "{}", report.render())?;
            if !report.ok() {
                out.flush()?;
                anyhow::bail!(
                    "verification failed (see above): restore the newest backup that verifies"
                );
            }
        }
        Command::Restore { dir, backup, force } => {
            cli::restore(&dir, &backup, force)?;
            writeln!(out, "restored {} into {}", backup.display(), dir.display())?;
        }
        Command::Token {
            command:
                TokenCommand::Issue {
                    dir,
                    party,
                    scopes,
                    ttl,
                },
        } => {
            let scopes: Vec<String> = scopes
                .iter()
                .flat_map(|s| s.split_whitespace())
                .map(str::to_owned)
                .collect();
            let token = cli::issue_token(&dir, party.as_ref(), &scopes, ttl)?;
            writeln!(out, "{token}")?;
        }
        Command::Pull {
            command:
                PullCommand::Ocpi {
                    dir,
                    url,
                    token,
                    party,
                    modules,
                    full,
                    report,
                },
        } => {
            let args = cli::PullArgs {
                url,
                token,
                party,
                modules,
                full,
                report,
            };
            let report = cli::pull_ocpi(&dir, args)?;
            write!(out, "{report}")?;
            if !report.complete() {
                anyhow::bail!(
                    "the pull did not complete (see above); the next pull resumes where it stopped"
                );
            }
        }
        Command::Ocpi { command } => ocpi(command, &mut out)?,
        Command::Openapi => {
            out.write_all(cli::document_json().as_bytes())?;
        }
        Command::Import {
            command:
                ImportCommand::Csv {
                    dir,
                    file,
                    format,
                    party,
                    within_borough,
                    dry_run,
                    report,
                },
        } => {
            let format = match format {
                FormatArg::Evfed => ingest::Format::Evfed,
                FormatArg::Ncr => ingest::Format::Ncr,
            };
            let party = match (party, format) {
                (Some(p), _) => p,
                (None, ingest::Format::Ncr) => ingest::NCR_DEFAULT_PARTY.parse()?,
                (None, ingest::Format::Evfed) => {
                    anyhow::bail!(
                        "--format evfed needs --party 'CC*PID', the owner of the locations"
                    )
                }
            };
            let opts = ingest::ImportOptions {
                format,
                party,
                within: within_borough,
                areas: Default::default(),
                dry_run,
                report,
            };
            let imported = cli::import(&dir, &file, &opts)?;
            let verb = if dry_run {
                "checked, nothing written,"
            } else {
                "written"
            };
            match &imported.via {
                Some(url) => writeln!(
                    out,
                    "{}: {verb} through the serving node ({url})",
                    file.display()
                )?,
                None => writeln!(out, "{}: {verb} in {}", file.display(), dir.display())?,
            }
            write!(out, "{}", imported.summary.render(dry_run))?;
            if let Some(path) = &opts.report {
                writeln!(out, "report: {}", path.display())?;
            }
        }
    }
    Ok(())
}
