//! The committed OpenAPI document must be exactly what the code generates.

use std::path::PathBuf;

#[test]
fn committed_openapi_matches_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/openapi/node.json");
    let generated = evfed_node::openapi::document_json();
    if std::env::var_os("EVFED_WRITE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "spec/openapi/node.json is out of date with the code. Regenerate it with\n\n    \
         cargo run -p evfed-node -- openapi > spec/openapi/node.json\n\n\
         (or EVFED_WRITE_OPENAPI=1 cargo test -p evfed-node --test it openapi) and review the diff."
    );
}

#[test]
fn document_is_openapi_3_1_with_the_wire_types() {
    let doc: serde_json::Value =
        serde_json::from_str(&evfed_node::openapi::document_json()).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Location",
        "Evse",
        "Connector",
        "Tariff",
        "UsageRecord",
        "StatusChange",
        "Problem",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    assert_eq!(doc["info"]["license"]["name"], "Apache-2.0");
}
