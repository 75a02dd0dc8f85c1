//! Bad input at a real node's HTTP edge: a body that is not I-JSON anywhere, unknown members
//! included, is `invalid-json` on every operation of the served document that takes a body,
//! and changes nothing.

use reqwest::Method;
use serde_json::Value;

use crate::support::NodeDir;

/// Bodies that serde would read past (the non-I-JSON part is in an unknown member) and that
/// §13 refuses.
fn non_i_json() -> Vec<(&'static str, Vec<u8>)> {
    let member = |inner: &str| format!(r#"{{"id":"LOC-1","zz_unknown":{inner}}}"#).into_bytes();
    vec![
        ("duplicate names", member(r#"{"a":1,"a":2}"#)),
        ("1e400", member("[1e400]")),
        ("lone surrogate", member(r#""\ud800""#)),
        ("500,000 [", member(&"[".repeat(500_000))),
        ("duplicate at the top", br#"{"id":"a","id":"b"}"#.to_vec()),
    ]
}

#[test]
fn non_i_json_anywhere_is_invalid_json_on_every_write() {
    let node = NodeDir::camden();
    let run = node.serve();
    let token = node.token(Some("GB*LPC"), &["data:write", "admin", "usage:read"]);
    let doc: Value = run.get("/openapi.json").json().unwrap();
    let size = run.tree_size();
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            // The OCPI surface answers in OCPI's envelope, to OCPI credentials; its bodies pass
            // through the same check (`http::body`).
            if op.get("requestBody").is_none() || template.starts_with("/ocpi/") {
                continue;
            }
            let path = template
                .replace("{country_code}", "GB")
                .replace("{party_id}", "LPC")
                .replace("{location_id}", "LOC-1")
                .replace("{evse_uid}", "EVSE-1")
                .replace("{connector_id}", "1")
                .replace("{tariff_id}", "T-1")
                .replace("{party}", "GB*LPC");
            assert!(!path.contains('{'), "unfilled parameter in {template}");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            for (what, body) in non_i_json() {
                let res = run.send(method.clone(), &path, Some(&token), &body);
                assert_eq!(res.status(), 400, "{method} {path} with {what}");
                assert_eq!(
                    res.headers()["content-type"],
                    "application/problem+json",
                    "{method} {path} with {what}"
                );
                let problem: Value = res.json().unwrap();
                assert_eq!(
                    problem["code"], "invalid-json",
                    "{method} {path} with {what}: {problem}"
                );
                checked += 1;
            }
        }
    }
    // PUT and PATCH at three levels, a tariff, two batches, the admin import and registrations.
    assert!(checked >= 5 * 10, "only {checked} requests checked");
    assert_eq!(run.tree_size(), size, "a refused body wrote nothing");
    // The node still serves.
    assert_eq!(run.get("/healthz").status(), 200);
}
