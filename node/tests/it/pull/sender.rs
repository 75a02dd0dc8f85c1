//! A deliberately imperfect OCPI 2.2.1 sender on `127.0.0.1:0`, serving the feed in
//! `spec/testdata/ocpi/pull/` with the faults real operators' back offices show:
//!
//! - locations: pages of 3, a `Link` without angle brackets (malformed), and the second page
//!   answers 503 once;
//! - tariffs: pages of 2, the first answer is HTTP 200 with OCPI `status_code` 3000, and the
//!   `Link` points at another path (as a sender that formats enums wrongly does);
//! - sessions: pages of 2, a `Link` the sender itself refuses with 400;
//! - cdrs: pages of 1 with a correct `Link`;
//! - every pull bumps every `last_updated` by a second without changing anything else, and
//!   `date_from` is recorded but ignored (as many senders do).
//!
//! Faults fire once per pull (keyed by the pull's generation, counted at `/ocpi/versions`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use evfed_spec::time::DateTime;
use serde_json::{Value, json};

use crate::support::testdata;

/// The token the operator issued.
pub const TOKEN: &str = "operator-token-0001";

/// Shared state of a running sender.
pub struct State {
    data: HashMap<&'static str, Vec<Value>>,
    base: Mutex<String>,
    /// Pulls seen (requests to `/ocpi/versions`).
    pub generation: AtomicU64,
    /// Every request's path and query, in order.
    pub requests: Mutex<Vec<String>>,
    /// Faults that have fired, by (generation, module, offset).
    fired: Mutex<HashSet<String>>,
    /// Serve the faults of the module docs above.
    pub faulty: AtomicBool,
    /// Locations at or past this offset answer 503 every time.
    pub fail_locations_from: AtomicU64,
    /// Accept only the token as sent (a 2.2 sender that never decodes it).
    pub plain_token_only: AtomicBool,
}

/// A running sender.
pub struct Sender {
    pub url: String,
    pub state: Arc<State>,
}

impl Sender {
    pub fn start() -> Self {
        let mut data = HashMap::new();
        for module in ["locations", "tariffs", "sessions", "cdrs"] {
            let text =
                std::fs::read_to_string(testdata(&format!("ocpi/pull/{module}.json"))).unwrap();
            data.insert(module, serde_json::from_str::<Vec<Value>>(&text).unwrap());
        }
        let state = Arc::new(State {
            data,
            base: Mutex::new(String::new()),
            generation: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
            fired: Mutex::new(HashSet::new()),
            faulty: AtomicBool::new(true),
            fail_locations_from: AtomicU64::new(u64::MAX),
            plain_token_only: AtomicBool::new(false),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let st = state.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let data = web::Data::from(st);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .route("/ocpi/versions", web::get().to(versions))
                        .route("/ocpi/2.2.1/details", web::get().to(details))
                        .route("/ocpi/2.2.1/{module}", web::get().to(module))
                })
                .workers(1)
                .bind("127.0.0.1:0")
                .unwrap();
                tx.send(server.addrs()[0]).unwrap();
                server.run().await.unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        let url = format!("http://{addr}");
        *state.base.lock().unwrap() = url.clone();
        Sender { url, state }
    }

    pub fn versions_url(&self) -> String {
        format!("{}/ocpi/versions", self.url)
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().unwrap().clone()
    }
}

fn authorised(state: &State, req: &HttpRequest) -> bool {
    let expected = if state.plain_token_only.load(Ordering::SeqCst) {
        format!("Token {TOKEN}")
    } else {
        format!(
            "Token {}",
            base64::engine::general_purpose::STANDARD.encode(TOKEN)
        )
    };
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str())
}

fn envelope(data: Value) -> Value {
    json!({"data": data, "status_code": 1000, "status_message": "Success",
        "timestamp": DateTime::now().to_string()})
}

fn refused() -> HttpResponse {
    HttpResponse::Unauthorized().json(json!({"status_code": 2002, "status_message": "bad token",
        "timestamp": DateTime::now().to_string()}))
}

async fn versions(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    record(&state, &req);
    if !authorised(&state, &req) {
        return refused();
    }
    state.generation.fetch_add(1, Ordering::SeqCst);
    let base = state.base.lock().unwrap().clone();
    HttpResponse::Ok().json(envelope(json!([
        {"version": "2.1.1", "url": format!("{base}/ocpi/2.1.1/details")},
        {"version": "2.2.1", "url": format!("{base}/ocpi/2.2.1/details")},
    ])))
}

