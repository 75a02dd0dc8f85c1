//! evfed-aggregator: federates evfed nodes into one verified London view.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use evfed_aggregator::commands;
use evfed_aggregator::members::{MemberSpec, ReadmitSpec};
use evfed_aggregator::oauth;
use evfed_aggregator::store::Kind;
use evfed_spec::ext::GssCode;
use evfed_spec::ids::Party;

#[derive(Debug, Parser)]
#[command(
    name = "evfed-aggregator",
    version,
    about = "Follow evfed nodes, verify their signed logs, serve the London view"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an aggregator directory.
    Init {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        origin: String,
        /// Another city's area set: a GeoJSON FeatureCollection of authorities and wards
        /// (docs/adopt.md), checked and copied into DIR. Default: London's, built in.
        #[arg(long)]
        areas: Option<PathBuf>,
    },
    /// Serve the London view and harvest members until SIGINT or SIGTERM.
    Serve {
        #[arg(long)]
        dir: PathBuf,
        /// Address to listen on (default from aggregator.toml, else 127.0.0.1:8080).
        #[arg(long, env = "EVFED_LISTEN")]
        listen: Option<SocketAddr>,
        /// Write {"url": "http://ADDR"} here once ready.
        #[arg(long)]
        ready_file: Option<PathBuf>,
    },
    /// Issue access tokens for this aggregator from its own authorization server
    /// (`DIR/oauth.key`), e.g. `--scope admin` for its admin API.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the OpenAPI document (committed as spec/openapi/aggregator.json).
    Openapi,
    /// Register, list and remove members (works while serving).
    Members {
        #[command(subcommand)]
        command: MembersCommand,
    },
    /// Register, list and remove OAuth 2.0 clients of the token endpoint (works while serving).
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// The OAuth 2.0 authorization server's signing key.
    Oauth {
        #[command(subcommand)]
        command: OauthCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ClientsCommand {
    /// Register a client: prints its secret once, or registers its Ed25519 public JWK.
    #[command(group(clap::ArgGroup::new("auth").required(true).args(["secret", "jwk"])))]
    Add {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        id: String,
        /// usage:read, data:write or admin; repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// The party (CC*PID) its tokens carry; required with data:write.
        #[arg(long)]
        party: Option<String>,
        /// A node origin it may ask tokens for (the `resource`); repeat for several.
        #[arg(long = "audience", required = true)]
        audiences: Vec<String>,
        /// Authenticate with a secret (client_secret_basic), printed once.
        #[arg(long)]
        secret: bool,
        /// Authenticate with this Ed25519 public JWK (private_key_jwt).
        #[arg(long)]
        jwk: Option<PathBuf>,
    },
    List {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    Remove {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum OauthCommand {
    /// Make a new signing key; the previous one stays in the JWKS until the next rotation.
    RotateKey {
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print a JWT access token (last line of stdout), e.g. `--scope usage:read` for the usage
    /// analytics.
    Issue {
        #[arg(long)]
        dir: PathBuf,
        /// usage:read or admin; repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        #[arg(long, default_value = "1h", value_parser = evfed_node::embed::config::parse_duration)]
        ttl: std::time::Duration,
    },
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once
enum MembersCommand {
    Add {
        #[arg(long)]
        dir: PathBuf,
        /// The member's origin (its checkpoints' first line).
        #[arg(long)]
        origin: String,
        /// Its base URL.
        #[arg(long)]
        url: url::Url,
        /// A verifier key to pin (repeat for several).
        #[arg(long = "vkey", required = true)]
        vkeys: Vec<String>,
        #[arg(long, value_enum)]
        kind: Kind,
        /// Parties it may publish for (CC*PID; repeat; none = any).
        #[arg(long = "party")]
        parties: Vec<Party>,
        #[arg(long)]
        borough: Option<GssCode>,
        /// Its DPS supplier id.
        #[arg(long)]
        supplier: Option<String>,
        /// A usage:read token the member issued, for its restricted log.
        #[arg(long, env = "EVFED_USAGE_TOKEN", hide_env_values = true)]
        usage_token: Option<String>,
    },
    List {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    Remove {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        origin: String,
    },
    /// Re-admit a member that lost its key or moved origin after a disaster: its history and
    /// evidence are kept, and its harvest starts again from its new, empty log.
    Readmit {
        #[arg(long)]
        dir: PathBuf,
        /// The member's current (registered) origin.
        #[arg(long)]
        origin: String,
        /// Its new origin, when it moved.
        #[arg(long)]
        new_origin: Option<String>,
        /// Its new base URL, when it moved.
        #[arg(long)]
        url: Option<url::Url>,
        /// A new verifier key to pin (repeat for several).
        #[arg(long = "vkey", required = true)]
        vkeys: Vec<String>,
        /// Why, kept in the member's history.
        #[arg(long)]
        reason: String,
    },
}

fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Init { dir, origin, areas } => commands::init(&dir, &origin, areas.as_deref()),
        Command::Serve {
            dir,
            listen,
            ready_file,
        } => commands::serve(&dir, listen, ready_file),
        Command::Token {
            command: TokenCommand::Issue { dir, scopes, ttl },
        } => {
            println!("{}", commands::issue_token(&dir, &scopes, ttl)?);
            Ok(())
        }
        Command::Openapi => {
            print!("{}", evfed_aggregator::openapi::document_json());
            Ok(())
        }
        Command::Clients { command } => match command {
            ClientsCommand::Add {
                dir,
                id,
                scopes,
                party,
                audiences,
                secret: _,
                jwk,
            } => oauth::cli::add(&dir, id, scopes, party, audiences, jwk.as_deref()),
            ClientsCommand::List { dir, json } => oauth::cli::list(&dir, json),
            ClientsCommand::Remove { dir, id } => oauth::cli::remove(&dir, &id),
        },
        Command::Oauth {
            command: OauthCommand::RotateKey { dir },
        } => oauth::cli::rotate_key(&dir),
        Command::Members { command } => match command {
            MembersCommand::Add {
                dir,
                origin,
                url,
                vkeys,
                kind,
                parties,
                borough,
                supplier,
                usage_token,
            } => commands::add_member(
                &dir,
                MemberSpec {
                    origin,
                    url,
                    vkeys,
                    kind,
                    parties,
                    borough,
                    supplier,
                    usage_token,
                },
            ),
            MembersCommand::Readmit {
                dir,
                origin,
                new_origin,
                url,
                vkeys,
                reason,
            } => commands::readmit_member(
                &dir,
                &origin,
                ReadmitSpec {
                    new_origin,
                    url,
                    vkeys,
                    reason,
                },
            ),
            MembersCommand::List { dir, json } => commands::list_members(&dir, json),
            MembersCommand::Remove { dir, origin } => commands::remove_member(&dir, &origin),
        },
    }
}

/// Runs the command; when the aggregator's own log contradicts what it signed, it exits with
/// the node's `EXIT_REFUSES_TO_SIGN` (spec §9.4), as `evfed-node` does; any other failure with
/// 1, as `anyhow` reports it.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match evfed_node::embed::refuses_to_sign(&e) {
            Some(refusal) => {
                eprintln!("evfed-aggregator: {refusal}");
                let code = u8::try_from(evfed_node::embed::EXIT_REFUSES_TO_SIGN).unwrap_or(1);
                ExitCode::from(code)
            }
            None => {
                eprintln!("Error: {e:?}");
                ExitCode::FAILURE
            }
        },
    }
}
