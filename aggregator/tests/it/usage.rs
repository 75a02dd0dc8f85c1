//! Usage from members' restricted logs: harvested with the member's `usage:read` token,
//! verified like the public log, rolled up by hour and area, and served only to callers holding
//! `usage:read` from the aggregator's own issuer.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{AGGREGATOR, Node, Server, aggregator, log_size, node_bin, run, wait_member};

fn post(server: &Server, token: &str, path: &str, body: &Value) {
    let res = reqwest::blocking::Client::new()
        .post(format!("{}{path}", server.url))
        .bearer_auth(token)
        .json(body)
        .send()
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().unwrap());
}

fn session(id: &str, evse: &str, start: &str, end: Option<&str>, kwh: f64) -> Value {
    let mut s = json!({"id": id, "country_code": "GB", "party_id": "VLT", "location_id": "U1",
        "evse_uid": evse, "connector_id": "1", "start_date_time": start, "kwh": kwh});
    if let Some(end) = end {
        s["end_date_time"] = json!(end);
    }
    s
}

fn get(agg: &Server, path: &str, token: Option<&str>) -> reqwest::blocking::Response {
    let mut req = reqwest::blocking::Client::new().get(format!("{}{path}", agg.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().unwrap()
}

fn restricted_size(node: &Server) -> u64 {
    let note = reqwest::blocking::get(format!("{}/v1/restricted/log/checkpoint", node.url))
        .unwrap()
        .text()
        .unwrap();
    note.lines().nth(1).unwrap().parse().unwrap()
}

#[test]
fn usage_is_harvested_verified_rolled_up_and_only_for_usage_readers() {
    evfed_aggregator::outgoing::install_crypto_provider();
    let root = tempfile::tempdir().unwrap();
    let node = Node::init(root.path(), "volt");
    let server = Server::start(&node_bin(), &node.dir);
    let token = node.token("GB*VLT");
    let evse = |uid: &str| {
        json!({"uid": uid, "status": "AVAILABLE", "last_updated": "2026-11-01T10:00:00Z",
               "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                               "power_type": "AC_1_PHASE", "max_voltage": 230,
                               "max_amperage": 32, "last_updated": "2026-11-01T10:00:00Z"}]})
    };
    let location = json!({
        "country_code": "GB", "party_id": "VLT", "id": "U1", "publish": true,
        "address": "1 Usage Road", "city": "London", "country": "GBR",
        "coordinates": {"latitude": "51.53900", "longitude": "-0.14260"},
        "time_zone": "Europe/London", "last_updated": "2026-11-01T10:00:00Z",
        "evses": [evse("U1-1"), evse("U1-2")],
        "evfed": {"ward": {"code": "E05013660", "boundary_vintage": "2022"}},
    });
    let res = reqwest::blocking::Client::new()
        .put(format!("{}/v1/locations/GB/VLT/U1", server.url))
        .bearer_auth(&token)
        .json(&location)
        .send()
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().unwrap());
    // 10:00-11:00 on one EVSE, 10:30-11:30 on the other (both busy 10:30-11:00), and one
    // still charging at 12:00.
    post(
        &server,
        &token,
        "/v1/sessions",
        &json!([
            session(
                "S1",
                "U1-1",
                "2026-11-20T10:00:00Z",
                Some("2026-11-20T11:00:00Z"),
                7.0
            ),
            session(
                "S2",
                "U1-2",
                "2026-11-20T10:30:00Z",
                Some("2026-11-20T11:30:00Z"),
                6.5
            ),
            session("S3", "U1-1", "2026-11-20T12:00:00Z", None, 1.0),
        ]),
    );
    let usage_token = run(
        &node_bin(),
        &[
            "token",
            "issue",
            "--dir",
            node.dir.to_str().unwrap(),
            "--scope",
            "usage:read",
            "--ttl",
            "1d",
        ],
    );
    let usage_token = usage_token.lines().last().unwrap().trim().to_owned();

    let agg_dir = aggregator(root.path());
    let vkey = Node::vkey(&server);
    run(
        Path::new(AGGREGATOR),
        &[
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
            "cpo",
            "--party",
            "GB*VLT",
            "--usage-token",
            &usage_token,
        ],
    );
    let agg = Server::start(Path::new(AGGREGATOR), &agg_dir);
    let size = log_size(&server);
    let usage_size = restricted_size(&server);
    assert!(usage_size >= 3);
    let m = wait_member(&agg, &node.origin, |m| {
        m["verified_size"].as_u64() == Some(size)
            && m["usage"]["verified_size"].as_u64() == Some(usage_size)
    });
    assert_eq!(m["usage"]["state"], "ok");

    // Only usage:read callers of the aggregator's own issuer.
    let reader = run(
        Path::new(AGGREGATOR),
        &[
            "token",
            "issue",
            "--dir",
            agg_dir.to_str().unwrap(),
            "--scope",
            "usage:read",
        ],
    );
    let reader = reader.lines().last().unwrap().trim().to_owned();
    let admin = run(
        Path::new(AGGREGATOR),
        &[
            "token",
            "issue",
            "--dir",
            agg_dir.to_str().unwrap(),
            "--scope",
            "admin",
        ],
    );
    let admin = admin.lines().last().unwrap().trim().to_owned();
    let day = "/v1/london/usage?from=2026-11-20&to=2026-11-21";
    let res = get(&agg, day, None);
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_eq!(get(&agg, day, Some(&admin)).status(), 403);
    assert_eq!(
        get(&agg, day, Some(&usage_token)).status(),
        401,
        "the node's token is not ours"
    );

    let figures: Value = get(&agg, day, Some(&reader)).json().unwrap();
    assert_eq!(figures.as_array().unwrap().len(), 1, "{figures}");
    let f = &figures[0];
    assert_eq!(f["period"], "2026-11-20T00:00:00Z");
    assert_eq!(f["area"], "E09000007");
    assert_eq!(f["sessions"], 3);
    assert_eq!(f["kwh"], 14.5);
    assert_eq!(
        f["busy_hours"], 2.0,
        "the ongoing session counts from its start hour only"
    );
    assert_eq!(f["utilisation_pct"], 4.2, "2 EVSE-hours of 48");
    // The London and borough roll-up levels agree with the wards they sum.
    for q in [
        "area=london",
        "area=london&borough=E09000007",
        "area=borough&ward=E05013655",
    ] {
        let other: Value = get(&agg, &format!("{day}&{q}"), Some(&reader))
            .json()
            .unwrap();
        assert_eq!(other.as_array().unwrap().len(), 1, "{q}: {other}");
        assert_eq!(other[0]["sessions"], 3, "{q}");
        assert_eq!(other[0]["kwh"], 14.5, "{q}");
        assert_eq!(other[0]["busy_hours"], 2.0, "{q}");
    }

    let hourly: Value = get(&agg, &format!("{day}&by=hour&area=ward"), Some(&reader))
        .json()
        .unwrap();
    let hours: Vec<(&str, i64, f64, f64)> = hourly
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["period"].as_str().unwrap(),
                f["sessions"].as_i64().unwrap(),
                f["busy_hours"].as_f64().unwrap(),
                f["utilisation_pct"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        hours,
        [
            ("2026-11-20T10:00:00Z", 2, 1.5, 75.0),
            ("2026-11-20T11:00:00Z", 0, 0.5, 25.0),
            ("2026-11-20T12:00:00Z", 1, 0.0, 0.0),
        ]
    );
    assert_eq!(
        hourly[0]["area"], "E05013655",
        "the ward is the one the coordinates lie in (Camden Town), not the one the publisher \
         claims (Haverstock, E05013660)"
    );

    let sat: Value = get(
        &agg,
        "/v1/london/locations/GB/VLT/U1/saturation?from=2026-11-20T10:00:00Z&to=2026-11-20T12:00:00Z",
        Some(&reader),
    )
    .json()
    .unwrap();
    assert_eq!(sat["saturated_hours"], 0.5);
    assert_eq!(sat["saturation_pct"], 25.0);

    // The ongoing session ends: its new version replaces the old in the roll-up.
    post(
        &server,
        &token,
        "/v1/sessions",
        &json!([session(
            "S3",
            "U1-1",
            "2026-11-20T12:00:00Z",
            Some("2026-11-20T13:00:00Z"),
            9.0
        ),]),
    );
    let usage_size = restricted_size_after(&server, usage_size);
    wait_member(&agg, &node.origin, |m| {
        m["usage"]["verified_size"].as_u64() == Some(usage_size)
    });
    let figures: Value = get(&agg, day, Some(&reader)).json().unwrap();
    assert_eq!(figures[0]["sessions"], 3);
    assert_eq!(figures[0]["kwh"], 22.5);
    assert_eq!(figures[0]["busy_hours"], 3.0);

    let trends: Value = get(&agg, "/v1/london/usage/trends", Some(&reader))
        .json()
        .unwrap();
    assert_eq!(trends[0]["period"], "2026-11-01T00:00:00Z", "{trends}");
    assert_eq!(trends[0]["sessions"], 3);
    let bad = get(&agg, "/v1/london/usage?by=week", Some(&reader));
    assert_eq!(bad.status(), 400);
    agg.stop();
    server.stop();
}

fn restricted_size_after(node: &Server, before: u64) -> u64 {
    let started = std::time::Instant::now();
    loop {
        let size = restricted_size(node);
        if size > before {
            return size;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
