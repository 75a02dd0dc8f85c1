//! Checkpoint signing under the discipline of spec §9.4: sign only durable trees, only
//! consistent extensions of what was last signed (kept beside the key, outside the database),
//! never with a `time` that goes back; co-sign with the previous key for 30 days after a
//! rotation.
//!
//! Architecture Invariant: no code path signs a checkpoint without first checking it against
//! the recorded last signed head, and the record is updated before the checkpoint is served.

use std::sync::{Arc, Mutex, RwLock};

use evfed_spec::checkpoint::{Checkpoint, restricted_origin};
use evfed_spec::merkle::{
    Hash, ProofRequestError, consistency_proof, empty_root, verify_consistency,
};
use evfed_spec::note::SigningKey;

use crate::home::{CO_SIGN_SECONDS, Home, HomeError, SignedHead, SignedState};
use crate::store::{LogId, Store, StoreError};

/// Why no checkpoint was signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The database does not extend what this node signed before. Carries the explanation and
    /// the way out.
    #[error("{0}")]
    Inconsistent(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error("signing failed: {0}")]
    Sign(String),
}

/// How old a log's checkpoint may grow before the node signs its unchanged tree again (under
/// RT-3's 300 s, with room for a busy minute).
pub const HEARTBEAT_SECONDS: u64 = 240;

/// Signs checkpoints for both logs of one node and holds the latest notes.
#[derive(Debug)]
pub struct Signer {
    home: Home,
    origin: String,
    key: SigningKey,
    /// The previous key while it still co-signs.
    co_signer: Option<SigningKey>,
    state: Mutex<SignedState>,
    notes: RwLock<[Arc<Vec<u8>>; 2]>,
    /// The signed size of each log (public, restricted), for readers that wait for a newer
    /// checkpoint (`GET …/checkpoint?newer_than=N`).
    signed: tokio::sync::watch::Sender<[u64; 2]>,
    /// Set once a check failed: the node stays unready and signs nothing more.
    refused: RwLock<Option<String>>,
}

impl Signer {
    /// Loads keys and the last signed state, and checks the database against it.
    pub fn open(home: Home, origin: &str, store: &Store, now: u64) -> Result<Self, SignError> {
        let key = home.signing_key()?;
        let co_signer = home
            .previous_keys()?
            .into_iter()
            .next()
            .filter(|p| now < p.rotated_at.saturating_add(CO_SIGN_SECONDS))
            .map(|p| p.key);
        let state = home.signed_state()?.ok_or_else(|| {
            SignError::Inconsistent(format!(
                "{} is missing: this directory was not set up by `evfed-node init`, or the file \
                 was lost. Without it the node cannot prove it never signed a different history; \
                 start a new node (new origin and key) with `evfed-node init`.",
                home.signed_state_path().display()
            ))
        })?;
        let notes = store.read(|r| {
            let mut notes = [Arc::new(Vec::new()), Arc::new(Vec::new())];
            for log in LogId::BOTH {
                if let Some((_, note)) = r.latest_checkpoint(log)? {
                    notes[log as usize] = Arc::new(note);
                }
            }
            Ok::<_, StoreError>(notes)
        })?;
        let sizes = [state.public.size, state.restricted.size];
        let signer = Self {
            home,
            origin: origin.to_owned(),
            key,
            co_signer,
            state: Mutex::new(state),
            notes: RwLock::new(notes),
            signed: tokio::sync::watch::Sender::new(sizes),
            refused: RwLock::new(None),
        };
        for log in LogId::BOTH {
            let head = store.head(log)?;
            signer.check(store, log, &state_head(&state, log), head)?;
        }
        Ok(signer)
    }

    /// Creates the first (size 0) checkpoints of a new node and the signed-state record.
    pub fn initialise(
        home: &Home,
        origin: &str,
        key: &SigningKey,
        store: &Store,
        now: u64,
    ) -> Result<(), SignError> {
        let empty = SignedHead {
            size: 0,
            root: empty_root(),
            time: now,
        };
        for log in LogId::BOTH {
            let cp = Checkpoint {
                origin: log_origin(origin, log),
                tree_size: 0,
                root: empty_root(),
                time: now,
            };
            let signed = cp.sign(key).map_err(|e| SignError::Sign(e.to_string()))?;
            store.write(|tx| tx.put_checkpoint(log, 0, now, signed.note_bytes()))?;
        }
        home.record_signed(&SignedState {
            public: empty,
            restricted: empty,
        })?;
        Ok(())
    }

    /// The latest signed note of `log`.
    pub fn note(&self, log: LogId) -> Arc<Vec<u8>> {
        match self.notes.read() {
            Ok(n) => n[log as usize].clone(),
            Err(p) => p.into_inner()[log as usize].clone(),
        }
    }

