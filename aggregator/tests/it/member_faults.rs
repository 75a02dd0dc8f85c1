//! One fault at a time, injected into an in-process member (`fake_member`) that a real
//! `evfed-aggregator` process harvests: forks of the same size, longer and shorter; a rollback
//! to an older checkpoint; key rotations, valid and not; entries for a party the member may not
//! publish; answers cut short; garbage and non-canonical entries; a checkpoint whose root is not
//! its entries'. Each waits on the member's state with a deadline, then re-verifies everything
//! the aggregator holds against what the member signed (`reverify`).

use std::path::Path;

use evfed_spec::merkle::MemoryTree;
use serde_json::Value;

use crate::fake_member::{FakeMember, Fault, location_entry, new_key};
use crate::reverify::{Reverified, reverify};
use crate::support::{
    QUICK, Server, add_member_for, init_aggregator, start_aggregator, wait_member,
};

/// An aggregator in `root` harvesting `members` (each allowed one party) every 100 ms.
fn aggregator_of(root: &Path, members: &[(&FakeMember, &str)]) -> Server {
    let dir = root.join("london");
    init_aggregator(&dir, "evfed.london.example", &[], QUICK);
    for (fake, party) in members {
        add_member_for(&dir, &fake.origin, &fake.url, &fake.vkey(), party);
    }
    start_aggregator(&dir)
}

/// Waits until `fake` is `state` at `size` entries verified.
fn wait_state(agg: &Server, fake: &FakeMember, state: &str, size: u64) -> Value {
    wait_member(agg, &fake.origin, |m| {
        m["state"] == state && m["verified_size"].as_u64() == Some(size)
    })
}

/// A member with `n` locations of `party`, signed, and an aggregator that verified them.
fn harvested(root: &Path, name: &str, party: &str, n: u32) -> (FakeMember, Server) {
    let fake = FakeMember::start(&format!("evfed.{name}.example"));
    for i in 0..n {
        fake.append_location(party, &format!("L{i}"), &format!("51.50{i:03}"));
    }
    fake.sign();
    let agg = aggregator_of(root, &[(&fake, party)]);
    wait_state(&agg, &fake, "ok", u64::from(n));
    (fake, agg)
}

fn text(v: &Value) -> &[u8] {
    v.as_str().unwrap().as_bytes()
}

/// The fork evidence of `r`: its note (the new one) and other note (the accepted one).
fn fork_notes(r: &Reverified) -> (Vec<u8>, Vec<u8>) {
    let forks = r.evidence_of("fork");
    assert_eq!(forks.len(), 1, "{:?}", r.evidence);
    (
        text(&forks[0]["note"]).to_vec(),
        text(&forks[0]["other_note"]).to_vec(),
    )
}

/// The member signs `diverged` entries after its first `keep`, where it had signed others:
/// a second history, as valid a signature as the first.
fn fork_case(name: &str, accepted: u32, keep: u64, diverged: u32, reason: &str) {
    let root = tempfile::tempdir().unwrap();
    let (fake, agg) = harvested(root.path(), name, "GB*FRK", accepted);
    let honest = fake.signed()[0].clone();
    fake.fork_at(keep);
    for i in 0..diverged {
        fake.append_location("GB*FRK", &format!("X{i}"), "51.49000");
    }
    let other = fake.sign();
    let m = wait_state(&agg, &fake, "forked", u64::from(accepted));
    assert!(m["reason"].as_str().unwrap().contains(reason), "{m}");
    let r = reverify(&agg, &fake);
    assert_eq!(
        r.accepted, honest.entries,
        "the first history stays applied"
    );
    assert_eq!(fork_notes(&r), (other, honest.note));
}

#[test]
fn a_second_history_of_the_same_size_is_a_fork_and_the_member_is_not_harvested_again() {
    let root = tempfile::tempdir().unwrap();
    let fake = FakeMember::start("evfed.same.example");
    let steady = FakeMember::start("evfed.steady.example");
    fake.append_location("GB*SAM", "L0", "51.50000");
    fake.append_location("GB*SAM", "L1", "51.50100");
    let honest = fake.sign();
    steady.append_location("GB*STD", "S0", "51.52000");
    steady.sign();
    let agg = aggregator_of(root.path(), &[(&fake, "GB*SAM"), (&steady, "GB*STD")]);
    wait_state(&agg, &fake, "ok", 2);

    fake.fork_at(1);
    fake.append_location("GB*SAM", "L1", "51.49000");
    let other = fake.sign();
    let m = wait_state(&agg, &fake, "forked", 2);
    assert!(
        m["reason"].as_str().unwrap().contains("different roots"),
        "{m}"
    );
    let r = reverify(&agg, &fake);
    assert_eq!(fork_notes(&r), (other, honest));
    assert_eq!(
        agg.json("/v1/london/locations/GB/SAM/L1")["coordinates"]["latitude"],
        "51.50100"
    );

    // §9.4: nothing more is read from it until an administrator acts, however many rounds
    // pass (two of the steady member's harvests after the fork was recorded).
    let asked = fake.requests().len();
    let checked = |m: &Value| m["checked_ms"].as_i64().unwrap_or(0);
    let first = checked(&wait_member(&agg, &steady.origin, |_| true));
    let second = checked(&wait_member(&agg, &steady.origin, |m| checked(m) > first));
    wait_member(&agg, &steady.origin, |m| checked(m) > second);
    assert_eq!(fake.requests()[asked..], [] as [String; 0]);
    assert_eq!(reverify(&agg, &fake).state(), "forked");
    reverify(&agg, &steady);
}

