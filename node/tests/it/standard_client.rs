//! A reader that knows only `spec/STANDARD.md` verifies a running node end to end.
//!
//! The verifying code (`rfc9162`, `note`, `jcs` beside this file) is written from the standard
//! alone with `sha2`, `ed25519-dalek`, `base64` and `serde_json`. It deliberately uses none of
//! `evfed_spec`'s merkle, note, checkpoint or jcs modules, so that one bug cannot hide on both
//! sides of the wire. It first proves itself on the standard's golden vectors, then on a node.

mod jcs;
mod note;
mod rfc9162;

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;
use reqwest::blocking::{Client, Response};
use reqwest::{Method, Url};
use serde_json::{Value, json};

use self::note::{Checkpoint, Verdict, VerifierKey};
use self::rfc9162::Hash;
use crate::support::{NodeDir, Running, testdata};

/// The writer's party; every record below belongs to it.
const PARTY: &str = "GB*ABC";
/// When the Locations were last updated: in the past, as §12.2 requires.
const LAST_UPDATED: &str = "2026-11-20T09:00:00Z";
/// Places in Camden (E09000007), the node's borough.
const CAMDEN_HIGH_STREET: (&str, &str) = ("51.539000", "-0.142600");
const HAMPSTEAD_ROAD: (&str, &str) = ("51.550200", "-0.164300");
const KENTISH_TOWN_ROAD: (&str, &str) = ("51.550300", "-0.140500");
const EUSTON: (&str, &str) = ("51.528100", "-0.133800");

