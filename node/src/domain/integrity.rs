//! Is the stored log what this node signed? Readers re-hash every entry they fetch and check it
//! against a signed checkpoint, so a log changed in the database (by hand, by a bad disk) fails
//! every reader's verification. The node checks itself so that it notices first:
//!
//! - [`check_head`], at every start: cheap (O(log n) hash reads, plus re-hashing at most a few
//!   thousand of the newest entries). The log's right edge (its frontier) is checked against the
//!   entries that make it up, and the newest stored checkpoint's signature and root against the
//!   stored tree. The frontier's root is what `Signer::open` compares with `signed-state.json`.
//! - [`verify_log`], for `evfed-node verify`: every entry re-hashed, every stored subtree hash
//!   recomputed from the entries, every stored checkpoint's signature and root checked, and the
//!   last signed state of `signed-state.json`.
//!
//! Both name what differs: the entry's index, the subtree, the checkpoint's size.

use std::fmt;

use evfed_spec::merkle::{
    Frontier, Hash, TreeHashes, empty_root, leaf_hash, node_hash, range_root,
};
use evfed_spec::note::VerifierKey;
use evfed_spec::trust::Unverified;

use crate::domain::signer::log_origin;
use crate::home::SignedHead;
use crate::store::{LogId, Reader, StoreError, StoredCheckpoint};

/// The widest frontier subtree whose entries [`check_head`] re-hashes in full; wider ones have
/// their last entry checked up to the subtree's stored hash. The sum is under 2 × this.
pub const REHASH_AT_START: u64 = 4096;

/// Findings recorded per log before the rest are only counted.
const MAX_FINDINGS: usize = 50;

/// One way the stored log differs from what the node signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The entry's bytes do not hash to the leaf hash stored for it.
    EntryHash { index: u64 },
    /// Entries `from..to` are missing (the log's size says they exist).
    MissingEntries { from: u64, to: u64 },
    /// A stored subtree hash differs from the one computed from the entries.
    NodeHash { level: u32, index: u64 },
    /// A subtree hash the tree needs is not stored.
    MissingNode { level: u32, index: u64 },
    /// More or fewer subtree hashes are stored than a tree of this size has.
    NodeCount { stored: u64, expected: u64 },
    /// A stored checkpoint's note does not verify with the node's keys, or is not this log's.
    CheckpointNote { tree_size: u64, reason: String },
    /// A stored checkpoint's root differs from the root of the entries it covers, which lie
    /// in `since..tree_size` (`since`: the largest size whose checkpoint matched).
    CheckpointRoot { tree_size: u64, since: u64 },
    /// A stored checkpoint is larger than the log.
    CheckpointBeyondLog { tree_size: u64, size: u64 },
    /// The log's root at the size recorded in `signed-state.json` is not the one recorded.
    SignedRoot { tree_size: u64 },
    /// The log is shorter than what `signed-state.json` says was signed.
    ShorterThanSigned { size: u64, signed: u64 },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::EntryHash { index } => write!(
                f,
                "entry {index}: its bytes do not hash to the leaf hash stored for it \
                 (the entry was changed after it was logged)"
            ),
            Finding::MissingEntries { from, to } if to - from == 1 => {
                write!(f, "entry {from} is missing")
            }
            Finding::MissingEntries { from, to } => {
                write!(f, "entries {from} to {} are missing", to - 1)
            }
            Finding::NodeHash { level, index } => write!(
                f,
                "the stored hash of entries {} to {} (level {level}, index {index}) differs from \
                 the hash of those entries",
                index << level,
                ((index + 1) << level) - 1
            ),
            Finding::MissingNode { level, index } => write!(
                f,
                "the hash of entries {} to {} (level {level}, index {index}) is not stored",
                index << level,
                ((index + 1) << level) - 1
            ),
            Finding::NodeCount { stored, expected } => write!(
                f,
                "{stored} subtree hashes are stored where the tree has {expected}"
            ),
            Finding::CheckpointNote { tree_size, reason } => {
                write!(f, "the stored checkpoint of size {tree_size}: {reason}")
            }
            Finding::CheckpointRoot { tree_size, since } => write!(
                f,
                "the stored checkpoint of size {tree_size} signs a root that entries 0 to {} do \
                 not hash to (the change lies in entries {since} to {})",
                tree_size - 1,
                tree_size - 1
            ),
            Finding::CheckpointBeyondLog { tree_size, size } => write!(
                f,
                "a stored checkpoint covers {tree_size} entries but the log has only {size}"
            ),
            Finding::SignedRoot { tree_size } => write!(
                f,
                "the root of the first {tree_size} entries is not the one signed-state.json \
                 records for that size"
            ),
            Finding::ShorterThanSigned { size, signed } => write!(
                f,
                "the log has {size} entries but {signed} were signed (signed-state.json)"
            ),
        }
    }
}

