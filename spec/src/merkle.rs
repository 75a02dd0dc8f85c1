//! RFC 9162 §2.1 Merkle trees: hashing, roots, inclusion and consistency proofs.
//!
//! A leaf hash is `SHA-256(0x00 ‖ entry bytes)` and an interior node `SHA-256(0x01 ‖ left ‖
//! right)`; the tree over `n` leaves splits at the largest power of two smaller than `n`, so the
//! right edge may be unbalanced. The empty tree's root is `SHA-256("")`.
//!
//! Proof generation is written once against [`TreeHashes`], which answers "the hash of the
//! perfect subtree at level `l`, index `i`": [`MemoryTree`] implements it in memory, a node's
//! store implements it over its database.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

/// A SHA-256 tree hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub const LEN: usize = 32;

    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }

    /// Parses standard base64 (RFC 4648 §4, padded) of exactly 32 bytes.
    pub fn from_base64(s: &str) -> Option<Self> {
        let bytes = B64.decode(s).ok()?;
        Self::from_slice(&bytes)
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…")
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(entry);
    Hash(h.finalize().into())
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// The root over a list of leaf hashes (MTH of RFC 9162 §2.1.1), on all cores when large.
pub fn root(leaves: &[Hash]) -> Hash {
    chunked_root(leaves, |part| {
        let mut level = part.to_vec();
        reduce(&mut level)
    })
}

/// Leaf hashes and root of many entries in one pass: each core hashes and reduces its own
/// aligned chunk, so the leaf hashes never leave the cache-sized working set of one thread.
pub fn root_of_entries<E: AsRef<[u8]> + Sync>(entries: &[E]) -> Hash {
    chunked_root(entries, |part| {
        let mut level: Vec<Hash> = part.iter().map(|e| leaf_hash(e.as_ref())).collect();
        reduce(&mut level)
    })
}

/// Splits `items` into power-of-two aligned chunks, one per worker, reduces each to its root
/// with `chunk_root`, then reduces the chunk roots. Aligned chunks are nodes of the RFC 9162
/// tree (the last one possibly unbalanced), so reducing their roots bottom-up yields MTH.
fn chunked_root<I: Sync>(items: &[I], chunk_root: impl Fn(&[I]) -> Hash + Sync) -> Hash {
    let threads = worker_count(items.len());
    if threads <= 1 {
        return chunk_root(items);
    }
    let chunk = items.len().div_ceil(threads).next_power_of_two();
    let chunk_root = &chunk_root;
    let mut roots: Vec<Hash> = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || chunk_root(part)))
            .collect();
        // A worker only hashes; it cannot panic short of memory exhaustion.
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    reduce(&mut roots)
}

/// Reduces one level of hashes to its root in place: pairs hashed, an odd last node carried up
/// unchanged (RFC 9162's split at the largest power of two gives exactly this shape).
fn reduce(level: &mut Vec<Hash>) -> Hash {
    if level.is_empty() {
        return empty_root();
    }
    while level.len() > 1 {
        let n = level.len();
        for i in 0..n / 2 {
            let h = node_hash(&level[2 * i], &level[2 * i + 1]);
            level[i] = h;
        }
        if n % 2 == 1 {
            level[n / 2] = level[n - 1];
        }
        level.truncate(n.div_ceil(2));
    }
    level[0]
}

/// Leaf hashes of many entries, spread over the available cores.
pub fn leaf_hashes<E: AsRef<[u8]> + Sync>(entries: &[E]) -> Vec<Hash> {
    let threads = worker_count(entries.len());
    if threads <= 1 {
        return entries.iter().map(|e| leaf_hash(e.as_ref())).collect();
    }
    let chunk = entries.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = entries
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|e| leaf_hash(e.as_ref()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(entries.len());
        for h in handles {
            // A worker only hashes; it cannot panic short of memory exhaustion.
            if let Ok(part) = h.join() {
                out.extend(part);
            }
        }
        out
    })
}

fn worker_count(items: usize) -> usize {
    // Below this, thread start-up costs more than it saves.
    const MIN_PER_THREAD: usize = 4096;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(items / MIN_PER_THREAD).max(1)
}