#[test]
fn reader_with_only_the_standard_verifies_both_logs() {
    let dir = NodeDir::camden();
    let node = dir.serve();
    let writer = dir.writer(PARTY);

    // §3.4 discovery and §3.2 the key: parsed and checked; its name is the origin (§2.3 step 1).
    let discovery_url = Url::parse(&format!("{}/.well-known/evfed", node.url)).unwrap();
    let discovery = node.json("/.well-known/evfed");
    assert_eq!(discovery["spec_version"], "1");
    let origin = discovery["origin"].as_str().unwrap();
    assert_eq!(origin, dir.origin);
    let vkey = discovery["vkeys"][0].as_str().unwrap();
    let key = VerifierKey::parse(vkey).unwrap_or_else(|e| panic!("§3.2 {vkey}: {e}"));
    assert_eq!(key.name, origin, "§3.2: the key's name is the origin");
    let endpoint = |name: &str| {
        let reference = discovery["endpoints"][name].as_str().unwrap();
        discovery_url.join(reference).unwrap()
    };
    let public = Log::new(&node, endpoint("log"), origin, &key, None);
    let usage_reader = dir.token(None, &["usage:read"]);
    let restricted_origin = format!("{origin}/restricted");
    let restricted = Log::new(
        &node,
        endpoint("restricted_log"),
        &restricted_origin,
        &key,
        Some(&usage_reader),
    );

    // First: two published Locations and a Tariff for the public log, and an unpublished
    // Location for the restricted one (§7). `publish_allowed_to` must enter neither (§4.5).
    let mut hampstead = location("ABC-CMD-0002", "Hampstead Road", HAMPSTEAD_ROAD, 1);
    hampstead["publish_allowed_to"] = json!([{"uid": "04A1B2C3D4E5F6", "type": "RFID"}]);
    let mut depot = location("ABC-CMD-9001", "Euston depot", EUSTON, 1);
    depot["publish"] = json!(false);
    let high_street = location("ABC-CMD-0001", "Camden High Street", CAMDEN_HIGH_STREET, 2);
    for record in [&high_street, &hampstead, &tariff(), &depot] {
        put(&node, &writer, record);
    }
    assert_eq!(node.tree_size(), 3, "§7: the depot is not public");
    node.wait_for_checkpoint(3);
    let first = public.checkpoint();
    assert_eq!(first.size, 3);
    let restricted_first = restricted.checkpoint_of_size(1);

    // Then: status changes (the depot's belongs in the restricted log, §6.2), a third Location,
    // usage records, and a later status change.
    let batch = statuses(&[
        ("ABC-CMD-0001-1", "CHARGING", "2026-11-21T17:30:00Z"),
        ("ABC-CMD-0001-2", "OUTOFORDER", "2026-11-21T08:00:00Z"),
        ("ABC-CMD-0002-1", "CHARGING", "2026-11-21T18:10:00Z"),
        ("ABC-CMD-9001-1", "CHARGING", "2026-11-21T20:00:00Z"),
    ]);
    post(&node, &writer, "/v1/status", &batch, 4);
    let kentish_town = location("ABC-CMD-0003", "Kentish Town Road", KENTISH_TOWN_ROAD, 1);
    put(&node, &writer, &kentish_town);
    post(&node, &writer, "/v1/sessions", &usage_records(), 2);
    let batch = statuses(&[("ABC-CMD-0001-1", "AVAILABLE", "2026-11-21T19:02:41Z")]);
    post(&node, &writer, "/v1/status", &batch, 1);
    assert_eq!(node.tree_size(), 8);

    // §9, §10.6, §8: the latest checkpoint verifies, the entries reproduce its root, every proof
    // verifies, and it is consistent with the checkpoint saved before the second batch (§2.3).
    node.wait_for_checkpoint(8);
    let (note, last) = public.checkpoint_and_note();
    assert_eq!(last.size, 8);
    assert!(last.time >= first.time, "§9.4: time never decreases");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    assert!(
        last.time <= now.as_secs() + 60,
        "§9.4: time not ahead of the reader"
    );
    let entries = public.verified_entries(&last, 3);
    assert!(public.consistent(&first, &last), "§8.3");
    let types = entry_types(&entries);
    let expected = [
        "location",
        "location",
        "tariff",
        "evse_status",
        "evse_status",
        "evse_status",
        "location",
        "evse_status",
    ];
    assert_eq!(types, expected, "§6.2: one entry per change, in order");
    for entry in &entries {
        let v: Value = serde_json::from_slice(entry).unwrap();
        if v["type"] == "location" {
            assert_eq!(v["data"]["evfed"]["borough"], "E09000007", "§4.4: {v}");
        }
    }
    let beyond = public.get("entries?start=8&end=20").bytes().unwrap();
    assert!(beyond.is_empty(), "§10.6: no entries at or beyond the size");

    // §7, §10.6, §14: the restricted log's checkpoint is open and signed by the same key; its
    // entries and proofs need `usage:read` (401 without a token, 403 with another scope).
    let restricted_last = restricted.checkpoint_of_size(4);
    assert_eq!(restricted_last.size, 4);
    for path in [
        "/v1/restricted/log/entries?start=0&end=1",
        "/v1/restricted/log/proof/inclusion?index=0&tree_size=1",
        "/v1/restricted/log/proof/consistency?first=1&second=1",
    ] {
        problem(node.get(path), 401, "unauthorized");
        problem(node.get_auth(path, &writer), 403, "forbidden");
    }
    let restricted_entries = restricted.verified_entries(&restricted_last, 1000);
    assert!(restricted.consistent(&restricted_first, &restricted_last));
    let types = entry_types(&restricted_entries);
    assert_eq!(types, ["location", "evse_status", "session", "session"]);

    for entry in entries.iter().chain(&restricted_entries) {
        let text = std::str::from_utf8(entry).unwrap();
        assert!(!text.contains("publish_allowed_to"), "§4.5: {text}");
        assert!(!text.contains("04A1B2C3D4E5F6"), "§4.5: {text}");
    }

    assert_tampering_is_detected(&public, &entries, &note, (&first, &last));
    assert_ne!(restricted_last.origin, last.origin, "§3.1: two origins");
    assert!(node.stop().success());
}

