//! The `evfed-node` subcommands: set-up, serving, key rotation, backup and restore, tokens,
//! OCPI pulls (`pull`), OCPI credentials for pushing operators (`ocpi`), import.

pub mod ocpi;
mod pull;
mod verify;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use evfed_spec::entry::{EntryData, KeyRotation, LogEntry};
use evfed_spec::ext::GssCode;
use evfed_spec::ids::Party;
use evfed_spec::note::SigningKey;
use evfed_spec::time::DateTime;

use crate::config::{Config, Kind, LogFormat, Origin};
use crate::domain::records::Policy;
use crate::domain::signer::{SignError, Signer};
use crate::home::{Home, HomeError, create_new, write_atomic};
use crate::http::server::{self, Announce};
use crate::http::{AppState, Metrics};
use crate::ingest;
use crate::store::{self, LogId, Store};
use crate::tokens::{Issuer, SCOPES};

use crate::http::server::reachable;
pub use crate::http::server::{OpenNode, checkpoint_loop, sign_final};
pub use pull::{PullArgs, pull_ocpi};
pub use verify::{Verification, verify};

/// Exit status when the node refuses to sign (spec §9.4).
pub const EXIT_REFUSES_TO_SIGN: i32 = 3;

/// The node refuses to start: its log contradicts what it signed before (spec §9.4). The
/// message says which log, what differs and how to recover. `evfed-node` exits with
/// [`EXIT_REFUSES_TO_SIGN`] on it; a caller finds it in an `anyhow::Error` with
/// [`refuses_to_sign`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RefusesToSign(pub String);

/// The refusal to sign in `error` or its causes, if that is why it failed.
pub fn refuses_to_sign(error: &anyhow::Error) -> Option<&RefusesToSign> {
    error.chain().find_map(|e| e.downcast_ref())
}

/// The name `init` gives its copy of another city's area set, inside the node directory.
pub const AREAS_FILE: &str = "areas.geojson";

/// `init`: a new node directory. Returns the verifier key.
pub fn init(
    dir: &Path,
    origin: &Origin,
    kind: Kind,
    area: Option<&GssCode>,
    areas: Option<&Path>,
    parties: &[Party],
) -> anyhow::Result<String> {
    // Another city's area set is checked, then copied into the directory, so the node does
    // not depend on where the file was.
    let copied = match areas {
        Some(file) => {
            crate::domain::areas::NodeAreas::load(file).map_err(|e| anyhow!(e))?;
            Some(Path::new(AREAS_FILE))
        }
        None => None,
    };
    let text = Config::template(origin, kind, area, copied, parties);
    // Check the combination before anything is written.
    let probe = dir.join(".config-check.toml");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let home = Home::new(dir);
    let _lock = home.lock()?;
    if home.config_path().exists() || home.database_path().exists() || home.key_path().exists() {
        bail!(
            "{} already holds a node; choose an empty directory",
            dir.display()
        );
    }
    if let Some(file) = areas {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        write_atomic(&dir.join(AREAS_FILE), &bytes, 0o644)?;
    }
    write_atomic(&probe, text.as_bytes(), 0o644)?;
    let checked = Config::load(&probe);
    let _ = std::fs::remove_file(&probe);
    if checked.is_err() && areas.is_some() {
        let _ = std::fs::remove_file(dir.join(AREAS_FILE));
    }
    checked?;
    let mut rng = rand::rngs::OsRng;
    let key = SigningKey::generate(origin.as_str(), &mut rng)?;
    let issuer = SigningKey::generate(&format!("{origin}/issuer"), &mut rng)?;
    create_new(
        &home.key_path(),
        format!("{}\n", key.to_private_string()).as_bytes(),
        0o600,
    )?;
    create_new(
        &home.issuer_key_path(),
        format!("{}\n", issuer.to_private_string()).as_bytes(),
        0o600,
    )?;
    create_new(&home.config_path(), text.as_bytes(), 0o644)?;
    let store = Store::create(&home.database_path())?;
    Signer::initialise(&home, origin.as_str(), &key, &store, unix_now())?;
    Ok(key.verifier().to_string())
}