/// What [`verify_log`] found in one log.
#[derive(Debug, Clone)]
pub struct LogReport {
    pub log: LogId,
    pub size: u64,
    /// Entries re-hashed.
    pub entries: u64,
    /// Stored subtree hashes compared with recomputed ones.
    pub nodes: u64,
    /// Stored checkpoints whose signature and root were checked.
    pub checkpoints: u64,
    /// The largest stored checkpoint's size (entries past it are signed at the next start).
    pub latest_checkpoint: Option<u64>,
    pub findings: Vec<Finding>,
    /// Findings beyond the first [`MAX_FINDINGS`], counted only.
    pub more: u64,
}

impl LogReport {
    pub fn ok(&self) -> bool {
        self.findings.is_empty()
    }

    fn add(&mut self, f: Finding) {
        if self.findings.len() < MAX_FINDINGS {
            self.findings.push(f);
        } else {
            self.more += 1;
        }
    }
}

/// How a log's tree should look: the node's origin and keys, and the last signed state if the
/// log must extend it (`None` for a backup, which may be older).
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub origin: &'a str,
    pub keys: &'a [VerifierKey],
    pub signed: Option<SignedHead>,
}

/// The full check of one log (see the module documentation). Reads every entry once; holds
/// only the frontier in memory.
pub fn verify_log(
    r: &Reader<'_>,
    log: LogId,
    expected: &Expected<'_>,
) -> Result<LogReport, StoreError> {
    let size = r.size(log)?;
    let mut report = LogReport {
        log,
        size,
        entries: 0,
        nodes: 0,
        checkpoints: 0,
        latest_checkpoint: None,
        findings: Vec::new(),
        more: 0,
    };
    // The roots to meet along the way: each stored checkpoint's (read a page at a time: a
    // node that signs every second stores tens of thousands a day), and the signed state's.
    let mut checkpoints = Checkpoints::new(r, log);
    let mut signed = match expected.signed {
        Some(s) if s.size > size => {
            report.add(Finding::ShorterThanSigned {
                size,
                signed: s.size,
            });
            None
        }
        other => other,
    };
    let mut matched = 0u64;
    let mut meet = |report: &mut LogReport, frontier: &Frontier| -> Result<(), StoreError> {
        let at = frontier.size();
        if let Some(s) = signed.filter(|s| s.size == at) {
            if frontier.root() != s.root {
                report.add(Finding::SignedRoot { tree_size: at });
            }
            signed = None;
        }
        while let Some(cp) = checkpoints.next_up_to(at)? {
            report.checkpoints += 1;
            report.latest_checkpoint = Some(cp.tree_size);
            match checkpoint_root(&cp, log, expected) {
                // Smaller sizes are only left behind by missing entries, already reported.
                Ok(root) if cp.tree_size == at => {
                    if frontier.root() == root {
                        matched = at;
                    } else {
                        report.add(Finding::CheckpointRoot {
                            tree_size: at,
                            since: matched,
                        });
                    }
                }
                Ok(_) => {}
                Err(reason) => report.add(Finding::CheckpointNote {
                    tree_size: cp.tree_size,
                    reason,
                }),
            }
        }
        Ok(())
    };

    let tree = r.tree(log);
    let mut frontier = Frontier::new();
    meet(&mut report, &frontier)?;
    let mut broken = false;
    r.scan_entries(log, 0, |index, bytes| {
        if index >= size {
            return Ok(());
        }
        if index != frontier.size() {
            report.add(Finding::MissingEntries {
                from: frontier.size(),
                to: index,
            });
            broken = true;
        }
        if broken {
            // Past a gap nothing lines up with the signed tree: the finding says enough.
            return Ok(());
        }
        let leaf = leaf_hash(bytes);
        report.entries += 1;
        // The stored hashes this leaf completes (as `Tx::append` stores them): the leaf must be
        // the entry's hash, and each parent the hash of its two stored children, so a changed
        // entry is reported once, as itself, and a damaged hash as that hash.
        let read = |report: &mut LogReport, level: u32, i: u64| match tree.subtree(level, i) {
            Ok(h) => Ok(Some(h)),
            Err(StoreError::MissingHash { .. }) => {
                report.add(Finding::MissingNode { level, index: i });
                Ok(None)
            }
            Err(e) => Err(e),
        };
        report.nodes += 1;
        let mut below = read(&mut report, 0, index)?;
        if below.is_some_and(|stored| stored != leaf) {
            report.add(Finding::EntryHash { index });
        }
        let (mut i, mut level) = (index, 0u32);
        while i & 1 == 1 {
            // Read before: its absence was reported when it was completed.
            let left = tree.subtree(level, i - 1).ok();
            report.nodes += 1;
            let parent = read(&mut report, level + 1, i >> 1)?;
            if let (Some(l), Some(r), Some(p)) = (left, below, parent)
                && node_hash(&l, &r) != p
            {
                report.add(Finding::NodeHash {
                    level: level + 1,
                    index: i >> 1,
                });
            }
            below = parent;
            i >>= 1;
            level += 1;
        }
        frontier.push(leaf);
        meet(&mut report, &frontier)?;
        Ok::<_, StoreError>(())
    })?;
    if !broken && frontier.size() < size {
        report.add(Finding::MissingEntries {
            from: frontier.size(),
            to: size,
        });
    }
    // What is left is larger than the log (or lies past missing entries).
    while let Some(cp) = checkpoints.next_up_to(u64::MAX)? {
        report.checkpoints += 1;
        report.latest_checkpoint = Some(cp.tree_size);
        if cp.tree_size > size {
            report.add(Finding::CheckpointBeyondLog {
                tree_size: cp.tree_size,
                size,
            });
        }
    }
    let stored = r.tree_node_count(log)?;
    let expected_nodes = nodes_in_tree(size);
    if stored != expected_nodes {
        report.add(Finding::NodeCount {
            stored,
            expected: expected_nodes,
        });
    }
    Ok(report)
}

