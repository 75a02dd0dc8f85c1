//! Real time: a status change posted to a node reaches the London view and the status stream
//! at once, pushed by the node's checkpoint wait rather than found by the next harvest round
//! (here a minute away), and a stream resumed with `Last-Event-ID` misses nothing.

use std::io::{BufRead as _, BufReader};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{
    Node, Server, add_member_for, init_aggregator, log_size, node_bin, put_location_of,
    start_aggregator, wait_member, wait_until,
};

/// Posts one status change for EVSE `L1-1` of `GB*RTM`'s Location `L1`.
fn post_status(node: &Server, token: &str, status: &str) {
    let time = evfed_spec::time::DateTime::now().to_string();
    let body = json!([{"country_code": "GB", "party_id": "RTM", "location_id": "L1",
                       "evse_uid": "L1-1", "status": status, "event_time": time}]);
    let res = reqwest::blocking::Client::new()
        .post(format!("{}/v1/status", node.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().unwrap());
}

/// The status the London view serves for `L1-1`.
fn view_status(agg: &Server) -> Value {
    agg.json("/v1/london/locations/GB/RTM/L1")["evses"][0]["status"].clone()
}

/// `Ok` once the London view serves `status` for `L1-1`.
fn view_at(agg: &Server, status: &str) -> Result<(), String> {
    let now = view_status(agg);
    if now == status {
        Ok(())
    } else {
        Err(now.to_string())
    }
}

/// Reads a status stream until `n` status events have come; returns their ids and statuses.
fn read_events(lines: &mut impl Iterator<Item = String>, n: usize) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut id = None;
    for line in lines {
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.trim().parse().ok();
        } else if let Some(data) = line.strip_prefix("data: ") {
            let e: Value = serde_json::from_str(data).unwrap();
            if let (Some(id), Some(status)) = (id.take(), e["status"].as_str()) {
                out.push((id, status.to_owned()));
                if out.len() == n {
                    break;
                }
            }
        }
    }
    out
}

fn stream(agg: &Server, last_event_id: Option<u64>) -> impl Iterator<Item = String> + use<> {
    let mut req = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
        .get(format!("{}/v1/london/status/stream?party=GB*RTM", agg.url));
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id.to_string());
    }
    let res = req.send().unwrap();
    assert_eq!(res.status(), 200);
    BufReader::new(res).lines().map(Result::unwrap)
}

#[test]
fn a_change_is_pushed_to_the_view_and_the_stream_and_a_resumed_stream_misses_nothing() {
    evfed_aggregator::outgoing::install_crypto_provider();
    let root = tempfile::tempdir().unwrap();
    let node = Node::init(root.path(), "rtm");
    let server = Server::start(&node_bin(), &node.dir);
    // The node's checkpoint carries the wait it offers.
    let res = reqwest::blocking::get(format!("{}/v1/log/checkpoint", server.url)).unwrap();
    assert_eq!(res.headers()["evfed-checkpoint-wait"], "60");
    let token = node.token("GB*RTM");
    put_location_of(&server, &token, "RTM", "L1", "51.53000");
    let vkey = Node::vkey(&server);

    // Harvest rounds a minute apart: only the push can bring a change sooner.
    let agg_dir = root.path().join("agg");
    init_aggregator(
        &agg_dir,
        "evfed.rt.example",
        &[],
        "harvest_interval_ms = 60000\nconformance_interval_s = 0\n",
    );
    add_member_for(&agg_dir, &node.origin, &server.url, &vkey, "GB*RTM");
    let agg = start_aggregator(&agg_dir);
    let size = log_size(&server);
    wait_member(&agg, &node.origin, |m| {
        m["state"] == "ok" && m["verified_size"].as_u64() == Some(size)
    });
    assert_eq!(view_status(&agg), "AVAILABLE");

    let mut live = stream(&agg, None);
    let posted = Instant::now();
    post_status(&server, &token, "CHARGING");
    wait_until(
        "the change reaches the view before the next harvest round",
        Duration::from_secs(15),
        || view_at(&agg, "CHARGING"),
    );
    eprintln!("a change reached the view in {:?}", posted.elapsed());
    let first = read_events(&mut live, 1);
    assert_eq!(first[0].1, "CHARGING", "{first:?}");
    drop(live);

    // Two changes while no one listens; a stream resumed after the first event gets both.
    post_status(&server, &token, "AVAILABLE");
    post_status(&server, &token, "OUTOFORDER");
    wait_until("both changes pushed", Duration::from_secs(15), || {
        view_at(&agg, "OUTOFORDER")
    });
    let mut resumed = stream(&agg, Some(first[0].0));
    let missed = read_events(&mut resumed, 2);
    assert_eq!(
        missed.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>(),
        ["AVAILABLE", "OUTOFORDER"]
    );
    assert!(
        missed[0].0 > first[0].0 && missed[1].0 > missed[0].0,
        "{missed:?}"
    );
    agg.stop();
    server.stop();
}
