//! A member served from the test process: a real HTTP server on `127.0.0.1:0` (actix-web on its
//! own thread) that answers what an aggregator harvests from a node (STANDARD.md §3.4 discovery,
//! §10.6 checkpoint, entries and proofs), over a log it keeps in memory and signs with real
//! Ed25519 keys through `evfed_spec`. Faults are injected while it serves: a second history
//! (`fork_at`), an older checkpoint (`serve`), key rotation (`rotate_to`, `sign_with`), entries
//! of any bytes (`append_raw`), a checkpoint whose root is not its entries' (`sign_claiming`),
//! and answers cut short (`inject`). It remembers every note it signed, with the entries it
//! covered, so `reverify` can hold the aggregator to what was really signed.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use evfed_spec::checkpoint::Checkpoint;
use evfed_spec::entry::{KeyRotation, LogEntry};
use evfed_spec::merkle::{Hash, MemoryTree};
use evfed_spec::note::{SigningKey, VerifierKey};
use evfed_spec::ocpi::Location;
use evfed_spec::time::DateTime;
use serde_json::json;

/// Most entries one `/entries` answer carries, as a node bounds its pages.
const PAGE: usize = 1000;

/// A fault in the member's answers to `/v1/log/entries`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The answer stops half-way and the connection closes: the chunked body never ends.
    CutTransfer,
    /// A complete answer whose last entry is cut in half (no final line feed).
    CutEntry,
}

/// A checkpoint the member signed, with the entries of the tree it names as the member held
/// them then (for a checkpoint from `sign_claiming`, entries whose root is not the note's).
#[derive(Debug, Clone)]
pub struct Signed {
    pub note: Vec<u8>,
    pub checkpoint: Checkpoint,
    pub entries: Vec<Vec<u8>>,
}

impl Signed {
    /// Whether the note's root is that of its entries: a checkpoint an honest log could sign.
    pub fn honest(&self) -> bool {
        MemoryTree::from_entries(&self.entries).root() == self.checkpoint.root
    }
}

/// The member's state, shared with its request handlers.
#[derive(Debug)]
struct Log {
    origin: String,
    entries: Vec<Vec<u8>>,
    tree: MemoryTree,
    /// Keys that sign the next checkpoint, in signature order.
    signers: Vec<SigningKey>,
    /// Every key it signed with, newest first: its discovery `vkeys`.
    vkeys: Vec<String>,
    /// The note `/checkpoint` answers with (empty before the first).
    served: Vec<u8>,
    signed: Vec<Signed>,
    last_time: u64,
    fault: Option<Fault>,
    /// Path and query of every request, in order.
    requests: Vec<String>,
}