/// Read access to the hashes of complete subtrees of one append-only tree.
///
/// `subtree(level, index)` is the root of the perfect subtree over leaves
/// `[index·2^level, (index+1)·2^level)`. Callers only ask for subtrees that lie wholly inside the
/// tree size they are working on.
pub trait TreeHashes {
    type Error;
    fn subtree(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// Why a proof could not be produced.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofRequestError<E> {
    #[error("index {index} is not below tree size {tree_size}")]
    IndexOutOfRange { index: u64, tree_size: u64 },
    #[error("tree sizes must satisfy 1 <= first <= second, got first {first}, second {second}")]
    BadRange { first: u64, second: u64 },
    #[error("tree size {tree_size} is larger than the tree ({available})")]
    SizeOutOfRange { tree_size: u64, available: u64 },
    #[error("reading tree hashes")]
    Store(#[source] E),
}

/// MTH(D[start:end]) for a range that is a node of some RFC 9162 tree: `start` is a multiple of
/// the largest power of two not above `end - start` (every range the proofs below visit is).
pub fn range_root<T: TreeHashes + ?Sized>(
    tree: &T,
    start: u64,
    end: u64,
) -> Result<Hash, T::Error> {
    let len = end - start;
    if len == 0 {
        return Ok(empty_root());
    }
    if len.is_power_of_two() && start.is_multiple_of(len) {
        let level = len.trailing_zeros();
        return tree.subtree(level, start >> level);
    }
    let k = split_point(len);
    let left = range_root(tree, start, start + k)?;
    let right = range_root(tree, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// The largest power of two strictly smaller than `n` (n ≥ 2).
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The inclusion proof PATH(index, D[0:tree_size]) of RFC 9162 §2.1.3.1, leaf-side first.
pub fn inclusion_proof<T: TreeHashes + ?Sized>(
    tree: &T,
    index: u64,
    tree_size: u64,
) -> Result<Vec<Hash>, ProofRequestError<T::Error>> {
    if index >= tree_size {
        return Err(ProofRequestError::IndexOutOfRange { index, tree_size });
    }
    let mut path = Vec::new();
    let (mut start, mut end, mut m) = (0u64, tree_size, index);
    // Walk down, collecting siblings root-side first, then reverse.
    while end - start > 1 {
        let k = split_point(end - start);
        if m < k {
            path.push(range_root(tree, start + k, end).map_err(ProofRequestError::Store)?);
            end = start + k;
        } else {
            path.push(range_root(tree, start, start + k).map_err(ProofRequestError::Store)?);
            start += k;
            m -= k;
        }
    }
    path.reverse();
    Ok(path)
}

/// The consistency proof PROOF(first, D[0:second]) of RFC 9162 §2.1.4.1.
pub fn consistency_proof<T: TreeHashes + ?Sized>(
    tree: &T,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, ProofRequestError<T::Error>> {
    if first == 0 || first > second {
        return Err(ProofRequestError::BadRange { first, second });
    }
    let mut proof = Vec::new();
    let (mut start, mut end, mut m, mut complete) = (0u64, second, first, true);
    loop {
        let n = end - start;
        if m == n {
            if !complete {
                proof.push(range_root(tree, start, end).map_err(ProofRequestError::Store)?);
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            proof.push(range_root(tree, start + k, end).map_err(ProofRequestError::Store)?);
            end = start + k;
        } else {
            proof.push(range_root(tree, start, start + k).map_err(ProofRequestError::Store)?);
            start += k;
            m -= k;
            complete = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("index {index} is not below tree size {tree_size}")]
    IndexOutOfRange { index: u64, tree_size: u64 },
    #[error("tree sizes must satisfy first <= second, got first {first}, second {second}")]
    BadRange { first: u64, second: u64 },
    #[error("proof has the wrong number of hashes for these tree sizes")]
    WrongLength,
    #[error("proof does not lead to the expected root")]
    RootMismatch,
    #[error("a proof between equal tree sizes must be empty and the roots equal")]
    EqualSizes,
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= tree_size {
        return Err(ProofError::IndexOutOfRange { index, tree_size });
    }
    let (mut fn_, mut sn) = (index, tree_size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof between two tree heads (RFC 9162 §2.1.4.2). A first size of 0
/// is consistent with anything and takes an empty proof.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if first > second {
        return Err(ProofError::BadRange { first, second });
    }
    if first == second {
        return if proof.is_empty() && first_root == second_root {
            Ok(())
        } else {
            Err(ProofError::EqualSizes)
        };
    }
    if first == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(ProofError::WrongLength)
        };
    }
    // If first is a power of two, the first root is itself the first node of the path.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let Some((seed, rest)) = path.split_first() else {
        return Err(ProofError::WrongLength);
    };
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *first_root || sr != *second_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The right edge of a tree: the roots of the perfect subtrees that make up `[0, size)`, largest
/// first (one per set bit of `size`). Enough to append leaves and compute the new root without
/// the rest of the tree; a verifier keeps one per log it follows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the frontier of `tree` at `size` (O(log n) subtree reads).
    pub fn from_tree<T: TreeHashes + ?Sized>(tree: &T, size: u64) -> Result<Self, T::Error> {
        let mut hashes = Vec::new();
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            let width = 1u64 << level;
            if size & width != 0 {
                hashes.push(tree.subtree(level, start >> level)?);
                start += width;
            }
        }
        Ok(Self { size, hashes })
    }

    /// Rebuilds a frontier from its parts, e.g. as stored by a verifier. `None` when the number
    /// of hashes does not match `size`.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Option<Self> {
        (hashes.len() == size.count_ones() as usize).then_some(Self { size, hashes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut s = self.size;
        while s & 1 == 1 {
            match self.hashes.pop() {
                Some(left) => h = node_hash(&left, &h),
                None => break,
            }
            s >>= 1;
        }
        self.hashes.push(h);
        self.size += 1;
    }

    pub fn append(&mut self, entry: &[u8]) {
        self.push(leaf_hash(entry));
    }

    pub fn root(&self) -> Hash {
        let mut it = self.hashes.iter().rev();
        let Some(last) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// An append-only tree held in memory: every complete subtree hash, level by level
/// (`levels[0]` are the leaf hashes). Appending is amortised O(1); roots and proofs for any
/// size up to the current one are O(log n).
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds the tree over `entries`, hashing leaves and the lower levels on all cores.
    pub fn from_entries<E: AsRef<[u8]> + Sync>(entries: &[E]) -> Self {
        let threads = worker_count(entries.len());
        if threads <= 1 {
            let mut t = Self::new();
            for e in entries {
                t.push(leaf_hash(e.as_ref()));
            }
            return t;
        }
        // Aligned power-of-two chunks: every chunk's subtrees are complete subtrees of the
        // whole tree, so workers build their levels independently and the results concatenate.
        let chunk = entries.len().div_ceil(threads).next_power_of_two();
        let parts: Vec<Vec<Vec<Hash>>> = std::thread::scope(|s| {
            let handles: Vec<_> = entries
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        let mut levels = vec![
                            part.iter()
                                .map(|e| leaf_hash(e.as_ref()))
                                .collect::<Vec<_>>(),
                        ];
                        while let Some(top) = levels.last().filter(|l| l.len() > 1) {
                            let up = complete_parents(top);
                            levels.push(up);
                        }
                        levels
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        let mut levels: Vec<Vec<Hash>> = Vec::new();
        for part in parts {
            for (l, hashes) in part.into_iter().enumerate() {
                if levels.len() <= l {
                    levels.push(Vec::new());
                }
                if let Some(level) = levels.get_mut(l) {
                    level.extend(hashes);
                }
            }
        }
        let mut t = Self { levels };
        t.complete_upper_levels();
        t
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends one leaf hash, completing every subtree it closes.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let Some(row) = self.levels.get_mut(level) else {
                return;
            };
            row.push(h);
            if row.len() % 2 == 1 {
                return;
            }
            let [l, r] = row[row.len() - 2..] else { return };
            h = node_hash(&l, &r);
            level += 1;
        }
    }

    /// Appends an entry (its leaf hash).
    pub fn append(&mut self, entry: &[u8]) {
        self.push(leaf_hash(entry));
    }

    /// The root at the current size.
    pub fn root(&self) -> Hash {
        self.root_at(self.size()).unwrap_or_else(|_| empty_root())
    }

    /// The root at any earlier size.
    pub fn root_at(&self, tree_size: u64) -> Result<Hash, ProofRequestError<SubtreeMissing>> {
        if tree_size > self.size() {
            return Err(ProofRequestError::SizeOutOfRange {
                tree_size,
                available: self.size(),
            });
        }
        range_root(self, 0, tree_size).map_err(ProofRequestError::Store)
    }

    pub fn inclusion_proof(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<Vec<Hash>, ProofRequestError<SubtreeMissing>> {
        self.check_size(tree_size)?;
        inclusion_proof(self, index, tree_size)
    }

    pub fn consistency_proof(
        &self,
        first: u64,
        second: u64,
    ) -> Result<Vec<Hash>, ProofRequestError<SubtreeMissing>> {
        self.check_size(second)?;
        consistency_proof(self, first, second)
    }

    fn check_size(&self, tree_size: u64) -> Result<(), ProofRequestError<SubtreeMissing>> {
        if tree_size > self.size() {
            return Err(ProofRequestError::SizeOutOfRange {
                tree_size,
                available: self.size(),
            });
        }
        Ok(())
    }

    /// After concatenating chunk levels, builds the complete subtrees that span chunks.
    fn complete_upper_levels(&mut self) {
        let mut l = 0;
        while let Some(row) = self.levels.get(l) {
            let want = row.len() / 2;
            let have = self.levels.get(l + 1).map_or(0, Vec::len);
            if want > have {
                let extra: Vec<Hash> = row[have * 2..want * 2]
                    .chunks_exact(2)
                    .filter_map(|p| match p {
                        [a, b] => Some(node_hash(a, b)),
                        _ => None,
                    })
                    .collect();
                if self.levels.len() <= l + 1 {
                    self.levels.push(Vec::new());
                }
                if let Some(up) = self.levels.get_mut(l + 1) {
                    up.extend(extra);
                }
            }
            l += 1;
        }
    }
}

/// Pairs of a level hashed, dropping an odd last node (it is not a complete subtree).
fn complete_parents(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks_exact(2)
        .filter_map(|p| match p {
            [a, b] => Some(node_hash(a, b)),
            _ => None,
        })
        .collect()
}

/// A [`MemoryTree`] was asked for a subtree it does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("subtree at level {level}, index {index} is not complete in this tree")]
pub struct SubtreeMissing {
    pub level: u32,
    pub index: u64,
}

impl TreeHashes for MemoryTree {
    type Error = SubtreeMissing;
    fn subtree(&self, level: u32, index: u64) -> Result<Hash, SubtreeMissing> {
        self.levels
            .get(level as usize)
            .and_then(|row| row.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(SubtreeMissing { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MTH straight from the RFC's recursive definition, as the reference.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn entries(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("entry {i}").into_bytes()).collect()
    }

    #[test]
    fn roots_match_the_recursive_definition() {
        let mut t = MemoryTree::new();
        let mut leaves = Vec::new();
        for (i, e) in entries(70).iter().enumerate() {
            assert_eq!(t.root(), mth(&leaves), "size {i}");
            t.append(e);
            leaves.push(leaf_hash(e));
            assert_eq!(root(&leaves), mth(&leaves));
        }
        for size in 0..=70u64 {
            assert_eq!(t.root_at(size).unwrap(), mth(&leaves[..size as usize]));
        }
    }

    #[test]
    fn parallel_build_equals_appends() {
        for n in [0usize, 1, 5, 8191, 8192, 8193, 20_001] {
            let es = entries(n);
            let par = MemoryTree::from_entries(&es);
            let mut seq = MemoryTree::new();
            for e in &es {
                seq.append(e);
            }
            assert_eq!(par.root(), seq.root(), "n = {n}");
            assert_eq!(par.levels, seq.levels, "n = {n}");
            assert_eq!(root(&leaf_hashes(&es)), seq.root());
            assert_eq!(root_of_entries(&es), seq.root());
        }
    }

    #[test]
    fn every_proof_verifies_and_tampering_fails() {
        let es = entries(33);
        let t = MemoryTree::from_entries(&es);
        for n in 1..=33u64 {
            let r = t.root_at(n).unwrap();
            for i in 0..n {
                let p = t.inclusion_proof(i, n).unwrap();
                let leaf = leaf_hash(&es[i as usize]);
                verify_inclusion(&leaf, i, n, &p, &r).unwrap();
                assert!(verify_inclusion(&leaf, i, n, &p, &leaf_hash(b"other")).is_err());
                assert!(verify_inclusion(&leaf_hash(b"other"), i, n, &p, &r).is_err());
                if let Some(first) = p.first() {
                    let mut bad = p.clone();
                    bad[0] = node_hash(first, first);
                    assert_eq!(
                        verify_inclusion(&leaf, i, n, &bad, &r),
                        Err(ProofError::RootMismatch)
                    );
                }
            }
            for m in 1..=n {
                let p = t.consistency_proof(m, n).unwrap();
                let rm = t.root_at(m).unwrap();
                verify_consistency(m, n, &rm, &r, &p).unwrap();
                if m < n {
                    assert!(verify_consistency(m, n, &r, &r, &p).is_err());
                    assert!(verify_consistency(m, n, &rm, &r, &p[1..]).is_err());
                }
            }
        }
    }

    #[test]
    fn frontier_tracks_the_tree() {
        let es = entries(40);
        let t = MemoryTree::from_entries(&es);
        let mut f = Frontier::new();
        for (i, e) in es.iter().enumerate() {
            assert_eq!(f, Frontier::from_tree(&t, i as u64).unwrap());
            assert_eq!(f.root(), t.root_at(i as u64).unwrap());
            f.append(e);
        }
        assert_eq!(f.root(), t.root());
        assert!(Frontier::from_parts(3, vec![empty_root()]).is_none());
    }

    #[test]
    fn requests_outside_the_tree_are_refused() {
        let t = MemoryTree::from_entries(&entries(4));
        assert!(matches!(
            t.inclusion_proof(4, 4),
            Err(ProofRequestError::IndexOutOfRange { .. })
        ));
        assert!(matches!(
            t.inclusion_proof(0, 5),
            Err(ProofRequestError::SizeOutOfRange { .. })
        ));
        assert!(matches!(
            t.consistency_proof(0, 4),
            Err(ProofRequestError::BadRange { .. })
        ));
        assert!(matches!(
            t.consistency_proof(3, 2),
            Err(ProofRequestError::BadRange { .. })
        ));
    }
}