/// A log's stored checkpoints in size order, read [`Checkpoints::PAGE`] at a time.
struct Checkpoints<'a, 'r> {
    r: &'a Reader<'r>,
    log: LogId,
    page: std::collections::VecDeque<StoredCheckpoint>,
    /// The size of the last checkpoint read.
    after: Option<u64>,
    done: bool,
}

impl<'a, 'r> Checkpoints<'a, 'r> {
    /// Small in unit tests, so that their few checkpoints span pages.
    const PAGE: u64 = if cfg!(test) { 2 } else { 1000 };

    fn new(r: &'a Reader<'r>, log: LogId) -> Self {
        Self {
            r,
            log,
            page: Default::default(),
            after: None,
            done: false,
        }
    }

    /// The next checkpoint, if its size is at most `size`.
    fn next_up_to(&mut self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        if self.page.is_empty() && !self.done {
            let page = self.r.checkpoints(self.log, self.after, Self::PAGE)?;
            self.done = (page.len() as u64) < Self::PAGE;
            self.after = page.last().map(|c| c.tree_size).or(self.after);
            self.page.extend(page);
        }
        if self.page.front().is_some_and(|c| c.tree_size <= size) {
            Ok(self.page.pop_front())
        } else {
            Ok(None)
        }
    }
}

