//! The node's directory: configuration, keys, database and the record of what was last signed,
//! each in one file with one owner. Secrets are files of mode 0600, written atomically.
//!
//! Architecture Invariant: the last signed (size, root) of each log lives here, outside the
//! database, so restoring an old database can never make the node sign a rewritten history.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use evfed_spec::merkle::Hash;
use evfed_spec::note::{SigningKey, VerifierKey};
use serde::{Deserialize, Serialize};

use crate::config::{Config, ConfigError};

/// How long after a rotation checkpoints carry a second signature by the previous key.
pub const CO_SIGN_SECONDS: u64 = 30 * 24 * 3600;

/// Paths inside a node directory.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
}

/// Why the node directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "{path} is readable or writable by group or others (mode {mode:o}); run `chmod 600 {path}`"
    )]
    LooseKey { path: String, mode: u32 },
    #[error("{path} does not hold a private key string ({detail})")]
    BadKey { path: String, detail: String },
    #[error("{path} is not valid: {detail}")]
    BadState { path: String, detail: String },
    #[error("{0} already exists; choose an empty directory")]
    Exists(String),
    #[error("another evfed-node process is using {0} (a running `serve`?); stop it first")]
    Locked(String),
}

/// The last checkpoint signed for one log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedHead {
    pub size: u64,
    #[serde(with = "hash_b64")]
    pub root: Hash,
    pub time: u64,
}

/// `signed-state.json`: the last signed head of each log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedState {
    pub public: SignedHead,
    pub restricted: SignedHead,
}

/// A previous signing key, kept to co-sign for a while after a rotation and to list in `vkeys`.
#[derive(Debug)]
pub struct PreviousKey {
    pub key: SigningKey,
    pub rotated_at: u64,
}

/// Holds the directory's lock while alive: one process at a time changes a node.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl Home {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    pub fn database_path(&self) -> PathBuf {
        self.dir.join("evfed.db")
    }
    pub fn key_path(&self) -> PathBuf {
        self.dir.join("node.key")
    }
    pub fn previous_keys_path(&self) -> PathBuf {
        self.dir.join("previous.keys")
    }
    pub fn issuer_key_path(&self) -> PathBuf {
        self.dir.join("issuer.key")
    }
    pub fn signed_state_path(&self) -> PathBuf {
        self.dir.join("signed-state.json")
    }

    /// `serve.json`: `{"url": "http://ADDR", "pid": N}`, present while `serve` answers there.
    pub fn serve_file_path(&self) -> PathBuf {
        self.dir.join("serve.json")
    }

    pub fn config(&self) -> Result<Config, HomeError> {
        Ok(Config::load(&self.config_path())?)
    }

    /// Takes the directory's exclusive lock, or says who holds it.
    pub fn lock(&self) -> Result<DirLock, HomeError> {
        let path = self.dir.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => {
                Err(HomeError::Locked(self.dir.display().to_string()))
            }
            Err(fs::TryLockError::Error(e)) => Err(io(&path, e)),
        }
    }

    /// The current log signing key, refusing a file others can read.
    pub fn signing_key(&self) -> Result<SigningKey, HomeError> {
        read_key(&self.key_path())
    }

    /// The built-in token issuer's key.
    pub fn issuer_key(&self) -> Result<SigningKey, HomeError> {
        read_key(&self.issuer_key_path())
    }

    /// Previous signing keys, newest first.
    pub fn previous_keys(&self) -> Result<Vec<PreviousKey>, HomeError> {
        let path = self.previous_keys_path();
        let text = match read_secret(&path) {
            Ok(t) => t,
            Err(HomeError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let bad = |detail: &str| HomeError::BadKey {
                    path: path.display().to_string(),
                    detail: detail.to_owned(),
                };
                let (at, key) = line
                    .split_once(' ')
                    .ok_or_else(|| bad("expected `<unix time> <key>`"))?;
                Ok(PreviousKey {
                    rotated_at: at.parse().map_err(|_| bad("bad rotation time"))?,
                    key: key
                        .parse()
                        .map_err(|e: evfed_spec::note::KeyError| bad(&e.to_string()))?,
                })
            })
            .collect()
    }

    /// The verifier keys to announce: current first, then previous keys newest first.
    pub fn vkeys(&self) -> Result<Vec<VerifierKey>, HomeError> {
        let mut keys = vec![self.signing_key()?.verifier().clone()];
        keys.extend(
            self.previous_keys()?
                .into_iter()
                .map(|p| p.key.verifier().clone()),
        );
        Ok(keys)
    }

    /// Makes `key` current and moves the old one to the front of `previous.keys`.
    pub fn rotate_key(
        &self,
        old: &SigningKey,
        new: &SigningKey,
        now: u64,
    ) -> Result<(), HomeError> {
        let mut previous = format!("{now} {}\n", old.to_private_string());
        if let Ok(rest) = read_secret(&self.previous_keys_path()) {
            previous.push_str(&rest);
        }
        write_atomic(&self.previous_keys_path(), previous.as_bytes(), 0o600)?;
        write_atomic(
            &self.key_path(),
            format!("{}\n", new.to_private_string()).as_bytes(),
            0o600,
        )
    }

    /// `None` before the first checkpoint was signed.
    pub fn signed_state(&self) -> Result<Option<SignedState>, HomeError> {
        let path = self.signed_state_path();
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| HomeError::BadState {
                        path: path.display().to_string(),
                        detail: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path, e)),
        }
    }

    /// Records what was just signed, durably, before the checkpoint is published.
    pub fn record_signed(&self, state: &SignedState) -> Result<(), HomeError> {
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| HomeError::BadState {
            path: self.signed_state_path().display().to_string(),
            detail: e.to_string(),
        })?;
        write_atomic(&self.signed_state_path(), &bytes, 0o644)
    }
}