/// The verifier first proves itself on the standard's golden vectors (§16.3) and worked example
/// (Appendix A), so that a pass against the node means something.
#[test]
fn verifier_agrees_with_the_golden_vectors() {
    let vectors = |name: &str| -> Value {
        let path = testdata(&format!("vectors/{name}"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };

    for case in vectors("checkpoints.json").as_array().unwrap() {
        let key = VerifierKey::parse(case["vkey"].as_str().unwrap()).unwrap();
        let note = case["note"].as_str().unwrap().as_bytes();
        let (verdict, why) = match note::verify(note, &[key]) {
            Ok(_) => ("valid", ""),
            Err(Verdict::Malformed(why)) => ("malformed", why),
            Err(Verdict::InvalidSignature) => ("invalid-signature", ""),
            Err(Verdict::UnknownKey) => ("unknown-key", ""),
        };
        assert_eq!(verdict, case["expect"], "{}: {why}", case["name"]);
    }

    let merkle = vectors("merkle.json");
    let b64 = |v: &Value| B64.decode(v.as_str().unwrap()).unwrap();
    let hash = |v: &Value| -> Hash { b64(v).try_into().unwrap() };
    let hashes = |v: &Value| -> Vec<Hash> { v.as_array().unwrap().iter().map(hash).collect() };
    let number = |v: &Value| v.as_u64().unwrap();
    let leaves: Vec<Hash> = merkle["leaves_b64"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| rfc9162::leaf_hash(&b64(l)))
        .collect();
    let mut roots = Vec::new();
    for (size, r) in merkle["roots"].as_array().unwrap().iter().enumerate() {
        assert_eq!(number(&r["tree_size"]), size as u64);
        let root = hash(&r["root_b64"]);
        assert_eq!(rfc9162::root(&leaves[..size]), root, "size {size}");
        roots.push(root);
    }
    for p in merkle["inclusion"].as_array().unwrap() {
        let (i, n) = (number(&p["index"]), number(&p["tree_size"]));
        let (leaf, root) = (&leaves[i as usize], &roots[n as usize]);
        let path = hashes(&p["path_b64"]);
        let ok = rfc9162::verify_inclusion(i, n, leaf, &path, root);
        assert!(ok, "{i} in {n}");
        let longer = [&path[..], &[roots[0]]].concat();
        let ok = rfc9162::verify_inclusion(i, n, leaf, &longer, root);
        assert!(!ok, "{i} in {n}, a hash too many");
    }
    for p in merkle["consistency"].as_array().unwrap() {
        let (m, n) = (number(&p["first"]), number(&p["second"]));
        let (a, b) = ((m, &roots[m as usize]), (n, &roots[n as usize]));
        let proof = hashes(&p["proof_b64"]);
        assert!(rfc9162::verify_consistency(a, b, &proof), "{m} to {n}");
        let longer = [&proof[..], &[roots[0]]].concat();
        let ok = rfc9162::verify_consistency(a, b, &longer);
        assert!(!ok, "{m} to {n}, a hash too many");
    }

    for case in vectors("entries.json").as_array().unwrap() {
        let entry = case["entry"].as_str().unwrap().as_bytes();
        assert!(jcs::is_canonical(entry), "{}", case["name"]);
        let leaf_hash = hash(&case["leaf_hash_b64"]);
        assert_eq!(rfc9162::leaf_hash(entry), leaf_hash, "{}", case["name"]);
    }

    // Appendix A: the worked example's key, entries, root, proof and checkpoint.
    let vkey = "evfed.camden.example+cfef407d+ASSFwVDndTIGa8pAVvtfjRHpQTUfKdtvj1ySm6MTlIPD";
    let key = VerifierKey::parse(vkey).unwrap();
    let entry = |status: &str, event_time: &str, recorded_at: &str| {
        format!(
            r#"{{"data":{{"country_code":"GB","event_time":"{event_time}","evse_uid":"EVSE-0001-1","location_id":"LOC-0001","party_id":"ABC","status":"{status}"}},"party":"GB*ABC","recorded_at":"{recorded_at}","type":"evse_status","v":1}}"#
        )
    };
    let e0 = entry("CHARGING", "2026-11-22T10:14:58Z", "2026-11-22T10:15:00Z");
    let e1 = entry("AVAILABLE", "2026-11-22T11:02:41Z", "2026-11-22T11:02:42Z");
    assert_eq!(e0.len(), 234);
    let leaves = [e0, e1].map(|e| rfc9162::leaf_hash(e.as_bytes()));
    let expected = [
        "pjo1ZdPBaOr01VLql6cyEWwAkTdebUB7eOPBL7Z8f8M=",
        "oACX3Zg4jsFRz7u8sngnjMxfwBF/xWWtXJCZltjwRdc=",
    ];
    assert_eq!(leaves.map(|l| B64.encode(l)), expected);
    let root = rfc9162::root(&leaves);
    let root_b64 = "TmpcZBFjchi2HujCa5+UYstebZdaGaMYKrv0j7jn0jQ=";
    assert_eq!(B64.encode(root), root_b64);
    let (leaf, path) = (&leaves[1], [leaves[0]]);
    assert!(rfc9162::verify_inclusion(1, 2, leaf, &path, &root));
    let note = "evfed.camden.example\n2\nTmpcZBFjchi2HujCa5+UYstebZdaGaMYKrv0j7jn0jQ=\n\
                time 1795345363\n\n— evfed.camden.example z+9AfYuBX1fFAgj1/y8ZYrAOxZ7qcdIcoItBniFsp\
                nWdZ36Ly/Eogw4rpqu4eK7cSOqH9Pk5JQQOP1RljR3f4s0mfQ0=\n";
    let cp = note::verify(note.as_bytes(), &[key]).unwrap();
    assert_eq!((cp.origin.as_str(), cp.size), ("evfed.camden.example", 2));
    assert_eq!((cp.root, cp.time), (root, 1_795_345_363));
}

/// The same verifier refuses a tampered entry, checkpoint, key or proof from this node.
fn assert_tampering_is_detected(
    log: &Log,
    entries: &[Vec<u8>],
    note: &[u8],
    (first, last): (&Checkpoint, &Checkpoint),
) {
    let keys = std::slice::from_ref(&log.key);
    let (size, root) = (last.size, last.root);

    // One flipped byte in entry 4: the root no longer matches, nor does its inclusion proof.
    let mut leaves: Vec<Hash> = entries.iter().map(|e| rfc9162::leaf_hash(e)).collect();
    let mut tampered = entries[4].clone();
    tampered[20] ^= 0x01;
    let path = log.inclusion(4, size);
    assert!(rfc9162::verify_inclusion(4, size, &leaves[4], &path, &root));
    leaves[4] = rfc9162::leaf_hash(&tampered);
    assert_ne!(rfc9162::root(&leaves), root, "§8.1");
    let bad = &leaves[4];
    assert!(!rfc9162::verify_inclusion(4, size, bad, &path, &root));

    // Altered checkpoint text (size, time, root) under the node's signature, and an altered
    // signature: invalid-signature (§9.3 step 2).
    let text = std::str::from_utf8(note).unwrap();
    let (body, signatures) = text.split_at(text.find("\n\n").unwrap() + 1);
    let time = format!("time {}", last.time);
    let forged_bodies = [
        body.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size - 1), 1),
        body.replacen(&time, &format!("time {}", last.time + 1), 1),
        body.replacen(&B64.encode(root), &B64.encode(first.root), 1),
    ];
    for forged in forged_bodies {
        assert_ne!(forged, body);
        let forged = format!("{forged}{signatures}");
        let verdict = note::verify(forged.as_bytes(), keys);
        let refused = matches!(verdict, Err(Verdict::InvalidSignature));
        assert!(refused, "{forged}");
    }
    let mut flipped = note.to_vec();
    let at = flipped.len() - 10; // inside the signature's base64
    flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
    let verdict = note::verify(&flipped, keys);
    let refused = matches!(verdict, Err(Verdict::InvalidSignature));
    assert!(refused, "{verdict:?}");

    // Wrong keys: another key under the node's name, or the node's key under another name, do
    // not verify the note (unknown-key); a key string whose id does not match is refused (§3.2).
    let other_key = SigningKey::from_bytes(&[7; 32]).verifying_key();
    let other = VerifierKey::from_key(&log.key.name, &other_key);
    let verdict = note::verify(note, std::slice::from_ref(&other));
    assert!(matches!(verdict, Err(Verdict::UnknownKey)), "{verdict:?}");
    let renamed = VerifierKey::from_key("evfed.islington.example", &log.key.key);
    let verdict = note::verify(note, &[renamed]);
    assert!(matches!(verdict, Err(Verdict::UnknownKey)), "{verdict:?}");
    let (name, id) = (&log.key.name, hex(&log.key.id));
    let encoded = B64.encode([&[0x01][..], log.key.key.as_bytes()].concat());
    assert!(VerifierKey::parse(&format!("{name}+{id}+{encoded}")).is_ok());
    let wrong_id = format!("{name}+{}+{encoded}", hex(&other.id));
    assert!(VerifierKey::parse(&wrong_id).is_err());
    let private = format!("PRIVATE+KEY+{name}+{id}+{encoded}");
    assert!(VerifierKey::parse(&private).is_err());

    // Proofs with a hash too many, one too few, or one changed (§8.2, §8.3).
    let leaf = rfc9162::leaf_hash(&entries[4]);
    let longer = [&path[..], &[root]].concat();
    assert!(!rfc9162::verify_inclusion(4, size, &leaf, &longer, &root));
    let shorter = &path[1..];
    assert!(!rfc9162::verify_inclusion(4, size, &leaf, shorter, &root));
    let (a, b) = ((first.size, &first.root), (size, &root));
    let mut proof = log.consistency(first.size, size);
    assert!(rfc9162::verify_consistency(a, b, &proof));
    assert!(!rfc9162::verify_consistency(a, b, &proof[1..]));
    proof[0][0] ^= 1;
    assert!(!rfc9162::verify_consistency(a, b, &proof));
}