async fn details(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    record(&state, &req);
    if !authorised(&state, &req) {
        return refused();
    }
    let base = state.base.lock().unwrap().clone();
    let ep = |id: &str, role: &str| json!({"identifier": id, "role": role, "url": format!("{base}/ocpi/2.2.1/{id}")});
    HttpResponse::Ok().json(envelope(json!({
        "version": "2.2.1",
        "endpoints": [
            ep("credentials", "RECEIVER"),
            ep("locations", "SENDER"),
            ep("locations", "RECEIVER"),
            ep("tariffs", "SENDER"),
            ep("sessions", "SENDER"),
            ep("cdrs", "SENDER"),
            ep("tokens", "RECEIVER"),
        ]
    })))
}

async fn module(
    state: web::Data<State>,
    path: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    record(&state, &req);
    if !authorised(&state, &req) {
        return refused();
    }
    let module = path.into_inner();
    let Some(items) = state.data.get(module.as_str()) else {
        return HttpResponse::NotFound().finish();
    };
    let query: HashMap<String, String> =
        web::Query::<HashMap<String, String>>::from_query(req.query_string())
            .map(|q| q.into_inner())
            .unwrap_or_default();
    if query.contains_key("page_token") {
        return HttpResponse::BadRequest().json(json!({"status_code": 2001,
            "status_message": "unknown parameter page_token", "timestamp": DateTime::now().to_string()}));
    }
    let size: usize = match module.as_str() {
        "locations" => 3,
        "tariffs" | "sessions" => 2,
        _ => 1,
    };
    let offset: usize = query
        .get("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(size)
        .min(size);
    let generation = state.generation.load(Ordering::SeqCst);
    let faulty = state.faulty.load(Ordering::SeqCst);
    let once = |what: &str| {
        faulty
            && state
                .fired
                .lock()
                .unwrap()
                .insert(format!("{generation}:{module}:{offset}:{what}"))
    };
    if module == "locations" && offset as u64 >= state.fail_locations_from.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().body("maintenance");
    }
    if module == "locations" && offset == 3 && once("503") {
        return HttpResponse::ServiceUnavailable().body("try again");
    }
    if module == "tariffs" && offset == 0 && once("3000") {
        return HttpResponse::Ok().json(json!({"status_code": 3000,
            "status_message": "back office busy", "timestamp": DateTime::now().to_string()}));
    }
    let total = items.len();
    let page: Vec<Value> = items
        .iter()
        .skip(offset)
        .take(limit)
        .map(|v| bumped(v, generation))
        .collect();
    let mut res = HttpResponse::Ok();
    res.insert_header(("X-Total-Count", total.to_string()))
        .insert_header(("X-Limit", limit.to_string()));
    let next = offset + limit;
    if next < total {
        let base = state.base.lock().unwrap().clone();
        let good =
            format!("<{base}/ocpi/2.2.1/{module}?offset={next}&limit={limit}>; rel=\"next\"");
        let link = match (faulty, module.as_str()) {
            (true, "locations") => {
                format!("{base}/ocpi/2.2.1/locations?offset={next}&limit={limit}; rel=\"next\"")
            }
            (true, "tariffs") => format!(
                "<{base}/ocpi/cpo/VersionNumber.v_2_2_1/ModuleID.tariffs/?offset={next}>; rel=\"next\""
            ),
            (true, "sessions") => {
                format!("<{base}/ocpi/2.2.1/sessions?page_token=p{next}>; rel=\"next\"")
            }
            _ => good,
        };
        res.insert_header(("Link", link));
    }
    res.json(envelope(Value::Array(page)))
}

fn record(state: &State, req: &HttpRequest) {
    let q = req.query_string();
    let line = if q.is_empty() {
        req.path().to_owned()
    } else {
        format!("{}?{q}", req.path())
    };
    state.requests.lock().unwrap().push(line);
}

/// The object with every `last_updated` moved `seconds` later.
fn bumped(v: &Value, seconds: u64) -> Value {
    match v {
        Value::Object(obj) => Value::Object(
            obj.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v.as_str()) {
                        ("last_updated", Some(s)) => {
                            let t: DateTime = s.parse().unwrap();
                            let later =
                                DateTime::from_unix_seconds(t.unix_seconds() + seconds as i64)
                                    .unwrap();
                            Value::String(later.to_string())
                        }
                        _ => bumped(v, seconds),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| bumped(v, seconds)).collect()),
        other => other.clone(),
    }
}
