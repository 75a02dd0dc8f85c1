//! The aggregator's auth matrix: every operation of the OpenAPI document it serves at
//! `/openapi.json` (its own API, its authorization server and its embedded node's), under every
//! token variant (the node tests' `matrix/cells.rs`), against the security each operation
//! declares. Tokens are minted with the authorization server's key `DIR/oauth.key` — the one
//! issuer of the admin API — and a client registered with scope `admin` gets one by client
//! credentials that opens the admin API too.

#[path = "../../../node/tests/it/matrix/cells.rs"]
mod cells;

use std::path::Path;
use std::time::Duration;

use evfed_spec::note::SigningKey;
use serde_json::{Value, json};

use crate::support::{AGGREGATOR, Server, admin_token, aggregator, run};
use cells::{Authority, Fixture, Operation, Records};

const ORIGIN: &str = "evfed.london.example";
const MEMBER: &str = "evfed.member.example";
const GONE_MEMBER: &str = "evfed.gone.example";
const GONE_CLIENT: &str = "matrix-gone";

fn vkey(origin: &str) -> String {
    SigningKey::generate(origin, &mut rand::rngs::OsRng)
        .unwrap()
        .verifier()
        .to_string()
}

fn member_add(agg: &Path, origin: &str) {
    // Nothing listens there: the harvest fails fast and records it.
    crate::support::add_member(agg, origin, "http://127.0.0.1:9", &vkey(origin));
}

/// Registers a client with a secret; returns the secret.
fn client_add(agg: &Path, id: &str, scope: &str, audience: &str) -> String {
    let out = run(
        Path::new(AGGREGATOR),
        &[
            "clients",
            "add",
            "--dir",
            agg.to_str().unwrap(),
            "--id",
            id,
            "--scope",
            scope,
            "--audience",
            audience,
            "--secret",
        ],
    );
    out.lines().last().unwrap().trim().to_owned()
}

#[test]
fn every_operation_answers_every_token_as_documented() {
    let root = tempfile::tempdir().unwrap();
    let agg_dir = aggregator(root.path());
    member_add(&agg_dir, MEMBER);
    member_add(&agg_dir, GONE_MEMBER);
    client_add(&agg_dir, GONE_CLIENT, "usage:read", "evfed.camden.example");
    let secret = client_add(&agg_dir, "operator", "admin", ORIGIN);
    let agg = Server::start(Path::new(AGGREGATOR), &agg_dir);
    evfed_node::embed::outgoing::install_crypto_provider();
    let http = reqwest::blocking::Client::new();

    // An admin client's token (client credentials) and the CLI's open the admin API; a token
    // of another trusted issuer (the embedded node's), even with scope admin, does not.
    let res = http
        .post(format!("{}/oauth2/token", agg.url))
        .basic_auth("operator", Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=client_credentials&resource={ORIGIN}"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let client_token = res.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for token in [client_token, admin_token(&agg_dir)] {
        let res = http
            .get(format!("{}/v1/admin/members", agg.url))
            .bearer_auth(token)
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let node_key = evfed_node::embed::Home::new(agg_dir.join("node"))
        .issuer_key()
        .unwrap();
    let node_admin = evfed_node::embed::tokens::Issuer::new(ORIGIN, &node_key)
        .unwrap()
        .issue(
            "matrix",
            None,
            &["admin".to_owned()],
            Duration::from_secs(600),
            evfed_spec::time::DateTime::now().unix_seconds() as u64,
        )
        .unwrap();
    let res = http
        .get(format!("{}/v1/admin/clients", agg.url))
        .bearer_auth(&node_admin)
        .send()
        .unwrap();
    assert_eq!(res.status(), 401);
    let problem: Value = res.json().unwrap();
    assert_eq!(problem["code"], "unauthorized");

    let keys = evfed_aggregator::oauth::keys::Keys::load(&agg_dir).unwrap();
    let authority = Authority {
        iss: format!("https://{ORIGIN}"),
        aud: ORIGIN.to_owned(),
        der: keys.current.to_pkcs8_der().unwrap(),
        public: *keys.current.verifier().public_key().as_bytes(),
        kid: Some(evfed_aggregator::oauth::keys::kid(&keys.current)),
    };
    let records = Records::lpc();
    records.write(
        &agg.url,
        &cells::valid_token(&authority, &["data:write"], Some("GB*LPC")),
    );
    let param = |op: &Operation, name: &str| -> String {
        match name {
            "origin" if op.method == "DELETE" => GONE_MEMBER.into(),
            "origin" => MEMBER.into(),
            "id" if op.template.starts_with("/v1/admin/clients") => GONE_CLIENT.into(),
            "format" => "json".into(),
            other => records
                .param(other)
                .unwrap_or_else(|| format!("matrix-{other}")),
        }
    };
    let readmit_vkey = vkey(MEMBER);
    let body = |op: &Operation| -> Option<Vec<u8>> {
        if let Some(b) = records.body(op) {
            return b;
        }
        let v = match op.template.as_str() {
            "/oauth2/token" => return Some(Vec::new()),
            "/v1/admin/members" => json!({
                "origin": "evfed.new.example", "url": "http://127.0.0.1:9",
                "vkeys": [vkey("evfed.new.example")], "kind": "cpo"}),
            t if t.ends_with("/readmit") => {
                json!({"vkeys": [readmit_vkey], "reason": "auth matrix"})
            }
            "/v1/admin/clients" => json!({
                "id": "matrix-new", "scopes": ["usage:read"],
                "audiences": ["evfed.camden.example"]}),
            "/v1/admin/ocpi/registrations" => json!({"party": "GB*LPC"}),
            _ => json!({}),
        };
        Some(serde_json::to_vec(&v).unwrap())
    };
    let fixture = Fixture {
        param: &param,
        body: &body,
        own_party: "GB*LPC",
        other_party: "GB*RHX",
        hidden: &|_| false,
    };
    let served = |agg: &Server| -> Value {
        http.get(format!("{}/openapi.json", agg.url))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let doc = served(&agg);
    let report = cells::run(
        &agg.url,
        &doc,
        &authority,
        &fixture,
        Duration::from_secs(20),
    );
    report.assert_clean("aggregator");
    assert!(
        report.operations >= 80,
        "only {} operations",
        report.operations
    );
    agg.stop();

    // Compliance restricted by configuration: the served document says so, and the server
    // does what it says.
    crate::support::configure_aggregator(&agg_dir, "compliance_open = false\n");
    let agg = Server::start(Path::new(AGGREGATOR), &agg_dir);
    let doc = served(&agg);
    assert_eq!(
        doc["paths"]["/v1/compliance/suppliers"]["get"]["security"],
        json!([{"bearer": ["usage:read"]}])
    );
    let report = cells::run(
        &agg.url,
        &doc,
        &authority,
        &fixture,
        Duration::from_secs(20),
    );
    report.assert_clean("aggregator (compliance_open = false)");

    // A key rotation while serving: tokens of the new key open the admin API at once, and
    // those of the previous key until they expire.
    run(
        Path::new(AGGREGATOR),
        &["oauth", "rotate-key", "--dir", agg_dir.to_str().unwrap()],
    );
    for token in [
        admin_token(&agg_dir),
        cells::valid_token(&authority, &["admin"], None),
    ] {
        let res = http
            .get(format!("{}/v1/admin/members", agg.url))
            .bearer_auth(token)
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    agg.stop();
}