/// An in-process member; stops serving when dropped.
#[derive(Debug)]
pub struct FakeMember {
    pub url: String,
    pub origin: String,
    /// The key it started with (the one an aggregator pins when registering it).
    pub key: SigningKey,
    log: Arc<Mutex<Log>>,
    server: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl FakeMember {
    /// A member of `origin` with a fresh key and an empty log, serving on `127.0.0.1:0`.
    pub fn start(origin: &str) -> FakeMember {
        let key = new_key(origin);
        let log = Arc::new(Mutex::new(Log {
            origin: origin.to_owned(),
            entries: Vec::new(),
            tree: MemoryTree::new(),
            signers: vec![key.clone()],
            vkeys: vec![key.verifier().to_string()],
            served: Vec::new(),
            signed: Vec::new(),
            last_time: 0,
            fault: None,
            requests: Vec::new(),
        }));
        let (tx, rx) = mpsc::channel();
        let shared = web::Data::from(log.clone());
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(shared.clone())
                        .route("/.well-known/evfed", web::get().to(discovery))
                        .route("/v1/log/checkpoint", web::get().to(checkpoint))
                        .route("/v1/log/entries", web::get().to(entries))
                        .route("/v1/log/proof/consistency", web::get().to(consistency))
                        .route("/v1/log/proof/inclusion", web::get().to(inclusion))
                        .default_service(web::to(not_found))
                })
                .workers(1)
                .disable_signals()
                .shutdown_timeout(0)
                .bind(("127.0.0.1", 0))
                .unwrap();
                let addr = server.addrs()[0];
                let server = server.run();
                tx.send((addr, server.handle())).unwrap();
                server.await.unwrap();
            });
        });
        let (addr, server) = rx.recv().unwrap();
        FakeMember {
            url: format!("http://{addr}"),
            origin: origin.to_owned(),
            key,
            log,
            server,
            thread: Some(thread),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap()
    }

    /// The verifier key it started with.
    pub fn vkey(&self) -> String {
        self.key.verifier().to_string()
    }

    /// Appends `bytes` as one entry, whatever they are (garbage, non-canonical JSON, …).
    pub fn append_raw(&self, bytes: &[u8]) {
        let mut log = self.lock();
        log.tree.append(bytes);
        log.entries.push(bytes.to_vec());
    }

    /// Appends a canonical `location` entry: a published one-EVSE Location `id` of `party`
    /// (`CC*PID`) at `lat` in London, recorded now.
    pub fn append_location(&self, party: &str, id: &str, lat: &str) {
        self.append_raw(&location_entry(party, id, lat));
    }

    /// Appends a canonical `evse_status` entry for the EVSE `{id}-1` of Location `id`.
    pub fn append_status(&self, party: &str, id: &str, status: &str) {
        let (cc, pid) = party.split_once('*').unwrap();
        let now = DateTime::now();
        let change = json!({"country_code": cc, "party_id": pid, "location_id": id,
            "evse_uid": format!("{id}-1"), "status": status, "event_time": now.to_string()});
        let entry = LogEntry {
            recorded_at: now,
            data: evfed_spec::entry::EntryData::EvseStatus(serde_json::from_value(change).unwrap()),
        };
        self.append_raw(&entry.to_bytes().unwrap());
    }

    /// Appends a `key_rotation` entry (§3.3) to `new`'s verifier key from `previous`; which
    /// keys sign from then on is up to `sign_with`.
    pub fn rotate_to(&self, new: &SigningKey, previous: &VerifierKey) {
        let entry = LogEntry {
            recorded_at: DateTime::now(),
            data: evfed_spec::entry::EntryData::KeyRotation(KeyRotation {
                vkey: new.verifier().to_string(),
                previous_vkey: previous.to_string(),
            }),
        };
        self.append_raw(&entry.to_bytes().unwrap());
    }

    /// Signs every later checkpoint with `keys`, in this order (discovery lists them first).
    pub fn sign_with(&self, keys: &[&SigningKey]) {
        let mut log = self.lock();
        log.signers = keys.iter().map(|k| (*k).clone()).collect();
        for k in keys.iter().rev() {
            let v = k.verifier().to_string();
            log.vkeys.retain(|o| *o != v);
            log.vkeys.insert(0, v);
        }
    }

    /// Signs a checkpoint of the whole log and serves it; its note.
    pub fn sign(&self) -> Vec<u8> {
        let root = self.lock().tree.root();
        self.sign_claiming(root)
    }

    /// Signs a checkpoint of the log's size that claims `root`, and serves it: with any root
    /// but the log's own, a note whose entries do not match it.
    pub fn sign_claiming(&self, root: Hash) -> Vec<u8> {
        let mut log = self.lock();
        let now = u64::try_from(DateTime::now().unix_seconds()).unwrap();
        log.last_time = log.last_time.max(now);
        let checkpoint = Checkpoint {
            origin: log.origin.clone(),
            tree_size: log.entries.len() as u64,
            root,
            time: log.last_time,
        };
        let signers: Vec<&SigningKey> = log.signers.iter().collect();
        let note = checkpoint
            .sign_with(&signers)
            .unwrap()
            .note_bytes()
            .to_vec();
        let signed = Signed {
            note: note.clone(),
            checkpoint,
            entries: log.entries.clone(),
        };
        log.signed.push(signed);
        log.served = note.clone();
        note
    }

    /// Serves `note` (an earlier checkpoint, or any bytes) as its checkpoint from now on.
    pub fn serve(&self, note: &[u8]) {
        self.lock().served = note.to_vec();
    }

    /// Starts a second history: the log keeps its first `size` entries and later appends
    /// diverge from what it signed before. Earlier notes stay signed (and remembered).
    pub fn fork_at(&self, size: u64) {
        let mut log = self.lock();
        log.entries.truncate(usize::try_from(size).unwrap());
        log.tree = MemoryTree::from_entries(&log.entries);
    }

    /// Injects `fault` into every later answer to `/entries` (`None`: answer honestly).
    pub fn inject(&self, fault: Option<Fault>) {
        self.lock().fault = fault;
    }

    /// Every note it signed, with the entries each covered, oldest first.
    pub fn signed(&self) -> Vec<Signed> {
        self.lock().signed.clone()
    }

    /// Every verifier key it signed with, newest first.
    pub fn vkeys(&self) -> Vec<String> {
        self.lock().vkeys.clone()
    }

    /// Path and query of every request it answered, in order.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }
}

