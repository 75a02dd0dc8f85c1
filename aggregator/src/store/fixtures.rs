//! What the store's unit tests share: a store on a real SQLite file in a temporary directory,
//! members, and batches verified against a really signed checkpoint.

use evfed_spec::checkpoint::{Checkpoint, EntryBatch};
use evfed_spec::merkle::{self, Frontier};
use evfed_spec::note::SigningKey;
use evfed_spec::trust::{Unverified, Verified};

use super::{Kind, NewMember, Store};

/// A fresh store in its own temporary directory (kept alive by the returned guard).
pub fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("aggregator.db")).expect("open");
    (dir, store)
}

/// A CPO member publishing for `GB*AAA` only.
pub fn member(origin: &str) -> NewMember {
    NewMember {
        origin: origin.into(),
        url: format!("https://{origin}"),
        kind: Kind::Cpo,
        parties: vec!["GB*AAA".parse().expect("party")],
        borough: None,
        supplier: Some("acme".into()),
        usage_token: None,
        vkeys: vec![key(origin).verifier().to_string()],
    }
}

/// The signing key of `origin`'s log.
pub fn key(origin: &str) -> SigningKey {
    SigningKey::from_seed(origin, &[7; 32]).expect("key")
}

/// `entries` after the `have` already applied, as a batch verified against a checkpoint that
/// `origin`'s key signed over all of them: the batch, the frontier it reaches and the note.
pub fn verified(
    origin: &str,
    all: &[Vec<u8>],
    have: usize,
) -> (Verified<EntryBatch>, Frontier, Vec<u8>) {
    let key = key(origin);
    let note = Checkpoint {
        origin: origin.into(),
        tree_size: all.len() as u64,
        root: merkle::root_of_entries(all),
        time: 1_790_000_000,
    }
    .sign(&key)
    .expect("sign")
    .note_bytes()
    .to_vec();
    let cp = Unverified::new(note.clone())
        .verify_checkpoint(std::slice::from_ref(key.verifier()))
        .expect("checkpoint");
    let mut base = Frontier::new();
    for e in &all[..have] {
        base.append(e);
    }
    let (batch, frontier) = Unverified::new(EntryBatch {
        start: have as u64,
        entries: all[have..].to_vec(),
    })
    .verify_prefix(&base, &cp, &[])
    .expect("batch");
    (batch, frontier, note)
}
