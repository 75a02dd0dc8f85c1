//! Property tests: signatures open what they sign, proofs hold for random trees, canonical
//! encoding is idempotent.

use evfed_spec::checkpoint::Checkpoint;
use evfed_spec::jcs;
use evfed_spec::merkle::{self, MemoryTree};
use evfed_spec::note::{self, SigningKey};
use evfed_spec::trust::Unverified;
use proptest::prelude::*;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn jcs_is_idempotent_and_preserves_the_value(v in json_value()) {
        let pretty = serde_json::to_vec_pretty(&v).unwrap();
        let once = jcs::canonicalize(&pretty).unwrap();
        prop_assert_eq!(jcs::canonicalize(&once).unwrap(), once.clone());
        prop_assert!(jcs::is_canonical(&once));
        let back: Value = serde_json::from_slice(&once).unwrap();
        prop_assert_eq!(jcs::to_canonical_vec(&back).unwrap(), once);
    }

    #[test]
    fn open_sign(text in "[ -~\u{a0}-\u{2fff}]{1,200}", lines in 1usize..4, seed in any::<[u8; 32]>()) {
        let text = format!("{}\n", vec![text; lines].join("\n"));
        let key = SigningKey::from_seed("prop.example/log", &seed).unwrap();
        let signed = note::sign(&text, &[&key]).unwrap();
        let opened = note::open(signed.as_bytes(), &[key.verifier().clone()]).unwrap();
        prop_assert_eq!(opened.text, text);
    }

    #[test]
    fn signed_checkpoints_verify(size in any::<u64>(), time in any::<u64>(), root in any::<[u8; 32]>()) {
        let key = SigningKey::from_seed("prop.example/log", &[7; 32]).unwrap();
        let cp = Checkpoint { origin: "prop.example/log".into(), tree_size: size, root: merkle::Hash(root), time };
        let signed = cp.sign(&key).unwrap();
        let v = Unverified::new(signed.note_bytes().to_vec()).verify_checkpoint(&[key.verifier().clone()]).unwrap();
        prop_assert_eq!(v.checkpoint(), &cp);
    }

    #[test]
    fn proofs_hold_for_random_sizes(n in 1u64..600, picks in prop::collection::vec((any::<u64>(), any::<u64>()), 8)) {
        let entries: Vec<Vec<u8>> = (0..n).map(|i| i.to_be_bytes().to_vec()).collect();
        let tree = MemoryTree::from_entries(&entries);
        for (a, b) in picks {
            let size = 1 + b % n;
            let index = a % size;
            let root = tree.root_at(size).unwrap();
            let proof = tree.inclusion_proof(index, size).unwrap();
            let leaf = merkle::leaf_hash(&entries[index as usize]);
            prop_assert!(merkle::verify_inclusion(&leaf, index, size, &proof, &root).is_ok());
            let first = 1 + a % size;
            let proof = tree.consistency_proof(first, size).unwrap();
            let first_root = tree.root_at(first).unwrap();
            prop_assert!(merkle::verify_consistency(first, size, &first_root, &root, &proof).is_ok());
        }
    }
}
