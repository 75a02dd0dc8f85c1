//! The node's auth matrix: every operation of the OpenAPI document it serves at
//! `/openapi.json`, under every token variant (`matrix/cells.rs`), against the security each
//! operation declares. Tokens are minted with the node's built-in issuer key; the fixtures are
//! one party's Location, Tariff and session, written first.

mod cells;

use std::time::Duration;

use evfed_spec::time::DateTime;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{NodeDir, testdata};
use cells::{Authority, Fixture, Operation};

const OWN: &str = "GB*LPC";
const OTHER: &str = "GB*RHX";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("ocpi/valid/{name}"))).unwrap()
}

#[test]
fn every_operation_answers_every_token_as_documented() {
    let node = NodeDir::init("evfed.ops.example", &["--kind", "cpo"]);
    let run = node.serve();
    let key = evfed_node::home::Home::new(node.path())
        .issuer_key()
        .unwrap();
    let authority = Authority {
        iss: node.origin.clone(),
        aud: node.origin.clone(),
        der: key.to_pkcs8_der().unwrap(),
        public: *key.verifier().public_key().as_bytes(),
        kid: Some(format!("{:08x}", key.verifier().id())),
    };

    // The fixtures: a Location, a Tariff and a session of GB*LPC.
    let writer = node.writer(OWN);
    let location_bytes = fixture("location_westminster_lamppost.json");
    let location: Value = serde_json::from_slice(&location_bytes).unwrap();
    let location_id = location["id"].as_str().unwrap().to_owned();
    let evse = location["evses"][0].clone();
    let evse_uid = evse["uid"].as_str().unwrap().to_owned();
    let connector = evse["connectors"][0].clone();
    let connector_id = connector["id"].as_str().unwrap().to_owned();
    let tariff_bytes = fixture("tariff_lamppost_standard.json");
    let tariff: Value = serde_json::from_slice(&tariff_bytes).unwrap();
    let tariff_id = tariff["id"].as_str().unwrap().to_owned();
    let session: Value = serde_json::from_slice(&fixture("usage_record.json")).unwrap();
    let session_id = session["id"].as_str().unwrap().to_owned();
    for (method, path, body) in [
        (
            Method::PUT,
            format!("/v1/locations/GB/LPC/{location_id}"),
            location_bytes.clone(),
        ),
        (
            Method::PUT,
            format!("/v1/tariffs/GB/LPC/{tariff_id}"),
            tariff_bytes.clone(),
        ),
        (
            Method::POST,
            "/v1/sessions".to_owned(),
            serde_json::to_vec(&json!([session])).unwrap(),
        ),
    ] {
        let res = run.send(method, &path, Some(&writer), &body);
        assert!(
            res.status().is_success(),
            "fixture {path}: {}",
            res.status()
        );
    }

    let param = |_: &Operation, name: &str| -> String {
        match name {
            "country_code" => "GB".into(),
            "party_id" => "LPC".into(),
            "location_id" => location_id.clone(),
            "evse_uid" => evse_uid.clone(),
            "connector_id" => connector_id.clone(),
            "tariff_id" => tariff_id.clone(),
            "session_id" => session_id.clone(),
            other => format!("matrix-{other}"),
        }
    };
    let now = DateTime::now().to_string();
    let body = |op: &Operation| -> Option<Vec<u8>> {
        let t = op.template.as_str();
        let v1_record = t.starts_with("/v1/locations/") || t.starts_with("/v1/tariffs/");
        let depth = t.matches('/').count();
        Some(match op.method.as_str() {
            "GET" | "DELETE" | "HEAD" => return None,
            "PATCH" => serde_json::to_vec(&json!({"last_updated": now})).unwrap(),
            "PUT" if v1_record && t.starts_with("/v1/tariffs/") => tariff_bytes.clone(),
            "PUT" if v1_record && depth == 5 => location_bytes.clone(),
            "PUT" if v1_record && depth == 6 => serde_json::to_vec(&evse).unwrap(),
            "PUT" if v1_record && depth == 7 => serde_json::to_vec(&connector).unwrap(),
            "POST" if t == "/v1/status" => serde_json::to_vec(&json!([{
                "country_code": "GB", "party_id": "LPC", "location_id": location_id,
                "evse_uid": evse_uid, "status": "AVAILABLE", "event_time": now,
            }]))
            .unwrap(),
            "POST" if t == "/v1/sessions" => serde_json::to_vec(&json!([session])).unwrap(),
            "POST" if t == "/v1/admin/locations" => {
                serde_json::to_vec(&json!([location])).unwrap()
            }
            "POST" if t == "/v1/admin/ocpi/registrations" => {
                serde_json::to_vec(&json!({"party": OWN})).unwrap()
            }
            _ => b"{}".to_vec(),
        })
    };
    let doc: Value = run.get("/openapi.json").json().unwrap();
    let report = cells::run(
        &run.url,
        &doc,
        &authority,
        &Fixture {
            param: &param,
            body: &body,
            own_party: OWN,
            other_party: OTHER,
            skip: &|_| None,
        },
        Duration::from_secs(20),
    );
    report.assert_clean("node");
    assert!(
        report.operations >= 60,
        "only {} operations",
        report.operations
    );
}