/// The root a stored checkpoint signs, once its note verifies with `keys` and names this log.
fn checkpoint_root(
    cp: &StoredCheckpoint,
    log: LogId,
    expected: &Expected<'_>,
) -> Result<Hash, String> {
    let verified = Unverified::new(cp.note.clone())
        .verify_checkpoint(expected.keys)
        .map_err(|e| format!("its note does not verify with the node's keys ({e})"))?;
    let body = verified.checkpoint();
    let origin = log_origin(expected.origin, log);
    if body.origin != origin {
        return Err(format!("its origin is {}, not {origin}", body.origin));
    }
    if body.tree_size != cp.tree_size {
        return Err(format!(
            "it is stored as size {} but signs size {}",
            cp.tree_size, body.tree_size
        ));
    }
    Ok(body.root)
}

/// How many complete subtrees a tree of `size` leaves has (the rows `tree_node` holds).
fn nodes_in_tree(size: u64) -> u64 {
    (0..64).map(|level| size >> level).sum()
}

/// The start-up check of one log (see the module documentation): the first finding, if any.
pub fn check_head(
    r: &Reader<'_>,
    log: LogId,
    expected: &Expected<'_>,
) -> Result<Option<Finding>, StoreError> {
    let size = r.size(log)?;
    let tree = r.tree(log);
    // The frontier's subtrees, rightmost (newest entries) first.
    let mut subtrees = Vec::new();
    let mut start = 0u64;
    for level in (0..64u32).rev() {
        if size & (1 << level) != 0 {
            subtrees.push((level, start));
            start += 1 << level;
        }
    }
    for &(level, start) in subtrees.iter().rev() {
        let width = 1u64 << level;
        let stored = match tree.subtree(level, start >> level) {
            Ok(h) => h,
            Err(StoreError::MissingHash { level, index }) => {
                return Ok(Some(Finding::MissingNode { level, index }));
            }
            Err(e) => return Err(e),
        };
        let found = if width <= REHASH_AT_START {
            rehash_subtree(r, log, start, level, stored)?
        } else {
            last_leaf_path(r, log, start, level, stored)?
        };
        if found.is_some() {
            return Ok(found);
        }
    }
    // The newest checkpoint is what the node serves first: it must verify and sign this tree.
    if let Some((tree_size, note)) = r.latest_checkpoint(log)? {
        let cp = StoredCheckpoint { tree_size, note };
        if cp.tree_size > size {
            return Ok(Some(Finding::CheckpointBeyondLog {
                tree_size: cp.tree_size,
                size,
            }));
        }
        let root = match checkpoint_root(&cp, log, expected) {
            Ok(root) => root,
            Err(reason) => {
                return Ok(Some(Finding::CheckpointNote {
                    tree_size: cp.tree_size,
                    reason,
                }));
            }
        };
        match range_root(&tree, 0, cp.tree_size) {
            Ok(stored) if stored == root => {}
            Ok(_) => {
                return Ok(Some(Finding::CheckpointRoot {
                    tree_size: cp.tree_size,
                    since: 0,
                }));
            }
            Err(StoreError::MissingHash { level, index }) => {
                return Ok(Some(Finding::MissingNode { level, index }));
            }
            Err(e) => return Err(e),
        }
    } else if size == 0 && expected.signed.is_some_and(|s| s.root != empty_root()) {
        return Ok(Some(Finding::SignedRoot { tree_size: 0 }));
    }
    Ok(None)
}

/// Re-hashes entries `start..start + 2^level` and compares them with the stored hashes: each
/// leaf, then the subtree. Names the first entry that differs.
fn rehash_subtree(
    r: &Reader<'_>,
    log: LogId,
    start: u64,
    level: u32,
    stored: Hash,
) -> Result<Option<Finding>, StoreError> {
    let tree = r.tree(log);
    let end = start + (1u64 << level);
    let mut frontier = Frontier::new();
    let mut next = start;
    let mut found = None;
    r.scan_entries(log, start, |index, bytes| {
        if found.is_some() || index >= end {
            return Ok(());
        }
        if index != next {
            found = Some(Finding::MissingEntries {
                from: next,
                to: index,
            });
            return Ok(());
        }
        let leaf = leaf_hash(bytes);
        match tree.subtree(0, index) {
            Ok(h) if h == leaf => {}
            Ok(_) => found = Some(Finding::EntryHash { index }),
            Err(StoreError::MissingHash { level, index }) => {
                found = Some(Finding::MissingNode { level, index })
            }
            Err(e) => return Err(e),
        }
        frontier.push(leaf);
        next += 1;
        Ok::<_, StoreError>(())
    })?;
    if found.is_some() {
        return Ok(found);
    }
    if next < end {
        return Ok(Some(Finding::MissingEntries {
            from: next,
            to: end,
        }));
    }
    if frontier.root() != stored {
        return Ok(Some(Finding::NodeHash {
            level,
            index: start >> level,
        }));
    }
    Ok(None)
}

