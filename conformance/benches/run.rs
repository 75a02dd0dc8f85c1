//! A full core run against a real release node holding 5,000 Locations (10,000 EVSEs), with the
//! time per case group. Prints figures; asserts no wall-clock limit (the goal is ≤ 10 s).
//!
//! ```sh
//! cargo build --release -p evfed-node
//! cargo bench -p evfed-conformance --bench run
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "../tests/it/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::Instant;

use evfed_conformance::{Level, RunConfig};
use serde_json::{Value, json};

use support::{Node, location, tariff};

const LOCATIONS: usize = 5_000;
const PARTIES: [&str; 5] = ["GB*ABC", "GB*BCD", "GB*CDE", "GB*DEF", "GB*EFG"];

fn main() {
    let node = Node::camden();
    let t = Instant::now();
    load(&node);
    println!(
        "loaded {LOCATIONS} Locations, {} entries, in {:.1} s",
        node.tree_size(),
        t.elapsed().as_secs_f64()
    );

    for round in ["cold", "warm"] {
        let mut config = RunConfig::new(node.url.parse().unwrap());
        config.level = Level::Core;
        config.seed = Some(1);
        let t = Instant::now();
        let report = evfed_conformance::run(&config);
        let total = t.elapsed();
        let mut groups: BTreeMap<String, (u64, usize)> = BTreeMap::new();
        for r in &report.results {
            let g = r.id.split('.').next().unwrap_or("").to_owned();
            let e = groups.entry(g).or_default();
            e.0 += r.duration_ms;
            e.1 += 1;
        }
        println!(
            "\n{round} core run: {:.2} s, {} cases: {} passed, {} failed, {} skipped",
            total.as_secs_f64(),
            report.counts.total,
            report.counts.pass,
            report.counts.fail,
            report.counts.skip
        );
        for (g, (ms, n)) in &groups {
            println!("  {g:<12} {n:>2} cases {:>8.2} s", *ms as f64 / 1000.0);
        }
        for r in report
            .results
            .iter()
            .filter(|r| r.outcome != evfed_conformance::Outcome::Pass)
        {
            println!("  {:?} {}: {}", r.outcome, r.id, r.evidence.message);
        }
    }
}

/// 5,000 Locations in Camden over five parties through the node's batch endpoint, a Tariff per
/// party, and 1,000 status changes.
fn load(node: &Node) {
    let admin = node.token(None, "admin");
    let camden = evfed_spec::areas::AreaSet::london()
        .get("E09000007")
        .unwrap();
    let mut seed: u64 = 42;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut all = Vec::new();
    while all.len() < LOCATIONS {
        let (lat, lon) = (51.530 + next() * 0.025, -0.19 + next() * 0.07);
        if !camden_core(camden, lat, lon) {
            continue;
        }
        let i = all.len();
        let party = PARTIES[i % PARTIES.len()];
        let (cc, pid) = party.split_once('*').unwrap();
        let id = format!("{pid}-{i:05}");
        let lu = format!("2026-11-{:02}T{:02}:00:00Z", 1 + i % 28, i % 24);
        all.push(location(
            cc,
            pid,
            &id,
            &format!("{lat:.6}"),
            &format!("{lon:.6}"),
            &lu,
            true,
        ));
    }
    // 400 Locations (about 0.6 MB) per request: bodies are bounded at 1 MiB.
    for chunk in all.chunks(400) {
        let res = node
            .http
            .post(format!("{}/v1/admin/locations", node.url))
            .bearer_auth(&admin)
            .json(&Value::Array(chunk.to_vec()))
            .send()
            .unwrap();
        assert!(res.status().is_success(), "{}", res.text().unwrap());
    }
    for party in PARTIES {
        let (cc, pid) = party.split_once('*').unwrap();
        let w = node.token(Some(party), "data:write");
        let put = node
            .http
            .put(format!("{}/v1/tariffs/{cc}/{pid}/T1", node.url))
            .bearer_auth(&w)
            .json(&tariff(cc, pid))
            .send()
            .unwrap();
        assert!(put.status().is_success());
        let changes: Vec<Value> = all
            .iter()
            .filter(|l| l["party_id"] == pid)
            .take(200)
            .map(|l| {
                json!({"country_code": cc, "party_id": pid, "location_id": l["id"],
                       "evse_uid": l["evses"][0]["uid"], "status": "CHARGING",
                       "event_time": "2026-11-30T12:00:00Z"})
            })
            .collect();
        let res = node
            .http
            .post(format!("{}/v1/status", node.url))
            .bearer_auth(&w)
            .json(&changes)
            .send()
            .unwrap();
        assert!(res.status().is_success(), "{}", res.text().unwrap());
    }
    node.wait_signed();
}

/// Inside Camden and at least about 400 m from its edge in every direction, so that every
/// placement agrees.
fn camden_core(camden: &evfed_spec::areas::Area, lat: f64, lon: f64) -> bool {
    let d = 0.004;
    [
        (0.0, 0.0),
        (d, 0.0),
        (-d, 0.0),
        (0.0, d * 1.6),
        (0.0, -d * 1.6),
    ]
    .iter()
    .all(|(a, b)| camden.contains_point(lat + a, lon + b))
}
