//! DPS compliance with controlled data: a supplier whose node is down about half the time, one
//! that does not publish a contracted charge point, and one whose rapid charge point was out of
//! order for 2 % of the year's access hours. Each gets the right figures and colours, and each
//! evidence report verifies offline.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    AGGREGATOR, Node, Server, add_member_for, aggregator, log_size, node_bin, wait_member,
};

fn iso(ms: i64) -> String {
    evfed_spec::time::DateTime::from_unix_millis(ms)
        .unwrap()
        .to_string()
}

/// A location with one EVSE per `(uid, kW)`, every EVSE AVAILABLE since `since_ms`.
fn put(
    server: &Server,
    token: &str,
    party_id: &str,
    id: &str,
    evses: &[(&str, u32)],
    since_ms: i64,
) {
    let at = iso(since_ms);
    let evses: Vec<Value> = evses
        .iter()
        .map(|(uid, kw)| {
            let connector = if *kw >= 50 {
                json!({"id": "1", "standard": "IEC_62196_T2_COMBO", "format": "CABLE",
                       "power_type": "DC", "max_voltage": 500, "max_amperage": kw * 2,
                       "max_electric_power": kw * 1000, "last_updated": at})
            } else {
                json!({"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                       "power_type": "AC_1_PHASE", "max_voltage": 230, "max_amperage": 32,
                       "last_updated": at})
            };
            json!({"uid": uid, "status": "AVAILABLE", "last_updated": at, "connectors": [connector]})
        })
        .collect();
    let body = json!({
        "country_code": "GB", "party_id": party_id, "id": id, "publish": true,
        "address": "1 Test Street", "city": "London", "country": "GBR",
        "coordinates": {"latitude": "51.53000", "longitude": "-0.14000"},
        "time_zone": "Europe/London", "last_updated": at, "evses": evses
    });
    let res = reqwest::blocking::Client::new()
        .put(format!("{}/v1/locations/GB/{party_id}/{id}", server.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().unwrap());
}

fn status(
    server: &Server,
    token: &str,
    party_id: &str,
    loc: &str,
    evse: &str,
    s: &str,
    at_ms: i64,
) {
    let change = json!([{"country_code": "GB", "party_id": party_id, "location_id": loc,
        "evse_uid": evse, "status": s, "event_time": iso(at_ms)}]);
    let res = reqwest::blocking::Client::new()
        .post(format!("{}/v1/status", server.url))
        .bearer_auth(token)
        .json(&change)
        .send()
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().unwrap());
}

fn indicator<'a>(supplier: &'a Value, name: &str) -> &'a Value {
    supplier["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no indicator {name} in {supplier}"))
}

