//! The aggregator is itself a node (STANDARD.md §2.3): it publishes the London view as its own
//! signed log, which a reader that knows only the standard verifies. The reader is the node
//! tests' independent one (`node/tests/it/standard_client/`): RFC 9162, signed notes and JCS
//! written from STANDARD.md, using none of `evfed_spec`'s verification code.

#[path = "../../../node/tests/it/standard_client/jcs.rs"]
mod jcs;
#[allow(dead_code)] // parts of the reader this test has no use for
#[path = "../../../node/tests/it/standard_client/note.rs"]
mod note;
#[path = "../../../node/tests/it/standard_client/rfc9162.rs"]
mod rfc9162;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::support::{
    AGGREGATOR, Node, Server, aggregator, log_size, node_bin, put_location_of, run, wait_member,
};
use note::{Checkpoint, VerifierKey};
use rfc9162::Hash;

fn get(url: &str) -> reqwest::blocking::Response {
    reqwest::blocking::get(url).unwrap()
}

/// A verified checkpoint of the log at `base` covering at least `size` entries.
fn checkpoint(base: &str, key: &VerifierKey, origin: &str, size: u64) -> Checkpoint {
    let started = Instant::now();
    loop {
        let note = get(&format!("{base}/v1/log/checkpoint")).bytes().unwrap();
        let cp = note::verify(&note, std::slice::from_ref(key))
            .unwrap_or_else(|v| panic!("§9.3 {v:?}: {}", String::from_utf8_lossy(&note)));
        assert_eq!(cp.origin, origin, "§9.3 step 5");
        if cp.size >= size {
            return cp;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no checkpoint of {size}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn hashes(v: &Value) -> Vec<Hash> {
    v["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let bytes = B64.decode(h.as_str().unwrap()).unwrap();
            Hash::try_from(bytes.as_slice()).unwrap()
        })
        .collect()
}

/// Every entry `cp` covers, checked: canonical, reproducing the root, each with a verifying
/// inclusion proof.
fn verified_entries(base: &str, cp: &Checkpoint) -> Vec<Value> {
    let mut entries: Vec<Vec<u8>> = Vec::new();
    while (entries.len() as u64) < cp.size {
        let res = get(&format!(
            "{base}/v1/log/entries?start={}&end={}",
            entries.len(),
            cp.size
        ));
        assert_eq!(res.status(), 200);
        let body = res.bytes().unwrap();
        let lines = body.strip_suffix(b"\n").expect("§10.6");
        entries.extend(lines.split(|b| *b == b'\n').map(<[u8]>::to_vec));
    }
    let leaves: Vec<Hash> = entries.iter().map(|e| rfc9162::leaf_hash(e)).collect();
    assert_eq!(
        rfc9162::root(&leaves),
        cp.root,
        "§8.1: the entries reproduce the root"
    );
    for (i, leaf) in leaves.iter().enumerate() {
        let proof: Value = get(&format!(
            "{base}/v1/log/proof/inclusion?index={i}&tree_size={}",
            cp.size
        ))
        .json()
        .unwrap();
        assert!(
            rfc9162::verify_inclusion(i as u64, cp.size, leaf, &hashes(&proof), &cp.root),
            "§8.2: inclusion of {i}"
        );
    }
    entries
        .iter()
        .map(|e| {
            assert!(jcs::is_canonical(e), "§6.3: {}", String::from_utf8_lossy(e));
            serde_json::from_slice(e).unwrap()
        })
        .collect()
}

/// The published locations a replay of `entries` leaves (§6.2), by `(party, id)`.
fn replay(entries: &[Value]) -> BTreeSet<(String, String)> {
    let mut live = BTreeSet::new();
    for e in entries {
        let key = || {
            (
                e["party"].as_str().unwrap().to_owned(),
                e["data"]["id"].as_str().unwrap().to_owned(),
            )
        };
        match e["type"].as_str().unwrap() {
            "location" => {
                live.insert(key());
            }
            "location_removed" => {
                live.remove(&key());
            }
            _ => {}
        }
    }
    live
}

fn london_keys(agg: &Server) -> BTreeSet<(String, String)> {
    let listed: Value = get(&format!("{}/v1/london/locations?limit=1000", agg.url))
        .json()
        .unwrap();
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                format!(
                    "{}*{}",
                    l["country_code"].as_str().unwrap(),
                    l["party_id"].as_str().unwrap()
                ),
                l["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_aggregator_publishes_the_london_view_as_a_verifiable_log() {
    evfed_aggregator::outgoing::install_crypto_provider();
    let root = tempfile::tempdir().unwrap();
    // An operator and a borough that lists one of the operator's sites under the operator's
    // party and ids: one location in London, two provenances.
    let cpo = Node::init(root.path(), "volt");
    let cpo_server = Server::start(&node_bin(), &cpo.dir);
    let cpo_token = cpo.token("GB*VLT");
    put_location_of(&cpo_server, &cpo_token, "VLT", "V1", "51.53000");
    put_location_of(&cpo_server, &cpo_token, "VLT", "V2", "51.53100");
    let borough_dir = root.path().join("camden");
    run(
        &node_bin(),
        &[
            "init",
            "--dir",
            borough_dir.to_str().unwrap(),
            "--origin",
            "evfed.camden.example",
            "--kind",
            "borough",
            "--borough",
            "E09000007",
        ],
    );
    let borough = Node {
        dir: borough_dir,
        origin: "evfed.camden.example".into(),
    };
    let borough_server = Server::start(&node_bin(), &borough.dir);
    put_location_of(
        &borough_server,
        &borough.token("GB*VLT"),
        "VLT",
        "V1",
        "51.53000",
    );
    put_location_of(
        &borough_server,
        &borough.token("GB*CMD"),
        "CMD",
        "C1",
        "51.54000",
    );

    let agg_dir = aggregator(root.path());
    let add = |node: &Node, server: &Server, kind: &str, extra: &[&str]| {
        let vkey = Node::vkey(server);
        let mut args = vec![
            "members",
            "add",
            "--dir",
            agg_dir.to_str().unwrap(),
            "--origin",
            &node.origin,
            "--url",
            &server.url,
            "--vkey",
            &vkey,
            "--kind",
            kind,
        ];
        args.extend_from_slice(extra);
        run(Path::new(AGGREGATOR), &args);
    };
    add(&cpo, &cpo_server, "cpo", &["--party", "GB*VLT"]);
    add(
        &borough,
        &borough_server,
        "borough",
        &["--borough", "E09000007"],
    );
    let agg = Server::start(Path::new(AGGREGATOR), &agg_dir);
    let (cpo_size, borough_size) = (log_size(&cpo_server), log_size(&borough_server));
    wait_member(&agg, &cpo.origin, |m| {
        m["verified_size"].as_u64() == Some(cpo_size)
    });
    wait_member(&agg, &borough.origin, |m| {
        m["verified_size"].as_u64() == Some(borough_size)
    });

    // Discovery says what it is; the key's name is its origin.
    let discovery = agg.json("/.well-known/evfed");
    assert_eq!(discovery["kind"], "aggregator");
    assert_eq!(discovery["origin"], "evfed.london.example");
    let key = VerifierKey::parse(discovery["vkeys"][0].as_str().unwrap()).unwrap();
    assert_eq!(key.name, "evfed.london.example");

    // Three distinct locations in London; the log, replayed, holds exactly those.
    let expected = london_keys(&agg);
    assert_eq!(expected.len(), 3);
    let started = Instant::now();
    let (first, entries) = loop {
        let cp = checkpoint(&agg.url, &key, "evfed.london.example", 1);
        let entries = verified_entries(&agg.url, &cp);
        if replay(&entries) == expected {
            break (cp, entries);
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "log never matched the view"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let res = get(&format!("{}/v1/locations", agg.url));
    assert_eq!(res.headers()["x-total-count"], "3");
    let served: Value = res.json().unwrap();
    let v1 = served
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == "V1")
        .unwrap();
    assert_eq!(v1["evfed"]["borough"], "E09000007");

    // A status change at the operator becomes one evse_status entry in London's log.
    let change = json!([{"country_code": "GB", "party_id": "VLT", "location_id": "V1",
        "evse_uid": "V1-1", "status": "CHARGING", "event_time": "2026-11-21T09:00:00Z"}]);
    let res = reqwest::blocking::Client::new()
        .post(format!("{}/v1/status", cpo_server.url))
        .bearer_auth(&cpo_token)
        .json(&change)
        .send()
        .unwrap();
    assert!(res.status().is_success());
    let cp = checkpoint(&agg.url, &key, "evfed.london.example", first.size + 1);
    let later = verified_entries(&agg.url, &cp);
    assert_eq!(later[..entries.len()], entries[..], "history only grows");
    let proof: Value = get(&format!(
        "{}/v1/log/proof/consistency?first={}&second={}",
        agg.url, first.size, cp.size
    ))
    .json()
    .unwrap();
    assert!(rfc9162::verify_consistency(
        (first.size, &first.root),
        (cp.size, &cp.root),
        &hashes(&proof)
    ));
    let added: Vec<&str> = later[entries.len()..]
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(added, ["evse_status"], "{later:?}");
    assert_eq!(later.last().unwrap()["data"]["status"], "CHARGING");

    // The operator leaves: V2 is removed from London's log, V1 stays (the borough lists it).
    let res = reqwest::blocking::Client::new()
        .delete(format!("{}/v1/admin/members/{}", agg.url, cpo.origin))
        .bearer_auth(crate::support::admin_token(&agg_dir))
        .send()
        .unwrap();
    assert_eq!(res.status(), 204);
    let started = Instant::now();
    loop {
        let cp = checkpoint(&agg.url, &key, "evfed.london.example", 1);
        let entries = verified_entries(&agg.url, &cp);
        let live = replay(&entries);
        if live.len() == 2 {
            assert!(live.contains(&("GB*VLT".into(), "V1".into())));
            assert_eq!(live, london_keys(&agg));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "V2 never left: {live:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    agg.stop();

    // Restarted, the aggregator signs over the same log and appends nothing new.
    let agg = Server::start(Path::new(AGGREGATOR), &agg_dir);
    let cp = checkpoint(&agg.url, &key, "evfed.london.example", 1);
    std::thread::sleep(Duration::from_millis(500));
    let again = checkpoint(&agg.url, &key, "evfed.london.example", 1);
    assert_eq!(again.size, cp.size, "a restart appends nothing");
    agg.stop();
    cpo_server.stop();
    borough_server.stop();
}

/// An aggregator whose own log no longer extends what it signed (a database restored from an
/// old backup, say) refuses to serve, with the node's exit status 3 and its explanation.
#[test]
fn an_own_log_behind_what_it_signed_refuses_to_serve() {
    let root = tempfile::tempdir().unwrap();
    let dir = aggregator(root.path());
    Server::start(Path::new(AGGREGATOR), &dir).stop();
    let state_file = dir.join("node/signed-state.json");
    let mut state: Value = serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    assert_eq!(state["public"]["size"], 0, "{state}");
    // A signed history of five entries that the database does not hold.
    state["public"]["size"] = json!(5);
    state["public"]["root"] = json!(B64.encode([7u8; 32]));
    std::fs::write(&state_file, state.to_string()).unwrap();

    let out = std::process::Command::new(AGGREGATOR)
        .args(["serve", "--dir"])
        .arg(&dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("evfed-aggregator: "), "{err}");
    assert!(err.contains("refusing to sign"), "{err}");
}
