//! The committed OpenAPI document must be exactly what the code generates.

use std::path::PathBuf;

#[test]
fn committed_openapi_matches_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/openapi/node.json");
    let generated = evfed_node::cli::document_json();
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
    let doc: serde_json::Value = serde_json::from_str(&evfed_node::cli::document_json()).unwrap();
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

/// The OCPI surface's answers have real schemas: every success is OCPI's envelope with
/// `status_code` and `timestamp`, whose `data` names the OCPI object it carries; every error is
/// OCPI's error envelope, except the edge's `429`, which is problem+json.
#[test]
fn ocpi_answers_have_real_schemas() {
    let doc: serde_json::Value = serde_json::from_str(&evfed_node::cli::document_json()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let named = |s: &serde_json::Value| {
        s["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .map(str::to_owned)
    };
    let mut answers = 0;
    let paths = doc["paths"].as_object().unwrap();
    for (path, item) in paths.iter().filter(|(p, _)| p.starts_with("/ocpi")) {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                let at = format!("{method} {path} {status}");
                let content = response["content"].as_object().unwrap();
                assert_eq!(content.len(), 1, "{at}");
                let (media, body) = content.iter().next().unwrap();
                let name =
                    named(&body["schema"]).unwrap_or_else(|| panic!("{at}: no named schema"));
                if status == "429" {
                    assert_eq!(
                        (media.as_str(), name.as_str()),
                        ("application/problem+json", "Problem"),
                        "{at}"
                    );
                    continue;
                }
                assert_eq!(media, "application/json", "{at}");
                let schema = &schemas[&name];
                let required = schema["required"].as_array().unwrap();
                for member in ["status_code", "timestamp"] {
                    assert!(
                        required.iter().any(|r| r == member),
                        "{at}: {member} not required"
                    );
                }
                if status.starts_with('2') {
                    assert_ne!(name, "OcpiErrorResponse", "{at}");
                } else {
                    assert_eq!(name, "OcpiErrorResponse", "{at}");
                }
                answers += 1;
            }
        }
    }
    assert_eq!(
        schemas["OcpiErrorResponse"]["properties"]["status_code"]["minimum"],
        2000
    );
    assert_eq!(
        schemas["OcpiErrorResponse"]["properties"]["status_code"]["maximum"],
        3999
    );
    assert!(answers > 50, "{answers} OCPI answers");

    // What each success carries, by the name of its schema.
    let data = |path: &str, method: &str| {
        let body = &paths[path][method]["responses"]["200"]["content"]["application/json"];
        let envelope = &schemas[named(&body["schema"]).unwrap()];
        let data = &envelope["properties"]["data"];
        match data["type"].as_str() {
            Some("array") => format!("[{}]", named(&data["items"]).unwrap_or_default()),
            _ => named(data).unwrap_or_default(),
        }
    };
    for (path, method, carries) in [
        ("/ocpi/versions", "get", "[Version]"),
        ("/ocpi/2.2.1", "get", "VersionDetails"),
        ("/ocpi/2.2.1/locations", "get", "[Location]"),
        ("/ocpi/2.2.1/locations/{location_id}", "get", "Location"),
        (
            "/ocpi/2.2.1/locations/{location_id}/{evse_uid}",
            "get",
            "Evse",
        ),
        (
            "/ocpi/2.2.1/locations/{location_id}/{evse_uid}/{connector_id}",
            "get",
            "Connector",
        ),
        ("/ocpi/2.2.1/tariffs", "get", "[Tariff]"),
        ("/ocpi/2.2.1/credentials", "get", "Credentials"),
        ("/ocpi/2.2.1/credentials", "post", "Credentials"),
        (
            "/ocpi/2.2.1/receiver/tariffs/{country_code}/{party_id}/{tariff_id}",
            "get",
            "Tariff",
        ),
    ] {
        assert_eq!(data(path, method), carries, "{method} {path}");
    }
    let details = &schemas["VersionDetails"]["properties"]["endpoints"]["items"];
    let endpoint = &schemas[named(details).unwrap()];
    let mut members: Vec<&String> = endpoint["properties"].as_object().unwrap().keys().collect();
    members.sort();
    assert_eq!(members, ["identifier", "role", "url"]);
    let role = &schemas["Credentials"]["properties"]["roles"]["items"];
    let role = &schemas[named(role).unwrap()]["required"];
    assert_eq!(
        role,
        &serde_json::json!(["role", "business_details", "party_id", "country_code"])
    );
}