/// Hashes the last entry of the subtree `start..start + 2^level` and climbs to the subtree's
/// stored hash through the stored left siblings (the last leaf is a right child at every level).
fn last_leaf_path(
    r: &Reader<'_>,
    log: LogId,
    start: u64,
    level: u32,
    stored: Hash,
) -> Result<Option<Finding>, StoreError> {
    let tree = r.tree(log);
    let last = start + (1u64 << level) - 1;
    let Some(bytes) = r.entries(log, last, last + 1, usize::MAX)?.pop() else {
        return Ok(Some(Finding::MissingEntries {
            from: last,
            to: last + 1,
        }));
    };
    let mut hash = leaf_hash(&bytes);
    let read = |l: u32, i: u64| match tree.subtree(l, i) {
        Ok(h) => Ok(Ok(h)),
        Err(StoreError::MissingHash { level, index }) => {
            Ok(Err(Finding::MissingNode { level, index }))
        }
        Err(e) => Err(e),
    };
    match read(0, last)? {
        Ok(h) if h == hash => {}
        Ok(_) => return Ok(Some(Finding::EntryHash { index: last })),
        Err(f) => return Ok(Some(f)),
    }
    for l in 0..level {
        let sibling = match read(l, (last >> l) - 1)? {
            Ok(h) => h,
            Err(f) => return Ok(Some(f)),
        };
        hash = node_hash(&sibling, &hash);
    }
    if hash != stored {
        return Ok(Some(Finding::NodeHash {
            level,
            index: start >> level,
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use evfed_spec::checkpoint::Checkpoint;
    use evfed_spec::note::SigningKey;

    use super::*;
    use crate::store::Store;

    const ORIGIN: &str = "evfed.test.example";

    /// A store with `n` public entries and signed checkpoints at `sizes`.
    fn node(n: u64, sizes: &[u64]) -> (tempfile::TempDir, Store, SigningKey) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("t.db")).unwrap();
        let key = SigningKey::from_seed(ORIGIN, &[7; 32]).unwrap();
        let sign = |store: &Store| {
            let (size, root) = store.head(LogId::Public).unwrap();
            let cp = Checkpoint {
                origin: ORIGIN.into(),
                tree_size: size,
                root,
                time: 1,
            };
            let note = cp.sign(&key).unwrap();
            store
                .write(|tx| tx.put_checkpoint(LogId::Public, size, 1, note.note_bytes()))
                .unwrap();
        };
        sign(&store);
        for i in 0..n {
            let e = format!("{{\"n\":{i}}}");
            store
                .write(|tx| tx.append(LogId::Public, e.as_bytes()).map(|_| ()))
                .unwrap();
            if sizes.contains(&(i + 1)) {
                sign(&store);
            }
        }
        (dir, store, key)
    }

    fn tamper(store: &Store, index: u64) {
        store
            .damage_entry(LogId::Public, index, b"{\"n\":-1}")
            .unwrap();
    }

    fn full(store: &Store, key: &SigningKey) -> LogReport {
        let keys = [key.verifier().clone()];
        let exp = Expected {
            origin: ORIGIN,
            keys: &keys,
            signed: None,
        };
        store.read(|r| verify_log(r, LogId::Public, &exp)).unwrap()
    }

    fn start(store: &Store, key: &SigningKey) -> Option<Finding> {
        let keys = [key.verifier().clone()];
        let exp = Expected {
            origin: ORIGIN,
            keys: &keys,
            signed: None,
        };
        store.read(|r| check_head(r, LogId::Public, &exp)).unwrap()
    }

    #[test]
    fn an_untouched_log_verifies() {
        let (_d, store, key) = node(37, &[5, 20, 37]);
        let report = full(&store, &key);
        assert!(report.ok(), "{:?}", report.findings);
        assert_eq!((report.entries, report.checkpoints), (37, 4));
        assert_eq!(report.nodes, nodes_in_tree(37));
        assert_eq!(start(&store, &key), None);
    }

    #[test]
    fn a_changed_entry_is_named_by_both_checks() {
        let (_d, store, key) = node(37, &[37]);
        tamper(&store, 36);
        // The entries no longer hash to the signed root either.
        assert_eq!(
            full(&store, &key).findings,
            vec![
                Finding::EntryHash { index: 36 },
                Finding::CheckpointRoot {
                    tree_size: 37,
                    since: 0
                }
            ]
        );
        assert_eq!(start(&store, &key), Some(Finding::EntryHash { index: 36 }));
        let (_d, store, key) = node(37, &[37]);
        tamper(&store, 3);
        assert_eq!(
            full(&store, &key).findings[0],
            Finding::EntryHash { index: 3 }
        );
        assert_eq!(start(&store, &key), Some(Finding::EntryHash { index: 3 }));
    }

    #[test]
    fn a_damaged_interior_hash_is_named() {
        let (_d, store, key) = node(37, &[37]);
        store.damage_subtree(LogId::Public, 2, 3, &[0; 32]).unwrap();
        assert_eq!(
            full(&store, &key).findings,
            vec![
                Finding::NodeHash { level: 2, index: 3 },
                Finding::NodeHash { level: 3, index: 1 }
            ]
        );
    }

    #[test]
    fn a_rewritten_tree_fails_the_signed_checkpoints() {
        let (_d, store, key) = node(10, &[4, 10]);
        // Entry 6 and every stored hash above it changed consistently: only signatures tell.
        for i in 0..10u64 {
            let e = if i == 6 {
                "{\"n\":-1}".to_owned()
            } else {
                format!("{{\"n\":{i}}}")
            };
            store.damage_entry(LogId::Public, i, e.as_bytes()).unwrap();
        }
        let rebuilt = evfed_spec::merkle::MemoryTree::from_entries(
            &(0..10u64)
                .map(|i| {
                    if i == 6 {
                        "{\"n\":-1}".to_owned()
                    } else {
                        format!("{{\"n\":{i}}}")
                    }
                })
                .collect::<Vec<_>>(),
        );
        for level in 0..4u32 {
            for idx in 0..(10u64 >> level) {
                let h = rebuilt.subtree(level, idx).unwrap();
                store
                    .damage_subtree(LogId::Public, level, idx, &h.0)
                    .unwrap();
            }
        }
        assert_eq!(
            full(&store, &key).findings,
            vec![Finding::CheckpointRoot {
                tree_size: 10,
                since: 4
            }]
        );
        assert_eq!(
            start(&store, &key),
            Some(Finding::CheckpointRoot {
                tree_size: 10,
                since: 0
            })
        );
    }

    #[test]
    fn a_deleted_entry_and_a_forged_checkpoint_are_found() {
        let (_d, store, key) = node(9, &[9]);
        store.damage_delete_entry(LogId::Public, 2).unwrap();
        let findings = full(&store, &key).findings;
        assert_eq!(findings[0], Finding::MissingEntries { from: 2, to: 3 });
        let (_d, store, key) = node(9, &[9]);
        let other = SigningKey::from_seed(ORIGIN, &[8; 32]).unwrap();
        let cp = Checkpoint {
            origin: ORIGIN.into(),
            tree_size: 9,
            root: store.head(LogId::Public).unwrap().1,
            time: 2,
        };
        let note = cp.sign(&other).unwrap();
        store
            .write(|tx| tx.put_checkpoint(LogId::Public, 9, 2, note.note_bytes()))
            .unwrap();
        assert!(matches!(
            start(&store, &key),
            Some(Finding::CheckpointNote { tree_size: 9, .. })
        ));
        assert!(matches!(
            full(&store, &key).findings[..],
            [Finding::CheckpointNote { tree_size: 9, .. }]
        ));
    }
}
