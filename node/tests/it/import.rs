//! `evfed-node import csv` on the real binary: the NCR fixture and the evfed example with the
//! node stopped and while it serves, rejections that leave nothing behind, re-imports that
//! append nothing, locations outside the node's area left out, implausible power refused or
//! repaired, and `POST /v1/admin/locations` itself. Also the whole real NCR export
//! (`../shared/data/`, or `EVFED_NCR_SNAPSHOT`), an ignored test that `scripts/test` runs when
//! the export is there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use evfed_spec::merkle::MemoryTree;
use evfed_spec::note::VerifierKey;
use evfed_spec::trust::Unverified;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{NodeDir, Running, run};

/// The NCR fixture's London devices and the borough each lies in (by a point-in-polygon test
/// over the borough boundaries), except the two changed to be rejected.
const NCR_LONDON: [(&str, &str); 10] = [
    ("cfeedcdd5e287bef4b583158a12363f1", "E09000023"),
    ("cf164e398bebd2384cbbbfe73fa72fcf", "E09000017"),
    ("755e7babe12f5f5b55756943fab23a2c", "E09000033"),
    ("82eeb7c49f8acc2d9b7ce8287ea8fea0", "E09000007"),
    ("602852260c81b93a01693165f1ae9dd7", "E09000008"),
    ("451bf16fff6233cca8d9ad69b31c33b9", "E09000033"),
    ("64fdc1ccef34439fd0abe59a5fae6869", "E09000012"),
    ("e7e04cfae8c198b3a50727d2717db734", "E09000011"),
    ("de2a10afc71bd5456aa0a9b6338b17c7", "E09000026"),
    ("4aa235219753273941bab0a2b1b3adff", "E09000021"),
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn ncr_sample() -> String {
    fixture("tests/fixtures/ncr_sample.csv")
        .to_str()
        .unwrap()
        .to_owned()
}

fn example_csv() -> String {
    fixture("docs/import-example.csv")
        .to_str()
        .unwrap()
        .to_owned()
}

fn cpo() -> NodeDir {
    NodeDir::init("evfed.importer.example", &["--kind", "cpo"])
}

/// `import csv --dir DIR FILE ARGS…`, which must succeed; its stdout.
fn import(node: &NodeDir, file: &str, args: &[&str]) -> String {
    let out = try_import(node, file, args);
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn try_import(node: &NodeDir, file: &str, args: &[&str]) -> Output {
    let dir = node.dir_arg();
    run(&[&["import", "csv", "--dir", &dir, file], args].concat())
}

/// The summary's numbers: name → (rows, locations).
fn summary(stdout: &str) -> BTreeMap<String, (u64, u64)> {
    stdout
        .lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            let [.., rows, locations] = parts.as_slice() else {
                return None;
            };
            let name = parts[..parts.len() - 2].join(" ");
            Some((name, (rows.parse().ok()?, locations.parse().ok()?)))
        })
        .collect()
}

fn appended(stdout: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("log entries"))
        .unwrap();
    let n = line.split(':').nth(1).unwrap().split(';').next().unwrap();
    n.trim().parse().unwrap()
}

