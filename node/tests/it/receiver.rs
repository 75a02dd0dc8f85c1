//! The OCPI 2.2.1 receiver on the real binary: registration (with the node stopped and while
//! it serves), the credentials handshake, pushes of the official OCPI examples by a plain
//! OCPI platform, and the walls between parties.

mod platform;

use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{NodeDir, Running, run as cli, verified_log};
use platform::Platform;

/// Driver data in the official Session and CDR examples, which must never reach the node.
const PERSONAL: &[&str] = &[
    "123abc",
    "NL-TST-C12345678-S",
    "012345678",
    "DE8ACC12E46L89",
    "WHITELIST",
    "cdr_token",
    "auth_method",
    "charging_periods",
];

fn fixture(name: &str) -> Vec<u8> {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ocpi")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

/// A CPO node accepting the two parties of the official examples, `BE*BEC` (the Location,
/// Sessions and CDR) and `DE*ALL` (the Tariff).
fn node() -> NodeDir {
    NodeDir::init(
        "evfed.receiver.example",
        &["--kind", "cpo", "--party", "BE*BEC", "--party", "DE*ALL"],
    )
}

fn set_ocpi_party(node: &NodeDir) {
    let path = node.path().join("config.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\nocpi_party = \"GB*EVF\"\n");
    std::fs::write(&path, text).unwrap();
}

/// `ocpi register`: (token A, versions URL, stdout).
fn register(node: &NodeDir, party: &str) -> (String, String, String) {
    let out = cli(&[
        "ocpi",
        "register",
        "--dir",
        &node.dir_arg(),
        "--party",
        party,
    ]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "ocpi register failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .trim()
            .to_owned()
    };
    (field("token:"), field("versions URL:"), stdout)
}

fn restricted_size(run: &Running) -> u64 {
    // The restricted checkpoint may lag; the metrics expose the live size.
    let text = run.get("/metrics").text().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("evfed_log_size{log=\"restricted\"} "))
        .unwrap()
        .parse()
        .unwrap()
}

/// Both logs' sizes.
fn sizes(run: &Running) -> (u64, u64) {
    (run.tree_size(), restricted_size(run))
}

