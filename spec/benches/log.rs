//! Log benchmark: leaf hashing + root of 1M entries of ~300 bytes, appends to a 1M tree, and
//! inclusion/consistency proofs from it. Prints figures; asserts nothing about time.
//!
//! `cargo bench -p evfed-spec --bench log` (optionally `-- --entries N`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use evfed_spec::merkle::{self, Frontier, MemoryTree};
use sha2::{Digest, Sha256};

fn main() {
    let n: usize = std::env::args()
        .skip_while(|a| a != "--entries")
        .nth(1)
        .map_or(1_000_000, |s| s.parse().expect("--entries takes a number"));
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let entries = make_entries(n);
    let bytes: usize = entries.iter().map(Vec::len).sum();
    println!(
        "entries: {n}, mean size {:.0} bytes, total {:.1} MB, cores: {cores}",
        bytes as f64 / n as f64,
        bytes as f64 / 1e6
    );

    // The physical bound: one core hashing the same bytes, nothing else.
    let bare = best_of(3, || {
        let mut acc = 0u8;
        for e in &entries {
            acc ^= Sha256::digest(e)[0];
        }
        black_box(acc);
    });
    println!(
        "bare SHA-256 over the entries, 1 core:   {:>8.1} ms  {:>6.1} MB/s",
        ms(bare),
        mbps(bytes, bare)
    );

    let seq = best_of(3, || {
        let mut f = Frontier::new();
        for e in &entries {
            f.append(e);
        }
        black_box(f.root());
    });
    println!(
        "leaf hashes + root, 1 core:              {:>8.1} ms  {:>6.1} MB/s  ratio to bound {:.2}",
        ms(seq),
        mbps(bytes, seq),
        secs(bare) / secs(seq)
    );

    let par = best_of(3, || {
        black_box(merkle::root(&merkle::leaf_hashes(&entries)));
    });
    println!(
        "leaf_hashes + root, all cores:           {:>8.1} ms  {:>6.1} MB/s  ratio to bound {:.2}",
        ms(par),
        mbps(bytes, par),
        secs(bare) / secs(par)
    );

    let fused = best_of(3, || {
        black_box(merkle::root_of_entries(&entries));
    });
    println!(
        "root_of_entries (fused), all cores:      {:>8.1} ms  {:>6.1} MB/s  ratio to bound {:.2}",
        ms(fused),
        mbps(bytes, fused),
        secs(bare) / secs(fused)
    );

    let mut tree = MemoryTree::new();
    let build = best_of(3, || {
        tree = MemoryTree::from_entries(&entries);
    });
    println!(
        "MemoryTree::from_entries (all levels):   {:>8.1} ms  {:>6.1} MB/s  ratio to bound {:.2}",
        ms(build),
        mbps(bytes, build),
        secs(bare) / secs(build)
    );

    // Appends onto the 1M tree, one entry at a time, each followed by nothing else.
    let extra = make_entries(100_000);
    let mut grown = tree.clone();
    let t = Instant::now();
    for e in &extra {
        grown.append(e);
    }
    let append = t.elapsed();
    println!(
        "append to a {n}-entry tree:          {:>8.0} appends/s ({:.2} µs each)",
        per_sec(extra.len(), append),
        us(append) / extra.len() as f64
    );
    let t = Instant::now();
    for e in extra.iter().take(10_000) {
        grown.append(e);
        black_box(grown.root());
    }
    let append_root = t.elapsed();
    println!(
        "append + new root:                       {:>8.0} /s ({:.2} µs each)",
        per_sec(10_000, append_root),
        us(append_root) / 10_000.0
    );
    let mut frontier = Frontier::from_tree(&tree, tree.size()).unwrap();
    let t = Instant::now();
    for e in &extra {
        frontier.append(e);
    }
    let fr = t.elapsed();
    println!(
        "frontier append (verifier side):         {:>8.0} appends/s",
        per_sec(extra.len(), fr)
    );

    // Inclusion proofs at the full size, random indices.
    let size = tree.size();
    let root = tree.root();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let idx: Vec<u64> = (0..100_000).map(|_| xorshift(&mut rng) % size).collect();
    let t = Instant::now();
    let proofs: Vec<_> = idx
        .iter()
        .map(|&i| tree.inclusion_proof(i, size).unwrap())
        .collect();
    let gen_t = t.elapsed();
    println!(
        "inclusion proofs from the {n} tree:  {:>8.0} proofs/s ({} hashes each)",
        per_sec(idx.len(), gen_t),
        proofs[0].len()
    );
    let leaf_hashes: Vec<_> = idx
        .iter()
        .map(|&i| merkle::leaf_hash(&entries[i as usize]))
        .collect();
    let t = Instant::now();
    for ((&i, p), leaf) in idx.iter().zip(&proofs).zip(&leaf_hashes) {
        merkle::verify_inclusion(leaf, i, size, p, &root).unwrap();
    }
    let ver_t = t.elapsed();
    println!(
        "inclusion proof verification:            {:>8.0} proofs/s",
        per_sec(idx.len(), ver_t)
    );
    let t = Instant::now();
    for _ in 0..10_000 {
        let m = 1 + xorshift(&mut rng) % size;
        black_box(tree.consistency_proof(m, size).unwrap());
    }
    let cons = t.elapsed();
    println!(
        "consistency proofs:                      {:>8.0} proofs/s",
        per_sec(10_000, cons)
    );
}

/// Deterministic entries shaped like real log entries, about 290–370 bytes.
fn make_entries(n: usize) -> Vec<Vec<u8>> {
    let mut rng = 42u64;
    (0..n)
        .map(|i| {
            let pad = 40 + (xorshift(&mut rng) % 80) as usize;
            format!(
                r#"{{"data":{{"country_code":"GB","evse_uid":"EVSE-{i:08}","event_time":"2026-11-22T10:15:00Z","location_id":"LOC-{:06}","party_id":"ABC","status":"CHARGING","note":"{}"}},"party":"GB*ABC","recorded_at":"2026-11-22T10:15:01Z","type":"evse_status","v":1}}"#,
                i / 3,
                "x".repeat(pad)
            )
            .into_bytes()
        })
        .collect()
}

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}
fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}
