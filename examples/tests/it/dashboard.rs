//! The dashboard as a planner uses it: `london-demo` as a real process, the aggregator's `/` in
//! headless Chromium (WebDriver). The numbers on the page equal the API's; each filter changes
//! the counts as the API's own filters do; a status change posted to a node changes that
//! marker on the open page; the keyboard reaches every control; axe-core finds no WCAG 2.2 AA
//! violation in any view. With `EVFED_DASHBOARD_SCREENSHOTS=DIR` it also saves a screenshot of
//! each view (how `docs/dashboard/` was made, with `EVFED_DASHBOARD_SCALE=small`).

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::browser::{Browser, TAB};

const AXE: &str = include_str!("../../../aggregator/tests/fixtures/axe/axe.min.js");

struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.0.wait();
    }
}

fn bin(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_london-demo"))
        .parent()
        .unwrap()
        .join(name)
}

fn get(http: &reqwest::blocking::Client, url: &str) -> (Value, Option<u64>) {
    let res = http.get(url).send().unwrap();
    assert!(res.status().is_success(), "{url}: {}", res.status());
    let total = res
        .headers()
        .get("X-Total-Count")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (res.json().unwrap(), total)
}

/// The page's counts: sites, chargepoints, available.
fn counts(b: &Browser) -> (u64, u64, u64) {
    let v = b.js("const d = document.getElementById('counts').dataset;
         return [Number(d.locations), Number(d.evses), Number(d.available)];");
    (
        v[0].as_u64().unwrap(),
        v[1].as_u64().unwrap(),
        v[2].as_u64().unwrap(),
    )
}

/// Chooses a value in a `<select>` as a person does (the change event follows).
fn choose(b: &Browser, id: &str, value: &str) {
    b.js(&format!(
        "const s = document.getElementById({id:?}); s.value = {value:?};
         s.dispatchEvent(new Event('change', {{bubbles: true}}));"
    ));
}

#[test]
fn the_dashboard_shows_the_verified_view_live_and_accessibly() {
    if !bin("london-demo").exists() {
        panic!("build the binaries first: cargo build --workspace --bins");
    }
    let Some(b) = Browser::start(1280, 900) else {
        return;
    };
    // A small federation by default; the docs' screenshots use `EVFED_DASHBOARD_SCALE=small`
    // (six borough nodes) for figures that need no suppression.
    let scale = std::env::var("EVFED_DASHBOARD_SCALE").unwrap_or_else(|_| "300".into());
    let boroughs = if scale == "300" { "2" } else { "6" };
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let data = dir.path().join("data");
    let child = Command::new(bin("london-demo"))
        .args(["--listen", "127.0.0.1:0", "--pace", "0", "--seed", "7"])
        .args([
            "--scale",
            &scale,
            "--boroughs",
            boroughs,
            "--operators",
            "2",
        ])
        .arg("--data-dir")
        .arg(&data)
        .arg("--ready-file")
        .arg(&ready)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _demo = Demo(child);
    let started = Instant::now();
    while !ready.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "london-demo was not ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let r: Value = serde_json::from_slice(&std::fs::read(&ready).unwrap()).unwrap();
    let agg = r["aggregator"].as_str().unwrap().to_owned();
    let http = reqwest::blocking::Client::new();

    // The page loads, and lists the boroughs by name as text.
    b.goto(&format!("{agg}/"));
    b.wait_for(
        "the dashboard is ready",
        "return document.body.dataset.ready === 'true'",
        Duration::from_secs(30),
    );
    b.wait_for(
        "the borough list is filled",
        "return document.querySelectorAll('#borough-list li').length",
        Duration::from_secs(30),
    );
    let names = b.js(
        "return [...document.querySelectorAll('#borough-list li span:first-child')].map(s => s.textContent)",
    );
    let names: Vec<&str> = names
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 33, "{names:?}");
    assert!(names.contains(&"Camden") && names.contains(&"Kensington and Chelsea"));

    // The page's numbers equal the API's.
    let (status, _) = get(&http, &format!("{agg}/v1/london/status"));
    let (sites, evses, available) = counts(&b);
    assert_eq!(sites, status["locations"].as_u64().unwrap());
    assert_eq!(evses, status["evses"].as_u64().unwrap());
    assert_eq!(
        available,
        status["by_status"]["AVAILABLE"].as_u64().unwrap_or(0)
    );
    let (areas, _) = get(&http, &format!("{agg}/v1/london/areas?level=all"));
    assert_eq!(areas[0]["evses"].as_u64().unwrap(), evses);

    // Each filter changes the counts as the API's filter of the same meaning does.
    let (points, _) = get(&http, &format!("{agg}/v1/london/map/points"));
    let loc_total = |query: &str| {
        get(&http, &format!("{agg}/v1/london/locations?limit=1&{query}"))
            .1
            .unwrap()
    };
    let area_index = |code: &str| {
        points["areas"]
            .as_array()
            .unwrap()
            .iter()
            .position(|a| a["code"] == code)
            .unwrap()
            .to_string()
    };
    // The borough with most sites, and its ward with most.
    let mut by_borough: std::collections::HashMap<i64, u64> = Default::default();
    let mut by_ward: std::collections::HashMap<(i64, i64), u64> = Default::default();
    for l in points["locations"].as_array().unwrap() {
        *by_borough.entry(l[4].as_i64().unwrap()).or_default() += 1;
        *by_ward
            .entry((l[4].as_i64().unwrap(), l[5].as_i64().unwrap()))
            .or_default() += 1;
    }
    let (&bi, _) = by_borough.iter().max_by_key(|(_, n)| **n).unwrap();
    let borough = points["areas"][bi as usize]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let borough_name = points["areas"][bi as usize]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    choose(&b, "f-borough", &area_index(&borough));
    let in_borough = loc_total(&format!("borough={}", borough_name.replace(' ', "+")));
    assert!(in_borough > 0);
    assert_eq!(counts(&b).0, in_borough, "borough {borough_name}");
    let (&(_, wi), _) = by_ward
        .iter()
        .filter(|((b, _), _)| *b == bi)
        .max_by_key(|(_, n)| **n)
        .unwrap();
    let ward = points["areas"][wi as usize]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    choose(&b, "f-ward", &area_index(&ward));
    assert_eq!(
        counts(&b).0,
        loc_total(&format!("ward={ward}")),
        "ward {ward}"
    );
    b.js("document.getElementById('filters').reset()");
    b.wait_for(
        "the filters are cleared",
        &format!("return Number(document.getElementById('counts').dataset.locations) === {sites}"),
        Duration::from_secs(5),
    );
    let party = points["operators"][0]["party"].as_str().unwrap().to_owned();
    choose(&b, "f-operator", "0");
    assert_eq!(
        counts(&b).0,
        loc_total(&format!("party={}", party.replace('*', "%2A")))
    );
    choose(&b, "f-operator", "");
    choose(&b, "f-status", "AVAILABLE");
    assert_eq!(counts(&b).0, loc_total("status=AVAILABLE"));
    assert_eq!(
        counts(&b).1,
        counts(&b).2,
        "only available EVSEs are counted"
    );
    choose(&b, "f-status", "");
    let standard = points["standards"][0].as_str().unwrap().to_owned();
    choose(&b, "f-standard", "0");
    assert_eq!(
        counts(&b).0,
        loc_total(&format!("connector_standard={standard}"))
    );
    choose(&b, "f-standard", "");
    // Power: without the slow class, the sites with an EVSE of 8 kW or more.
    b.js("const c = document.querySelector('input[name=power][value=\"0\"]'); c.click();");
    let fast_sites = points["locations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| {
            l[10]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e[2].as_f64().unwrap() >= 8.0)
        })
        .count() as u64;
    assert_eq!(counts(&b).0, fast_sites);
    b.js("document.querySelector('input[name=power][value=\"0\"]').click();");
    // Free text: a postcode district.
    let some = &points["locations"][0];
    let postcode = some[8].as_str().unwrap();
    let district = postcode.split(' ').next().unwrap().to_lowercase();
    b.js(&format!(
        "const t = document.getElementById('f-text'); t.value = {district:?};
         t.dispatchEvent(new Event('input', {{bubbles: true}}));"
    ));
    let by_text = points["locations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| {
            format!("{} {} {} {}", l[6], l[7], l[8], l[1])
                .to_lowercase()
                .contains(&district)
        })
        .count() as u64;
    b.wait_for(
        "the text filter applies",
        &format!(
            "return Number(document.getElementById('counts').dataset.locations) === {by_text}"
        ),
        Duration::from_secs(5),
    );
    b.js("document.getElementById('filters').reset()");

    // A status change posted to a node changes that marker on the open page.
    let one = points["locations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l[10].as_array().unwrap().len() == 1)
        .expect("a site with one EVSE");
    let party = points["operators"][one[0].as_u64().unwrap() as usize]["party"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = one[1].as_str().unwrap().to_owned();
    let uid = one[10][0][0].as_str().unwrap().to_owned();
    let key = format!("{party}/{id}");
    let (cc, pid) = party.split_once('*').unwrap();
    let (details, _) = get(
        &http,
        &format!("{agg}/v1/london/locations/{cc}/{pid}/{id}/details"),
    );
    let served = &details["sources"][0];
    assert_eq!(served["served"], true);
    assert!(
        served["inclusion_proof"].as_str().is_some(),
        "the panel links to an inclusion proof: {served}"
    );
    let node_url = served["url"].as_str().unwrap().to_owned();
    let node_name = served["origin"]
        .as_str()
        .unwrap()
        .trim_start_matches("evfed.")
        .trim_end_matches(".example")
        .to_owned();
    assert!(
        b.js(&format!(
            "return window.evfedDashboard.focusLocation({key:?})"
        ))
        .as_bool()
        .unwrap()
    );
    let marker = format!("document.querySelector('.pin[data-key={:?}]')", key);
    b.wait_for(
        "the location's marker is shown",
        &format!("return {marker} !== null"),
        Duration::from_secs(10),
    );
    b.wait_for(
        "the panel shows its provenance",
        "return document.querySelector('#panel-body a[href*=\"/v1/log/proof/inclusion\"]') !== null",
        Duration::from_secs(10),
    );
    let before = b.js(&format!("return {marker}.dataset.status"));
    let target = if before == "fault" {
        "AVAILABLE"
    } else {
        "OUTOFORDER"
    };
    let expect = if before == "fault" {
        "available"
    } else {
        "fault"
    };
    let token = Command::new(bin("evfed-node"))
        .args(["token", "issue", "--dir"])
        .arg(data.join("nodes").join(&node_name))
        .args(["--party", &party, "--scope", "data:write", "--ttl", "10m"])
        .output()
        .unwrap();
    assert!(token.status.success(), "{token:?}");
    let token = String::from_utf8(token.stdout).unwrap();
    let token = token.lines().last().unwrap().trim().to_owned();
    let now = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let res = http
        .post(format!("{node_url}/v1/status"))
        .bearer_auth(&token)
        .json(
            &json!([{"country_code": cc, "party_id": pid, "location_id": id,
                       "evse_uid": uid, "status": target, "event_time": now}]),
        )
        .send()
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().unwrap());
    b.wait_for(
        "the marker shows the new status without a reload",
        &format!("const m = {marker}; return m !== null && m.dataset.status === {expect:?}"),
        Duration::from_secs(20),
    );

    // Every control can be reached with the keyboard.
    b.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);");
    let mut reached = HashSet::new();
    for _ in 0..160 {
        b.keys(TAB);
        let id = b.js(
            "const e = document.activeElement;
             return e ? (e.id || e.getAttribute('data-view') || e.getAttribute('aria-label') || e.textContent.trim().slice(0, 30)) : ''",
        );
        reached.insert(id.as_str().unwrap_or("").to_owned());
    }
    for control in [
        "map",
        "areas",
        "trends",
        "needs",
        "suppliers",
        "f-borough",
        "f-operator",
        "f-standard",
        "f-status",
        "f-text",
        "f-reset",
        "Zoom in",
        "panel-close",
    ] {
        assert!(
            reached.contains(control),
            "the keyboard never reached {control}: {reached:?}"
        );
    }

    // No WCAG 2.2 A/AA violation in any view; screenshots for the docs when asked.
    let shots = std::env::var_os("EVFED_DASHBOARD_SCREENSHOTS").map(PathBuf::from);
    let views: [(&str, &str, &str); 6] = [
        (
            "map",
            "return document.body.dataset.ready === 'true'",
            "map",
        ),
        (
            "areas",
            "return document.querySelectorAll('#areas-table tbody tr').length > 30",
            "areas",
        ),
        (
            "areas/X",
            "return document.querySelectorAll('#areas-table tbody tr').length > 3",
            "wards",
        ),
        (
            "trends",
            "return document.querySelectorAll('#trends-table tbody tr').length >= 13",
            "trends",
        ),
        (
            "needs",
            "return document.querySelectorAll('#needs-table tbody tr').length > 10",
            "needs",
        ),
        (
            "suppliers",
            "return document.querySelectorAll('.supplier').length > 0",
            "suppliers",
        ),
    ];
    let mut failures = Vec::new();
    for (hash, loaded, name) in views {
        let hash = hash.replace('X', &borough);
        b.js(&format!("location.hash = '#{hash}'"));
        b.wait_for(name, loaded, Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(300));
        for v in b.axe(AXE) {
            failures.push(format!("#{hash}: {v}"));
        }
        if let Some(dir) = &shots {
            std::fs::create_dir_all(dir).unwrap();
            b.screenshot(&dir.join(format!("{name}.png")));
        }
    }
    assert!(failures.is_empty(), "axe-core: {failures:#?}");
    // The panel's view too.
    b.js("location.hash = '#map'");
    b.js(&format!("window.evfedDashboard.focusLocation({key:?})"));
    b.wait_for(
        "the panel is open",
        "return document.querySelector('#panel-body a[href*=\"inclusion\"]') !== null",
        Duration::from_secs(10),
    );
    let v = b.axe(AXE);
    assert!(v.is_empty(), "axe-core, location panel: {v:#?}");
    if let Some(dir) = &shots {
        b.screenshot(&dir.join("location.png"));
    }
    // 320 CSS pixels wide (400 % zoom of a 1280-pixel window): the page reflows, only tables
    // and the map scroll inside themselves.
    b.set_window(320, 800);
    for hash in ["map", "areas", "needs"] {
        b.js(&format!("location.hash = '#{hash}'"));
        std::thread::sleep(Duration::from_millis(300));
        let wide = b.js("return document.documentElement.scrollWidth");
        assert!(
            wide.as_u64().unwrap() <= 320,
            "#{hash} is {wide} px wide at 320"
        );
    }
    let v = b.axe(AXE);
    assert!(v.is_empty(), "axe-core at 320 px: {v:#?}");
    if let Some(dir) = &shots {
        b.js("location.hash = '#map'");
        std::thread::sleep(Duration::from_millis(500));
        b.screenshot(&dir.join("narrow.png"));
    }
}
