//! Checkpoints: C2SP tlog-checkpoint bodies (origin, tree size, root hash) with evfed's one
//! extension line `time <POSIX seconds>`, signed as C2SP signed notes.

use std::fmt::Write as _;

use crate::merkle::{self, Frontier, Hash};
use crate::note::{self, NoteError, SigningKey, VerifierKey};
use crate::trust::{Unverified, Verified};

/// The longest origin line accepted.
pub const MAX_ORIGIN_LEN: usize = 255;

/// Appended to a node's origin to name its restricted log (usage records, unpublished
/// locations). Both logs share one format and one signing key.
pub const RESTRICTED_SUFFIX: &str = "/restricted";

/// The origin of the restricted log of the node whose public log is `origin`.
pub fn restricted_origin(origin: &str) -> String {
    format!("{origin}{RESTRICTED_SUFFIX}")
}

/// A log's signed claim: the tree of `tree_size` entries has root `root`; the signer says it
/// signed at `time` (its own claim, which witnesses do not vouch for; readers record when they
/// received it beside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub tree_size: u64,
    pub root: Hash,
    /// POSIX seconds.
    pub time: u64,
}

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error("malformed checkpoint body: {0}")]
    Body(&'static str),
}

impl CheckpointError {
    /// The verdict names used in `spec/testdata/vectors/checkpoints.json`.
    pub fn verdict(&self) -> &'static str {
        match self {
            CheckpointError::Note(NoteError::InvalidSignature { .. }) => "invalid-signature",
            CheckpointError::Note(NoteError::NoKnownSignature) => "unknown-key",
            CheckpointError::Note(NoteError::Malformed(_) | NoteError::BadText)
            | CheckpointError::Body(_) => "malformed",
        }
    }
}

impl Checkpoint {
    /// The note text: `<origin>\n<size>\n<base64 root>\ntime <seconds>\n`.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(self.origin.len() + 80);
        let _ = write!(
            s,
            "{}\n{}\n{}\ntime {}\n",
            self.origin,
            self.tree_size,
            self.root.to_base64(),
            self.time
        );
        s
    }

    /// Parses exactly four lines; anything else is malformed.
    pub fn parse_text(text: &str) -> Result<Self, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Body("does not end in a newline"))?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root), Some(time), None) = (
            lines.next(),
            lines.next(),
            lines.next(),
            lines.next(),
            lines.next(),
        ) else {
            return Err(CheckpointError::Body(
                "expected origin, tree size, root hash and one `time` line",
            ));
        };
        check_origin(origin)?;
        let tree_size = parse_decimal(size).ok_or(CheckpointError::Body(
            "tree size is not a decimal without leading zeros",
        ))?;
        let hash = Hash::from_base64(root).filter(|h| h.to_base64() == root);
        let root = hash.ok_or(CheckpointError::Body(
            "root hash is not the base64 of 32 bytes",
        ))?;
        let time =
            time.strip_prefix("time ")
                .and_then(parse_decimal)
                .ok_or(CheckpointError::Body(
                    "last line must be `time <POSIX seconds>`",
                ))?;
        Ok(Self {
            origin: origin.to_owned(),
            tree_size,
            root,
            time,
        })
    }

    /// Signs this checkpoint as a note with `key` (whose name should be the origin).
    pub fn sign(&self, key: &SigningKey) -> Result<SignedCheckpoint, CheckpointError> {
        self.sign_with(&[key])
    }

    /// Signs with several keys in order, e.g. the current key and, for a while after a
    /// rotation, the previous one.
    pub fn sign_with(&self, keys: &[&SigningKey]) -> Result<SignedCheckpoint, CheckpointError> {
        check_origin(&self.origin)?;
        let text = self.to_text();
        let note = note::sign(&text, keys)?;
        Ok(SignedCheckpoint {
            note: note.into_bytes(),
            checkpoint: self.clone(),
            signed_by: keys.iter().map(|k| k.name().to_owned()).collect(),
        })
    }
}

fn check_origin(origin: &str) -> Result<(), CheckpointError> {
    let bad = |c: char| c.is_control() || c.is_whitespace() || c == '+';
    if origin.is_empty() || origin.len() > MAX_ORIGIN_LEN || origin.chars().any(bad) {
        return Err(CheckpointError::Body(
            "origin must be 1 to 255 bytes without white space, control characters or '+'",
        ));
    }
    Ok(())
}

fn parse_decimal(s: &str) -> Option<u64> {
    let ok =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if ok { s.parse().ok() } else { None }
}