    /// Signed sizes `[public, restricted]` as they change.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<[u64; 2]> {
        self.signed.subscribe()
    }

    /// Why the node refuses to sign, once it has.
    pub fn refused(&self) -> Option<String> {
        self.refused.read().ok().and_then(|r| r.clone())
    }

    /// The last signed size of `log`.
    pub fn signed_size(&self, log: LogId) -> u64 {
        self.state
            .lock()
            .map(|s| state_head(&s, log).size)
            .unwrap_or(0)
    }

    /// Signs a checkpoint of each log that grew since its last one, or whose last one is
    /// [`HEARTBEAT_SECONDS`] old (STANDARD.md §1.6 RT-3: an unchanged log still gets a fresh
    /// checkpoint, so its age tells "no change" from "node stalled"), or of every log when
    /// `force`. Returns how many were signed. Blocking.
    pub fn sign_grown(&self, store: &Store, now: u64, force: bool) -> Result<usize, SignError> {
        if let Some(reason) = self.refused() {
            return Err(SignError::Inconsistent(reason));
        }
        let mut state = self
            .state
            .lock()
            .map_err(|_| SignError::Sign("state lock poisoned".into()))?;
        let mut signed = 0;
        for log in LogId::BOTH {
            let last = state_head(&state, log);
            let (size, root) = store.head(log)?;
            let due = now >= last.time.saturating_add(HEARTBEAT_SECONDS);
            if size == last.size && !force && !due {
                continue;
            }
            if let Err(e) = self.check(store, log, &last, (size, root)) {
                if let SignError::Inconsistent(reason) = &e
                    && let Ok(mut r) = self.refused.write()
                {
                    *r = Some(reason.clone());
                }
                return Err(e);
            }
            let time = now.max(last.time);
            let cp = Checkpoint {
                origin: log_origin(&self.origin, log),
                tree_size: size,
                root,
                time,
            };
            let mut keys = vec![&self.key];
            keys.extend(self.co_signer.as_ref());
            let note = cp
                .sign_with(&keys)
                .map_err(|e| SignError::Sign(e.to_string()))?;
            store.write(|tx| tx.put_checkpoint(log, size, time, note.note_bytes()))?;
            let head = SignedHead { size, root, time };
            let mut next = *state;
            match log {
                LogId::Public => next.public = head,
                LogId::Restricted => next.restricted = head,
            }
            self.home.record_signed(&next)?;
            *state = next;
            if let Ok(mut notes) = self.notes.write() {
                notes[log as usize] = Arc::new(note.note_bytes().to_vec());
            }
            self.signed.send_modify(|sizes| sizes[log as usize] = size);
            signed += 1;
        }
        Ok(signed)
    }

    /// Is `(size, root)` of `log` a consistent extension of `last`?
    fn check(
        &self,
        store: &Store,
        log: LogId,
        last: &SignedHead,
        (size, root): (u64, Hash),
    ) -> Result<(), SignError> {
        let consistent = if size < last.size {
            false
        } else if size == last.size {
            root == last.root
        } else if last.size == 0 {
            true
        } else {
            let proof: Vec<Hash> = store.read(|r| {
                consistency_proof(&r.tree(log), last.size, size).map_err(|e| match e {
                    ProofRequestError::Store(e) => e,
                    _ => StoreError::MissingHash {
                        level: 0,
                        index: last.size,
                    },
                })
            })?;
            verify_consistency(last.size, size, &last.root, &root, &proof).is_ok()
        };
        if consistent {
            return Ok(());
        }
        let name = match log {
            LogId::Public => "public",
            LogId::Restricted => "restricted",
        };
        Err(SignError::Inconsistent(format!(
            "refusing to sign: the database's {name} log (size {size}, root {}) is not a consistent \
             extension of the last checkpoint this node signed (size {}, root {}, recorded in {}). \
             This happens after restoring a backup older than that checkpoint. Signing now would \
             publish a history that contradicts the signed one, which readers cannot tell from \
             tampering. To recover: restore a backup taken after that checkpoint (with at least {} \
             entries in the {name} log), or start a new log under a new origin and key \
             (`evfed-node init` in a new directory) and tell the aggregator.",
            root.to_base64(),
            last.size,
            last.root.to_base64(),
            self.home.signed_state_path().display(),
            last.size,
        )))
    }
}

/// The origin of `log` for a node with public origin `origin`.
pub fn log_origin(origin: &str, log: LogId) -> String {
    match log {
        LogId::Public => origin.to_owned(),
        LogId::Restricted => restricted_origin(origin),
    }
}

fn state_head(state: &SignedState, log: LogId) -> SignedHead {
    match log {
        LogId::Public => state.public,
        LogId::Restricted => state.restricted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{init, unix_now};
    use crate::config::Kind;
    use crate::store::Store;

    #[test]
    fn an_unchanged_log_gets_a_heartbeat_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("node");
        let origin = "evfed.heartbeat.example".parse().unwrap();
        init(&dir, &origin, Kind::Cpo, None, None, &[]).unwrap();
        let home = Home::new(&dir);
        let store = Store::open(&home.database_path()).unwrap();
        let now = unix_now();
        let signer = Signer::open(home, origin.as_str(), &store, now).unwrap();
        assert_eq!(signer.sign_grown(&store, now, false).unwrap(), 0);
        let later = now + HEARTBEAT_SECONDS;
        assert_eq!(signer.sign_grown(&store, later, false).unwrap(), 2);
        let note = signer.note(LogId::Public);
        let text = String::from_utf8_lossy(&note);
        assert!(text.contains(&format!("time {later}")), "{text}");
        // Fresh again: nothing more to sign.
        assert_eq!(signer.sign_grown(&store, later + 1, false).unwrap(), 0);
    }
}