/// One of a node's two logs, at the base URL its discovery document gives (§3.4, §10.6), with
/// the key pinned for it and the token (if any) its entries and proofs need.
struct Log<'a> {
    http: &'a Client,
    base: String,
    origin: String,
    key: VerifierKey,
    token: Option<String>,
}

impl<'a> Log<'a> {
    fn new(
        node: &'a Running,
        base: Url,
        origin: &str,
        key: &VerifierKey,
        token: Option<&str>,
    ) -> Self {
        Self {
            http: &node.http,
            base: base.as_str().trim_end_matches('/').to_owned(),
            origin: origin.to_owned(),
            key: key.clone(),
            token: token.map(str::to_owned),
        }
    }

    fn get(&self, rel: &str) -> Response {
        let mut req = self.http.get(format!("{}/{rel}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        req.send().unwrap()
    }

    /// The latest checkpoint as received, verified (§9.3) and of this log's origin. Fetched
    /// without a token: both logs' checkpoints are open (§7).
    fn checkpoint_and_note(&self) -> (Vec<u8>, Checkpoint) {
        let res = self
            .http
            .get(format!("{}/checkpoint", self.base))
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
        let content_type = &res.headers()["content-type"];
        assert_eq!(content_type, "text/plain; charset=utf-8", "§10.6");
        let note = res.bytes().unwrap().to_vec();
        let verified = note::verify(&note, std::slice::from_ref(&self.key));
        let text = String::from_utf8_lossy(&note);
        let cp = verified.unwrap_or_else(|v| panic!("§9.3 {v:?}: {text}"));
        assert_eq!(cp.origin, self.origin, "§9.3 step 5");
        (note, cp)
    }

    fn checkpoint(&self) -> Checkpoint {
        self.checkpoint_and_note().1
    }

    /// Polls until a verified checkpoint covers `size` entries.
    fn checkpoint_of_size(&self, size: u64) -> Checkpoint {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let cp = self.checkpoint();
            if cp.size >= size {
                return cp;
            }
            let origin = &self.origin;
            assert!(
                Instant::now() < deadline,
                "{origin}: no checkpoint of {size}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The entries `cp` covers, checked as §2.3 says: each is canonical with a valid envelope
    /// (§5, §6), together they reproduce the root (§8.1), every inclusion proof verifies (§8.2),
    /// and so does the consistency proof from every smaller size (§8.3). Asks for at most `page`
    /// entries at a time.
    fn verified_entries(&self, cp: &Checkpoint, page: u64) -> Vec<Vec<u8>> {
        let entries = self.entries(cp.size, page);
        entries.iter().for_each(|e| check_envelope(e));
        let leaves: Vec<Hash> = entries.iter().map(|e| rfc9162::leaf_hash(e)).collect();
        let origin = &self.origin;
        assert_eq!(rfc9162::root(&leaves), cp.root, "§8.1 {origin}: root");
        for (i, leaf) in (0..cp.size).zip(&leaves) {
            let path = self.inclusion(i, cp.size);
            let ok = rfc9162::verify_inclusion(i, cp.size, leaf, &path, &cp.root);
            assert!(ok, "§8.2 {origin}: inclusion of {i}");
        }
        for m in 1..=cp.size {
            let earlier = rfc9162::root(&leaves[..m as usize]);
            let proof = self.consistency(m, cp.size);
            let ok = rfc9162::verify_consistency((m, &earlier), (cp.size, &cp.root), &proof);
            assert!(ok, "§8.3 {origin}: consistency from {m}");
        }
        entries
    }

    /// Entries `0..size`, continuing after the last one received, since a node may return fewer
    /// than asked (§10.6).
    fn entries(&self, size: u64, page: u64) -> Vec<Vec<u8>> {
        let mut entries: Vec<Vec<u8>> = Vec::new();
        while (entries.len() as u64) < size {
            let start = entries.len() as u64;
            let end = size.min(start + page);
            let res = self.get(&format!("entries?start={start}&end={end}"));
            assert_eq!(res.status(), 200);
            assert_eq!(
                res.headers()["content-type"],
                "application/x-ndjson",
                "§10.6"
            );
            let body = res.bytes().unwrap();
            let lines = body
                .strip_suffix(b"\n")
                .expect("§10.6: at least one entry and a line feed");
            entries.extend(lines.split(|b| *b == b'\n').map(<[u8]>::to_vec));
            assert!(entries.len() as u64 <= end, "§10.6: entries past `end`");
        }
        entries
    }

    /// Whether a consistency proof from the node links the two verified checkpoints (§2.3 step 3).
    fn consistent(&self, old: &Checkpoint, new: &Checkpoint) -> bool {
        let proof = self.consistency(old.size, new.size);
        rfc9162::verify_consistency((old.size, &old.root), (new.size, &new.root), &proof)
    }

    fn inclusion(&self, index: u64, size: u64) -> Vec<Hash> {
        self.proof(&format!("proof/inclusion?index={index}&tree_size={size}"))
    }

    fn consistency(&self, first: u64, second: u64) -> Vec<Hash> {
        self.proof(&format!("proof/consistency?first={first}&second={second}"))
    }

    /// `{"hashes": [base64, …]}` (§10.6).
    fn proof(&self, rel: &str) -> Vec<Hash> {
        let res = self.get(rel);
        assert_eq!(res.status(), 200, "{rel}");
        let proof: Value = res.json().unwrap();
        let hash = |h: &Value| note::canonical_b64(h.as_str()?)?.try_into().ok();
        let hashes = proof["hashes"].as_array().unwrap().iter().map(hash);
        hashes
            .collect::<Option<_>>()
            .unwrap_or_else(|| panic!("{rel}: {proof}"))
    }
}

/// §6.1 and §6.3 rule 1: at most 256 KiB, canonical, `v: 1`, the party of its data, nothing
/// else in the envelope.
fn check_envelope(entry: &[u8]) {
    let text = String::from_utf8_lossy(entry);
    assert!(entry.len() <= 262_144, "§6.1: over 256 KiB");
    assert!(jcs::is_canonical(entry), "§6.3: not canonical: {text}");
    let v: Value = serde_json::from_slice(entry).unwrap();
    let members: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = ["v", "type", "party", "recorded_at", "data"];
    expected.sort_unstable();
    assert_eq!(members, expected, "§6.1: {text}");
    assert_eq!(v["v"], 1, "§6.1: {text}");
    assert_eq!(v["party"], PARTY, "§6.1: {text}");
    let data_party = [&v["data"]["country_code"], &v["data"]["party_id"]];
    let data_party = data_party.map(|m| m.as_str().unwrap_or_default()).join("*");
    assert_eq!(data_party, PARTY, "§6.1: the party of the data: {text}");
}

fn entry_types(entries: &[Vec<u8>]) -> Vec<String> {
    let parse = |e: &Vec<u8>| serde_json::from_slice::<Value>(e).unwrap();
    let ty = |e: &Vec<u8>| parse(e)["type"].as_str().unwrap().to_owned();
    entries.iter().map(ty).collect()
}

/// An RFC 9457 problem with `code` (§13), and the RFC 6750 challenge for 401 and 403.
fn problem(res: Response, status: u16, code: &str) {
    assert_eq!(res.status(), status);
    let headers = res.headers();
    assert_eq!(headers["content-type"], "application/problem+json", "§13");
    let challenge = headers
        .get("www-authenticate")
        .map(|h| h.to_str().unwrap().to_owned());
    let challenge = challenge.unwrap_or_default();
    match status {
        401 => assert!(challenge.starts_with("Bearer"), "§13: {challenge}"),
        403 => assert!(
            challenge.contains(r#"error="insufficient_scope""#),
            "§13: {challenge}"
        ),
        _ => {}
    }
    let body: Value = res.json().unwrap();
    assert_eq!(body["code"], code, "§13: {body}");
    assert_eq!(body["status"], status, "§13: {body}");
    assert_eq!(
        body["type"],
        format!("urn:evfed:problem:{code}"),
        "§13: {body}"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn put(node: &Running, token: &str, record: &Value) {
    let kind = if record.get("evses").is_some() {
        "locations"
    } else {
        "tariffs"
    };
    let path = format!("/v1/{kind}/GB/ABC/{}", record["id"].as_str().unwrap());
    let body = record.to_string();
    let res = node.send(Method::PUT, &path, Some(token), body.as_bytes());
    assert_eq!(res.status(), 201, "PUT {path}: {}", res.text().unwrap());
}

fn post(node: &Running, token: &str, path: &str, batch: &Value, appended: u64) {
    let body = batch.to_string();
    let res = node.send(Method::POST, path, Some(token), body.as_bytes());
    assert_eq!(res.status(), 200, "POST {path}");
    let result: Value = res.json().unwrap();
    assert_eq!(result["appended"], appended, "POST {path}: {result}");
}

/// An OCPI 2.2.1 Location of `GB*ABC` with `evses` lamp-post EVSEs, `{id}-1`, `{id}-2`, ….
fn location(id: &str, street: &str, (latitude, longitude): (&str, &str), evses: usize) -> Value {
    let number = id.trim_start_matches("ABC-CMD-");
    let evse = |n: usize| {
        json!({
            "uid": format!("{id}-{n}"),
            "evse_id": format!("GB*ABC*E{number}{n}"),
            "status": "AVAILABLE",
            "capabilities": ["CONTACTLESS_CARD_SUPPORT", "REMOTE_START_STOP_CAPABLE"],
            "connectors": [{
                "id": "1",
                "standard": "IEC_62196_T2",
                "format": "SOCKET",
                "power_type": "AC_1_PHASE",
                "max_voltage": 230,
                "max_amperage": 22,
                "max_electric_power": 5000,
                "tariff_ids": ["ABC-STD-2026"],
                "last_updated": LAST_UPDATED,
            }],
            "physical_reference": format!("LP{n}"),
            "last_updated": LAST_UPDATED,
            "evfed": {"ocpp_version": "1.6", "iso15118_2": false},
        })
    };
    json!({
        "country_code": "GB",
        "party_id": "ABC",
        "id": id,
        "publish": true,
        "name": street,
        "address": format!("Outside 12 {street}"),
        "city": "London",
        "postal_code": "NW1 7JE",
        "country": "GBR",
        "coordinates": {"latitude": latitude, "longitude": longitude},
        "parking_type": "ON_STREET",
        "evses": (1..=evses).map(evse).collect::<Vec<_>>(),
        "operator": {"name": "ABC Charging Ltd", "website": "https://abc-charging.example"},
        "owner": {"name": "London Borough of Camden"},
        "time_zone": "Europe/London",
        "last_updated": LAST_UPDATED,
    })
}

/// An OCPI 2.2.1 Tariff: 49p/kWh, 41p overnight, VAT included.
fn tariff() -> Value {
    let energy =
        |price: f64| json!({"type": "ENERGY", "price": price, "vat": 20.0, "step_size": 1});
    json!({
        "country_code": "GB",
        "party_id": "ABC",
        "id": "ABC-STD-2026",
        "currency": "GBP",
        "type": "REGULAR",
        "tariff_alt_text": [{"language": "en", "text": "49p per kWh (41p from 22:00 to 06:00)."}],
        "elements": [
            {
                "price_components": [energy(0.3417)],
                "restrictions": {"start_time": "22:00", "end_time": "06:00"},
            },
            {"price_components": [energy(0.4083)]},
        ],
        "start_date_time": "2026-04-01T00:00:00Z",
        "last_updated": "2026-03-14T11:20:00Z",
    })
}

/// Status changes (§4.7) of `(evse_uid, status, event_time)`; the Location id is the EVSE uid
/// without its `-n` suffix.
fn statuses(changes: &[(&str, &str, &str)]) -> Value {
    let change = |&(evse_uid, status, event_time): &(&str, &str, &str)| {
        let location_id = evse_uid.rsplit_once('-').unwrap().0;
        json!({
            "country_code": "GB", "party_id": "ABC", "location_id": location_id,
            "evse_uid": evse_uid, "status": status, "event_time": event_time,
        })
    };
    Value::Array(changes.iter().map(change).collect())
}

/// Usage records (§4.6): one finished session, one ongoing.
fn usage_records() -> Value {
    json!([
        {
            "id": "ABC-S-0001", "country_code": "GB", "party_id": "ABC",
            "location_id": "ABC-CMD-0001", "evse_uid": "ABC-CMD-0001-1", "connector_id": "1",
            "start_date_time": "2026-11-21T17:30:00Z", "end_date_time": "2026-11-21T19:02:41Z",
            "kwh": 31.42, "total_cost": {"excl_vat": 11.27, "incl_vat": 13.52}, "currency": "GBP",
        },
        {
            "id": "ABC-S-0002", "country_code": "GB", "party_id": "ABC",
            "location_id": "ABC-CMD-0002", "evse_uid": "ABC-CMD-0002-1", "connector_id": "1",
            "start_date_time": "2026-11-21T18:10:00Z", "kwh": 12.5,
        },
    ])
}
