//! End-to-end: real evfed-node and evfed-aggregator processes on 127.0.0.1:0, real SQLite,
//! real HTTP and signatures; and members faked in process (`fake_member`) to inject faults.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use support::{
    AGGREGATOR, Node, Server, add_member, add_member_for, aggregator, log_size, node_bin,
    put_location, put_location_of, wait_member,
};

mod adopt;
mod compliance;
mod edges;
mod fake_member;
mod faults;
mod matrix;
mod member_faults;
mod oauth;
mod own_log;
mod realtime;
mod reverify;
mod split_view;
mod support;
mod usage;

#[test]
fn harvests_verified_data_and_refuses_tampering() {
    evfed_aggregator::outgoing::install_crypto_provider();
    let root = tempfile::tempdir().unwrap();
    let node = Node::init(root.path(), "rhx");
    let server = Server::start(&node_bin(), &node.dir);
    let token = node.token("GB*RHX");
    put_location(&server, &token, "L1", "51.53000");
    put_location(&server, &token, "L2", "51.53100");
    let vkey = Node::vkey(&server);

    // A member pinned with someone else's key is refused, and nothing of it is stored.
    let other = Node::init(root.path(), "other");
    let agg_dir = aggregator(root.path());
    let other_server = Server::start(&node_bin(), &other.dir);
    let wrong_key = Node::vkey(&other_server);
    other_server.stop();
    // Registered under its own origin but pointed at this node: the checkpoint's signer is a
    // key the aggregator does not trust for that member.
    add_member(&agg_dir, &other.origin, &server.url, &wrong_key);
    add_member(&agg_dir, &node.origin, &server.url, &vkey);
    let agg = Server::start(Path::new(AGGREGATOR), &agg_dir);

    let size = log_size(&server);
    let m = wait_member(&agg, &node.origin, |m| {
        m["state"] == "ok" && m["verified_size"].as_u64() == Some(size)
    });
    assert_eq!(m["verified_size"].as_u64(), Some(size));
    let bad = wait_member(&agg, &other.origin, |m| m["state"] == "invalid");
    assert!(
        bad["reason"].as_str().unwrap().contains("unknown-key"),
        "{bad}"
    );
    let evidence = agg.json(&format!("/v1/members/{}/evidence", other.origin));
    assert!(
        evidence[0]["note"]
            .as_str()
            .unwrap()
            .contains("evfed.rhx.example")
    );

    let res = reqwest::blocking::get(format!("{}/v1/london/locations", agg.url)).unwrap();
    assert_eq!(res.headers()["x-total-count"], "2");
    let listed: Value = res.json().unwrap();
    assert_eq!(listed[0]["evfed_london"]["sources"][0], node.origin);

    // A status change reaches the London view.
    let change = json!([{"country_code": "GB", "party_id": "RHX", "location_id": "L1",
        "evse_uid": "L1-1", "status": "CHARGING", "event_time": "2026-11-21T09:00:00Z"}]);
    let res = reqwest::blocking::Client::new()
        .post(format!("{}/v1/status", server.url))
        .bearer_auth(&token)
        .json(&change)
        .send()
        .unwrap();
    assert!(res.status().is_success());
    let size = log_size(&server);
    wait_member(&agg, &node.origin, |m| {
        m["verified_size"].as_u64() == Some(size)
    });
    let l1 = agg.json("/v1/london/locations/GB/RHX/L1");
    assert_eq!(l1["evses"][0]["status"], "CHARGING");
    assert_eq!(l1["last_updated"], "2026-11-21T09:00:00Z");
    let status = agg.json("/v1/london/status");
    assert_eq!(status["by_status"]["CHARGING"], 1);
    let near = reqwest::blocking::get(format!(
        "{}/v1/london/locations?near=51.5300,-0.1400&radius_m=50",
        agg.url
    ))
    .unwrap();
    assert_eq!(near.headers()["x-total-count"], "1");
    // Exports: CSV (one row per connector), GeoJSON and OCPI JSON, with the same filters.
    let res =
        reqwest::blocking::get(format!("{}/v1/london/exports/locations.csv", agg.url)).unwrap();
    let content_type = res.headers()["content-type"].clone();
    let text = res.text().unwrap();
    assert_eq!(content_type, "text/csv; charset=utf-8", "{text}");
    let mut csv = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header = csv.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2, "{text}");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let l1 = rows
        .iter()
        .find(|r| &r[col("location_id")] == "L1")
        .unwrap();
    assert_eq!(&l1[col("status")], "CHARGING");
    assert_eq!(&l1[col("standard")], "IEC_62196_T2");
    assert_eq!(&l1[col("max_power_kw")], "7.4");
    assert_eq!(&l1[col("power_class")], "slow");
    let geo = agg.json("/v1/london/exports/locations.geojson?status=CHARGING");
    assert_eq!(geo["type"], "FeatureCollection");
    assert_eq!(geo["features"].as_array().unwrap().len(), 1);
    assert_eq!(
        geo["features"][0]["geometry"]["coordinates"],
        json!([-0.14, 51.53])
    );
    assert_eq!(geo["features"][0]["properties"]["location_id"], "L1");
    let ocpi = agg.json("/v1/london/exports/locations.json");
    let parsed: Vec<evfed_spec::ocpi::Location> = serde_json::from_value(ocpi).unwrap();
    assert_eq!(parsed.len(), 2);
    let unknown =
        reqwest::blocking::get(format!("{}/v1/london/exports/locations.xls", agg.url)).unwrap();
    assert_eq!(unknown.status(), 404);

    let bad_query =
        reqwest::blocking::get(format!("{}/v1/london/locations?limit=0", agg.url)).unwrap();
    assert_eq!(bad_query.status(), 400);
    assert_eq!(
        bad_query.headers()["content-type"],
        "application/problem+json"
    );

    // A node whose stored entry was altered under it while it serves (a node checks its own log
    // when it starts, so altered while stopped it would refuse to serve): its signed root no
    // longer matches the entries it serves, and the aggregator stores none of them.
    let tam = Node::init(root.path(), "tam");
    let tam_server = Server::start(&node_bin(), &tam.dir);
    let tam_token = tam.token("GB*TAM");
    put_location_of(&tam_server, &tam_token, "TAM", "T1", "51.54000");
    put_location_of(&tam_server, &tam_token, "TAM", "T2", "51.54100");
    let tam_size = log_size(&tam_server);
    let tam_vkey = Node::vkey(&tam_server);
    let db = rusqlite::Connection::open(tam.dir.join("evfed.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let n = db
        .execute(
            "UPDATE log_entry SET bytes = CAST(replace(CAST(bytes AS TEXT), '1 Test Street', \
             '9 Fake Street') AS BLOB) WHERE key = 1",
            [],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(db);
    assert_eq!(log_size(&tam_server), tam_size);
    add_member_for(&agg_dir, &tam.origin, &tam_server.url, &tam_vkey, "GB*TAM");
    let m = wait_member(&agg, &tam.origin, |m| m["state"] == "invalid");
    assert!(
        m["reason"].as_str().unwrap().contains("do not match"),
        "{m}"
    );
    assert_eq!(m["verified_size"], 0);
    let res = reqwest::blocking::get(format!("{}/v1/london/locations", agg.url)).unwrap();
    assert_eq!(
        res.headers()["x-total-count"],
        "2",
        "nothing of the altered log is served"
    );
    tam_server.stop();

    // The borough check: a location claiming Westminster at a point in Camden, well over
    // 200 m from Westminster's boundary, is served but listed with the finding.
    let mut misplaced = json!({
        "country_code": "GB", "party_id": "RHX", "id": "L9", "publish": true,
        "address": "9 Test Street", "city": "London", "country": "GBR",
        "coordinates": {"latitude": "51.55000", "longitude": "-0.14000"},
        "time_zone": "Europe/London", "last_updated": "2026-10-22T10:00:00Z",
        "evfed": {"borough": "E09000033"},
        "evses": []
    });
    let res = reqwest::blocking::Client::new()
        .put(format!("{}/v1/locations/GB/RHX/L9", server.url))
        .bearer_auth(&token)
        .json(&misplaced)
        .send()
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().unwrap());
    let size = log_size(&server);
    wait_member(&agg, &node.origin, |m| {
        m["verified_size"].as_u64() == Some(size)
    });
    let found = agg.json("/v1/london/placement");
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["id"], "L9");
    assert_eq!(found[0]["borough"], "E09000033");
    let finding = found[0]["findings"][0].as_str().unwrap();
    assert!(
        finding.contains("Westminster") && finding.contains("in Camden (E09000007)"),
        "{finding}"
    );
    assert_eq!(
        agg.json("/v1/london/placement?borough=E09000007"),
        json!([])
    );
    let sources = agg.json("/v1/london/locations/GB/RHX/L9/sources");
    assert_eq!(sources["sources"][0]["placement"][0], finding);
    assert!(
        agg.json("/v1/london/locations/GB/RHX/L1/sources")["sources"][0]
            .get("placement")
            .is_none()
    );
    // Corrected, the finding goes.
    misplaced["evfed"]["borough"] = json!("E09000007");
    misplaced["last_updated"] = json!("2026-10-23T10:00:00Z");
    let res = reqwest::blocking::Client::new()
        .put(format!("{}/v1/locations/GB/RHX/L9", server.url))
        .bearer_auth(&token)
        .json(&misplaced)
        .send()
        .unwrap();
    assert!(res.status().is_success());
    let size = log_size(&server);
    wait_member(&agg, &node.origin, |m| {
        m["verified_size"].as_u64() == Some(size)
    });
    assert_eq!(agg.json("/v1/london/placement"), json!([]));

    // A member that stops answering is unreachable; its last verified data is still served,
    // marked stale.
    server.stop();
    wait_member(&agg, &node.origin, |m| m["state"] == "unreachable");
    let l2 = agg.json("/v1/london/locations/GB/RHX/L2");
    assert_eq!(l2["evfed_london"]["stale"], true);
    assert_eq!(l2["address"], "1 Test Street");
    agg.stop();
}

#[test]
fn committed_openapi_matches_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/openapi/aggregator.json");
    let generated = evfed_aggregator::openapi::document_json();
    if std::env::var_os("EVFED_WRITE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "spec/openapi/aggregator.json is out of date with the code. Regenerate it with\n\n    \
         cargo run -p evfed-aggregator -- openapi > spec/openapi/aggregator.json\n\n\
         and review the diff."
    );
    let doc: Value = serde_json::from_str(&generated).unwrap();
    for path in [
        "/v1/london/locations",
        "/v1/admin/members",
        "/v1/log/checkpoint",
        "/v1/locations",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
}
