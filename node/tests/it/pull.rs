//! OCPI pulls end to end: a deliberately imperfect sender (`pull/sender.rs`) on a real port, the
//! real `evfed-node pull ocpi` and `serve` binaries, real SQLite; and the library's resume,
//! token and TLS paths against the same sender.

mod sender;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use evfed_node::cli::Config;
use evfed_node::cli::pull::{
    self, ClientOptions, Deviation, FetchError, Module, Options, Outcome, PullError, Source, Stop,
    Store,
};
use reqwest::Method;
use serde_json::Value;
use url::Url;

use crate::support::{NodeDir, run, testdata};
use sender::{Sender, TOKEN};

fn cpo_node() -> NodeDir {
    NodeDir::init("evfed.lampside.example", &["--kind", "cpo"])
}

/// `evfed-node pull ocpi` to completion; its JSON report.
fn pull_cli(node: &NodeDir, url: &str, token: Option<&str>) -> Value {
    let report = node.tmp.path().join("report.json");
    let _ = std::fs::remove_file(&report);
    let dir = node.dir_arg();
    let mut args = vec!["pull", "ocpi", "--dir", &dir, "--url", url];
    if let Some(t) = token {
        args.extend(["--token", t]);
    }
    let report_arg = report.to_str().unwrap().to_owned();
    args.extend(["--report", &report_arg]);
    let out = run(&args);
    assert!(
        out.status.success(),
        "pull failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap()
}

fn module<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["module"] == name)
        .unwrap_or_else(|| panic!("no module {name} in {report:#}"))
}

/// (pages, received, created, updated, unchanged, rejected, skipped, appended)
fn counts(m: &Value) -> [u64; 8] {
    [
        "pages",
        "received",
        "created",
        "updated",
        "unchanged",
        "rejected",
        "skipped",
        "appended",
    ]
    .map(|k| m[k].as_u64().unwrap())
}

fn deviations(m: &Value) -> BTreeMap<String, u64> {
    serde_json::from_value(m["deviations"].clone()).unwrap()
}