/// A checkpoint together with the exact note bytes it was read from (stored and served verbatim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    note: Vec<u8>,
    checkpoint: Checkpoint,
    signed_by: Vec<String>,
}

impl SignedCheckpoint {
    pub fn note_bytes(&self) -> &[u8] {
        &self.note
    }

    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// Names of the trusted keys whose signatures verified.
    pub fn signed_by(&self) -> &[String] {
        &self.signed_by
    }
}

impl Unverified<Vec<u8>> {
    /// Verifies a checkpoint note against trusted keys, then parses its body. The signature is
    /// checked over the bytes as received; nothing is re-encoded.
    pub fn verify_checkpoint(
        self,
        keys: &[VerifierKey],
    ) -> Result<Verified<SignedCheckpoint>, CheckpointError> {
        let note = self.into_inner();
        let opened = note::open(&note, keys)?;
        let checkpoint = Checkpoint::parse_text(&opened.text)?;
        Ok(Verified::new(SignedCheckpoint {
            note,
            checkpoint,
            signed_by: opened.verified_by,
        }))
    }
}

/// A run of consecutive log entries, `start..start + entries.len()`, as exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryBatch {
    pub start: u64,
    pub entries: Vec<Vec<u8>>,
}

/// Why a batch of entries was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("batch starts at {start} but the verified tree has {have} entries")]
    Gap { start: u64, have: u64 },
    #[error("batch ends at {end} but the checkpoint covers {tree_size} entries")]
    Length { end: u64, tree_size: u64 },
    #[error("entries do not hash to the checkpoint's root")]
    RootMismatch,
    #[error("batch ends at {end}, beyond the checkpoint's {tree_size} entries")]
    Beyond { end: u64, tree_size: u64 },
    #[error("the entries are not a prefix of the checkpoint's tree: {0}")]
    NotPrefix(merkle::ProofError),
}

impl Unverified<EntryBatch> {
    /// Checks that `base` (the frontier of everything verified so far) extended by these entries
    /// is exactly the tree the checkpoint signs. Success also proves the checkpoint is an
    /// append-only extension of the tree `base` came from. Returns the verified batch and the
    /// new frontier.
    pub fn verify_against(
        self,
        base: &Frontier,
        checkpoint: &Verified<SignedCheckpoint>,
    ) -> Result<(Verified<EntryBatch>, Frontier), BatchError> {
        let batch = self.into_inner();
        if batch.start != base.size() {
            return Err(BatchError::Gap {
                start: batch.start,
                have: base.size(),
            });
        }
        let end = batch.start + batch.entries.len() as u64;
        let cp = checkpoint.checkpoint();
        if end != cp.tree_size {
            return Err(BatchError::Length {
                end,
                tree_size: cp.tree_size,
            });
        }
        let mut frontier = base.clone();
        for leaf in merkle::leaf_hashes(&batch.entries) {
            frontier.push(leaf);
        }
        if frontier.root() != cp.root {
            return Err(BatchError::RootMismatch);
        }
        Ok((Verified::new(batch), frontier))
    }