#[test]
fn a_longer_history_that_does_not_extend_the_accepted_one_is_a_fork() {
    fork_case("longer", 2, 1, 2, "not consistent");
}

#[test]
fn a_shorter_history_that_diverges_within_it_is_a_fork() {
    fork_case("shorter", 3, 1, 1, "another root");
}

#[test]
fn an_older_checkpoint_is_stale_with_both_notes_and_the_newest_makes_it_ok_again() {
    let root = tempfile::tempdir().unwrap();
    let fake = FakeMember::start("evfed.rollback.example");
    fake.append_location("GB*RBK", "L0", "51.50000");
    let older = fake.sign();
    fake.append_location("GB*RBK", "L1", "51.50100");
    fake.append_status("GB*RBK", "L0", "CHARGING");
    let newest = fake.sign();
    let agg = aggregator_of(root.path(), &[(&fake, "GB*RBK")]);
    wait_state(&agg, &fake, "ok", 3);

    fake.serve(&older);
    wait_state(&agg, &fake, "stale", 3);
    let r = reverify(&agg, &fake);
    let found = r.evidence_of("older-checkpoint");
    assert_eq!(found.len(), 1, "{:?}", r.evidence);
    assert_eq!(
        (text(&found[0]["note"]), text(&found[0]["other_note"])),
        (older.as_slice(), newest.as_slice())
    );
    assert!(r.evidence_of("fork").is_empty(), "{:?}", r.evidence);
    assert_eq!(
        agg.json("/v1/london/locations/GB/RBK/L0")["evses"][0]["status"],
        "CHARGING",
        "what was verified stays"
    );

    fake.serve(&newest);
    wait_state(&agg, &fake, "ok", 3);
    reverify(&agg, &fake);
}

#[test]
fn a_rotation_signed_by_the_old_key_is_followed_to_the_new_one() {
    let root = tempfile::tempdir().unwrap();
    let (fake, agg) = harvested(root.path(), "rotate", "GB*ROT", 1);
    let new = new_key(&fake.origin);
    // §3.3: the rotation entry, covered by a checkpoint the old key signs.
    fake.rotate_to(&new, fake.key.verifier());
    fake.sign();
    let m = wait_state(&agg, &fake, "ok", 2);
    assert_eq!(
        m["vkeys"],
        serde_json::json!([new.verifier().to_string(), fake.vkey()])
    );
    // Then the new key alone.
    fake.sign_with(&[&new]);
    fake.append_status("GB*ROT", "L0", "OUTOFORDER");
    fake.sign();
    wait_state(&agg, &fake, "ok", 3);
    let r = reverify(&agg, &fake);
    assert!(r.refused.is_empty(), "{:?}", r.evidence);
    assert_eq!(
        agg.json("/v1/london/locations/GB/ROT/L0")["evses"][0]["status"],
        "OUTOFORDER"
    );
}

#[test]
fn rotations_from_untrusted_keys_or_not_covered_by_the_old_key_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let (fake, agg) = harvested(root.path(), "badrot", "GB*BRT", 1);
    // From a key the aggregator never trusted, and to a key named for another origin: both
    // refused with evidence, the old key kept.
    let stranger = new_key(&fake.origin);
    fake.rotate_to(&new_key(&fake.origin), stranger.verifier());
    fake.rotate_to(&new_key("evfed.elsewhere.example"), fake.key.verifier());
    fake.sign();
    let m = wait_state(&agg, &fake, "ok", 3);
    assert_eq!(m["vkeys"], serde_json::json!([fake.vkey()]));
    let r = reverify(&agg, &fake);
    assert_eq!(r.refused, [1, 2]);

    // A rotation whose only checkpoint the new key signs: nothing the aggregator trusts
    // covers it, so it is not adopted and the checkpoint is unverified.
    let new = new_key(&fake.origin);
    fake.rotate_to(&new, fake.key.verifier());
    fake.append_location("GB*BRT", "L9", "51.51000");
    fake.sign_with(&[&new]);
    fake.sign();
    let m = wait_state(&agg, &fake, "invalid", 3);
    assert!(m["reason"].as_str().unwrap().contains("unknown-key"), "{m}");
    let r = reverify(&agg, &fake);
    assert_eq!(r.evidence_of("checkpoint").len(), 1, "{:?}", r.evidence);
    let res = reqwest::blocking::get(format!("{}/v1/london/locations/GB/BRT/L9", agg.url));
    assert_eq!(res.unwrap().status(), 404);
}