fn expect(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[test]
fn an_imperfect_sender_lands_the_right_records_once() {
    let sender = Sender::start();
    let node = cpo_node();
    let report = pull_cli(&node, &sender.versions_url(), Some(TOKEN));
    assert_eq!(report["version"], "2.2.1");

    let locations = module(&report, "locations");
    assert_eq!(locations["outcome"]["state"], "complete");
    assert_eq!(counts(locations), [3, 9, 6, 0, 0, 3, 0, 6]);
    assert_eq!(
        deviations(locations),
        expect(&[
            ("coordinates-format", 1),
            ("id-case", 2),
            ("invalid-record", 3),
            ("link-malformed", 1),
            ("null-or-empty", 3),
            ("ocpi-211-field", 2),
            ("publish-defaulted", 1),
            ("retried", 1),
            ("status-mapped", 3),
            ("status-unknown", 1),
            ("time-zone-defaulted", 1),
            ("windows-time-zone", 1),
        ])
    );
    let errors: Vec<(u64, u64, &str, &str)> = locations["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["page"].as_u64().unwrap(),
                e["index"].as_u64().unwrap(),
                e["id"].as_str().unwrap(),
                e["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(
        (errors[0].0, errors[0].1, errors[0].2),
        (1, 2, "LPC-CMD-003")
    );
    assert!(errors[0].3.contains("coordinates"), "{errors:?}");
    assert_eq!(
        (errors[1].0, errors[1].1, errors[1].2),
        (2, 2, "LPC-CMD-006")
    );
    assert!(errors[1].3.contains("connectors"), "{errors:?}");
    assert_eq!((errors[2].0, errors[2].1), (3, 2));
    assert!(errors[2].3.starts_with("id:"), "{errors:?}");
    assert!(
        locations["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("FAULTED stored as OUTOFORDER")),
        "{locations:#}"
    );

    let tariffs = module(&report, "tariffs");
    assert_eq!(counts(tariffs), [2, 3, 2, 0, 0, 1, 0, 2]);
    assert_eq!(
        deviations(tariffs),
        expect(&[
            ("envelope-error", 1),
            ("id-case", 1),
            ("invalid-record", 1),
            ("link-foreign", 1),
            ("null-or-empty", 2),
            ("retried", 1),
        ])
    );

    // S-0001 is complete and has a CDR: left to it. S-0003 has negative energy.
    let sessions = module(&report, "sessions");
    assert_eq!(counts(sessions), [2, 3, 1, 0, 0, 1, 1, 1]);
    assert_eq!(
        deviations(sessions),
        expect(&[
            ("envelope-error", 1),
            ("invalid-record", 1),
            ("link-failed", 1),
            ("personal-data-dropped", 2),
        ])
    );
    let cdrs = module(&report, "cdrs");
    assert_eq!(counts(cdrs), [2, 2, 2, 0, 0, 0, 0, 2]);
    assert_eq!(deviations(cdrs), expect(&[("personal-data-dropped", 2)]));

    // Again: the sender bumps every last_updated and ignores date_from; nothing is appended.
    let before = sender.requests().len();
    let again = pull_cli(&node, &sender.versions_url(), Some(TOKEN));
    for (name, unchanged) in [
        ("locations", 6),
        ("tariffs", 2),
        ("sessions", 1),
        ("cdrs", 2),
    ] {
        let m = module(&again, name);
        assert_eq!(m["appended"], 0, "{name}: {m:#}");
        assert_eq!(m["unchanged"], unchanged, "{name}: {m:#}");
        assert_eq!(m["outcome"]["state"], "complete");
        assert!(m["date_from"].is_string(), "{name} was not incremental");
    }
    let second: Vec<String> = sender.requests()[before..].to_vec();
    for name in ["locations", "tariffs", "sessions", "cdrs"] {
        let first = second
            .iter()
            .find(|r| r.starts_with(&format!("/ocpi/2.2.1/{name}")))
            .unwrap();
        assert!(first.contains("date_from="), "{first}");
    }

    // What landed, as the node serves it.
    let running = node.serve();
    let list: Vec<Value> = running
        .json("/v1/locations?limit=100")
        .as_array()
        .unwrap()
        .clone();
    let by_id: BTreeMap<&str, &Value> = list
        .iter()
        .map(|l| (l["id"].as_str().unwrap(), l))
        .collect();
    assert_eq!(
        by_id.keys().copied().collect::<Vec<_>>(),
        [
            "LPC-CMD-002",
            "LPC-CMD-004",
            "LPC-CMD-005",
            "LPC-CMD-007",
            "LPC-CMD-008",
            "lpc-cmd-001"
        ]
    );
    let status = |id: &str| by_id[id]["evses"][0]["status"].as_str().unwrap().to_owned();
    assert_eq!(status("lpc-cmd-001"), "AVAILABLE");
    assert_eq!(status("LPC-CMD-002"), "OUTOFORDER");
    assert_eq!(status("LPC-CMD-004"), "UNKNOWN");
    assert_eq!(status("LPC-CMD-008"), "CHARGING");
    let l1 = by_id["lpc-cmd-001"];
    assert_eq!(
        (l1["country_code"].as_str(), l1["party_id"].as_str()),
        (Some("GB"), Some("LPC"))
    );
    assert_eq!(l1["time_zone"], "Europe/London");
    assert_eq!(l1["evfed"]["borough"], "E09000007");
    let c2 = &by_id["LPC-CMD-002"]["evses"][0]["connectors"][0];
    assert_eq!(
        (c2["max_voltage"].as_u64(), c2["max_amperage"].as_u64()),
        (Some(230), Some(16))
    );
    assert_eq!(c2["tariff_ids"][0], "LPC-STD");
    assert_eq!(by_id["LPC-CMD-005"]["parking_type"], "ON_STREET");
    let tariffs: Vec<Value> = running.json("/v1/tariffs").as_array().unwrap().clone();
    assert_eq!(tariffs.len(), 2);

    let reader = node.token(None, &["usage:read"]);
    let res = running.get_auth("/v1/sessions", &reader);
    assert_eq!(res.status(), 200);
    let usage: Vec<Value> = res.json().unwrap();
    let mut ids: Vec<&str> = usage.iter().map(|u| u["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["CDR-0002", "S-0001", "S-0002"]);
    let s1 = usage.iter().find(|u| u["id"] == "S-0001").unwrap();
    assert_eq!(s1["kwh"], 14.25, "the CDR's final figures");

    // The CLI signed checkpoints over everything it appended.
    let size = running.tree_size();
    assert_eq!(size, 8, "6 locations and 2 tariffs");
    let note = running.get("/v1/log/checkpoint").text().unwrap();
    assert_eq!(note.lines().nth(1), Some("8"));
    running.stop();

    // No driver identifier reached the database, in any form.
    let mut bytes = std::fs::read(node.path().join("evfed.db")).unwrap();
    if let Ok(wal) = std::fs::read(node.path().join("evfed.db-wal")) {
        bytes.extend(wal);
    }
    for secret in [
        "04A1B2C3D4",
        "GB-EMS-C12345678-X",
        "AUTH-REF-0001",
        "INV-2026-000123",
        "METER-77",
        "OCMF",
    ] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} is in the database"
        );
    }
}

#[test]
fn the_cli_refuses_while_serve_holds_the_directory() {
    let sender = Sender::start();
    let node = cpo_node();
    let running = node.serve();
    let out = run(&[
        "pull",
        "ocpi",
        "--dir",
        &node.dir_arg(),
        "--url",
        &sender.versions_url(),
        "--token",
        TOKEN,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[[pull]]") && err.contains("serve"), "{err}");
    assert!(sender.requests().is_empty(), "nothing was fetched");
    assert_eq!(running.tree_size(), 0);
}

#[test]
fn serve_pulls_on_its_schedule() {
    let sender = Sender::start();
    let node = cpo_node();
    let token = node.path().join("operator.token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = node.path().join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[[pull]]\nurl = \"{}\"\ntoken_file = \"operator.token\"\ninterval = \"1h\"\nmodules = [\"locations\"]\n",
        sender.versions_url()
    ));
    std::fs::write(&config, text).unwrap();
    let running = node.serve();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = running.json("/v1/locations");
        if list.as_array().unwrap().len() == 6 {
            break;
        }
        assert!(Instant::now() < deadline, "the scheduled pull did not land");
        std::thread::sleep(Duration::from_millis(100));
    }
    running.wait_for_checkpoint(6);
    assert!(running.stop().success());
    assert!(
        sender
            .requests()
            .iter()
            .all(|r| !r.starts_with("/ocpi/2.2.1/tariffs")),
        "only the configured module"
    );
}

#[test]
fn evfed_own_ocpi_feed_is_a_source() {
    let source = NodeDir::camden();
    let a = source.serve();
    for (party, path, file) in [
        (
            "GB*LPC",
            "/v1/locations/GB/LPC/LPC-WCC-00417",
            "location_westminster_lamppost.json",
        ),
        (
            "GB*RHX",
            "/v1/locations/GB/RHX/RHX-PARKROYAL",
            "location_park_royal_rapid_hub.json",
        ),
        (
            "GB*LPC",
            "/v1/locations/GB/LPC/LPC-DEPOT-SWK-1",
            "location_southwark_fleet_depot.json",
        ),
        (
            "GB*RHX",
            "/v1/tariffs/GB/RHX/RHX-ADHOC",
            "tariff_rapid_adhoc.json",
        ),
    ] {
        let body = std::fs::read(testdata(&format!("ocpi/valid/{file}"))).unwrap();
        let res = a.send(Method::PUT, path, Some(&source.writer(party)), &body);
        assert!(res.status().is_success(), "{path}: {}", res.text().unwrap());
    }
    let node = cpo_node();
    let url = format!("{}/ocpi/versions", a.url);
    let report = pull_cli(&node, &url, None);
    // The unpublished depot is not on the open feed.
    assert_eq!(
        counts(module(&report, "locations")),
        [1, 2, 2, 0, 0, 0, 0, 2]
    );
    assert_eq!(counts(module(&report, "tariffs")), [1, 1, 1, 0, 0, 0, 0, 1]);
    let again = pull_cli(&node, &url, None);
    assert_eq!(module(&again, "locations")["appended"], 0);
    assert_eq!(module(&again, "tariffs")["appended"], 0);
    // The same OCPI object (the open feed carries no `evfed` members).
    let b = node.serve();
    let copied = b.json("/ocpi/2.2.1/locations/RHX-PARKROYAL");
    let original = a.json("/ocpi/2.2.1/locations/RHX-PARKROYAL");
    assert_eq!(copied["data"], original["data"]);
}

/// The node directory's store and policy, for library-level pulls.
fn open(node: &NodeDir) -> (Store, pull::Policy) {
    let store = Store::open(&node.path().join("evfed.db")).unwrap();
    let config = Config::load(&node.path().join("config.toml")).unwrap();
    (store, pull::policy(&config))
}

fn fast() -> Options {
    Options {
        client: ClientOptions {
            retries: 2,
            backoff: Duration::from_millis(10),
            ..ClientOptions::default()
        },
        ..Options::default()
    }
}

#[test]
fn a_failed_pull_resumes_from_its_cursor() {
    let sender = Sender::start();
    sender
        .state
        .faulty
        .store(false, std::sync::atomic::Ordering::SeqCst);
    sender
        .state
        .fail_locations_from
        .store(3, std::sync::atomic::Ordering::SeqCst);
    let node = cpo_node();
    let (store, policy) = open(&node);
    let source = Source {
        url: Url::parse(&sender.versions_url()).unwrap(),
        token: Some(TOKEN.into()),
        party: None,
        modules: vec![Module::Locations],
    };
    let opts = fast();
    let r = pull::run(&store, &policy, &source, &opts, &Stop::default()).unwrap();
    let m = r.module("locations").unwrap();
    assert!(
        matches!(&m.outcome, Outcome::Failed(why) if why.contains("503") || why.contains("gave up")),
        "{:?}",
        m.outcome
    );
    assert_eq!((m.pages, m.created, m.rejected), (1, 2, 1));
    assert_eq!(m.deviation(Deviation::Retried), 2);
    assert!(!r.complete());

    sender
        .state
        .fail_locations_from
        .store(u64::MAX, std::sync::atomic::Ordering::SeqCst);
    let before = sender.requests().len();
    let r = pull::run(&store, &policy, &source, &opts, &Stop::default()).unwrap();
    let m = r.module("locations").unwrap();
    assert_eq!(m.outcome, Outcome::Complete);
    assert_eq!((m.pages, m.created, m.rejected, m.received), (2, 4, 2, 6));
    let first = sender.requests()[before..]
        .iter()
        .find(|r| r.starts_with("/ocpi/2.2.1/locations"))
        .cloned()
        .unwrap();
    assert!(
        first.contains("offset=3") && !first.contains("date_from"),
        "{first}"
    );

    // Complete now: the next pull is incremental from the start of the resumed one.
    let before = sender.requests().len();
    let r = pull::run(&store, &policy, &source, &opts, &Stop::default()).unwrap();
    let m = r.module("locations").unwrap();
    assert_eq!((m.appended, m.unchanged), (0, 6));
    let first = sender.requests()[before..]
        .iter()
        .find(|r| r.starts_with("/ocpi/2.2.1/locations"))
        .cloned()
        .unwrap();
    assert!(
        first.contains("date_from") && !first.contains("offset"),
        "{first}"
    );
}

#[test]
fn a_module_url_and_a_sender_that_wants_the_token_plain() {
    let sender = Sender::start();
    sender
        .state
        .faulty
        .store(false, std::sync::atomic::Ordering::SeqCst);
    sender
        .state
        .plain_token_only
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let node = cpo_node();
    let (store, policy) = open(&node);
    let source = Source {
        url: Url::parse(&format!("{}/ocpi/2.2.1/cdrs", sender.url)).unwrap(),
        token: Some(TOKEN.into()),
        party: None,
        modules: Vec::new(),
    };
    let r = pull::run(&store, &policy, &source, &fast(), &Stop::default()).unwrap();
    assert_eq!(r.deviations.get(&Deviation::NoVersionsEndpoint), Some(&1));
    assert_eq!(r.modules.len(), 1);
    let m = r.module("cdrs").unwrap();
    assert_eq!(m.deviation(Deviation::TokenPlain), 1);
    assert_eq!((m.appended, m.rejected), (2, 0));

    // A wrong token is refused after both forms were tried, and nothing is written.
    let wrong = Source {
        token: Some("not-the-token".into()),
        ..source
    };
    let r = pull::run(&store, &policy, &wrong, &fast(), &Stop::default()).unwrap();
    let m = r.module("cdrs").unwrap();
    assert!(
        matches!(&m.outcome, Outcome::Failed(why) if why.contains("refused the token")),
        "{:?}",
        m.outcome
    );
    assert_eq!(m.appended, 0);
}

#[test]
fn tls_failures_are_reported_not_retried() {
    let sender = Sender::start();
    let node = cpo_node();
    let (store, policy) = open(&node);
    // The sender speaks plain HTTP; an https URL to it fails in the TLS handshake.
    let source = Source {
        url: Url::parse(&sender.versions_url().replace("http://", "https://")).unwrap(),
        token: Some(TOKEN.into()),
        party: None,
        modules: Vec::new(),
    };
    let started = Instant::now();
    let err = pull::run(
        &store,
        &policy,
        &source,
        &Options::default(),
        &Stop::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, PullError::Discover(FetchError::Tls { .. })),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "no retries");
}

/// The pull against a real third-party OCPI 2.2.1 implementation, the PyPI package
/// `extrawest-ocpi`, seeded by `scripts/extrawest-ocpi/seed_app.py`. Its Python is
/// `EVFED_EXTRAWEST_PYTHON`, else `target/extrawest-venv/bin/python`, which
/// `scripts/extrawest-ocpi/venv` makes (and `scripts/test` runs it when it runs ignored tests).
#[test]
#[ignore = "needs Python 3.11 with extrawest-ocpi: run scripts/extrawest-ocpi/venv, then this \
            test with --include-ignored (scripts/test does both when ../shared/data is there)"]
fn extrawest_ocpi_as_a_source() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("EVFED_EXTRAWEST_PYTHON").map_or_else(
        || root.join("target/extrawest-venv/bin/python"),
        std::path::PathBuf::from,
    );
    assert!(
        python.is_file(),
        "no Python with extrawest-ocpi at {}: run scripts/extrawest-ocpi/venv, or set \
         EVFED_EXTRAWEST_PYTHON to one (scripts/extrawest-ocpi/README.md)",
        python.display()
    );
    let node = NodeDir::camden();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = node.tmp.path().join("extrawest.log");
    let child = std::process::Command::new(&python)
        .arg(root.join("scripts/extrawest-ocpi/seed_app.py"))
        .args(["--port", &port.to_string(), "--token", TOKEN])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Kill(child);
    let versions = format!("http://127.0.0.1:{port}/ocpi/versions");
    // Up once it accepts connections; its stderr says why when it exits or never does.
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        let exited = child.0.try_wait().unwrap();
        assert!(
            exited.is_none() && Instant::now() < deadline,
            "the extrawest sender did not start ({}); its stderr:\n{}",
            exited.map_or_else(|| "not listening after 60 s".into(), |s| s.to_string()),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let report = pull_cli(&node, &versions, Some(TOKEN));
    let locations = module(&report, "locations");
    assert_eq!(counts(locations), [3, 120, 120, 0, 0, 0, 0, 120]);
    let d = deviations(locations);
    // Its Link (on Python 3.11) has the wrong scheme and enum reprs in the path; it lower-cases
    // every CiString and sends explicit nulls.
    assert_eq!(d.get("link-foreign"), Some(&1), "{d:?}");
    assert_eq!(d.get("id-case"), Some(&120), "{d:?}");
    assert_eq!(d.get("null-or-empty"), Some(&120), "{d:?}");
    assert_eq!(counts(module(&report, "tariffs"))[2], 2);
    // Sessions: S-0001 is left to its CDR, S-0003 has negative energy.
    assert_eq!(
        counts(module(&report, "sessions")),
        [1, 3, 1, 0, 0, 1, 1, 1]
    );
    // py_ocpi's CdrLocation model has no evse_uid, so its CDRs cannot say which EVSE was used.
    let cdrs = module(&report, "cdrs");
    assert_eq!(cdrs["rejected"], 2);
    assert!(
        cdrs["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("evse_uid"),
        "{cdrs:#}"
    );

    let again = pull_cli(&node, &versions, Some(TOKEN));
    for m in again["modules"].as_array().unwrap() {
        assert_eq!(m["appended"], 0, "{m:#}");
    }
    let running = node.serve();
    let l = running.json("/v1/locations/GB/LPC/lpc-wcc-00417");
    assert_eq!(
        l["evfed"]["borough"],
        Value::Null,
        "Westminster, outside Camden"
    );
    assert_eq!(l["evfed"]["outside_area"], true);
    assert_eq!(
        l["evses"][0]["uid"], "lpc-wcc-00417-1",
        "ids other than party codes as sent"
    );
}
