//! evfed-node: publishes a borough's or an operator's chargepoint data, signed, under the
//! evfed standard.

use std::io::Write as _;

use clap::{Parser, Subcommand};

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

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the node's OpenAPI 3.1 document (the one committed as spec/openapi/node.json).
    Openapi,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Openapi => {
            std::io::stdout().write_all(evfed_node::openapi::document_json().as_bytes())?;
        }
    }
    Ok(())
}