    /// Like [`verify_against`](Self::verify_against) for a batch that may end before the
    /// checkpoint's tree does: `proof` is the consistency proof (§8.3) from the batch's end to
    /// the checkpoint's size, which shows that the tree `base` extended by these entries is a
    /// prefix of the signed one. A reader can so apply a long log in bounded pieces, each
    /// verified before it is applied. A batch that reaches the checkpoint's size needs no proof.
    pub fn verify_prefix(
        self,
        base: &Frontier,
        checkpoint: &Verified<SignedCheckpoint>,
        proof: &[Hash],
    ) -> Result<(Verified<EntryBatch>, Frontier), BatchError> {
        let inner = self.unauthenticated_inner();
        let end = inner.start + inner.entries.len() as u64;
        let tree_size = checkpoint.checkpoint().tree_size;
        if end == tree_size {
            return self.verify_against(base, checkpoint);
        }
        if end > tree_size {
            return Err(BatchError::Beyond { end, tree_size });
        }
        let batch = self.into_inner();
        if batch.start != base.size() {
            return Err(BatchError::Gap {
                start: batch.start,
                have: base.size(),
            });
        }
        let mut frontier = base.clone();
        for leaf in merkle::leaf_hashes(&batch.entries) {
            frontier.push(leaf);
        }
        merkle::verify_consistency(
            end,
            tree_size,
            &frontier.root(),
            &checkpoint.checkpoint().root,
            proof,
        )
        .map_err(BatchError::NotPrefix)?;
        Ok((Verified::new(batch), frontier))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::MemoryTree;

    fn key() -> SigningKey {
        SigningKey::from_seed("london.example/node", &[9; 32]).unwrap()
    }

    #[test]
    fn text_round_trip() {
        let cp = Checkpoint {
            origin: "london.example/node".into(),
            tree_size: 12,
            root: merkle::empty_root(),
            time: 1_790_000_000,
        };
        assert_eq!(Checkpoint::parse_text(&cp.to_text()).unwrap(), cp);
        for bad in [
            "o\n012\nx\ntime 1\n",
            "o o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\ntime 1\n",
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\ntime 1\nextra\n",
        ] {
            assert!(Checkpoint::parse_text(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn restricted_log_has_its_own_valid_origin() {
        let o = restricted_origin("evfed.camden.example");
        assert_eq!(o, "evfed.camden.example/restricted");
        let cp = Checkpoint {
            origin: o,
            tree_size: 0,
            root: merkle::empty_root(),
            time: 1,
        };
        assert!(cp.sign(&key()).is_ok());
    }

    #[test]
    fn a_prefix_verifies_with_a_consistency_proof_and_a_forged_one_does_not() {
        let entries: Vec<Vec<u8>> = (0..10).map(|i| vec![i; 5]).collect();
        let tree = MemoryTree::from_entries(&entries);
        let k = key();
        let cp = Checkpoint {
            origin: "london.example/node".into(),
            tree_size: 10,
            root: tree.root(),
            time: 5,
        };
        let signed = Unverified::new(cp.sign(&k).unwrap().note_bytes().to_vec())
            .verify_checkpoint(&[k.verifier().clone()])
            .unwrap();
        let base = Frontier::from_tree(&tree, 2).unwrap();
        let proof = tree.consistency_proof(6, 10).unwrap();
        let batch = |entries: &[Vec<u8>]| {
            Unverified::new(EntryBatch {
                start: 2,
                entries: entries.to_vec(),
            })
        };
        let (_, next) = batch(&entries[2..6])
            .verify_prefix(&base, &signed, &proof)
            .unwrap();
        assert_eq!(next.size(), 6);
        let (_, last) = Unverified::new(EntryBatch {
            start: 6,
            entries: entries[6..].to_vec(),
        })
        .verify_prefix(&next, &signed, &[])
        .unwrap();
        assert_eq!(last.root(), tree.root());

        let mut altered = entries[2..6].to_vec();
        altered[1][0] ^= 1;
        assert!(matches!(
            batch(&altered).verify_prefix(&base, &signed, &proof),
            Err(BatchError::NotPrefix(_))
        ));
        assert!(
            batch(&entries[2..])
                .verify_prefix(&base, &signed, &[])
                .is_ok()
        );
    }

    #[test]
    fn verify_checkpoint_and_batch() {
        let entries: Vec<Vec<u8>> = (0..10).map(|i| vec![i; 5]).collect();
        let tree = MemoryTree::from_entries(&entries);
        let k = key();
        let cp = Checkpoint {
            origin: "london.example/node".into(),
            tree_size: 10,
            root: tree.root(),
            time: 5,
        };
        let signed = cp.sign(&k).unwrap();
        let verified = Unverified::new(signed.note_bytes().to_vec())
            .verify_checkpoint(&[k.verifier().clone()])
            .unwrap();
        assert_eq!(verified.checkpoint(), &cp);

        let base = Frontier::from_tree(&tree, 4).unwrap();
        let batch = EntryBatch {
            start: 4,
            entries: entries[4..].to_vec(),
        };
        let (_, f) = Unverified::new(batch.clone())
            .verify_against(&base, &verified)
            .unwrap();
        assert_eq!(f.root(), tree.root());

        let mut altered = batch.clone();
        altered.entries[2][0] ^= 1;
        assert_eq!(
            Unverified::new(altered)
                .verify_against(&base, &verified)
                .unwrap_err(),
            BatchError::RootMismatch
        );
        let short = EntryBatch {
            start: 4,
            entries: entries[4..9].to_vec(),
        };
        assert!(matches!(
            Unverified::new(short).verify_against(&base, &verified),
            Err(BatchError::Length { .. })
        ));
        let gap = EntryBatch {
            start: 5,
            entries: entries[5..].to_vec(),
        };
        assert!(matches!(
            Unverified::new(gap).verify_against(&base, &verified),
            Err(BatchError::Gap { .. })
        ));
    }
}