#[test]
fn entries_for_a_party_the_member_may_not_publish_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let fake = FakeMember::start("evfed.party.example");
    fake.append_location("GB*OWN", "P1", "51.50000");
    fake.append_location("GB*OTH", "X1", "51.50100");
    fake.append_status("GB*OTH", "X1", "CHARGING");
    fake.append_location("GB*OWN", "P2", "51.50200");
    fake.sign();
    let agg = aggregator_of(root.path(), &[(&fake, "GB*OWN")]);
    wait_state(&agg, &fake, "ok", 4);
    let r = reverify(&agg, &fake);
    assert_eq!(r.refused, [1, 2]);
    let rows = r.evidence_of("rejected-entry");
    assert!(
        rows.iter().all(|e| e["detail"]
            .as_str()
            .unwrap()
            .contains("may not publish for GB*OTH")),
        "{rows:?}"
    );
    let res = reqwest::blocking::get(format!("{}/v1/london/locations/GB/OTH/X1", agg.url));
    assert_eq!(res.unwrap().status(), 404);
}

#[test]
fn answers_cut_short_apply_nothing_until_the_member_answers_whole() {
    let root = tempfile::tempdir().unwrap();
    let (fake, agg) = harvested(root.path(), "cut", "GB*CUT", 1);
    fake.append_location("GB*CUT", "L1", "51.50100");
    fake.append_status("GB*CUT", "L0", "CHARGING");

    // The connection breaks half-way through the entries: a transfer fault, not evidence.
    fake.inject(Some(Fault::CutTransfer));
    fake.sign();
    let m = wait_state(&agg, &fake, "unreachable", 1);
    assert!(m["reason"].as_str().unwrap().contains("body error"), "{m}");
    reverify(&agg, &fake);

    // A whole answer whose last entry is cut: the entries do not make the signed root.
    fake.inject(Some(Fault::CutEntry));
    let m = wait_state(&agg, &fake, "invalid", 1);
    assert!(
        m["reason"].as_str().unwrap().contains("do not match"),
        "{m}"
    );
    let r = reverify(&agg, &fake);
    assert_eq!(r.evidence_of("entries").len(), 1, "{:?}", r.evidence);
    assert_eq!(
        agg.json("/v1/london/locations/GB/CUT/L0")["evses"][0]["status"],
        "AVAILABLE"
    );

    fake.inject(None);
    wait_state(&agg, &fake, "ok", 3);
    reverify(&agg, &fake);
    assert_eq!(
        agg.json("/v1/london/locations/GB/CUT/L0")["evses"][0]["status"],
        "CHARGING"
    );
}

#[test]
fn garbage_and_non_canonical_entries_stay_in_the_tree_and_are_not_applied() {
    let root = tempfile::tempdir().unwrap();
    let fake = FakeMember::start("evfed.garbage.example");
    fake.append_location("GB*GRB", "G1", "51.50000");
    fake.append_raw(b"\x00\xffnot an entry {\"v\": 1}");
    // A valid location entry with one space added: not its own canonical form (§6.3 rule 1).
    let mut spaced = location_entry("GB*GRB", "G2", "51.50100");
    spaced.insert(1, b' ');
    fake.append_raw(&spaced);
    fake.append_raw(
        br#"{"data":{},"party":"GB*GRB","recorded_at":"2026-11-01T09:00:00Z","type":"location","v":2}"#,
    );
    fake.append_location("GB*GRB", "G3", "51.50200");
    fake.sign();
    let agg = aggregator_of(root.path(), &[(&fake, "GB*GRB")]);
    wait_state(&agg, &fake, "ok", 5);
    let r = reverify(&agg, &fake);
    assert_eq!(r.refused, [1, 2, 3]);
    let res = reqwest::blocking::get(format!("{}/v1/london/locations/GB/GRB/G2", agg.url));
    assert_eq!(res.unwrap().status(), 404);
}

#[test]
fn a_checkpoint_whose_root_is_not_its_entries_applies_nothing() {
    let root = tempfile::tempdir().unwrap();
    let fake = FakeMember::start("evfed.root.example");
    fake.append_location("GB*RTX", "L0", "51.50000");
    fake.append_location("GB*RTX", "L1", "51.50100");
    let mut other = MemoryTree::new();
    other.append(b"some other entry");
    other.append(b"and another");
    fake.sign_claiming(other.root());
    let agg = aggregator_of(root.path(), &[(&fake, "GB*RTX")]);
    let m = wait_state(&agg, &fake, "invalid", 0);
    assert!(
        m["reason"].as_str().unwrap().contains("do not match"),
        "{m}"
    );
    let r = reverify(&agg, &fake);
    assert_eq!(r.evidence_of("entries").len(), 1, "{:?}", r.evidence);
    assert_eq!(crate::support::total(&agg), "0");

    fake.sign();
    wait_state(&agg, &fake, "ok", 2);
    reverify(&agg, &fake);
}
