//! Members that misbehave: a node that rewrites history, one serving garbage, one that hangs, and
//! one that lost its key and is re-admitted by an administrator. The aggregator keeps serving
//! what it verified, gives each member the right state with evidence, and stores nothing
//! unverified.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    AGGREGATOR, Node, Server, add_member_for, copy_dir, init_aggregator, log_size, node_bin,
    note_verifies, put_location_of, run, total, wait_member,
};

/// What a fake member does with each request.
#[derive(Clone, Copy)]
enum Fake {
    /// `200 OK` with bytes that are no checkpoint, proof or entry.
    Garbage,
    /// Reads the request and never answers.
    Hang,
}

/// Serves `behaviour` on `addr` (host:port) from a thread, forever.
fn fake_member(addr: &str, behaviour: Fake) {
    let listener = bind_retrying(addr);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                match behaviour {
                    Fake::Garbage => {
                        let body = b"\x00\xffnot a checkpoint\n<html>{\"size\": -1}\n";
                        let _ = write!(
                            conn,
                            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
                             connection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = conn.write_all(body);
                    }
                    Fake::Hang => std::thread::sleep(Duration::from_secs(600)),
                }
            });
        }
    });
}

fn bind_retrying(addr: &str) -> TcpListener {
    let started = Instant::now();
    loop {
        match TcpListener::bind(addr) {
            Ok(l) => return l,
            Err(e) => {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "bind {addr}: {e}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn admin_post(agg: &Server, token: Option<&str>, path: &str, body: &Value) -> (u16, Value) {
    let mut req = reqwest::blocking::Client::new()
        .post(format!("{}{path}", agg.url))
        .json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().unwrap();
    let status = res.status().as_u16();
    (status, res.json().unwrap_or(Value::Null))
}

#[test]
fn misbehaving_members_get_states_with_evidence_and_nothing_unverified_is_stored() {
    evfed_aggregator::outgoing::install_crypto_provider();
    let root = tempfile::tempdir().unwrap();
    let agg_dir = root.path().join("london");
    init_aggregator(
        &agg_dir,
        "evfed.london.example",
        &[],
        "harvest_interval_ms = 100\nharvest_connect_timeout_ms = 500\nharvest_timeout_ms = 1500\n",
    );
    let admin_token = crate::support::admin_token(&agg_dir);

    // Node "fork" and a copy of it taken before anything was written: same origin, same key.
    let a = Node::init(root.path(), "fork");
    let twin_dir = root.path().join("fork-twin");
    copy_dir(&a.dir, &twin_dir);
    let a_server = Server::start(&node_bin(), &a.dir);
    let a_token = a.token("GB*FRK");
    put_location_of(&a_server, &a_token, "FRK", "F1", "51.50000");
    put_location_of(&a_server, &a_token, "FRK", "F2", "51.50100");
    let a_size = log_size(&a_server);
    let a_vkey = Node::vkey(&a_server);

    // Node "junk", harvested while it is honest.
    let c = Node::init(root.path(), "junk");
    let c_server = Server::start(&node_bin(), &c.dir);
    let c_token = c.token("GB*JNK");
    put_location_of(&c_server, &c_token, "JNK", "J1", "51.51000");
    let c_size = log_size(&c_server);
    let c_vkey = Node::vkey(&c_server);

    add_member_for(&agg_dir, &a.origin, &a_server.url, &a_vkey, "GB*FRK");
    add_member_for(&agg_dir, &c.origin, &c_server.url, &c_vkey, "GB*JNK");
    let agg = Server::start(Path::new(AGGREGATOR), &agg_dir);
    wait_member(&agg, &a.origin, |m| {
        m["state"] == "ok" && m["verified_size"].as_u64() == Some(a_size)
    });
    wait_member(&agg, &c.origin, |m| {
        m["state"] == "ok" && m["verified_size"].as_u64() == Some(c_size)
    });
    assert_eq!(total(&agg), "3");

    // History rewritten: the twin, under the same key and on the same address, signs a longer
    // log that does not extend the one the aggregator accepted.
    let a_addr = a_server.addr().to_owned();
    a_server.stop();
    let twin = Server::start_on(&node_bin(), &twin_dir, &a_addr);
    let twin_token = a.token("GB*FRK");
    for (id, lat) in [("F1", "51.49000"), ("F2", "51.49100"), ("F3", "51.49200")] {
        put_location_of(&twin, &twin_token, "FRK", id, lat);
    }
    assert!(log_size(&twin) > a_size);
    let m = wait_member(&agg, &a.origin, |m| m["state"] == "forked");
    // The twin signs after each write: the aggregator may meet its log at the accepted size
    // (same size, another root) or beyond it (not a consistent extension). Either is a fork.
    let reason = m["reason"].as_str().unwrap();
    assert!(
        reason.contains("not consistent") || reason.contains("different roots"),
        "{m}"
    );
    assert_eq!(m["verified_size"].as_u64(), Some(a_size));
    let evidence = agg.json(&format!("/v1/members/{}/evidence", a.origin));
    let fork = evidence
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "fork")
        .expect("fork evidence");
    let (new_note, old_note) = (
        fork["note"].as_str().unwrap(),
        fork["other_note"].as_str().unwrap(),
    );
    assert_ne!(new_note, old_note);
    assert!(note_verifies(new_note, &a_vkey) && note_verifies(old_note, &a_vkey));
    // The last verified data is still served, marked stale; nothing of the twin's log is.
    let f1 = agg.json("/v1/london/locations/GB/FRK/F1");
    assert_eq!(f1["coordinates"]["latitude"], "51.50000");
    assert_eq!(f1["evfed_london"]["stale"], true);
    assert_eq!(total(&agg), "3");
    // A forked member stays forked: no further harvest until an administrator acts, however
    // many rounds pass (two rounds of "junk", harvested beside it, after the fork was seen).
    let seen = |m: &Value| m["checked_ms"].as_i64().unwrap_or(0);
    let after_fork = seen(&wait_member(&agg, &c.origin, |_| true));
    let next = seen(&wait_member(&agg, &c.origin, |m| seen(m) > after_fork));
    wait_member(&agg, &c.origin, |m| seen(m) > next);
    assert_eq!(wait_member(&agg, &a.origin, |_| true)["state"], "forked");
    twin.stop();

    // Garbage where an honest node was: invalid, with its earlier data kept and marked stale.
    let c_addr = c_server.addr().to_owned();
    c_server.stop();
    fake_member(&c_addr, Fake::Garbage);
    let m = wait_member(&agg, &c.origin, |m| m["state"] == "invalid");
    assert!(m["reason"].as_str().unwrap().contains("checkpoint"), "{m}");
    assert_eq!(m["verified_size"].as_u64(), Some(c_size));
    let j1 = agg.json("/v1/london/locations/GB/JNK/J1");
    assert_eq!(j1["evfed_london"]["stale"], true);
    let evidence = agg.json(&format!("/v1/members/{}/evidence", c.origin));
    assert!(
        evidence[0]["note"]
            .as_str()
            .unwrap()
            .contains("not a checkpoint"),
        "{evidence}"
    );

    // A member that accepts connections and never answers: unreachable after the timeout,
    // while the London view keeps answering.
    let hang_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_addr = hang_listener.local_addr().unwrap().to_string();
    drop(hang_listener);
    fake_member(&hang_addr, Fake::Hang);
    let hang_origin = "evfed.hang.example";
    let hang_key = evfed_spec::note::SigningKey::generate(hang_origin, &mut rand::rngs::OsRng)
        .unwrap()
        .verifier()
        .to_string();
    add_member_for(
        &agg_dir,
        hang_origin,
        &format!("http://{hang_addr}"),
        &hang_key,
        "GB*HNG",
    );
    let m = wait_member(&agg, hang_origin, |m| m["state"] == "unreachable");
    assert!(m["reason"].as_str().unwrap().contains("timed out"), "{m}");
    let started = Instant::now();
    assert_eq!(total(&agg), "3");
    assert!(started.elapsed() < Duration::from_secs(1));

    // Disaster recovery: "fork" lost its key and starts a new log under a new origin. The
    // aggregator never follows that by itself; the admin API re-admits it, keeping history.
    let moved = Node::init(root.path(), "fork2");
    let moved_server = Server::start(&node_bin(), &moved.dir);
    let moved_token = moved.token("GB*FRK");
    put_location_of(&moved_server, &moved_token, "FRK", "F1", "51.48000");
    let moved_size = log_size(&moved_server);
    let moved_vkey = Node::vkey(&moved_server);
    let readmit = json!({
        "new_origin": moved.origin, "url": moved_server.url, "vkeys": [moved_vkey],
        "reason": "key lost in a disk failure; new node built from the asset register",
    });
    let path = format!("/v1/admin/members/{}/readmit", a.origin);
    let (status, problem) = admin_post(&agg, None, &path, &readmit);
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _) = admin_post(
        &agg,
        Some("not-the-token-but-long-enough-to-try"),
        &path,
        &readmit,
    );
    assert_eq!(status, 401);
    let wrong_name = json!({"vkeys": [moved_vkey], "reason": "x"});
    let (status, problem) = admin_post(&agg, Some(&admin_token), &path, &wrong_name);
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid-field"))
    );
    let (status, member) = admin_post(&agg, Some(&admin_token), &path, &readmit);
    assert_eq!(status, 200, "{member}");
    assert_eq!(member["origin"], moved.origin.as_str());
    wait_member(&agg, &moved.origin, |m| {
        m["state"] == "ok" && m["verified_size"].as_u64() == Some(moved_size)
    });
    let f1 = agg.json("/v1/london/locations/GB/FRK/F1");
    assert_eq!(f1["coordinates"]["latitude"], "51.48000");
    assert_eq!(f1["evfed_london"]["sources"], json!([moved.origin]));
    let res = reqwest::blocking::get(format!("{}/v1/london/locations/GB/FRK/F2", agg.url)).unwrap();
    assert_eq!(res.status(), 404, "the old log's records went with it");
    let history = agg.json(&format!("/v1/members/{}/history", moved.origin));
    assert_eq!(history[0]["old_origin"], a.origin.as_str());
    assert_eq!(history[0]["old_vkeys"], json!([a_vkey]));
    assert_eq!(history[0]["old_verified_size"].as_u64(), Some(a_size));
    assert!(note_verifies(
        history[0]["checkpoint"].as_str().unwrap(),
        &a_vkey
    ));
    let evidence = agg.json(&format!("/v1/members/{}/evidence", moved.origin));
    let kinds: Vec<&str> = evidence
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"fork") && kinds.contains(&"readmitted"),
        "{kinds:?}"
    );

    // The same through the command line, while serving: "junk" comes back under a new key.
    let c2_dir = root.path().join("junk2");
    run(
        &node_bin(),
        &[
            "init",
            "--dir",
            c2_dir.to_str().unwrap(),
            "--origin",
            &c.origin,
            "--kind",
            "cpo",
        ],
    );
    let c2 = Node {
        dir: c2_dir,
        origin: c.origin.clone(),
    };
    let c2_server = Server::start(&node_bin(), &c2.dir);
    let c2_vkey = Node::vkey(&c2_server);
    run(
        Path::new(AGGREGATOR),
        &[
            "members",
            "readmit",
            "--dir",
            agg_dir.to_str().unwrap(),
            "--origin",
            &c.origin,
            "--url",
            &c2_server.url,
            "--vkey",
            &c2_vkey,
            "--reason",
            "new hardware",
        ],
    );
    let m = wait_member(&agg, &c.origin, |m| m["state"] == "ok");
    assert_eq!(m["vkeys"], json!([c2_vkey]));
    let res = reqwest::blocking::get(format!("{}/v1/london/locations/GB/JNK/J1", agg.url)).unwrap();
    assert_eq!(res.status(), 404, "the reset log holds no J1");
    assert_eq!(total(&agg), "1");
    c2_server.stop();
    moved_server.stop();
    agg.stop();
}