#[test]
fn official_examples_pushed_by_an_ocpi_platform_feed_the_node() {
    let node = node();
    let dir = node.dir_arg();

    // Without the node's own OCPI party, registration says what to set.
    let out = cli(&["ocpi", "register", "--dir", &dir, "--party", "BE*BEC"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ocpi_party"));
    set_ocpi_party(&node);
    let out = cli(&["ocpi", "register", "--dir", &dir, "--party", "NL*STK"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not accept party NL*STK"),
        "{out:?}"
    );

    // DE*ALL registers while the node is stopped (the command writes the database itself) …
    let (token_de, _, stdout) = register(&node, "DE*ALL");
    assert!(!stdout.contains("through the serving node"), "{stdout}");
    let run = node.serve();
    // … and BE*BEC while it serves (through the admin endpoint).
    let (token_be, versions_url, stdout) = register(&node, "BE*BEC");
    assert!(stdout.contains("through the serving node"), "{stdout}");
    assert_eq!(versions_url, format!("{}/ocpi/versions", run.url));

    // Discovery: the sender modules, the credentials module and the receiver modules.
    let mut be = Platform::new("BE*BEC", &token_be);
    be.discover(&versions_url);
    for module in ["locations", "tariffs", "sessions", "cdrs"] {
        assert!(
            be.endpoint(module, "RECEIVER")
                .ends_with(&format!("/ocpi/2.2.1/receiver/{module}"))
        );
    }
    let credentials_url = be.endpoint("credentials", "SENDER").to_owned();

    // Token A serves only the handshake.
    be.call(
        Method::PUT,
        &be.url("locations", "BE/BEC/LOC1"),
        Some(&fixture("location_example.json")),
    )
    .refused(401, 2000);
    be.call(Method::GET, &credentials_url, None)
        .refused(405, 2000);
    // Credentials that do not name the registered party are refused, and A stays usable.
    be.call(
        Method::POST,
        &credentials_url,
        Some(&fixture("credentials_example.json")),
    )
    .refused(403, 2000);
    let token_a = be.token.clone();
    let answer = be.register();
    let data = &answer.body["data"];
    assert_eq!(data["url"], versions_url.as_str());
    assert_eq!(
        data["roles"],
        json!([{"role": "NAP", "country_code": "GB", "party_id": "EVF",
                "business_details": {"name": "evfed.receiver.example"}}])
    );
    assert_ne!(be.token, token_a);
    assert_eq!(be.token.len(), 43);
    // A is spent; C is registered.
    let spent = Platform::new("BE*BEC", &token_a);
    spent
        .call(Method::POST, &credentials_url, Some(&be.credentials()))
        .refused(401, 2000);
    be.call(Method::POST, &credentials_url, Some(&be.credentials()))
        .refused(405, 2000);
    let got = be.call(Method::GET, &credentials_url, None).ok();
    assert_eq!(got.body["data"]["token"], be.token.as_str());

    let mut de = Platform::new("DE*ALL", &token_de);
    de.discover(&versions_url);
    de.register();

    // The Location, as the official example has it.
    let before = sizes(&run);
    let loc_url = be.url("locations", "BE/BEC/LOC1");
    be.call(
        Method::PUT,
        &loc_url,
        Some(&fixture("location_example.json")),
    )
    .ok();
    assert_eq!(sizes(&run), (before.0 + 1, before.1), "one location entry");
    let stored = run.json("/v1/locations/BE/BEC/LOC1");
    assert_eq!(stored["name"], "Gent Zuid");
    assert_eq!(stored["evfed"]["outside_area"], true);
    // The same PUT again changes nothing and appends nothing.
    be.call(
        Method::PUT,
        &loc_url,
        Some(&fixture("location_example.json")),
    )
    .ok();
    assert_eq!(sizes(&run), (before.0 + 1, before.1));

    // EVSE status PATCH: the cheap status path, one evse_status entry.
    let evse_url = be.url("locations", "BE/BEC/LOC1/3256");
    be.call(
        Method::PATCH,
        &evse_url,
        Some(&fixture("location_patch_example_status.json")),
    )
    .ok();
    let entries = verified_log(&run, "/v1/log", None, run.tree_size());
    let last: Value = serde_json::from_str(entries.last().unwrap()).unwrap();
    assert_eq!(last["type"], "evse_status", "{last}");
    assert_eq!(last["data"]["status"], "CHARGING");
    let stored = run.json("/v1/locations/BE/BEC/LOC1");
    assert_eq!(stored["evses"][0]["status"], "CHARGING");
    assert_eq!(stored["last_updated"], "2019-06-24T12:39:09Z", "rolled up");

    // Location and Connector PATCH examples.
    be.call(
        Method::PATCH,
        &loc_url,
        Some(&fixture("location_patch_example_location.json")),
    )
    .ok();
    be.call(
        Method::PATCH,
        &be.url("locations", "BE/BEC/LOC1/3256/1"),
        Some(&fixture("location_patch_example_tariff.json")),
    )
    .ok();
    // A Connector PUT (the example's second connector, added to the second EVSE).
    let connector = fixture_json("location_example.json")["evses"][0]["connectors"][1].clone();
    let connector_url = be.url("locations", "BE/BEC/LOC1/3257/2");
    be.call(
        Method::PUT,
        &connector_url,
        Some(&serde_json::to_vec(&connector).unwrap()),
    )
    .ok();
    let got = be.call(Method::GET, &connector_url, None).ok();
    assert_eq!(got.body["data"]["id"], "2");
    assert!(got.body["data"].get("evfed").is_none());
    // The EVSE removal example.
    be.call(
        Method::PATCH,
        &be.url("locations", "BE/BEC/LOC1/3257"),
        Some(&fixture("location_patch_example_remove_evse.json")),
    )
    .ok();
    let stored = run.json("/v1/locations/BE/BEC/LOC1");
    assert_eq!(stored["name"], "Interparking Gent Zuid");
    assert_eq!(
        stored["evses"][0]["connectors"][0]["tariff_ids"],
        json!(["15"])
    );
    assert_eq!(stored["evses"][1]["connectors"][1]["id"], "2");
    assert_eq!(stored["evses"][1]["status"], "REMOVED");
    let got = be.call(Method::GET, &loc_url, None).ok();
    assert_eq!(got.body["data"]["name"], "Interparking Gent Zuid");
    assert!(got.body["data"].get("evfed").is_none());

    // The EVSE PUT example is not valid OCPI 2.2.1: 2001, and nothing is written.
    let before = sizes(&run);
    let refused = be
        .call(
            Method::PUT,
            &evse_url,
            Some(&fixture("location_put_example_add_evse.json")),
        )
        .refused(400, 2001);
    assert!(refused.message().contains("power_type"), "{}", refused.body);
    assert_eq!(sizes(&run), before);
    assert_eq!(run.json("/v1/locations/BE/BEC/LOC1"), stored);
    // As are bodies that are not JSON, or name another location than the path.
    be.call(Method::PUT, &loc_url, Some(b"{\"id\": "))
        .refused(400, 2001);
    be.call(
        Method::PUT,
        &be.url("locations", "BE/BEC/LOC2"),
        Some(&fixture("location_example.json")),
    )
    .refused(400, 2001);
    be.call(
        Method::PATCH,
        &evse_url,
        Some(b"{\"status\": \"CHARGING\"}"),
    )
    .refused(400, 2001);
    be.call(
        Method::PATCH,
        &be.url("locations", "BE/BEC/NOPE"),
        Some(&fixture("location_patch_example_location.json")),
    )
    .refused(404, 2003);
    assert_eq!(sizes(&run), before);

    // The Tariff example (without last_updated: the node supplies its time of receipt).
    let tariff_url = de.url("tariffs", "DE/ALL/12");
    let put = de
        .call(
            Method::PUT,
            &tariff_url,
            Some(&fixture("tariff_put_example.json")),
        )
        .ok();
    assert!(
        put.message().contains("last-updated-defaulted"),
        "{}",
        put.body
    );
    let tariff = run.json("/v1/tariffs/DE/ALL/12");
    assert_eq!(tariff["currency"], "EUR");
    assert!(tariff["last_updated"].is_string());
    let got = de.call(Method::GET, &tariff_url, None).ok();
    assert_eq!(got.body["data"]["id"], "12");
    // BE*BEC's own tariff, put and deleted.
    let mut own = fixture_json("tariff_put_example.json");
    own["country_code"] = json!("BE");
    own["party_id"] = json!("BEC");
    own["id"] = json!("11");
    let own_url = be.url("tariffs", "BE/BEC/11");
    be.call(
        Method::PUT,
        &own_url,
        Some(&serde_json::to_vec(&own).unwrap()),
    )
    .ok();
    assert_eq!(run.get("/v1/tariffs/BE/BEC/11").status(), 200);
    be.call(Method::DELETE, &own_url, None).ok();
    assert_eq!(run.get("/v1/tariffs/BE/BEC/11").status(), 404);
    be.call(Method::DELETE, &own_url, None).refused(404, 2000);

    // Sessions: the finished session and both PATCH examples.
    let before = sizes(&run);
    let session_url = be.url("sessions", "BE/BEC/101");
    let put = be
        .call(
            Method::PUT,
            &session_url,
            Some(&fixture("session_example_2_short_finished.json")),
        )
        .ok();
    assert!(
        put.message().contains("personal-data-dropped"),
        "{}",
        put.body
    );
    be.call(
        Method::PATCH,
        &session_url,
        Some(&fixture("session_patch_example_charging_period.json")),
    )
    .ok();
    be.call(
        Method::PATCH,
        &session_url,
        Some(&fixture("session_patch_example_total_cost.json")),
    )
    .ok();
    assert_eq!(sizes(&run), (before.0, before.1 + 3), "three usage changes");
    be.call(
        Method::PATCH,
        &be.url("sessions", "BE/BEC/999"),
        Some(&fixture("session_patch_example_total_cost.json")),
    )
    .refused(404, 2000);

    // The CDR: its session's final record, readable at the Location the node answers.
    let posted = be
        .call(
            Method::POST,
            be.endpoint("cdrs", "RECEIVER"),
            Some(&fixture("cdr_example.json")),
        )
        .ok();
    let cdr_url = posted.location.clone().expect("a Location header");
    assert_eq!(cdr_url, be.url("cdrs", "BE/BEC/12345"));
    let cdr = be.call(Method::GET, &cdr_url, None).ok();
    assert_eq!(cdr.body["data"]["id"], "12345");
    assert_eq!(cdr.body["data"]["total_energy"], 15.342);
    // The same CDR again is acknowledged and appends nothing; a changed one is refused.
    let before = sizes(&run);
    be.call(
        Method::POST,
        be.endpoint("cdrs", "RECEIVER"),
        Some(&fixture("cdr_example.json")),
    )
    .ok();
    let mut changed = fixture_json("cdr_example.json");
    changed["total_energy"] = json!(20.0);
    be.call(
        Method::POST,
        be.endpoint("cdrs", "RECEIVER"),
        Some(&serde_json::to_vec(&changed).unwrap()),
    )
    .refused(409, 2000);
    assert_eq!(sizes(&run), before);

    // The usage records carry no personal field, as served and as logged.
    let reader = node.token(None, &["usage:read"]);
    let sessions: Value = run.get_auth("/v1/sessions", &reader).json().unwrap();
    let by_id = |id: &str| {
        sessions
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("no usage record {id} in {sessions}"))
            .clone()
    };
    let s101 = by_id("101");
    assert_eq!(s101["kwh"], 15.0);
    assert_eq!(
        s101["total_cost"],
        json!({"excl_vat": 0.6, "incl_vat": 0.66})
    );
    assert_eq!(s101["end_date_time"], "2015-06-29T23:50:16Z");
    assert_eq!(by_id("12345")["kwh"], 15.342);
    let restricted = verified_log(
        &run,
        "/v1/restricted/log",
        Some(&reader),
        restricted_size(&run),
    );
    let public = verified_log(&run, "/v1/log", None, run.tree_size());
    let served = sessions.to_string() + &cdr.body.to_string();
    for text in restricted.iter().chain(&public).chain([&served]) {
        for secret in PERSONAL {
            assert!(!text.contains(secret), "{secret} reached the node: {text}");
        }
    }
    for file in ["evfed.db", "evfed.db-wal"] {
        let bytes = std::fs::read(node.path().join(file)).unwrap_or_default();
        for secret in PERSONAL.iter().take(4) {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} is in {file}"
            );
        }
    }

    // The location appears in the node's own API and its OCPI sender interface.
    let list: Value = run.get("/v1/locations?party=BE*BEC").json().unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let sender: Value = run.get("/ocpi/2.2.1/locations/LOC1").json().unwrap();
    assert_eq!(sender["data"]["name"], "Interparking Gent Zuid");

    // Rotation: PUT gives a new token C; the old one stops working.
    let old = be.token.clone();
    let rotated = be
        .call(Method::PUT, &credentials_url, Some(&be.credentials()))
        .ok();
    be.token = rotated.body["data"]["token"].as_str().unwrap().to_owned();
    assert_ne!(be.token, old);
    Platform::new("BE*BEC", &old)
        .call(Method::GET, &loc_url, None)
        .refused(401, 2000);
    be.call(Method::GET, &loc_url, None).ok();

    // `ocpi list` and `ocpi revoke` while serving; then DELETE unregisters.
    let out = cli(&["ocpi", "list", "--dir", &dir]);
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(
        listed.contains("BE*BEC\tregistered") && listed.contains("DE*ALL\tregistered"),
        "{listed}"
    );
    assert!(
        listed.contains("https://platform.example/ocpi/versions"),
        "{listed}"
    );
    let out = cli(&["ocpi", "revoke", "--dir", &dir, "--party", "DE*ALL"]);
    assert!(out.status.success(), "{out:?}");
    de.call(Method::GET, &tariff_url, None).refused(401, 2000);
    be.call(Method::DELETE, &credentials_url, None).ok();
    be.call(Method::GET, &loc_url, None).refused(401, 2000);
    let out = cli(&["ocpi", "revoke", "--dir", &dir, "--party", "BE*BEC"]);
    assert!(!out.status.success());

    // Credentials live in the database: after a restart, a new registration works (written
    // with the node stopped) and the data is still there.
    assert!(run.stop().success());
    let (token, _, _) = register(&node, "BE*BEC");
    let run = node.serve();
    let mut again = Platform::new("BE*BEC", &token);
    again.discover(&format!("{}/ocpi/versions", run.url));
    again.register();
    again
        .call(Method::GET, &again.url("locations", "BE/BEC/LOC1"), None)
        .ok();
    let out = run_list(&node);
    assert!(out.contains("BE*BEC\tregistered"), "{out}");
    assert!(!out.contains("DE*ALL"), "{out}");
}

