//! RFC 9162 §2.1 Merkle tree hashing and proof verification with SHA-256, as §8 of the standard
//! specifies it; written from the RFC, not from `evfed_spec::merkle`.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// `SHA-256(0x00 ‖ entry)`: the leaf hash of an entry's exact bytes (§8.1).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    sha256(&[&[0x00], entry])
}

fn node(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[0x01], left, right])
}

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut hasher = Sha256::new();
    parts.iter().for_each(|part| hasher.update(part));
    hasher.finalize().into()
}

/// `MTH` over leaf hashes, split at the largest power of two below the size (§8.1).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest(b"").into(),
        1 => leaves[0],
        n => {
            let k = n.next_power_of_two() / 2;
            node(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// RFC 9162 §2.1.3.2: `leaf` is entry `index` of the tree of `size` with root `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s, mut r) = (index, size - 1, *leaf);
    for p in path {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// RFC 9162 §2.1.4.2, with §8.3's rules for equal sizes (empty proof, equal roots) and size 0.
pub fn verify_consistency(
    (first, first_root): (u64, &Hash),
    (second, second_root): (u64, &Hash),
    proof: &[Hash],
) -> bool {
    if first > second {
        return false;
    }
    if first == 0 {
        return proof.is_empty();
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if proof.is_empty() {
        return false;
    }
    let mut path = proof.to_vec();
    if first.is_power_of_two() {
        path.insert(0, *first_root);
    }
    let (start, rest) = (path[0], &path[1..]);
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (start, start);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node(c, &fr);
            sr = node(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *first_root && sr == *second_root && s == 0
}