/// The report's lines as JSON.
fn report(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn vkeys(run: &Running) -> Vec<VerifierKey> {
    run.json("/.well-known/evfed")["vkeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().parse().unwrap())
        .collect()
}

/// Verifies the public log: the checkpoint's signature, and that every entry it covers hashes
/// to its root. Returns the verified size and the entries.
fn verified_log(run: &Running) -> (u64, Vec<String>) {
    let note = run.get("/v1/log/checkpoint").text().unwrap();
    let cp = Unverified::new(note.into_bytes())
        .verify_checkpoint(&vkeys(run))
        .expect("the checkpoint verifies");
    let size = cp.checkpoint().tree_size;
    let mut entries: Vec<String> = Vec::new();
    while (entries.len() as u64) < size {
        let page = run
            .get(&format!(
                "/v1/log/entries?start={}&end={size}",
                entries.len()
            ))
            .text()
            .unwrap();
        let before = entries.len();
        entries.extend(page.lines().map(str::to_owned));
        assert!(entries.len() > before, "entries page was empty");
    }
    let tree = MemoryTree::from_entries(&entries);
    assert_eq!(
        tree.root(),
        cp.checkpoint().root,
        "entries hash to the root"
    );
    (size, entries)
}

/// Every location of `party` the node serves: id → borough code.
fn boroughs(run: &Running, party: &str) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    let mut offset = 0;
    loop {
        let page = run.json(&format!(
            "/v1/locations?party={party}&limit=1000&offset={offset}"
        ));
        let items = page.as_array().unwrap();
        for l in items {
            out.insert(
                l["id"].as_str().unwrap().to_owned(),
                l["evfed"]["borough"].as_str().map(str::to_owned),
            );
        }
        if items.len() < 1000 {
            return out;
        }
        offset += 1000;
    }
}

#[test]
fn ncr_fixture_with_the_node_stopped_lands_london_and_a_repeat_appends_nothing() {
    let node = cpo();
    let report_path = node.tmp.path().join("report.jsonl");
    let out = import(
        &node,
        &ncr_sample(),
        &[
            "--format",
            "ncr",
            "--within-borough",
            "london",
            "--report",
            report_path.to_str().unwrap(),
        ],
    );
    assert!(out.contains("written in"), "in process: {out}");
    let s = summary(&out);
    assert_eq!(s["read"], (24, 24), "the split row counts once: {out}");
    assert_eq!(s["created"], (10, 10), "{out}");
    assert_eq!(s["rejected"], (2, 2), "{out}");
    assert_eq!(s["outside the area"], (12, 12), "{out}");
    assert_eq!(appended(&out), 10);

    let lines = report(&report_path);
    let by =
        |result: &str| -> Vec<&Value> { lines.iter().filter(|l| l["result"] == result).collect() };
    let rejected: Vec<(&str, &str)> = by("rejected")
        .iter()
        .map(|l| {
            (
                l["location_id"].as_str().unwrap(),
                l["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        [
            ("e2f964e176efb40969652e3249023645", "unknown-connector-type"),
            ("02dd0428a167bde5e5b544cc1aae3f74", "unknown-status"),
        ]
    );
    assert_eq!(by("outside").len(), 12);
    assert!(by("outside").iter().all(|l| {
        l["code"] == "outside-area"
            && l["line"].as_u64().unwrap() > 1
            && l["reason"].as_str().unwrap().contains("outside London")
    }));
    let warnings: Vec<&str> = by("warning")
        .iter()
        .map(|l| l["code"].as_str().unwrap())
        .collect();
    assert!(warnings.contains(&"duplicate-column"), "{warnings:?}");
    assert!(warnings.contains(&"shortened"), "{warnings:?}");
    assert!(warnings.contains(&"substituted"), "{warnings:?}");

    // The import signed a checkpoint covering what it wrote.
    let running = node.serve();
    let (size, entries) = verified_log(&running);
    assert_eq!(size, 10);
    assert!(entries.iter().all(|e| e.contains("\"type\":\"location\"")));
    let expected: BTreeMap<String, Option<String>> = NCR_LONDON
        .iter()
        .map(|(id, b)| (id.to_string(), Some(b.to_string())))
        .collect();
    assert_eq!(boroughs(&running, "GB*NCR"), expected);
    let westminster = running.json("/v1/locations/GB/NCR/755e7babe12f5f5b55756943fab23a2c");
    assert_eq!(westminster["address"], "Leinster Gardens");
    assert_eq!(westminster["city"], "Westminster");
    let surbiton = running.json("/v1/locations/GB/NCR/4aa235219753273941bab0a2b1b3adff");
    assert_eq!(
        surbiton["address"],
        "Surbiton Healthcare Centre, Ewell Road"
    );
    let rapid = running.json("/v1/locations/GB/NCR/64fdc1ccef34439fd0abe59a5fae6869");
    assert!(
        rapid["evses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["connectors"][0]["standard"] == "CHADEMO"
                && e["connectors"][0]["power_type"] == "DC"
                && e["connectors"][0]["format"] == "CABLE"),
        "{rapid}"
    );
    // The NCR's Tesla "Type 2 … DC" is Tesla's own DC connector, not an IEC 62196 Type 2
    // (AC only, and `quality.power` of the conformance suite fails it with DC).
    let tesla = running.json("/v1/locations/GB/NCR/de2a10afc71bd5456aa0a9b6338b17c7");
    let standards: Vec<(&str, &str)> = tesla["evses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let c = &e["connectors"][0];
            (
                c["standard"].as_str().unwrap(),
                c["power_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(standards.contains(&("TESLA_S", "DC")), "{tesla}");
    assert!(!standards.contains(&("IEC_62196_T2", "DC")), "{tesla}");
    let out_of_service = running.json("/v1/locations/GB/NCR/cf164e398bebd2384cbbbfe73fa72fcf");
    assert!(
        out_of_service["evses"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] == "OUTOFORDER")
    );
    assert!(running.stop().success());

    // Again: nothing changes, nothing is appended.
    let again = import(
        &node,
        &ncr_sample(),
        &["--format", "ncr", "--within-borough", "london"],
    );
    let s = summary(&again);
    assert_eq!(s["unchanged"], (10, 10), "{again}");
    assert_eq!(s["created"], (0, 0), "{again}");
    assert_eq!(appended(&again), 0, "{again}");
    let running = node.serve();
    assert_eq!(verified_log(&running).0, 10);

    // One borough only, as a dry run: Westminster's two devices are there already.
    let dry = try_import(
        &node,
        &ncr_sample(),
        &[
            "--format",
            "ncr",
            "--within-borough",
            "E09000033",
            "--dry-run",
        ],
    );
    let dry = String::from_utf8(dry.stdout).unwrap();
    assert_eq!(summary(&dry)["unchanged"], (2, 2), "{dry}");
    assert_eq!(summary(&dry)["outside the area"], (22, 22), "{dry}");
}

#[test]
fn import_while_serving_goes_through_the_node_and_is_checkpointed() {
    let node = cpo();
    let running = node.serve();
    let before = running.tree_size();

    // A dry run through the serving node writes nothing.
    let dry = import(
        &node,
        &example_csv(),
        &["--format", "evfed", "--party", "GB*EXC", "--dry-run"],
    );
    assert!(dry.contains("through the serving node"), "{dry}");
    assert_eq!(summary(&dry)["would be created"], (6, 4), "{dry}");
    assert_eq!(running.tree_size(), before);

    let out = import(
        &node,
        &example_csv(),
        &["--format", "evfed", "--party", "GB*EXC"],
    );
    assert!(out.contains("through the serving node"), "{out}");
    assert_eq!(summary(&out)["created"], (6, 4), "{out}");
    assert_eq!(appended(&out), 4);
    assert_eq!(running.tree_size(), before + 4);
    // The serving node's ticker signs what came in.
    running.wait_for_checkpoint(before + 4);
    let (size, _) = verified_log(&running);
    assert_eq!(size, before + 4);
    let hub = running.json("/v1/locations/GB/EXC/WSM-RH-0007");
    assert_eq!(hub["evfed"]["borough"], "E09000033");
    assert_eq!(hub["evses"][0]["connectors"].as_array().unwrap().len(), 2);
    assert_eq!(
        boroughs(&running, "GB*EXC")["CMD-LP-0001"].as_deref(),
        Some("E09000007")
    );

    let again = import(
        &node,
        &example_csv(),
        &["--format", "evfed", "--party", "GB*EXC"],
    );
    assert_eq!(summary(&again)["unchanged"], (6, 4), "{again}");
    assert_eq!(running.tree_size(), before + 4);

    // The NCR fixture through the serving node gives what it gives in process.
    let ncr = import(
        &node,
        &ncr_sample(),
        &["--format", "ncr", "--within-borough", "london"],
    );
    assert_eq!(summary(&ncr)["created"], (10, 10), "{ncr}");
    assert_eq!(summary(&ncr)["rejected"], (2, 2), "{ncr}");
    running.wait_for_checkpoint(before + 14);
    assert!(running.stop().success());
    assert!(
        !node.path().join("serve.json").exists(),
        "a clean shutdown withdraws the announcement"
    );
}

#[test]
fn a_bad_row_rejects_its_whole_location_and_nothing_else() {
    let node = cpo();
    let header = "location_id,address,city,latitude,longitude,evse_uid,status,connector_id,\
                  standard,format,power_type,max_voltage,max_amperage,last_updated";
    let at = "51.513380,-0.132820";
    let t2 = "IEC_62196_T2,SOCKET,AC_1_PHASE,230,32";
    // A: two good rows. B: one good row, one with an unknown standard. C: rows disagreeing on
    // the city. D: good rows, but dated in the future, which the node refuses.
    let csv = format!(
        "{header}\n\
         A,1 Good Road,London,{at},A-1,AVAILABLE,1,{t2},\n\
         B,2 Bad Road,London,{at},B-1,AVAILABLE,1,{t2},\n\
         A,1 Good Road,London,{at},A-1,AVAILABLE,2,DOMESTIC_G,SOCKET,AC_1_PHASE,230,13,\n\
         B,2 Bad Road,London,{at},B-2,AVAILABLE,1,TYPE_TWO,SOCKET,AC_1_PHASE,230,32,\n\
         C,3 Other Road,Londres,{at},C-1,AVAILABLE,1,{t2},\n\
         C,3 Other Road,London,{at},C-2,AVAILABLE,1,{t2},\n\
         D,4 Late Road,London,{at},D-1,AVAILABLE,1,{t2},2999-01-01T00:00:00Z\n"
    );
    let file = node.tmp.path().join("register.csv");
    std::fs::write(&file, csv).unwrap();
    let report_path = node.tmp.path().join("report.jsonl");
    let out = import(
        &node,
        file.to_str().unwrap(),
        &[
            "--format",
            "evfed",
            "--party",
            "GB*BRO",
            "--report",
            report_path.to_str().unwrap(),
        ],
    );
    let s = summary(&out);
    assert_eq!(s["read"], (7, 4), "{out}");
    assert_eq!(s["created"], (2, 1), "{out}");
    assert_eq!(s["rejected"], (5, 3), "{out}");
    let lines = report(&report_path);
    let rejected: Vec<(u64, &str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["line"].as_u64().unwrap(),
                l["location_id"].as_str().unwrap(),
                l["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        [
            (3, "B", "invalid-value"),
            (5, "B", "invalid-value"),
            (6, "C", "inconsistent-rows"),
            (7, "C", "inconsistent-rows"),
            (8, "D", "invalid-field"),
        ]
    );
    assert!(lines[1]["reason"].as_str().unwrap().contains("TYPE_TWO"));
    assert!(lines[4]["reason"].as_str().unwrap().contains("future"));

    let running = node.serve();
    let (size, entries) = verified_log(&running);
    assert_eq!(size, 1, "only A landed");
    assert!(entries[0].contains("\"id\":\"A\""));
    let a = running.json("/v1/locations/GB/BRO/A");
    assert_eq!(a["evses"][0]["connectors"].as_array().unwrap().len(), 2);
    assert_eq!(running.get("/v1/locations/GB/BRO/B").status(), 404);
}

#[test]
fn unreadable_input_fails_with_a_reason_and_writes_nothing() {
    let node = cpo();
    let missing = node.tmp.path().join("nope.csv");
    let out = try_import(&node, missing.to_str().unwrap(), &["--format", "ncr"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let typo = node.tmp.path().join("typo.csv");
    std::fs::write(&typo, "location_id,adress\nA,1 Road\n").unwrap();
    let out = try_import(
        &node,
        typo.to_str().unwrap(),
        &["--format", "evfed", "--party", "GB*BRO"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown column(s) adress"), "{err}");
    // An evfed file read as NCR says what it misses.
    let out = try_import(&node, &example_csv(), &["--format", "ncr"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is it an NCR export?"));
    // A party the node does not accept is refused before anything is read.
    let camden = NodeDir::init(
        "evfed.camden-only.example",
        &["--kind", "cpo", "--party", "GB*CMD"],
    );
    let out = try_import(&camden, &ncr_sample(), &["--format", "ncr"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not accept party GB*NCR"));
    let running = node.serve();
    assert_eq!(running.tree_size(), 0);
}

#[test]
fn admin_locations_endpoint() {
    let node = cpo();
    let running = node.serve();
    let good = |id: &str| {
        json!({
            "country_code": "GB", "party_id": "ADM", "id": id, "publish": true,
            "address": "1 Admin Way", "city": "London", "country": "GBR",
            "coordinates": {"latitude": "51.513380", "longitude": "-0.132820"},
            "time_zone": "Europe/London", "last_updated": "2024-01-01T00:00:00Z"
        })
    };
    let mut bad = good("X2");
    bad["address"] = json!("x".repeat(46));
    let body = serde_json::to_vec(&json!([good("X1"), bad, good("X3"), 7])).unwrap();
    let path = "/v1/admin/locations";

    let writer = node.writer("GB*ADM");
    let res = running.send(Method::POST, path, Some(&writer), &body);
    assert_eq!(res.status(), 403, "data:write is not admin");
    let res = running.send(Method::POST, path, None, &body);
    assert_eq!(res.status(), 401);

    let admin = node.token(None, &["admin"]);
    let res = running.send(
        Method::POST,
        &format!("{path}?dry_run=true"),
        Some(&admin),
        &body,
    );
    assert_eq!(res.status(), 200);
    assert_eq!(running.tree_size(), 0, "a dry run keeps nothing");

    let res = running.send(Method::POST, path, Some(&admin), &body);
    assert_eq!(res.status(), 200);
    let results: Value = res.json().unwrap();
    let outcomes: Vec<&str> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["created", "rejected", "created", "rejected"]);
    assert_eq!(results[1]["code"], "invalid-field");
    assert!(results[1]["detail"].as_str().unwrap().contains("address"));
    assert_eq!(results[0]["appended"], 1);
    assert_eq!(running.tree_size(), 2);

    let res = running.send(Method::POST, path, Some(&admin), b"{\"not\": \"a list\"}");
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let many: Vec<Value> = (0..1001).map(|i| good(&format!("M{i}"))).collect();
    let res = running.send(
        Method::POST,
        path,
        Some(&admin),
        &serde_json::to_vec(&many).unwrap(),
    );
    assert_eq!(res.status(), 413);
    assert_eq!(running.tree_size(), 2);
}

/// The real 2017 NCR export: `EVFED_NCR_SNAPSHOT`, else `../shared/data/ncr_gb_snapshot_2017.csv`
/// beside the repository (as CI has it); the test that reads it fails, and says so, without it.
fn ncr_snapshot() -> PathBuf {
    let path = std::env::var_os("EVFED_NCR_SNAPSHOT").map_or_else(
        || fixture("../../shared/data/ncr_gb_snapshot_2017.csv"),
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "the NCR snapshot is not at {} (set EVFED_NCR_SNAPSHOT, or put the shared data beside \
         the repository as CI does)",
        path.display()
    );
    path
}

/// Power types a connector standard can deliver, as spec §4.1 and the conformance suite's
/// `quality.power` describe them (written again here, from the description, so the importer's
/// own rule is not checked against itself).
fn power_problem(c: &Value) -> Option<String> {
    let standard = c["standard"].as_str().unwrap();
    let power_type = c["power_type"].as_str().unwrap();
    let dc = power_type == "DC";
    let three = power_type == "AC_3_PHASE";
    let fits = match standard {
        "IEC_62196_T1_COMBO" | "IEC_62196_T2_COMBO" | "CHADEMO" | "GBT_DC" | "CHAOJI" => dc,
        s if s.starts_with("DOMESTIC_") || s == "IEC_62196_T1" => !dc && !three,
        "IEC_62196_T2" | "IEC_62196_T3A" | "IEC_62196_T3C" => !dc,
        _ => true,
    };
    let volts = c["max_voltage"].as_f64().unwrap();
    let amps = c["max_amperage"].as_f64().unwrap();
    let most = volts * amps * if three { 3.0 } else { 1.0 } * 1.05 + 1.0;
    let power = c["max_electric_power"].as_f64();
    match (fits, power) {
        (false, _) => Some(format!("{standard} with {power_type}")),
        (true, Some(p)) if p <= 0.0 || p > most => {
            Some(format!("{p} W from {volts} V × {amps} A {power_type}"))
        }
        _ => None,
    }
}

/// The whole NCR export: one location per London charge device, each in the borough an
/// independent point-in-polygon test gives it (`fixtures/ncr_2017_london_boroughs.csv`), the
/// rest outside the area (with or without `--within-borough london`: a cpo node's area is
/// London); every connector plausible as the conformance suite judges; a repeat appends
/// nothing; the log verifies.
#[test]
#[ignore = "needs the 2017 NCR export: ../shared/data beside the repository (or \
            EVFED_NCR_SNAPSHOT), then --include-ignored; scripts/test does it when it is there"]
fn full_ncr_snapshot() {
    let file = ncr_snapshot();
    let node = cpo();
    let report_path = node.tmp.path().join("report.jsonl");
    let out = import(
        &node,
        file.to_str().unwrap(),
        &["--format", "ncr", "--report", report_path.to_str().unwrap()],
    );
    let s = summary(&out);
    assert_eq!(s["created"], (677, 677), "{out}");
    assert_eq!(s["rejected"], (0, 0), "{out}");
    assert_eq!(s["outside the area"], (3289, 3289), "{out}");
    let outside = report(&report_path)
        .into_iter()
        .filter(|l| l["result"] == "outside")
        .count();
    assert_eq!(outside, 3289, "every device left out is in the report");
    let args = ["--format", "ncr", "--within-borough", "london"];
    let again = import(&node, file.to_str().unwrap(), &args);
    assert_eq!(appended(&again), 0, "{again}");
    assert_eq!(summary(&again)["unchanged"], (677, 677), "{again}");
    let running = node.serve();
    assert_eq!(verified_log(&running).0, 677);
    let placed = boroughs(&running, "GB*NCR");
    let fixture_rows: Vec<(String, String, String)> =
        std::fs::read_to_string(fixture("tests/fixtures/ncr_2017_london_boroughs.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let mut cols = l.split(',').map(str::to_owned);
                let mut next = || cols.next().unwrap();
                (next(), next(), next())
            })
            .collect();
    let expected: BTreeMap<String, Option<String>> = fixture_rows
        .iter()
        .map(|(id, borough, _)| (id.clone(), Some(borough.clone())))
        .collect();
    let expected_wards: BTreeMap<&str, &str> = fixture_rows
        .iter()
        .map(|(id, _, ward)| (id.as_str(), ward.as_str()))
        .collect();
    assert_eq!(expected.len(), 677);
    assert_eq!(
        placed, expected,
        "every London device, in its ward's borough"
    );
    let page = running.json("/v1/locations?limit=1000");
    let mut connectors = 0;
    let london = evfed_spec::areas::AreaSet::london();
    for loc in page.as_array().unwrap() {
        // Every London device has a ward of 2022, inside its borough.
        let ward = &loc["evfed"]["ward"];
        assert_eq!(ward["boundary_vintage"], "2022", "{}", loc["id"]);
        let code = ward["code"].as_str().unwrap();
        let id = loc["id"].as_str().unwrap();
        assert_eq!(Some(&code), expected_wards.get(id), "{id}");
        assert_eq!(
            london.get(code).and_then(|w| w.parent.as_deref()),
            loc["evfed"]["borough"].as_str(),
            "{}",
            loc["id"]
        );
        for e in loc["evses"].as_array().unwrap() {
            for c in e["connectors"].as_array().unwrap() {
                connectors += 1;
                assert_eq!(power_problem(c), None, "{} {}: {c}", loc["id"], e["uid"]);
            }
        }
    }
    assert!(connectors > 1000, "{connectors}");
}

/// A location whose coordinates lie outside the node's area is never written: it is left
/// out, counted as outside the area and reported with its reason, on a cpo node (London) as on
/// a borough node (its borough); a `--within-borough` that cannot overlap the node's area is
/// refused before anything is read.
#[test]
fn a_location_outside_the_nodes_area_is_reported_never_written() {
    let header = "location_id,address,city,latitude,longitude,evse_uid,status,connector_id,\
                  standard,format,power_type,max_voltage,max_amperage";
    let t2 = "IEC_62196_T2,SOCKET,AC_1_PHASE,230,32";
    let csv = format!(
        "{header}\n\
         CAMDEN,1 Agar Grove,London,51.543712,-0.131524,CAMDEN-1,AVAILABLE,1,{t2}\n\
         SOHO,2 Soho Square,London,51.515400,-0.132300,SOHO-1,AVAILABLE,1,{t2}\n\
         PARIS,3 Rue de Rivoli,Paris,48.856600,2.352200,PARIS-1,AVAILABLE,1,{t2}\n"
    );
    for (node, written, left_out) in [
        (
            cpo(),
            vec!["CAMDEN", "SOHO"],
            vec![("PARIS", "outside London")],
        ),
        (
            NodeDir::camden(),
            vec!["CAMDEN"],
            vec![
                ("SOHO", "in Westminster (E09000033), not E09000007"),
                ("PARIS", "outside London"),
            ],
        ),
    ] {
        let file = node.tmp.path().join("register.csv");
        std::fs::write(&file, &csv).unwrap();
        let report_path = node.tmp.path().join("report.jsonl");
        let out = import(
            &node,
            file.to_str().unwrap(),
            &[
                "--format",
                "evfed",
                "--party",
                "GB*LPC",
                "--report",
                report_path.to_str().unwrap(),
            ],
        );
        let s = summary(&out);
        let n = left_out.len() as u64;
        assert_eq!(s["outside the area"], (n, n), "{out}");
        assert_eq!(s["created"], (3 - n, 3 - n), "{out}");
        let lines = report(&report_path);
        assert_eq!(lines.len(), left_out.len(), "{lines:?}");
        for (line, (id, why)) in lines.iter().zip(&left_out) {
            assert_eq!(line["location_id"], *id);
            assert_eq!(line["result"], "outside");
            assert_eq!(line["code"], "outside-area");
            assert!(line["reason"].as_str().unwrap().contains(why), "{line}");
        }
        let running = node.serve();
        let served: Vec<String> = boroughs(&running, "GB*LPC").into_keys().collect();
        assert_eq!(served, written, "only the node's own area is written");
        let page = running.json("/v1/locations?limit=1000");
        assert!(
            page.as_array()
                .unwrap()
                .iter()
                .all(|l| l["evfed"]["outside_area"].is_null()),
            "{page}"
        );
    }
    let camden = NodeDir::camden();
    let out = try_import(
        &camden,
        &example_csv(),
        &[
            "--format",
            "evfed",
            "--party",
            "GB*EXC",
            "--within-borough",
            "E09000033",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("E09000007") && err.contains("E09000033"),
        "{err}"
    );
}

/// Every imported location meets the conformance suite's `quality.power`: a standard that
/// cannot deliver its power type rejects the location, an impossible `max_electric_power` is
/// left out with a warning; both with their reasons.
#[test]
fn implausible_power_is_rejected_or_repaired_with_a_reason() {
    let node = cpo();
    let header = "location_id,address,city,latitude,longitude,evse_uid,status,connector_id,\
                  standard,format,power_type,max_voltage,max_amperage,max_electric_power";
    let at = "51.513380,-0.132820";
    let csv = format!(
        "{header}\n\
         OK,1 Good Road,London,{at},OK-1,AVAILABLE,1,IEC_62196_T2,SOCKET,AC_3_PHASE,230,32,22000\n\
         ACDC,2 Odd Road,London,{at},ACDC-1,AVAILABLE,1,IEC_62196_T2,CABLE,DC,400,300,120000\n\
         CCSAC,3 Odd Road,London,{at},CCSAC-1,AVAILABLE,1,IEC_62196_T2_COMBO,CABLE,AC_3_PHASE,230,32,22000\n\
         BIG,4 Big Road,London,{at},BIG-1,AVAILABLE,1,IEC_62196_T2,SOCKET,AC_1_PHASE,230,32,22000\n"
    );
    let file = node.tmp.path().join("register.csv");
    std::fs::write(&file, csv).unwrap();
    let report_path = node.tmp.path().join("report.jsonl");
    let out = import(
        &node,
        file.to_str().unwrap(),
        &[
            "--format",
            "evfed",
            "--party",
            "GB*BRO",
            "--report",
            report_path.to_str().unwrap(),
        ],
    );
    let s = summary(&out);
    assert_eq!(s["created"], (2, 2), "{out}");
    assert_eq!(s["rejected"], (2, 2), "{out}");
    let lines = report(&report_path);
    let found: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["location_id"].as_str().unwrap(),
                l["result"].as_str().unwrap(),
                l["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("ACDC", "rejected", "implausible-power"),
            ("CCSAC", "rejected", "implausible-power"),
            ("BIG", "warning", "dropped"),
        ]
    );
    assert!(
        lines[0]["reason"]
            .as_str()
            .unwrap()
            .contains("IEC_62196_T2")
    );
    assert!(lines[0]["reason"].as_str().unwrap().contains("DC"));
    assert!(lines[2]["reason"].as_str().unwrap().contains("22000 W"));
    let running = node.serve();
    let big = running.json("/v1/locations/GB/BRO/BIG");
    assert!(
        big["evses"][0]["connectors"][0]["max_electric_power"].is_null(),
        "{big}"
    );
    let ok = running.json("/v1/locations/GB/BRO/OK");
    assert_eq!(ok["evses"][0]["connectors"][0]["max_electric_power"], 22000);
    assert_eq!(running.get("/v1/locations/GB/BRO/ACDC").status(), 404);
    let page = running.json("/v1/locations?limit=1000");
    for loc in page.as_array().unwrap() {
        for c in loc["evses"][0]["connectors"].as_array().unwrap() {
            assert_eq!(power_problem(c), None, "{c}");
        }
    }
}