fn run_list(node: &NodeDir) -> String {
    let out = cli(&["ocpi", "list", "--dir", &node.dir_arg()]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_credential_cannot_touch_another_partys_records() {
    let node = node();
    set_ocpi_party(&node);
    let run = node.serve();
    let versions_url = format!("{}/ocpi/versions", run.url);
    let mut be = Platform::new("BE*BEC", &register(&node, "BE*BEC").0);
    be.discover(&versions_url);
    be.register();
    let mut de = Platform::new("DE*ALL", &register(&node, "DE*ALL").0);
    de.discover(&versions_url);
    de.register();

    // BE*BEC's records.
    let loc_url = be.url("locations", "BE/BEC/LOC1");
    be.call(
        Method::PUT,
        &loc_url,
        Some(&fixture("location_example.json")),
    )
    .ok();
    let mut tariff = fixture_json("tariff_put_example.json");
    tariff["country_code"] = json!("BE");
    tariff["party_id"] = json!("BEC");
    let tariff_url = be.url("tariffs", "BE/BEC/12");
    be.call(
        Method::PUT,
        &tariff_url,
        Some(&serde_json::to_vec(&tariff).unwrap()),
    )
    .ok();
    be.call(
        Method::PUT,
        &be.url("sessions", "BE/BEC/101"),
        Some(&fixture("session_example_2_short_finished.json")),
    )
    .ok();
    let cdrs = be.endpoint("cdrs", "RECEIVER").to_owned();
    be.call(Method::POST, &cdrs, Some(&fixture("cdr_example.json")))
        .ok();
    let location = run.json("/v1/locations/BE/BEC/LOC1");
    let stored_tariff = run.json("/v1/tariffs/BE/BEC/12");
    let before = (run.tree_size(), restricted_size(&run));

    // DE*ALL's credential, on BE*BEC's paths, whatever it tries: 403, and nothing changes.
    let status = fixture("location_patch_example_status.json");
    let attempts: Vec<(Method, String, Option<Vec<u8>>)> = vec![
        (Method::GET, loc_url.clone(), None),
        (
            Method::PUT,
            loc_url.clone(),
            Some(fixture("location_example.json")),
        ),
        (
            Method::PATCH,
            loc_url.clone(),
            Some(fixture("location_patch_example_location.json")),
        ),
        (Method::GET, format!("{loc_url}/3256"), None),
        (
            Method::PATCH,
            format!("{loc_url}/3256"),
            Some(status.clone()),
        ),
        (
            Method::PUT,
            format!("{loc_url}/3256/1"),
            Some(
                serde_json::to_vec(
                    &fixture_json("location_example.json")["evses"][0]["connectors"][0],
                )
                .unwrap(),
            ),
        ),
        (
            Method::PATCH,
            format!("{loc_url}/3256/1"),
            Some(fixture("location_patch_example_tariff.json")),
        ),
        (Method::GET, format!("{loc_url}/3256/1"), None),
        (Method::GET, tariff_url.clone(), None),
        (
            Method::PUT,
            tariff_url.clone(),
            Some(serde_json::to_vec(&tariff).unwrap()),
        ),
        (Method::DELETE, tariff_url.clone(), None),
        (
            Method::PUT,
            be.url("sessions", "BE/BEC/101"),
            Some(fixture("session_example_2_short_finished.json")),
        ),
        (
            Method::PATCH,
            be.url("sessions", "BE/BEC/101"),
            Some(fixture("session_patch_example_total_cost.json")),
        ),
        (Method::GET, be.url("cdrs", "BE/BEC/12345"), None),
        // A CDR names its party in the body: BE*BEC's CDR posted by DE*ALL.
        (
            Method::POST,
            cdrs.clone(),
            Some(fixture("cdr_example.json")),
        ),
        // Unknown ids of the other party are refused the same way (no probing).
        (Method::GET, be.url("locations", "BE/BEC/NOPE"), None),
        (
            Method::PATCH,
            be.url("locations", "BE/BEC/NOPE/1"),
            Some(status.clone()),
        ),
    ];
    for (method, url, body) in attempts {
        let answer = de.call(method.clone(), &url, body.as_deref());
        assert_eq!(
            (answer.status, answer.code()),
            (403, 2000),
            "{method} {url}: {}",
            answer.body
        );
    }
    // Its own path with BE*BEC's body: the ids disagree with the path (2001).
    de.call(
        Method::PUT,
        &de.url("locations", "DE/ALL/LOC1"),
        Some(&fixture("location_example.json")),
    )
    .refused(400, 2001);
    assert_eq!((run.tree_size(), restricted_size(&run)), before);
    assert_eq!(run.json("/v1/locations/BE/BEC/LOC1"), location);
    assert_eq!(run.json("/v1/tariffs/BE/BEC/12"), stored_tariff);
    assert_eq!(
        run.get("/v1/locations?party=DE*ALL")
            .json::<Value>()
            .unwrap(),
        json!([])
    );

    // Tokens: none, malformed, a JWT, the client's own token B, plain (unencoded) C works.
    let url = loc_url.as_str();
    for auth in [
        None,
        Some("Token".to_owned()),
        Some("Token not-a-token".to_owned()),
        Some(format!("Bearer {}", node.writer("BE*BEC"))),
        Some(format!("Token {}", be.token_b)),
    ] {
        let answer = be.send(Method::GET, url, auth.as_deref(), None);
        assert_eq!(
            (answer.status, answer.code()),
            (401, 2000),
            "{auth:?}: {}",
            answer.body
        );
    }
    let plain = be.send(Method::GET, url, Some(&format!("Token {}", be.token)), None);
    assert_eq!(plain.status, 200, "{}", plain.body);

    // Bodies are bounded like every body (max_body_bytes), and refused in the envelope.
    let huge = vec![b' '; 2 * 1024 * 1024];
    be.call(Method::PUT, &loc_url, Some(&huge))
        .refused(413, 2000);
    assert_eq!((run.tree_size(), restricted_size(&run)), before);

    // The OCPI surface answers in its envelope also for unknown paths and methods.
    let unknown = be.call(
        Method::GET,
        &format!("{}/ocpi/2.2.1/receiver/nothing", run.url),
        None,
    );
    assert_eq!((unknown.status, unknown.code()), (404, 2000));
    let res = be.call(Method::GET, &be.url("sessions", "BE/BEC/101"), None);
    assert_eq!((res.status, res.code()), (405, 2000));
}
