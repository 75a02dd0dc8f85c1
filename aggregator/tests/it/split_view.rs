//! A member that serves a smaller tree than the one accepted: an honest older copy (a restored
//! backup) is stale, a copy that diverges within that size is a fork however short, and a
//! finding seen round after round is one evidence row whose `last_seen_ms` advances.

use crate::support::{
    Node, Server, add_member_for, copy_dir, init_aggregator, log_size, node_bin, note_verifies,
    of_kind, put_location_of, start_aggregator, tree_size, wait_evidence, wait_member,
};

/// Waits until the member's state is `state`.
fn wait_state(agg: &Server, origin: &str, state: &str) -> serde_json::Value {
    wait_member(agg, origin, |m| m["state"] == state)
}

#[test]
fn a_shorter_diverging_copy_is_a_fork_and_an_older_honest_one_is_stale_once() {
    evfed_aggregator::outgoing::install_crypto_provider();
    let root = tempfile::tempdir().unwrap();
    let agg_dir = root.path().join("london");
    init_aggregator(
        &agg_dir,
        "evfed.london.example",
        &[],
        "harvest_interval_ms = 100\n",
    );

    // One node's history in three copies of its directory: at 10 entries ("twin"), at 12
    // ("old"), and the node itself at 15. Same origin, same key.
    let a = Node::init(root.path(), "split");
    let mut server = Server::start(&node_bin(), &a.dir);
    let addr = server.addr().to_owned();
    let token = a.token("GB*SPL");
    let put = |server: &Server, from: u32, to: u32, lat: &str| {
        for i in from..to {
            put_location_of(server, &token, "SPL", &format!("S{i}"), lat);
        }
    };
    put(&server, 0, 10, "51.50000");
    let at_10 = log_size(&server);
    server.stop();
    let twin_dir = root.path().join("split-twin");
    copy_dir(&a.dir, &twin_dir);
    server = Server::start_on(&node_bin(), &a.dir, &addr);
    put(&server, 10, 12, "51.50000");
    let at_12 = log_size(&server);
    server.stop();
    let old_dir = root.path().join("split-old");
    copy_dir(&a.dir, &old_dir);
    server = Server::start_on(&node_bin(), &a.dir, &addr);
    put(&server, 12, 15, "51.50000");
    let at_15 = log_size(&server);
    assert!(at_10 < at_12 && at_12 < at_15, "{at_10} {at_12} {at_15}");
    let vkey = Node::vkey(&server);

    add_member_for(&agg_dir, &a.origin, &server.url, &vkey, "GB*SPL");
    let agg = start_aggregator(&agg_dir);
    wait_member(&agg, &a.origin, |m| {
        m["state"] == "ok" && m["verified_size"].as_u64() == Some(at_15)
    });

    // A restored backup: its checkpoint of 12 is the accepted tree's prefix. Stale, and over
    // many harvest rounds one evidence row, seen again and again.
    server.stop();
    let old = Server::start_on(&node_bin(), &old_dir, &addr);
    let m = wait_state(&agg, &a.origin, "stale");
    assert_eq!(m["verified_size"].as_u64(), Some(at_15));
    let rows = wait_evidence(&agg, &a.origin, |rows| {
        of_kind(rows, "older-checkpoint")
            .first()
            .is_some_and(|e| e["count"].as_u64() >= Some(5))
    });
    let older = of_kind(&rows, "older-checkpoint");
    assert_eq!(older.len(), 1, "{rows:?}");
    let first = older[0].clone();
    assert_eq!(first["at_ms"], first["first_seen_ms"]);
    assert!(
        first["last_seen_ms"].as_i64() > first["first_seen_ms"].as_i64(),
        "{first}"
    );
    assert_eq!(tree_size(first["note"].as_str().unwrap()), at_12);
    assert_eq!(tree_size(first["other_note"].as_str().unwrap()), at_15);
    // Later rounds advance the same row.
    let rows = wait_evidence(&agg, &a.origin, |rows| {
        of_kind(rows, "older-checkpoint")
            .first()
            .is_some_and(|e| e["last_seen_ms"].as_i64() > first["last_seen_ms"].as_i64())
    });
    let older = of_kind(&rows, "older-checkpoint");
    assert_eq!(older.len(), 1, "{rows:?}");
    assert_eq!(older[0]["first_seen_ms"], first["first_seen_ms"]);
    assert!(older[0]["count"].as_u64() > first["count"].as_u64());
    assert!(of_kind(&rows, "fork").is_empty(), "{rows:?}");
    assert_eq!(wait_state(&agg, &a.origin, "stale")["state"], "stale");
    old.stop();

    // The copy taken at 10 entries goes its own way for 2: 12 entries, the last 2 not the
    // accepted ones. The accepted tree's first 12 leaves have another root: a fork.
    let twin = Server::start_on(&node_bin(), &twin_dir, &addr);
    put(&twin, 10, 12, "51.49000");
    assert_eq!(log_size(&twin), at_12);
    let m = wait_state(&agg, &a.origin, "forked");
    assert!(
        ["not consistent", "different roots"]
            .iter()
            .any(|r| m["reason"].as_str().unwrap().contains(r)),
        "{m}"
    );
    assert_eq!(m["verified_size"].as_u64(), Some(at_15));
    let rows = wait_evidence(&agg, &a.origin, |rows| !of_kind(rows, "fork").is_empty());
    let fork = of_kind(&rows, "fork")[0];
    let (new_note, old_note) = (
        fork["note"].as_str().unwrap(),
        fork["other_note"].as_str().unwrap(),
    );
    // The twin signs after each write, so the aggregator may catch it at 11 entries already.
    let caught = tree_size(new_note);
    assert!(caught > at_10 && caught <= at_12, "{caught}");
    assert_eq!(tree_size(old_note), at_15);
    assert!(note_verifies(new_note, &vkey) && note_verifies(old_note, &vkey));
    // What was verified is still served; nothing of the twin's.
    let s11 = agg.json("/v1/london/locations/GB/SPL/S11");
    assert_eq!(s11["coordinates"]["latitude"], "51.50000");
    twin.stop();
    agg.stop();
}