/// Creates `path` with `bytes` and `mode` in one step: a temporary file, fsync, rename, fsync of
/// the directory. Readers see the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), HomeError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| io(&tmp, e))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)).map_err(|e| io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| io(&tmp, e))?;
    f.sync_all().map_err(|e| io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes a new file that must not exist yet.
pub fn create_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), HomeError> {
    let mut f = OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => HomeError::Exists(path.display().to_string()),
            _ => io(path, e),
        })?;
    f.write_all(bytes).map_err(|e| io(path, e))?;
    f.sync_all().map_err(|e| io(path, e))
}

pub fn read_secret(path: &Path) -> Result<String, HomeError> {
    let meta = fs::metadata(path).map_err(|e| io(path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(HomeError::LooseKey {
            path: path.display().to_string(),
            mode,
        });
    }
    fs::read_to_string(path).map_err(|e| io(path, e))
}

fn read_key(path: &Path) -> Result<SigningKey, HomeError> {
    let text = read_secret(path)?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    line.parse()
        .map_err(|e: evfed_spec::note::KeyError| HomeError::BadKey {
            path: path.display().to_string(),
            detail: e.to_string(),
        })
}

fn io(path: &Path, source: std::io::Error) -> HomeError {
    HomeError::Io {
        path: path.display().to_string(),
        source,
    }
}

mod hash_b64 {
    use evfed_spec::merkle::Hash;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&h.to_base64())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let s = String::deserialize(d)?;
        Hash::from_base64(&s).ok_or_else(|| serde::de::Error::custom("not a base64 SHA-256 hash"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_loose_modes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let key = SigningKey::generate("o", &mut rand::rngs::OsRng).unwrap();
        create_new(
            &home.key_path(),
            format!("{}\n", key.to_private_string()).as_bytes(),
            0o600,
        )
        .unwrap();
        assert_eq!(home.signing_key().unwrap().verifier(), key.verifier());
        fs::set_permissions(home.key_path(), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            home.signing_key(),
            Err(HomeError::LooseKey { .. })
        ));
    }

    #[test]
    fn lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let held = home.lock().unwrap();
        assert!(matches!(home.lock(), Err(HomeError::Locked(_))));
        drop(held);
        home.lock().unwrap();
    }

    #[test]
    fn rotation_keeps_previous_keys_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let k1 = SigningKey::generate("o", &mut rand::rngs::OsRng).unwrap();
        let k2 = SigningKey::generate("o", &mut rand::rngs::OsRng).unwrap();
        let k3 = SigningKey::generate("o", &mut rand::rngs::OsRng).unwrap();
        create_new(&home.key_path(), k1.to_private_string().as_bytes(), 0o600).unwrap();
        home.rotate_key(&k1, &k2, 10).unwrap();
        home.rotate_key(&k2, &k3, 20).unwrap();
        let vkeys = home.vkeys().unwrap();
        assert_eq!(
            vkeys,
            vec![
                k3.verifier().clone(),
                k2.verifier().clone(),
                k1.verifier().clone()
            ]
        );
        assert_eq!(home.previous_keys().unwrap()[0].rotated_at, 20);
    }
}