#[test]
fn supplier_indicators_and_signed_evidence() {
    evfed_aggregator::outgoing::install_crypto_provider();
    let root = tempfile::tempdir().unwrap();
    let now = evfed_spec::time::DateTime::now().unix_millis();
    let year = evfed_aggregator::compliance::year_start(now);
    let elapsed = now - year;

    // Supplier UPD: a node that will be down about half the time.
    let upd = Node::init(root.path(), "upd");
    let upd_server = Server::start(&node_bin(), &upd.dir);
    let upd_token = upd.token("GB*UPD");
    put(
        &upd_server,
        &upd_token,
        "UPD",
        "U1",
        &[("U1-1", 7)],
        year + elapsed / 2,
    );
    // Supplier MIS: publishes two of its three contracted charge points.
    let mis = Node::init(root.path(), "mis");
    let mis_server = Server::start(&node_bin(), &mis.dir);
    let mis_token = mis.token("GB*MIS");
    put(
        &mis_server,
        &mis_token,
        "MIS",
        "M1",
        &[("M1-1", 7), ("M1-2", 7)],
        year + elapsed / 2,
    );
    // Supplier RAP: a rapid charge point out of order for 2 % of the year so far.
    let rap = Node::init(root.path(), "rap");
    let rap_server = Server::start(&node_bin(), &rap.dir);
    let rap_token = rap.token("GB*RAP");
    put(&rap_server, &rap_token, "RAP", "R1", &[("R1-1", 150)], year);
    let broken = year + elapsed / 10;
    status(
        &rap_server,
        &rap_token,
        "RAP",
        "R1",
        "R1-1",
        "OUTOFORDER",
        broken,
    );
    status(
        &rap_server,
        &rap_token,
        "RAP",
        "R1",
        "R1-1",
        "AVAILABLE",
        broken + elapsed / 50,
    );

    let agg_dir = aggregator(root.path());
    for (node, server, party) in [
        (&upd, &upd_server, "GB*UPD"),
        (&mis, &mis_server, "GB*MIS"),
        (&rap, &rap_server, "GB*RAP"),
    ] {
        // Signed up to date before the aggregator's first conformance run looks at it.
        log_size(server);
        add_member_for(
            &agg_dir,
            &node.origin,
            &server.url,
            &Node::vkey(server),
            party,
        );
    }
    // Conformance runs at start (the other tests turn them off).
    std::fs::write(
        agg_dir.join("aggregator.toml"),
        "origin = \"evfed.london.example\"\nharvest_interval_ms = 100\n",
    )
    .unwrap();
    std::fs::write(
        agg_dir.join("suppliers.toml"),
        format!(
            r#"
[[supplier]]
id = "UPD"
name = "Up and Down Ltd"
parties = ["GB*UPD"]
members = ["{upd}"]

[[supplier]]
id = "MIS"
name = "Missing Points Ltd"
parties = ["GB*MIS"]
members = ["{mis}"]

[[supplier.contract]]
id = "CAMDEN-MIS-1"
borough = "E09000007"
chargepoints = [
    {{ location = "M1", evse = "M1-1" }},
    {{ location = "M1", evse = "M1-2" }},
    {{ location = "M2", evse = "M2-1" }},
]

[[supplier]]
id = "RAP"
name = "Rapid Ltd"
parties = ["GB*RAP"]
members = ["{rap}"]

[[supplier.contract]]
id = "CAMDEN-RAP-1"
borough = "E09000007"
chargepoints = [{{ location = "R1", evse = "R1-1" }}]
"#,
            upd = upd.origin,
            mis = mis.origin,
            rap = rap.origin
        ),
    )
    .unwrap();
    let agg = Server::start(Path::new(AGGREGATOR), &agg_dir);
    for (node, server) in [
        (&mis, &mis_server),
        (&rap, &rap_server),
        (&upd, &upd_server),
    ] {
        let size = log_size(server);
        wait_member(&agg, &node.origin, |m| {
            m["verified_size"].as_u64() == Some(size)
        });
    }

    // The aggregator runs the conformance suite against every member as it starts: each passes.
    let started = std::time::Instant::now();
    let runs = loop {
        let runs = agg.json("/v1/conformance/members");
        if runs.as_array().unwrap().len() == 3 {
            break runs;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{runs}");
        std::thread::sleep(Duration::from_millis(200));
    };
    for r in runs.as_array().unwrap() {
        assert_eq!(r["passed"], true, "{r}");
        assert_eq!(r["failed"], json!([]), "{r}");
    }
    let one = agg.json(&format!("/v1/conformance/members/{}", rap.origin));
    assert_eq!(one["runs"].as_array().unwrap().len(), 1);
    assert_eq!(one["latest"]["level"], "core");
    assert!(one["latest"]["results"].as_array().unwrap().len() > 40);

    // Down about half the time: two cycles of ~1.5 s down, ~1.5 s up, on the same port.
    let listen = upd_server.url.trim_start_matches("http://").to_owned();
    let mut upd_server = Some(upd_server);
    for _ in 0..2 {
        upd_server.take().unwrap().stop();
        wait_member(&agg, &upd.origin, |m| m["state"] == "unreachable");
        std::thread::sleep(Duration::from_millis(1500));
        upd_server = Some(Server::start_on(&node_bin(), &upd.dir, &listen));
        wait_member(&agg, &upd.origin, |m| m["state"] == "ok");
        std::thread::sleep(Duration::from_millis(1500));
    }

    let all = agg.json("/v1/compliance/suppliers");
    assert_eq!(all.as_array().unwrap().len(), 3, "{all}");
    let by_id = |id: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()
            .clone()
    };

    let u = by_id("UPD");
    let a = indicator(&u, "feed_availability");
    let share = a["figures"]["share_30d"].as_f64().unwrap();
    assert!((0.25..=0.75).contains(&share), "{a}");
    assert_eq!(a["colour"], "red", "{a}");
    assert_eq!(u["status"], "red");
    assert!(
        u["reasons"][0].as_str().is_some(),
        "a red supplier says why: {u}"
    );

    for s in all.as_array().unwrap() {
        let c = indicator(s, "conformance");
        assert_eq!(c["colour"], "green", "{c}");
        assert_eq!(c["figures"]["runs_30d"], 1, "{c}");
    }

    let m = by_id("MIS");
    let c = indicator(&m, "completeness");
    assert_eq!(c["figures"]["contracted"], 3, "{c}");
    assert_eq!(c["figures"]["published"], 2, "{c}");
    assert_eq!(c["figures"]["missing"], json!(["GB*MIS/M2/M2-1"]));
    assert_eq!(c["colour"], "red");
    assert_eq!(m["contracts"][0]["status"], "red");
    assert_eq!(indicator(&m, "feed_availability")["colour"], "green");

    let r = by_id("RAP");
    let rel = indicator(&r, "reliability");
    let ytd = rel["figures"]["year_to_date"].as_f64().unwrap();
    assert!((ytd - 0.98).abs() < 0.0005, "{rel}");
    assert_eq!(rel["figures"]["rapid_chargepoints_year_to_date"], 1);
    assert_eq!(rel["colour"], "red");
    assert!(
        rel["reasons"][0].as_str().unwrap().contains("regulation 7"),
        "{rel}"
    );
    let contract = &r["contracts"][0];
    let cr = indicator(contract, "contract_reliability");
    assert_eq!(cr["figures"]["statutory"], false);
    assert!((cr["figures"]["year_to_date"].as_f64().unwrap() - 0.98).abs() < 0.0005);
    assert_eq!(indicator(&r, "completeness")["colour"], "green");
    // The other two have no rapid charge point to measure: not measured, never green, and
    // it says so in words.
    for s in [&m, &u] {
        let rel = indicator(s, "reliability");
        assert_eq!(rel["figures"]["year_to_date"], Value::Null);
        assert_eq!(rel["colour"], "not_measured", "{rel}");
        assert!(
            rel["reasons"][0].as_str().unwrap().contains("no rapid"),
            "{rel}"
        );
        assert_ne!(s["status"], "green");
    }

    // Reports: signed JSON verifies against the aggregator's key; any change breaks it; the
    // HTML page carries the same signed JSON.
    let agg_key: evfed_spec::note::VerifierKey = agg.json("/.well-known/evfed")["vkeys"][0]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    for id in ["UPD", "MIS", "RAP"] {
        let res = reqwest::blocking::get(format!(
            "{}/v1/compliance/suppliers/{id}/report.json",
            agg.url
        ))
        .unwrap();
        assert_eq!(res.status(), 200);
        let bytes = res.bytes().unwrap();
        let v = evfed_spec::report::verify(&bytes, std::slice::from_ref(&agg_key)).unwrap();
        assert_eq!(v.report["supplier"]["id"], id);
        assert_eq!(v.checkpoints.len(), 1, "cites its member's checkpoint");
        let mut doc: Value = serde_json::from_slice(&bytes).unwrap();
        doc["report"]["supplier"]["status"] = json!("green");
        assert!(
            evfed_spec::report::verify(
                &serde_json::to_vec(&doc).unwrap(),
                std::slice::from_ref(&agg_key)
            )
            .is_err()
        );
    }
    let html = reqwest::blocking::get(format!(
        "{}/v1/compliance/suppliers/RAP/report.html",
        agg.url
    ))
    .unwrap();
    assert_eq!(html.headers()["content-type"], "text/html; charset=utf-8");
    // The printable page's CSP allows its one inline <style> and nothing that could run.
    let csp = html.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("style-src 'unsafe-inline'"), "{csp}");
    assert!(
        csp.starts_with("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    let html = html.text().unwrap();
    assert!(html.contains("<style>") && !html.contains("<link"));
    // Offline, with the suite's CLI: the JSON and the HTML page verify against the aggregator's
    // key; an altered copy does not.
    let cli = Path::new(AGGREGATOR).with_file_name("evfed-conformance");
    assert!(
        cli.exists(),
        "{} is missing: cargo build -p evfed-conformance",
        cli.display()
    );
    let json = reqwest::blocking::get(format!(
        "{}/v1/compliance/suppliers/RAP/report.json",
        agg.url
    ))
    .unwrap()
    .bytes()
    .unwrap();
    let files = root.path().join("reports");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("rap.json"), &json).unwrap();
    std::fs::write(files.join("rap.html"), &html).unwrap();
    std::fs::write(
        files.join("altered.html"),
        html.replacen("\"status\":\"red\"", "\"status\":\"green\"", 1),
    )
    .unwrap();
    let verify = |file: &str| {
        std::process::Command::new(&cli)
            .args([
                "verify-report",
                files.join(file).to_str().unwrap(),
                "--vkey",
                &agg_key.to_string(),
            ])
            .output()
            .unwrap()
    };
    for f in ["rap.json", "rap.html"] {
        let out = verify(f);
        assert!(
            out.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("cites evfed.rap.example"));
    }
    assert!(
        std::fs::read_to_string(files.join("altered.html"))
            .unwrap()
            .contains("\"status\":\"green\"")
    );
    let out = verify("altered.html");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(html.contains("Rapid Ltd") && html.contains("class=\"red\""));
    browser_renders_the_report(&format!(
        "{}/v1/compliance/suppliers/RAP/report.html",
        agg.url
    ));
    let csv = reqwest::blocking::get(format!(
        "{}/v1/compliance/suppliers/MIS/report.csv",
        agg.url
    ))
    .unwrap()
    .text()
    .unwrap();
    assert!(
        csv.contains("Completeness") && csv.contains("contract CAMDEN-MIS-1"),
        "{csv}"
    );
    // Figures in words: the reliability row says not measured; no JSON, no epoch ms.
    assert!(csv.contains("not measured"), "{csv}");
    assert!(!csv.contains("{\"") && !csv.contains("_ms"), "{csv}");
    let missing =
        reqwest::blocking::get(format!("{}/v1/compliance/suppliers/NOPE", agg.url)).unwrap();
    assert_eq!(missing.status(), 404);
    agg.stop();

    // Restricted by configuration: usage:read tokens of the aggregator's issuer only.
    std::fs::write(
        agg_dir.join("aggregator.toml"),
        "origin = \"evfed.london.example\"\nconformance_interval_s = 0\ncompliance_open = false\n",
    )
    .unwrap();
    let agg = Server::start(Path::new(AGGREGATOR), &agg_dir);
    let url = format!("{}/v1/compliance/suppliers", agg.url);
    let res = reqwest::blocking::get(&url).unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let reader = crate::support::run(
        Path::new(AGGREGATOR),
        &[
            "token",
            "issue",
            "--dir",
            agg_dir.to_str().unwrap(),
            "--scope",
            "usage:read",
        ],
    );
    let res = reqwest::blocking::Client::new()
        .get(&url)
        .bearer_auth(reader.lines().last().unwrap().trim())
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    agg.stop();
}

/// Headless Chromium (what `.ci/run` installs) loads the printable report: the page renders
/// with its status and indicator rows, and prints to a PDF.
fn browser_renders_the_report(url: &str) {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let Some(chromium) = chromium else {
        assert!(
            std::env::var_os("CI").is_none(),
            "no chromium: .ci/run installs it (apt-get install chromium chromium-driver)"
        );
        eprintln!("SKIPPED the browser check of the report: no chromium on this machine");
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let headless = |extra: &[&str]| {
        std::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(url)
            .output()
            .unwrap()
    };
    let out = headless(&["--dump-dom"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("<p id=\"status\" class=\"red\">"),
        "the rendered page shows the red status: {dom}"
    );
    assert!(dom.contains("data-indicator=\"reliability\""), "{dom}");
    let pdf = profile.path().join("report.pdf");
    let out = headless(&[&format!("--print-to-pdf={}", pdf.display())]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(
        bytes.starts_with(b"%PDF") && bytes.len() > 1000,
        "a printable page"
    );
}