impl Drop for FakeMember {
    fn drop(&mut self) {
        actix_web::rt::System::new().block_on(self.server.stop(false));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A fresh signing key named `origin`.
pub fn new_key(origin: &str) -> SigningKey {
    SigningKey::generate(origin, &mut rand::rngs::OsRng).unwrap()
}

/// The canonical `location` entry of [`location`], recorded now.
pub fn location_entry(party: &str, id: &str, lat: &str) -> Vec<u8> {
    LogEntry::location(location(party, id, lat), DateTime::now())
        .to_bytes()
        .unwrap()
}

/// A published Location `id` of `party` with one AC EVSE `{id}-1`, at `lat` on longitude
/// -0.14 (London for latitudes near 51.5).
pub fn location(party: &str, id: &str, lat: &str) -> Location {
    let (cc, pid) = party.split_once('*').unwrap();
    serde_json::from_value(json!({
        "country_code": cc, "party_id": pid, "id": id, "publish": true,
        "address": "1 Fake Street", "city": "London", "country": "GBR",
        "coordinates": {"latitude": lat, "longitude": "-0.14000"},
        "time_zone": "Europe/London", "last_updated": "2026-10-22T10:00:00Z",
        "evses": [{"uid": format!("{id}-1"), "status": "AVAILABLE",
                   "last_updated": "2026-10-22T10:00:00Z",
                   "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                                   "power_type": "AC_1_PHASE", "max_voltage": 230,
                                   "max_amperage": 32, "last_updated": "2026-10-22T10:00:00Z"}]}]
    }))
    .unwrap()
}

type Shared = web::Data<Mutex<Log>>;

/// Notes the request and locks the log.
fn enter<'a>(shared: &'a Shared, req: &HttpRequest) -> MutexGuard<'a, Log> {
    let mut log = shared.lock().unwrap();
    let target = match req.query_string() {
        "" => req.path().to_owned(),
        q => format!("{}?{q}", req.path()),
    };
    log.requests.push(target);
    log
}

fn invalid_query(detail: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("application/problem+json")
        .json(
            json!({"type": "about:blank", "title": "Bad Request", "status": 400,
                     "code": "invalid-query", "detail": detail}),
        )
}

async fn not_found(shared: Shared, req: HttpRequest) -> HttpResponse {
    drop(enter(&shared, &req));
    HttpResponse::NotFound()
        .content_type("application/problem+json")
        .json(
            json!({"type": "about:blank", "title": "Not Found", "status": 404,
                     "code": "not-found"}),
        )
}

async fn discovery(shared: Shared, req: HttpRequest) -> HttpResponse {
    let log = enter(&shared, &req);
    let base = format!("http://{}", req.connection_info().host());
    let endpoint = |p: &str| format!("{base}{p}");
    HttpResponse::Ok().json(json!({
        "spec_version": "1", "standard": "1.1", "origin": log.origin, "vkeys": log.vkeys,
        "kind": "cpo", "borough": null, "parties": [],
        "endpoints": {
            "locations": endpoint("/v1/locations"), "tariffs": endpoint("/v1/tariffs"),
            "status": endpoint("/v1/status"), "log": endpoint("/v1/log"),
            "restricted_log": endpoint("/v1/restricted/log"),
            "ocpi_versions": endpoint("/ocpi/versions"), "openapi": endpoint("/openapi.json"),
        },
    }))
}