/// What to do after `init`, as printed under the verifier key: the commands with `dir` as given
/// (quoted for a POSIX shell when it needs to be) and the first of `parties` (else a
/// placeholder), and where the node answers by default.
pub fn next_steps(dir: &Path, parties: &[Party]) -> String {
    let dir = shell_word(&dir.display().to_string());
    let party = parties
        .first()
        .map_or_else(|| "'CC*PID'".to_owned(), |p| shell_word(&p.to_string()));
    let url = format!("http://{}", crate::config::DEFAULT_LISTEN);
    format!(
        "next steps:\n\
         \x20 1. serve the node (listens on {listen}; `listen` in {dir}/config.toml):\n\
         \x20      evfed-node serve --dir {dir}\n\
         \x20 2. issue a token for an operator's back office to write its data:\n\
         \x20      evfed-node token issue --dir {dir} --party {party} --scope data:write\n\
         \x20 3. or import an asset register or NCR export (node/docs/import.md):\n\
         \x20      evfed-node import csv --dir {dir} FILE --format evfed --party {party}\n\
         \x20 4. open {url}/ (this node's status page) and {url}/docs/ (the API, with\n\
         \x20    {url}/openapi.json and {url}/.well-known/evfed)\n",
        listen = crate::config::DEFAULT_LISTEN,
    )
}

/// `word` as one POSIX shell word: as is when it has nothing a shell reads specially.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Options of `serve` that override the configuration file.
#[derive(Debug, Default)]
pub struct ServeOptions {
    pub listen: Option<SocketAddr>,
    pub ready_file: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
}

/// Opens the node in `dir` for serving. Fails with [`RefusesToSign`] when the log is
/// inconsistent with what was signed before (spec §9.4).
pub fn open(dir: &Path, listen: Option<SocketAddr>) -> anyhow::Result<OpenNode> {
    open_as(dir, listen, crate::openapi::document_json(), Vec::new())
}

