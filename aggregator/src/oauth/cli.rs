//! `evfed-aggregator clients add|list|remove` and `oauth rotate-key`.

use std::path::Path;

use anyhow::{Context as _, bail};

use super::ClientSpec;
use crate::commands::{load, unix_ms};

/// `clients add`: registers a client; prints its secret once (`client_secret_basic`), or
/// registers the Ed25519 public JWK in `jwk_file` (`private_key_jwt`).
pub fn add(
    dir: &Path,
    id: String,
    scopes: Vec<String>,
    party: Option<String>,
    audiences: Vec<String>,
    jwk_file: Option<&Path>,
) -> anyhow::Result<()> {
    let (_, store) = load(dir)?;
    let jwk = match jwk_file {
        Some(path) => Some(
            serde_json::from_slice(
                &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            )
            .with_context(|| format!("{} is not a JSON JWK", path.display()))?,
        ),
        None => None,
    };
    let spec = ClientSpec {
        id,
        scopes,
        party,
        audiences,
        jwk,
    };
    let registered = spec.check(unix_ms()).map_err(anyhow::Error::msg)?;
    store.add_client(&registered.client)?;
    let c = &registered.client;
    println!(
        "client {} added ({}; scopes {}; audiences {})",
        c.id,
        c.credential.method(),
        c.scopes.join(" "),
        c.audiences.join(" ")
    );
    if let Some(secret) = &registered.client_secret {
        println!("client secret (shown once, only its hash is kept):");
        println!("{secret}");
    }
    Ok(())
}

pub fn list(dir: &Path, as_json: bool) -> anyhow::Result<()> {
    let (_, store) = load(dir)?;
    let clients = store.clients()?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&clients)?);
        return Ok(());
    }
    for c in clients {
        println!(
            "{}\t{}\t{}\t{}\t{}",
            c.id,
            c.credential.method(),
            c.scopes.join(" "),
            c.party.unwrap_or_default(),
            c.audiences.join(" ")
        );
    }
    Ok(())
}

pub fn remove(dir: &Path, id: &str) -> anyhow::Result<()> {
    let (_, store) = load(dir)?;
    if !store.remove_client(id)? {
        bail!("no client {id}");
    }
    println!("client {id} removed; tokens it holds stay valid until they expire");
    Ok(())
}

/// `oauth rotate-key`: a new signing key; the old one stays in the JWKS until the next rotation.
pub fn rotate_key(dir: &Path) -> anyhow::Result<()> {
    let (config, _) = load(dir)?;
    let kid = super::keys::rotate(dir, config.origin.as_str())?;
    println!(
        "new OAuth signing key {kid}; the previous key stays in the JWKS until the next rotation \
         (rotate again no sooner than {} s, the token lifetime)",
        super::TOKEN_TTL_SECONDS
    );
    Ok(())
}