async fn checkpoint(shared: Shared, req: HttpRequest) -> HttpResponse {
    let log = enter(&shared, &req);
    if log.served.is_empty() {
        return HttpResponse::NotFound().finish();
    }
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(log.served.clone())
}

#[derive(serde::Deserialize)]
struct Range {
    start: u64,
    end: u64,
}

async fn entries(
    shared: Shared,
    req: HttpRequest,
    range: Result<web::Query<Range>, actix_web::Error>,
) -> HttpResponse {
    let log = enter(&shared, &req);
    let Ok(range) = range else {
        return invalid_query("start and end are required decimal integers");
    };
    if range.start >= range.end {
        return invalid_query("start must be below end");
    }
    let size = log.entries.len();
    let from = usize::try_from(range.start).unwrap_or(usize::MAX).min(size);
    let to = usize::try_from(range.end)
        .unwrap_or(usize::MAX)
        .min(size)
        .min(from + PAGE);
    let mut body = Vec::new();
    for e in &log.entries[from..to] {
        body.extend_from_slice(e);
        body.push(b'\n');
    }
    let ok = || {
        let mut res = HttpResponse::Ok();
        res.content_type("application/x-ndjson");
        res
    };
    match log.fault {
        None => ok().body(body),
        Some(Fault::CutEntry) => {
            // Drop the final line feed and half of the last entry.
            let last = log.entries[from..to].last().map_or(0, Vec::len);
            body.truncate(body.len().saturating_sub(1 + last / 2));
            ok().body(body)
        }
        Some(Fault::CutTransfer) => {
            // The first half goes out (the stream yields to the connection, which writes what
            // it has), then the body fails and the connection is closed mid-answer.
            let half = web::Bytes::from(body[..body.len() / 2].to_vec());
            let stream = futures_util::stream::unfold(0, move |step| {
                let half = half.clone();
                async move {
                    match step {
                        0 => Some((Ok(half), 1)),
                        1 => {
                            tokio::task::yield_now().await;
                            Some((
                                Err(std::io::Error::other("the member's connection broke")),
                                2,
                            ))
                        }
                        _ => None,
                    }
                }
            });
            ok().streaming(stream)
        }
    }
}

#[derive(serde::Deserialize)]
struct Sizes {
    first: u64,
    second: u64,
}

async fn consistency(
    shared: Shared,
    req: HttpRequest,
    sizes: Result<web::Query<Sizes>, actix_web::Error>,
) -> HttpResponse {
    let log = enter(&shared, &req);
    let Ok(sizes) = sizes else {
        return invalid_query("first and second are required decimal integers");
    };
    if sizes.first < 1 || sizes.first > sizes.second {
        return invalid_query("1 <= first <= second");
    }
    match log.tree.consistency_proof(sizes.first, sizes.second) {
        Ok(proof) => proof_json(&proof),
        Err(e) => invalid_query(&e.to_string()),
    }
}

#[derive(serde::Deserialize)]
struct Inclusion {
    index: u64,
    tree_size: u64,
}

async fn inclusion(
    shared: Shared,
    req: HttpRequest,
    at: Result<web::Query<Inclusion>, actix_web::Error>,
) -> HttpResponse {
    let log = enter(&shared, &req);
    let Ok(at) = at else {
        return invalid_query("index and tree_size are required decimal integers");
    };
    if at.index >= at.tree_size {
        return invalid_query("index must be below tree_size");
    }
    match log.tree.inclusion_proof(at.index, at.tree_size) {
        Ok(proof) => proof_json(&proof),
        Err(e) => invalid_query(&e.to_string()),
    }
}

fn proof_json(hashes: &[Hash]) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "hashes": hashes.iter().map(Hash::to_base64).collect::<Vec<_>>()
    }))
}
