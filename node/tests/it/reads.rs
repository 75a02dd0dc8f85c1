//! Open reads: pagination and filters, hidden locations, the OCPI surface, operations
//! endpoints, and problem+json for every bad request.

use reqwest::Method;
use serde_json::{Value, json};

use crate::lifecycle::location;
use crate::support::{NodeDir, Running};

fn load(node: &NodeDir, run: &Running, n: u32) {
    let token = node.writer("GB*LPC");
    for i in 0..n {
        let mut body = location(i);
        body["last_updated"] = json!(format!("2026-10-{:02}T12:00:00Z", 1 + i % 28));
        let res = run.send(
            Method::PUT,
            &format!("/v1/locations/GB/LPC/L{i}"),
            Some(&token),
            body.to_string().as_bytes(),
        );
        assert!(res.status().is_success());
    }
}

#[test]
fn pages_visit_every_location_once() {
    let node = NodeDir::camden();
    let run = node.serve();
    load(&node, &run, 23);
    let mut seen = Vec::new();
    let mut next = Some("/v1/locations?limit=5".to_owned());
    while let Some(path) = next {
        let res = run.get(&path);
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-total-count"], "23");
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
        next = res.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            assert!(l.ends_with(">; rel=\"next\""), "{l}");
            l[1..l.find('>').unwrap()].to_owned()
        });
        let page: Vec<Value> = res.json().unwrap();
        assert!(page.len() <= 5);
        seen.extend(
            page.into_iter()
                .map(|l| l["id"].as_str().unwrap().to_owned()),
        );
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "key order, no duplicates");
    assert_eq!(seen.len(), 23);

    // Filters: a date window [from, to), borough, party.
    let res = run.get("/v1/locations?date_from=2026-10-02T00:00:00Z&date_to=2026-10-04T00:00:00Z");
    let page: Vec<Value> = res.json().unwrap();
    assert!(
        page.iter()
            .all(|l| l["last_updated"] == "2026-10-02T12:00:00Z"
                || l["last_updated"] == "2026-10-03T12:00:00Z")
    );
    assert_eq!(page.len(), 2);
    assert_eq!(
        run.json("/v1/locations?borough=E09000007")
            .as_array()
            .unwrap()
            .len(),
        23
    );
    assert_eq!(
        run.json("/v1/locations?borough=E09000033")
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        run.json("/v1/locations?party=GB*XYZ")
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        run.json("/v1/locations?limit=5000")
            .as_array()
            .unwrap()
            .len(),
        23
    );
    assert_eq!(run.json("/v1/status?limit=3").as_array().unwrap().len(), 3);
    // Rendered pages are reused only until the log moves: a write shows at once.
    assert_eq!(
        run.json("/v1/locations?limit=1000")
            .as_array()
            .unwrap()
            .len(),
        23
    );
    load(&node, &run, 24);
    assert_eq!(
        run.json("/v1/locations?limit=1000")
            .as_array()
            .unwrap()
            .len(),
        24
    );
    let token = node.writer("GB*LPC");
    let mut changed = location(3);
    changed["name"] = json!("Renamed");
    run.send(
        Method::PUT,
        "/v1/locations/GB/LPC/L3",
        Some(&token),
        changed.to_string().as_bytes(),
    );
    let page = run.json("/v1/locations?limit=1000");
    assert!(
        page.as_array()
            .unwrap()
            .iter()
            .any(|l| l["name"] == "Renamed")
    );
    // The location's borough came from its coordinates (Camden High Street).
    assert_eq!(
        run.json("/v1/locations/GB/LPC/L0")["evfed"]["borough"],
        "E09000007"
    );
}

