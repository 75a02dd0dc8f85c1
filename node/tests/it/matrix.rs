//! The node's auth matrix: every operation of the OpenAPI document it serves at
//! `/openapi.json`, under every token variant (`matrix/cells.rs`), against the security each
//! operation declares. Tokens are minted with the node's built-in issuer key; the fixtures are
//! one party's unpublished Location, its Tariff and a session, written first, so that open
//! reads of the Location must also hide it from everyone but `usage:read` and its own writer.

mod cells;

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::NodeDir;
use cells::{Authority, Fixture, Operation, Records};

#[test]
fn every_operation_answers_every_token_as_documented() {
    let node = NodeDir::init("evfed.ops.example", &["--kind", "cpo"]);
    let run = node.serve();
    let key = evfed_node::embed::Home::new(node.path())
        .issuer_key()
        .unwrap();
    let authority = Authority {
        iss: node.origin.clone(),
        aud: node.origin.clone(),
        der: key.to_pkcs8_der().unwrap(),
        public: *key.verifier().public_key().as_bytes(),
        kid: Some(format!("{:08x}", key.verifier().id())),
    };
    let mut records = Records::lpc();
    records.location["publish"] = json!(false);
    records.write(
        &run.url,
        &cells::valid_token(&authority, &["data:write"], Some("GB*LPC")),
    );

    let param = |_: &Operation, name: &str| -> String {
        records
            .param(name)
            .unwrap_or_else(|| format!("matrix-{name}"))
    };
    let body = |op: &Operation| -> Option<Vec<u8>> {
        records.body(op).unwrap_or_else(|| {
            Some(match op.template.as_str() {
                "/v1/admin/ocpi/registrations" => {
                    serde_json::to_vec(&json!({"party": "GB*LPC"})).unwrap()
                }
                _ => b"{}".to_vec(),
            })
        })
    };
    let hidden = |op: &Operation| {
        op.method == "GET"
            && (op.template.starts_with("/v1/locations/{")
                || op.template.starts_with("/ocpi/2.2.1/locations/{"))
    };
    let doc: Value = run.get("/openapi.json").json().unwrap();
    let report = cells::run(
        &run.url,
        &doc,
        &authority,
        &Fixture {
            param: &param,
            body: &body,
            own_party: "GB*LPC",
            other_party: "GB*RHX",
            hidden: &hidden,
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