/// [`open`], serving `openapi_json` at `/openapi.json` (an embedding server's whole API) and
/// trusting `local_issuers` besides the configured ones (the embedding aggregator's own
/// authorization server).
pub fn open_as(
    dir: &Path,
    listen: Option<SocketAddr>,
    openapi_json: String,
    local_issuers: Vec<crate::trust::LocalIssuer>,
) -> anyhow::Result<OpenNode> {
    let home = Home::new(dir);
    let lock = home.lock()?;
    let mut config = home.config()?;
    if let Some(l) = listen {
        config.listen = l;
    }
    let store = Arc::new(Store::open(&home.database_path())?);
    let signer = match open_signer(&home, &config, &store) {
        Ok(s) => Arc::new(s),
        Err(SignError::Inconsistent(reason)) => {
            tracing::error!("{reason}");
            return Err(RefusesToSign(reason).into());
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(
        areas = %config.area_set.set.name,
        authorities = config.area_set.set.authorities().count(),
        wards = config.area_set.set.wards().count(),
        "area set loaded"
    );
    let issuer = Issuer::new(config.origin.as_str(), &home.issuer_key()?)?;
    let vkeys = home.vkeys()?.iter().map(ToString::to_string).collect();
    let policy = policy(&config);
    if config.kind != Kind::Aggregator {
        // Locations written before the node derived wards (or under another area set) are
        // placed again; the ticker signs what this appends.
        let now = evfed_spec::time::DateTime::now();
        let placed = crate::domain::import::place_stored(&store, &policy, now)?;
        if placed > 0 {
            tracing::info!(
                locations = placed,
                "stored locations placed in their areas again"
            );
        }
    }
    let mut trusted = crate::trust::Trusted::new(&config.issuers, config.origin.as_str())
        .context("the keys of the [[issuer]]s cannot be fetched")?;
    for local in local_issuers {
        trusted.add_local(local);
    }
    let state = AppState {
        openapi_json,
        config,
        store,
        signer,
        issuer,
        trusted,
        policy,
        vkeys,
        metrics: Metrics::default(),
        pages: Default::default(),
        stopping: tokio::sync::watch::Sender::new(false),
    };
    Ok(OpenNode::new(state, home, lock))
}

/// `serve`: runs until SIGINT or SIGTERM, then signs a final checkpoint.
pub fn serve(dir: &Path, opts: ServeOptions) -> anyhow::Result<()> {
    let home = Home::new(dir);
    let log_format = match opts.log_format {
        Some(f) => f,
        None => home.config()?.log_format,
    };
    init_tracing(log_format);
    let started = std::time::Instant::now();
    let node = open(dir, opts.listen)?;
    let state = node.state.clone();
    let announce = Announce {
        ready_file: opts.ready_file.as_deref(),
        started,
    };
    server::run(
        node,
        announce,
        Box::new(move || {
            let pulls = crate::pull::schedule::start(
                &state.config.pull,
                dir,
                state.store.clone(),
                state.policy.clone(),
                crate::pull::Options::default(),
            )?;
            Ok(Box::new(move || pulls.stop(Duration::from_secs(5))))
        }),
    )
}

/// Checks the stored log against what was signed (`verify::check_at_start`), then opens the
/// signer: every command that writes or serves starts here, so none builds on a damaged log.
fn open_signer(home: &Home, config: &Config, store: &Store) -> Result<Signer, SignError> {
    verify::check_at_start(home, config.origin.as_str(), store)?;
    let signer = Signer::open(home.clone(), config.origin.as_str(), store, unix_now())?;
    // Cover whatever the log holds before announcing readiness.
    signer.sign_grown(store, unix_now(), false)?;
    Ok(signer)
}

/// The write policy of a configured node.
pub fn policy(config: &Config) -> Policy {
    Policy {
        kind: config.kind,
        area: config.area.clone(),
        parties: config.parties.clone(),
        areas: config.area_set,
    }
}

/// `key rotate`: appends a `key_rotation` entry, signs it with the old key, switches keys.
/// Returns the new verifier key.
pub fn rotate_key(dir: &Path) -> anyhow::Result<String> {
    let home = Home::new(dir);
    let _lock = home.lock()?;
    let config = home.config()?;
    let store = Store::open(&home.database_path())?;
    let signer = open_signer(&home, &config, &store).map_err(explain)?;
    let old = home.signing_key()?;
    let new = SigningKey::generate(config.origin.as_str(), &mut rand::rngs::OsRng)?;
    let entry = LogEntry {
        recorded_at: DateTime::now(),
        data: EntryData::KeyRotation(KeyRotation {
            vkey: new.verifier().to_string(),
            previous_vkey: old.verifier().to_string(),
        }),
    };
    let bytes = entry.to_bytes()?;
    store.write(|tx| tx.append(LogId::Public, &bytes).map(|_| ()))?;
    signer
        .sign_grown(&store, unix_now(), true)
        .map_err(explain)?;
    home.rotate_key(&old, &new, unix_now())?;
    Ok(new.verifier().to_string())
}

/// `backup`: a consistent snapshot of the database, safe while the node serves at full write
/// load; a partial copy never appears under `out`.
pub fn backup(dir: &Path, out: &Path) -> anyhow::Result<[(u64, evfed_spec::merkle::Hash); 2]> {
    let home = Home::new(dir);
    store::backup(&home.database_path(), out)?;
    Ok(store::heads_of(out)?)
}

/// `restore`: replaces the database with a backup. Refuses a backup that does not verify in
/// full (`verify`), and (unless `force`) one older than the last signed checkpoint, since the
/// node would then refuse to sign.
pub fn restore(dir: &Path, backup: &Path, force: bool) -> anyhow::Result<()> {
    let home = Home::new(dir);
    let _lock = home.lock()?;
    let heads = store::heads_of(backup).with_context(|| format!("reading {}", backup.display()))?;
    // A damaged backup would be served (or refused at start) as a damaged log: never restore it.
    let checked = verify(dir, Some(backup))?;
    if !checked.ok() {
        bail!(
            "{} does not verify with this node's keys, so it is not restored:\n{}\
             Choose another backup (`evfed-node verify --dir {} --database FILE` checks one).",
            backup.display(),
            checked.render(),
            dir.display()
        );
    }
    if let Some(signed) = home.signed_state()? {
        for (log, name, last) in [
            (0, "public", signed.public),
            (1, "restricted", signed.restricted),
        ] {
            let (size, root) = heads[log];
            let behind = size < last.size || (size == last.size && root != last.root);
            if behind && !force {
                bail!(
                    "{} is older than the last checkpoint this node signed: its {name} log has {size} \
                     entries, the signed one {}. After this restore the node would refuse to sign, \
                     because the signed history would be contradicted. Restore a newer backup, or \
                     pass --force and then start a new node (new origin and key) and tell the aggregator.",
                    backup.display(),
                    last.size
                );
            }
        }
    }
    let db = home.database_path();
    let tmp = dir.join(".restore.db");
    let _ = std::fs::remove_file(&tmp);
    store::backup(backup, &tmp)?;
    for suffix in ["-wal", "-shm"] {
        let mut p = db.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    std::fs::rename(&tmp, &db).with_context(|| format!("replacing {}", db.display()))?;
    Ok(())
}

/// How an import was written.
#[derive(Debug)]
pub struct Imported {
    pub summary: ingest::Summary,
    /// The serving node's endpoint it went through, or `None` when written in this process.
    pub via: Option<String>,
}

/// `import csv`: reads `file`, keeps the locations inside the node's area (narrowed by
/// `--within-borough`), then writes them into the node: in this process when the
/// directory's lock is free (and signs a checkpoint covering it), otherwise through the node
/// that `serve` runs from the directory, whose own ticker signs.
pub fn import(dir: &Path, file: &Path, opts: &ingest::ImportOptions) -> anyhow::Result<Imported> {
    let home = Home::new(dir);
    let config = home.config()?;
    if !config.accepts(&opts.party) {
        bail!(
            "this node does not accept party {} (see `parties` in {}); pass --party",
            opts.party,
            home.config_path().display()
        );
    }
    // Every location outside the node's area is left out and reported, never written.
    let area = ingest::Area::for_node(
        config.kind,
        config.area.as_ref(),
        opts.within.as_ref(),
        &config.area_set,
    )
    .map_err(|e| anyhow!(e))?;
    let opts = &ingest::ImportOptions {
        within: Some(area),
        areas: config.area_set,
        ..opts.clone()
    };
    let prepared = ingest::prepare(file, opts)?;
    match home.lock() {
        Ok(_lock) => {
            let store = Store::open(&home.database_path())?;
            let signer = open_signer(&home, &config, &store).map_err(explain)?;
            let policy = policy(&config);
            let mut sink = ingest::Local::new(&store, &policy, opts.dry_run);
            let summary = ingest::write(prepared, &mut sink, opts)?;
            if !opts.dry_run {
                signer
                    .sign_grown(&store, unix_now(), false)
                    .map_err(explain)?;
            }
            Ok(Imported { summary, via: None })
        }
        Err(HomeError::Locked(_)) => {
            let mut remote = ingest::Remote::connect(&home, &config, opts.dry_run)?;
            let via = remote.endpoint().to_owned();
            let summary = ingest::write(prepared, &mut remote, opts)?;
            Ok(Imported {
                summary,
                via: Some(via),
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// `token issue`: a JWT from the node's built-in issuer.
pub fn issue_token(
    dir: &Path,
    party: Option<&Party>,
    scopes: &[String],
    ttl: Duration,
) -> anyhow::Result<String> {
    let home = Home::new(dir);
    let config = home.config()?;
    for s in scopes {
        if !SCOPES.contains(&s.as_str()) {
            bail!("unknown scope {s}; known scopes: {}", SCOPES.join(", "));
        }
    }
    if scopes.iter().any(|s| s == "data:write") && party.is_none() {
        bail!("a data:write token needs --party 'CC*PID'");
    }
    if let Some(p) = party
        && !config.accepts(p)
    {
        bail!(
            "this node does not accept party {p} (see `parties` in {})",
            home.config_path().display()
        );
    }
    let issuer = Issuer::new(config.origin.as_str(), &home.issuer_key()?)?;
    let subject = party
        .map(|p| format!("party:{p}"))
        .unwrap_or_else(|| "evfed-node-cli".into());
    Ok(issuer.issue(&subject, party, scopes, ttl, unix_now())?)
}

fn explain(e: SignError) -> anyhow::Error {
    anyhow!("{e}")
}

/// Logs to standard error in `format`, at the level `RUST_LOG` says (`info` by default), with
/// ANSI colours only when standard error is a terminal: a log file or a journal gets plain text.
pub fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    DateTime::now().unix_seconds().max(0) as u64
}
