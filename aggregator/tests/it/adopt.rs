//! `docs/adopt.md` followed for a made-up city, Lindmouth, with the area set and asset register
//! in `docs/adopt/`: a borough node for one of its authorities, an import, the city's own
//! aggregator harvesting it, and the conformance suite passing at core, every step with the
//! command the guide gives.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::{
    Server, add_member_with, conformance_bin, init_aggregator, log_size, node_bin, node_token, run,
    start_aggregator, wait_member,
};

fn guide_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/adopt")
        .join(name)
}

fn conformance(target: &str) -> (bool, Value) {
    let out = Command::new(conformance_bin())
        .args([
            "run", "--target", target, "--level", "core", "--format", "json",
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), report)
}

fn outcome<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no case {id} in {report}"))
}

#[test]
fn another_city_runs_evfed_with_its_own_areas() {
    evfed_aggregator::outgoing::install_crypto_provider();
    let root = tempfile::tempdir().unwrap();
    let areas = guide_file("lindmouth.geojson");
    let areas = areas.to_str().unwrap();
    let node_dir = root.path().join("noord");
    let node = node_dir.to_str().unwrap();

    // 1. A node for the authority LM01, placing by the city's own area set.
    run(
        &node_bin(),
        &[
            "init",
            "--dir",
            node,
            "--origin",
            "evfed.noord.lindmouth.example",
            "--kind",
            "borough",
            "--areas",
            areas,
            "--area",
            "LM01",
            "--party",
            "NL*LDM",
        ],
    );
    // An area that is not in the set is refused with what to do.
    let refused = Command::new(node_bin())
        .args(["init", "--dir"])
        .arg(root.path().join("nowhere"))
        .args([
            "--origin",
            "evfed.nowhere.example",
            "--kind",
            "borough",
            "--areas",
            areas,
            "--area",
            "E09000007",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("E09000007") && said.contains("Lindmouth"),
        "{said}"
    );

    // 2. The asset register: two of its sites are in LM01, one in LM02 and one outside the city.
    let summary = run(
        &node_bin(),
        &[
            "import",
            "csv",
            "--dir",
            node,
            guide_file("lindmouth-chargepoints.csv").to_str().unwrap(),
            "--format",
            "evfed",
            "--party",
            "NL*LDM",
        ],
    );
    let created = summary
        .lines()
        .find(|l| l.trim_start().starts_with("created"))
        .unwrap();
    assert!(created.split_whitespace().last() == Some("2"), "{summary}");
    let outside = summary
        .lines()
        .find(|l| l.trim_start().starts_with("outside the area"))
        .unwrap();
    assert!(outside.split_whitespace().last() == Some("2"), "{summary}");

    // 3. Serving: its area in discovery, its area set published, wards on every location.
    let server = Server::start(&node_bin(), &node_dir);
    let discovery = server.json("/.well-known/evfed");
    assert_eq!(
        discovery["area"],
        json!({"code": "LM01", "name": "Lindmouth Noord", "level": "authority"})
    );
    let published = server.json(discovery["endpoints"]["areas"].as_str().unwrap());
    assert_eq!(published["name"], "Lindmouth");
    let mut wards: Vec<(String, String, String)> = server
        .json("/v1/locations")
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let e = &l["evfed"];
            (
                e["borough"].as_str().unwrap().to_owned(),
                e["ward"]["code"].as_str().unwrap().to_owned(),
                e["ward"]["boundary_vintage"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    wards.sort();
    assert_eq!(
        wards,
        [
            ("LM01".into(), "LM01W1".into(), "2025".into()),
            ("LM01".into(), "LM01W2".into(), "2025".into())
        ]
    );
    // Filters take the city's own names and codes.
    assert_eq!(
        server
            .json("/v1/locations?borough=Lindmouth%20Noord")
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // 4. The city's aggregator, placing by the same set, harvests the node.
    let agg_dir = root.path().join("city");
    init_aggregator(
        &agg_dir,
        "evfed.lindmouth.example",
        &["--areas", areas],
        crate::support::QUICK,
    );
    let vkey = discovery["vkeys"][0].as_str().unwrap();
    add_member_with(
        &agg_dir,
        &[
            "--origin",
            "evfed.noord.lindmouth.example",
            "--url",
            &server.url,
            "--vkey",
            vkey,
            "--kind",
            "borough",
            "--borough",
            "LM01",
            "--party",
            "NL*LDM",
        ],
    );
    let city = start_aggregator(&agg_dir);
    let size = log_size(&server);
    wait_member(&city, "evfed.noord.lindmouth.example", |m| {
        m["state"] == "ok" && m["verified_size"].as_u64() == Some(size)
    });
    let view = city.json("/v1/london/locations");
    assert_eq!(view.as_array().unwrap().len(), 2, "{view}");
    let config = city.json("/v1/london/dashboard");
    assert_eq!(config["title"], "Lindmouth chargepoints");
    assert_eq!(config["authorities"], 2);
    assert_eq!(config["wards"], 4);
    let areas_view = city.json("/v1/london/areas?level=authority");
    let noord = areas_view
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == "LM01")
        .unwrap_or_else(|| panic!("{areas_view}"));
    assert_eq!(noord["name"], "Lindmouth Noord");
    assert_eq!(noord["locations"], 2, "{noord}");
    let boundaries = city.json("/v1/london/areas/boundaries");
    assert_eq!(boundaries["features"].as_array().unwrap().len(), 6);

    // 5. The suite passes at core, judging placement by the node's published set.
    let (passed, report) = conformance(&server.url);
    assert!(passed, "{report}");
    let placement = outcome(&report, "quality.coordinates");
    assert_eq!(placement["outcome"], "pass", "{placement}");
    assert!(
        placement["evidence"]["message"]
            .as_str()
            .unwrap()
            .contains("Lindmouth"),
        "{placement}"
    );
    assert_eq!(outcome(&report, "quality.ward")["outcome"], "pass");

    // A ward claim the coordinates contradict is kept, and reported as a finding, not a
    // failure of core.
    let token = node_token(&node_dir, "NL*LDM");
    let token = token.as_str();
    let body = json!({
        "country_code": "NL", "party_id": "LDM", "id": "KADE-2", "publish": true,
        "address": "Kade 2", "city": "Lindmouth", "country": "NLD",
        "coordinates": {"latitude": "52.035000", "longitude": "5.010000"},
        "time_zone": "Europe/Amsterdam", "last_updated": "2026-11-02T10:00:00Z",
        "evfed": {"ward": {"code": "LM01W2", "boundary_vintage": "2025"}},
        "evses": [{"uid": "KADE-2-A", "status": "AVAILABLE", "last_updated": "2026-11-02T10:00:00Z",
                   "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                                   "power_type": "AC_3_PHASE", "max_voltage": 230,
                                   "max_amperage": 16, "last_updated": "2026-11-02T10:00:00Z"}]}]
    });
    let res = reqwest::blocking::Client::new()
        .put(format!("{}/v1/locations/NL/LDM/KADE-2", server.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().unwrap());
    log_size(&server);
    let (passed, report) = conformance(&server.url);
    assert!(passed, "a wrong ward is not a failure of core: {report}");
    let ward = outcome(&report, "quality.ward");
    assert_eq!(ward["outcome"], "fail", "{ward}");
    assert!(
        ward["evidence"]["message"]
            .as_str()
            .unwrap()
            .contains("LM01W2"),
        "{ward}"
    );
    city.stop();
    server.stop();
}