#[test]
fn bad_requests_are_problems() {
    let node = NodeDir::camden();
    let run = node.serve();
    let problem = |method: Method, path: &str, status: u16, code: &str| {
        let res = run
            .http
            .request(method.clone(), format!("{}{path}", run.url))
            .send()
            .unwrap();
        assert_eq!(res.status(), status, "{method} {path}");
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        assert!(res.headers().get("evfed-tree-size").is_some());
        let allow = res
            .headers()
            .get("allow")
            .map(|a| a.to_str().unwrap().to_owned());
        let v: Value = res.json().unwrap();
        assert_eq!(v["code"], code, "{path}: {v}");
        allow
    };
    for q in [
        "limit=0",
        "limit=-1",
        "limit=x",
        "offset=-1",
        "date_from=yesterday",
        "party=GBLPC",
        "date_from=2026-02-01T00:00:00Z&date_to=2026-01-01T00:00:00Z",
        "borough=Narnia",
        "borough=Abbey",
    ] {
        problem(
            Method::GET,
            &format!("/v1/locations?{q}"),
            400,
            "invalid-query",
        );
    }
    for q in ["", "start=1", "start=2&end=1", "start=a&end=3"] {
        problem(
            Method::GET,
            &format!("/v1/log/entries?{q}"),
            400,
            "invalid-query",
        );
    }
    problem(
        Method::GET,
        "/v1/log/proof/inclusion?index=0&tree_size=1",
        400,
        "invalid-query",
    );
    problem(
        Method::GET,
        "/v1/log/proof/consistency?first=0&second=0",
        400,
        "invalid-query",
    );
    problem(Method::GET, "/v1/nothing", 404, "not-found");
    problem(Method::GET, "/v1/locations/GB/LPC/NOPE", 404, "not-found");
    problem(Method::GET, "/v1/locations/GBR/LPC/NOPE", 404, "not-found");
    problem(Method::GET, "/v1/tariffs/GB/LPC/NOPE", 404, "not-found");
    let allow = problem(
        Method::DELETE,
        "/v1/locations/GB/LPC/L1",
        405,
        "method-not-allowed",
    )
    .unwrap();
    assert!(
        allow.contains("GET") && allow.contains("PUT") && allow.contains("PATCH"),
        "{allow}"
    );
    let allow = problem(Method::POST, "/v1/locations", 405, "method-not-allowed").unwrap();
    assert!(allow.contains("GET"), "{allow}");
    problem(Method::GET, "/v1/sessions", 401, "unauthorized");
    problem(
        Method::GET,
        "/v1/restricted/log/entries?start=0&end=1",
        401,
        "unauthorized",
    );
    // A token on an open route never causes an error, even a bad one.
    let res = run
        .http
        .get(format!("{}/v1/locations", run.url))
        .bearer_auth("garbage")
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[test]
fn hidden_locations_and_the_ocpi_surface() {
    let node = NodeDir::camden();
    let run = node.serve();
    load(&node, &run, 3);
    let token = node.writer("GB*LPC");
    let mut hidden = location(9);
    hidden["publish"] = json!(false);
    hidden["publish_allowed_to"] = json!([{"uid": "04A1B2C3", "type": "RFID"}]);
    let res = run.send(
        Method::PUT,
        "/v1/locations/GB/LPC/L9",
        Some(&token),
        hidden.to_string().as_bytes(),
    );
    assert_eq!(res.status(), 201);
    let before = run.tree_size();
    assert_eq!(before, 3, "unpublished locations go to the restricted log");
    assert_eq!(run.get("/v1/locations/GB/LPC/L9").status(), 404);
    assert_eq!(run.json("/v1/locations").as_array().unwrap().len(), 3);
    let own: Value = run
        .get_auth("/v1/locations/GB/LPC/L9", &token)
        .json()
        .unwrap();
    assert_eq!(
        own["publish_allowed_to"][0]["uid"], "04A1B2C3",
        "the owner sees its own personal data"
    );
    let reader = node.token(None, &["usage:read"]);
    let seen: Value = run
        .get_auth("/v1/locations/GB/LPC/L9", &reader)
        .json()
        .unwrap();
    assert!(
        seen.get("publish_allowed_to").is_none(),
        "never to anyone else"
    );
    assert_eq!(
        run.get_auth("/v1/locations", &reader)
            .json::<Value>()
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let other = node.writer("GB*RHX");
    assert_eq!(
        run.get_auth("/v1/locations/GB/LPC/L9", &other).status(),
        404
    );
    // Personal data never enters a log.
    let entries = run
        .get_auth("/v1/restricted/log/entries?start=0&end=10", &reader)
        .text()
        .unwrap();
    assert!(entries.contains("\"L9\"") && !entries.contains("04A1B2C3"));

    // OCPI: envelope, pagination headers, published only, no evfed member.
    let res = run.get("/ocpi/2.2.1/locations?limit=2");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-total-count"], "3");
    assert_eq!(res.headers()["x-limit"], "2");
    let link = res.headers()["link"].to_str().unwrap().to_owned();
    assert!(
        link.starts_with(&format!("<{}/ocpi/2.2.1/locations?", run.url)),
        "{link}"
    );
    let v: Value = res.json().unwrap();
    assert_eq!(v["status_code"], 1000);
    assert!(v["timestamp"].is_string());
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert!(v["data"][0].get("evfed").is_none());
    assert!(v["data"][0]["evses"][0].get("evfed").is_none());
    let one: Value = run.get("/ocpi/2.2.1/locations/L1/L1-1/1").json().unwrap();
    assert_eq!(one["data"]["id"], "1");
    let missing = run.get("/ocpi/2.2.1/locations/L9");
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().unwrap()["status_code"], 2003);
    let versions: Value = run.get("/ocpi/versions").json().unwrap();
    assert_eq!(versions["data"][0]["version"], "2.2.1");
    let details: Value = run.get("/ocpi/2.2.1").json().unwrap();
    // The open sender modules, and the credentials and receiver modules for pushing operators.
    let endpoints: Vec<(String, String)> = details["data"]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["identifier"].as_str().unwrap().to_owned(),
                e["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let sender: Vec<&str> = endpoints
        .iter()
        .filter(|(id, role)| role == "SENDER" && id != "credentials")
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(sender, ["locations", "tariffs"]);
    assert_eq!(endpoints.len(), 7, "{endpoints:?}");
    let bad: Value = run.get("/ocpi/2.2.1/tariffs?limit=zero").json().unwrap();
    assert_eq!(bad["status_code"], 2001);
}

#[test]
fn operations_endpoints() {
    let node = NodeDir::camden();
    let run = node.serve();
    assert_eq!(run.get("/healthz").status(), 200);
    assert_eq!(run.get("/readyz").status(), 200);
    let metrics = run.get("/metrics").text().unwrap();
    assert!(
        metrics.contains("evfed_log_size{log=\"public\"} 0"),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE evfed_http_responses_total counter"));
    let doc: Value = run.json("/openapi.json");
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/locations"]["get"].is_object());
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/openapi/node.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(doc, committed, "the served document is the committed one");
    let docs = run.get("/docs/");
    assert_eq!(docs.status(), 200);
    assert!(
        docs.text().unwrap().contains("swagger"),
        "Swagger UI is served offline"
    );
    let discovery = run.json("/.well-known/evfed");
    assert_eq!(discovery["kind"], "borough");
    assert_eq!(discovery["borough"], "E09000007");
    assert_eq!(discovery["spec_version"], "1");
}

/// RT-4: a list page is the state at exactly the tree size it carries, while writes land
/// between the read and the response.
#[test]
fn a_status_page_is_the_state_at_its_tree_size() {
    let node = NodeDir::camden();
    let run = node.serve();
    load(&node, &run, 1);
    let base = run.tree_size();
    let token = node.writer("GB*LPC");
    // Change `k` appends entry `base + k`: odd k CHARGING, even AVAILABLE, at 00:00:00 + k s.
    let at = |k: u64| format!("2026-11-01T00:{:02}:{:02}Z", k / 60, k % 60);
    let status_of = |k: u64| if k % 2 == 1 { "CHARGING" } else { "AVAILABLE" };
    const CHANGES: u64 = 300;
    let done = std::sync::atomic::AtomicBool::new(false);
    let (mut pages, mut moved) = (0, 0);
    std::thread::scope(|s| {
        s.spawn(|| {
            for k in 1..=CHANGES {
                let batch = json!([{"country_code": "GB", "party_id": "LPC", "location_id": "L0",
                    "evse_uid": "L0-1", "status": status_of(k), "event_time": at(k)}]);
                let res = run.send(
                    Method::POST,
                    "/v1/status",
                    Some(&token),
                    batch.to_string().as_bytes(),
                );
                assert_eq!(res.status(), 200);
            }
            done.store(true, std::sync::atomic::Ordering::Release);
        });
        let mut last = base;
        while !done.load(std::sync::atomic::Ordering::Acquire) {
            let res = run.get("/v1/status");
            let n = crate::support::tree_size(&res);
            let page: Vec<Value> = res.json().unwrap();
            let k = n - base;
            assert_eq!(page.len(), 1);
            assert_eq!(page[0]["status"], status_of(k), "at tree size {n}");
            if k > 0 {
                assert_eq!(page[0]["event_time"], at(k).as_str(), "at tree size {n}");
            }
            pages += 1;
            moved += u64::from(n != last);
            last = n;
        }
    });
    assert_eq!(run.tree_size(), base + CHANGES);
    assert!(
        moved > 10,
        "the log moved under the reads ({moved} of {pages} pages)"
    );
}

/// One answer of an OCPI list: the envelope's `data` as sent, and the headers a cache could get
/// wrong.
#[derive(Debug, PartialEq)]
struct OcpiPage {
    data: String,
    total: String,
    limit: String,
    link: Option<String>,
    tree_size: String,
}

fn ocpi_page(res: reqwest::blocking::Response) -> OcpiPage {
    assert_eq!(res.status(), 200);
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let page = OcpiPage {
        data: String::new(),
        total: header("x-total-count").unwrap(),
        limit: header("x-limit").unwrap(),
        link: header("link"),
        tree_size: header("evfed-tree-size").unwrap(),
    };
    OcpiPage {
        data: raw_data(&res.text().unwrap()),
        ..page
    }
}

/// The envelope's `data` exactly as the node wrote it.
fn raw_data(text: &str) -> String {
    let members: std::collections::HashMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_str(text).unwrap();
    assert!(members.contains_key("timestamp"), "{text}");
    members["data"].get().to_owned()
}

/// The OCPI sender's pages are cached like anonymous `/v1` pages: every answer, cached or
/// not, is the page an uncached render gives (the objects exactly as the uncached
/// single-location route writes them, the pagination headers, the size the page was read
/// at), and every write shows on the next request.
#[test]
fn ocpi_pages_are_cached_and_show_every_write() {
    let node = NodeDir::camden();
    let run = node.serve();
    load(&node, &run, 7);
    let token = node.writer("GB*LPC");
    let url = "/ocpi/2.2.1/locations?limit=3&offset=2";
    // What an uncached render of these locations gives, one by one.
    let rendered = |ids: &[&str]| {
        let items: Vec<String> = ids
            .iter()
            .map(|id| {
                raw_data(
                    &run.get(&format!("/ocpi/2.2.1/locations/{id}"))
                        .text()
                        .unwrap(),
                )
            })
            .collect();
        format!("[{}]", items.join(","))
    };
    let expect = |page: &OcpiPage, ids: &[&str], total: u64| {
        assert_eq!(page.data, rendered(ids));
        assert_eq!(page.total, total.to_string());
        assert_eq!(page.limit, "3");
        assert_eq!(page.tree_size, run.tree_size().to_string());
        assert_eq!(
            page.link.as_deref(),
            Some(
                format!(
                    "<{}/ocpi/2.2.1/locations?limit=3&offset=5>; rel=\"next\"",
                    run.url
                )
                .as_str()
            )
        );
    };

    let first = ocpi_page(run.get(url));
    expect(&first, &["L2", "L3", "L4"], 7);
    let again = ocpi_page(run.get(url));
    assert_eq!(
        again, first,
        "the cached answer is the first one, timestamp aside"
    );
    // The link names the host each request was sent to, not the first one's.
    let elsewhere = run
        .http
        .get(format!("{}{url}", run.url))
        .header("host", "feed.example")
        .send()
        .unwrap();
    let link = elsewhere.headers()["link"].to_str().unwrap().to_owned();
    assert_eq!(
        link,
        "<http://feed.example/ocpi/2.2.1/locations?limit=3&offset=5>; rel=\"next\""
    );

    // A location on the page changes.
    let mut moved = location(3);
    moved["address"] = json!("3 Camden Road");
    moved["last_updated"] = json!("2026-10-20T12:00:00Z");
    let res = run.send(
        Method::PUT,
        "/v1/locations/GB/LPC/L3",
        Some(&token),
        moved.to_string().as_bytes(),
    );
    assert!(res.status().is_success());
    let page = ocpi_page(run.get(url));
    expect(&page, &["L2", "L3", "L4"], 7);
    assert!(page.data.contains("3 Camden Road"), "{}", page.data);

    // An EVSE's status changes (spliced into the body until the ticker folds it in).
    let change = json!([{"country_code": "GB", "party_id": "LPC", "location_id": "L4",
        "evse_uid": "L4-1", "status": "CHARGING", "event_time": "2026-10-21T12:00:00Z"}]);
    let res = run.send(
        Method::POST,
        "/v1/status",
        Some(&token),
        change.to_string().as_bytes(),
    );
    assert_eq!(res.status(), 200);
    let page = ocpi_page(run.get(url));
    expect(&page, &["L2", "L3", "L4"], 7);
    let v: Value = serde_json::from_str(&page.data).unwrap();
    assert_eq!(v[2]["evses"][0]["status"], "CHARGING");

    // A location on the page is withdrawn: the page moves up and the total falls.
    let mut hidden = location(2);
    hidden["publish"] = json!(false);
    hidden["last_updated"] = json!("2026-10-22T12:00:00Z");
    let res = run.send(
        Method::PUT,
        "/v1/locations/GB/LPC/L2",
        Some(&token),
        hidden.to_string().as_bytes(),
    );
    assert!(res.status().is_success());
    let page = ocpi_page(run.get(url));
    expect(&page, &["L3", "L4", "L5"], 6);
    let last = ocpi_page(run.get("/ocpi/2.2.1/locations?limit=3&offset=5"));
    assert_eq!(last.data, rendered(&["L6"]));
    assert_eq!(last.link, None, "the last page links nowhere");

    // Tariffs: the same cache, and a changed tariff shows at once.
    let tariff = |price: f64, updated: &str| {
        json!({"country_code": "GB", "party_id": "LPC", "id": "T1", "currency": "GBP",
            "elements": [{"price_components": [{"type": "ENERGY", "price": price, "step_size": 1}]}],
            "last_updated": updated})
    };
    let tariffs = |expected_price: f64| {
        let res = run.get("/ocpi/2.2.1/tariffs");
        let tree_size = res.headers()["evfed-tree-size"]
            .to_str()
            .unwrap()
            .to_owned();
        let v: Value = res.json().unwrap();
        assert_eq!(v["status_code"], 1000);
        assert_eq!(v["data"].as_array().unwrap().len(), 1);
        assert_eq!(
            v["data"][0]["elements"][0]["price_components"][0]["price"],
            expected_price
        );
        assert!(v["data"][0].get("evfed").is_none());
        assert_eq!(tree_size, run.tree_size().to_string());
    };
    for (price, updated) in [
        (0.45, "2026-10-01T00:00:00Z"),
        (0.49, "2026-10-02T00:00:00Z"),
    ] {
        let res = run.send(
            Method::PUT,
            "/v1/tariffs/GB/LPC/T1",
            Some(&token),
            tariff(price, updated).to_string().as_bytes(),
        );
        assert!(res.status().is_success(), "{}", res.text().unwrap());
        tariffs(price);
        tariffs(price);
    }
}
