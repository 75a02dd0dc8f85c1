//! Federation benchmark: a full sync of many nodes, the latency of an incremental sync, the
//! aggregator's own log, and usage statistics over millions of stored sessions.
//!
//! 1. Builds `EVFED_BENCH_NODES` (default 50) real node directories holding
//!    `EVFED_BENCH_ENTRIES` (default 1,000,000) public log entries in total: per node, London
//!    locations on the real borough polygons (20,000 in all, about London's size) and status
//!    changes for the rest, written through the node's own batch writes and signed. Each node
//!    serves its real HTTP API on 127.0.0.1 (in this process, one worker each).
//! 2. Full sync: one harvest of every member, 8 at a time, as `serve` runs it (checkpoint,
//!    signature, chunks verified against the signed root, applied to a fresh aggregator store):
//!    entries verified and stored per second.
//! 3. Own log: the merged view written to the aggregator's own signed log.
//! 4. Incremental sync: one status change at one node, signed; the time one harvest round of all
//!    members takes to verify and store it (p50/p95 of 20 rounds).
//! 5. Usage statistics: `EVFED_BENCH_SESSIONS` (default 10,000,000) sessions over a year
//!    loaded into the aggregator's store (sessions and roll-ups by direct SQL: the figure for
//!    the harvest path is measured separately on `EVFED_BENCH_APPLY` sessions), then the real
//!    `evfed-aggregator` binary serves them and `EVFED_BENCH_QUERIES` (default 200) London
//!    statistics queries run over HTTP: p50/p95/max latency to the last byte of each answer.
//!
//! `cargo bench -p evfed-aggregator --bench federation`. Prints one `figure` line per result;
//! asserts nothing about time. `EVFED_BENCH_ONLY=sync` stops after the full sync;
//! `EVFED_BENCH_KEEP=1` keeps the directories (printed at the end) to query them again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use evfed_aggregator::harvest::{Harvester, Limits};
use evfed_aggregator::london::London;
use evfed_aggregator::store::{Kind, NewMember, NewSession, SessionRow, Store};
use evfed_node::embed::config::{Kind as NodeKind, Origin};
use evfed_node::embed::publish::{BatchOptions, post_status, put_locations};
use evfed_node::embed::{self, OpenNode};
use evfed_spec::areas::AreaSet;
use evfed_spec::ocpi::Location;
use evfed_spec::time::DateTime;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_evfed-aggregator");
const LONDON_LOCATIONS: usize = 20_000;
const HOUR_MS: i64 = 3_600_000;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().expect(name))
        .unwrap_or(default)
}

fn figure(name: &str, value: f64, unit: &str, goal: Option<(&str, f64)>, note: String) {
    let goal = goal
        .map(|(cmp, g)| format!(" (goal {cmp} {g})"))
        .unwrap_or_default();
    println!("figure {name} = {value:.1} {unit}{goal}: {note}");
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// A node serving in this process.
struct BenchNode {
    open: OpenNode,
    url: String,
    party: String,
    /// (location id, EVSE uids) of its locations.
    evses: Vec<(String, [String; 2])>,
}

fn main() {
    let nodes = knob("EVFED_BENCH_NODES", 50);
    let entries = knob("EVFED_BENCH_ENTRIES", 1_000_000);
    let sessions = knob("EVFED_BENCH_SESSIONS", 10_000_000);
    let apply = knob("EVFED_BENCH_APPLY", 200_000);
    let queries = knob("EVFED_BENCH_QUERIES", 200);
    evfed_aggregator::outgoing::install_crypto_provider();
    let mut tmp = tempfile::tempdir().unwrap();
    tmp.disable_cleanup(std::env::var("EVFED_BENCH_KEEP").is_ok_and(|v| v == "1"));
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);

    // 1. The nodes.
    let started = Instant::now();
    let per_node = entries / nodes;
    let locations_per_node = (LONDON_LOCATIONS / nodes).min(per_node);
    let mut fleet = Vec::new();
    for i in 0..nodes {
        fleet.push(build_node(
            tmp.path(),
            i,
            locations_per_node,
            per_node,
            &mut rng,
        ));
    }
    let total: u64 = fleet.iter().map(|n| n.open.state.store.public_size()).sum();
    println!(
        "built {nodes} nodes, {total} public entries, {} locations in {:.1} s",
        nodes * locations_per_node,
        started.elapsed().as_secs_f64()
    );

    // 2. Full sync into a fresh aggregator.
    let agg_dir = tmp.path().join("london");
    evfed_aggregator::commands::init(&agg_dir, "evfed.london.example", None).unwrap();
    let store = Arc::new(Store::open(&agg_dir.join("aggregator.db")).unwrap());
    let usage_token = evfed_node::cli::issue_token(
        &tmp.path().join("node0"),
        None,
        &["usage:read".into()],
        Duration::from_secs(3600),
    )
    .unwrap();
    for (i, n) in fleet.iter().enumerate() {
        store
            .add_member(&NewMember {
                origin: n.open.state.config.origin.to_string(),
                url: n.url.clone(),
                kind: Kind::Cpo,
                parties: vec![n.party.parse().unwrap()],
                borough: None,
                supplier: None,
                usage_token: (i == 0).then(|| usage_token.clone()),
                vkeys: n.open.state.vkeys.clone(),
            })
            .unwrap();
    }
    let london = London::default();
    let harvester = Harvester::new(Limits::default()).unwrap();
    let (started, cpu_before) = (Instant::now(), cpu_seconds());
    let applied = round(&store, &london, &harvester);
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    assert_eq!(applied, total, "every entry verified and stored");
    figure(
        "sync.full",
        total as f64 / secs,
        "entries/s",
        Some((">=", 250_000.0)),
        format!(
            "{nodes} nodes, {total} entries, {} locations in the view, {secs:.2} s (8 workers), \
             {cpu:.2} s CPU (nodes serving included)",
            london.len()
        ),
    );

    if std::env::var("EVFED_BENCH_ONLY").is_ok_and(|v| v == "sync") {
        return;
    }

    // 3. The aggregator's own log.
    let own = embed::open(&agg_dir.join("node"), None).unwrap();
    let started = Instant::now();
    let synced =
        evfed_aggregator::publish::sync(&london, &own.state.store, &own.state.policy).unwrap();
    own.state
        .signer
        .sign_grown(&own.state.store, embed::unix_now(), false)
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    figure(
        "own_log.publish",
        synced.looked_at as f64 / secs,
        "locations/s",
        None,
        format!(
            "{} locations written to the aggregator's signed log, {} refused, {secs:.2} s",
            synced.changed, synced.refused
        ),
    );
    drop(own);

    // 4. Incremental sync latency.
    let mut latencies = Vec::new();
    for r in 0..20 {
        let n = &fleet[r % fleet.len()];
        let (loc, evse) = &n.evses[r % n.evses.len()];
        let status = if r % 2 == 0 {
            "OUTOFORDER"
        } else {
            "AVAILABLE"
        };
        let change = json!([{"country_code": "GB", "party_id": &n.party[3..], "location_id": loc,
            "evse_uid": evse[0], "status": status, "event_time": DateTime::now().to_string()}]);
        let state = &n.open.state;
        post_status(
            &state.store,
            &state.policy,
            &n.party.parse().unwrap(),
            change.to_string().as_bytes(),
            DateTime::now(),
        )
        .unwrap();
        state
            .signer
            .sign_grown(&state.store, embed::unix_now(), false)
            .unwrap();
        let started = Instant::now();
        let applied = round(&store, &london, &harvester);
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(applied, 1);
    }
    latencies.sort_by(f64::total_cmp);
    figure(
        "sync.incremental.p95",
        percentile(&latencies, 0.95),
        "ms",
        None,
        format!(
            "one signed status change, picked up by a harvest round of all {nodes} members \
             (p50 {:.1} ms; add the node's checkpoint interval and the harvest interval for \
             end-to-end)",
            percentile(&latencies, 0.5)
        ),
    );

    // 5. Usage statistics.
    let places: Vec<(String, String, String, String)> = {
        let mut out = Vec::new();
        london.each(|key, copy, _| {
            let loc = &copy.location;
            out.push((
                key.0.clone(),
                key.1.clone(),
                loc.evfed
                    .borough
                    .as_ref()
                    .map(|b| b.as_str().to_owned())
                    .unwrap_or_default(),
                loc.evfed
                    .ward
                    .as_ref()
                    .map(|w| w.code.as_str().to_owned())
                    .unwrap_or_default(),
            ));
            Some(())
        });
        out
    };
    let now_ms = DateTime::now().unix_millis();
    // A day more than a year, so that the last day's sessions have all ended by now.
    let year_ago = now_ms - 366 * 24 * HOUR_MS;
    // The harvest path, on a sample: sessions posted to the first node's restricted log, then
    // one usage harvest (verified like the public log, stored, rolled up).
    let first = &fleet[0];
    let own_places: Vec<_> = places
        .iter()
        .filter(|p| p.0 == first.party)
        .cloned()
        .collect();
    let party = first.party.parse().unwrap();
    let mut posted = 0;
    while posted < apply {
        let n = (apply - posted).min(1000);
        let batch: Vec<Value> = (posted..posted + n)
            .map(|i| {
                let s = session(&mut rng, &own_places, i, year_ago, "apply");
                let iso = |ms: i64| DateTime::from_unix_millis(ms).unwrap().to_string();
                json!({"id": s.id, "country_code": "GB", "party_id": &first.party[3..],
                    "location_id": s.location_id, "evse_uid": s.evse_uid, "connector_id": "1",
                    "start_date_time": iso(s.row.start_ms),
                    "end_date_time": iso(s.row.end_ms.unwrap()), "kwh": s.row.kwh})
            })
            .collect();
        evfed_node::embed::publish::post_sessions(
            &first.open.state.store,
            &first.open.state.policy,
            &party,
            serde_json::to_vec(&batch).unwrap().as_slice(),
            DateTime::now(),
        )
        .unwrap();
        posted += n;
    }
    first
        .open
        .state
        .signer
        .sign_grown(&first.open.state.store, embed::unix_now(), false)
        .unwrap();
    let member = store.members().unwrap().into_iter().next().unwrap();
    let started = Instant::now();
    let outcome = harvester
        .harvest_usage(&store, &member, 0)
        .unwrap()
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(outcome.reason, None);
    assert_eq!(outcome.applied, apply as u64);
    figure(
        "usage.harvest",
        apply as f64 / secs,
        "sessions/s",
        None,
        format!(
            "{apply} sessions from one member's restricted log verified, stored and rolled up, \
             {secs:.2} s"
        ),
    );
    drop(store);
    let started = Instant::now();
    bulk_sessions(
        &agg_dir.join("aggregator.db"),
        sessions,
        &places,
        year_ago,
        &mut rng,
    );
    println!(
        "loaded {sessions} sessions by direct SQL in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let token = evfed_aggregator::commands::issue_token(
        &agg_dir,
        &["usage:read".into()],
        Duration::from_secs(3600),
    )
    .unwrap();
    let (mut child, url) = serve(&agg_dir);
    let http = reqwest::blocking::Client::new();
    let day = 24 * HOUR_MS;
    let month_ago = now_ms - 30 * day;
    let borough = places
        .iter()
        .find(|p| !p.2.is_empty())
        .map(|p| p.2.clone())
        .unwrap_or_default();
    let iso = |ms: i64| DateTime::from_unix_millis(ms).unwrap().to_string();
    let kinds: Vec<(&str, String)> = vec![
        (
            "30 days by day and borough",
            format!(
                "/v1/london/usage?from={}&to={}&by=day",
                iso(month_ago),
                iso(now_ms)
            ),
        ),
        (
            "a year by month and ward",
            format!("/v1/london/usage?from={}&by=month&area=ward", iso(year_ago)),
        ),
        (
            "7 days by hour, London",
            format!(
                "/v1/london/usage?from={}&to={}&by=hour&area=london",
                iso(now_ms - 7 * day),
                iso(now_ms)
            ),
        ),
        (
            "a borough's wards by day, 90 days",
            format!(
                "/v1/london/usage?from={}&by=day&area=ward&borough={borough}",
                iso(now_ms - 90 * day)
            ),
        ),
        (
            "monthly trends since the first data",
            "/v1/london/usage/trends".to_owned(),
        ),
    ];
    let mut all = Vec::new();
    let mut by_kind: HashMap<&str, Vec<f64>> = HashMap::new();
    for q in 0..queries {
        let (name, path) = &kinds[q % kinds.len()];
        let started = Instant::now();
        let res = http
            .get(format!("{url}{path}"))
            .bearer_auth(&token)
            .send()
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        // Latency to the last byte of the answer; the client's own parse is not the query's.
        let bytes = res.bytes().unwrap();
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(!body.as_array().unwrap().is_empty(), "{path}");
        all.push(ms);
        by_kind.entry(name).or_default().push(ms);
    }
    all.sort_by(f64::total_cmp);
    for (name, _) in &kinds {
        let mut v = by_kind.remove(name).unwrap_or_default();
        v.sort_by(f64::total_cmp);
        println!(
            "  {name}: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            percentile(&v, 0.5),
            percentile(&v, 0.95),
            v.last().copied().unwrap_or(0.0)
        );
    }
    figure(
        "usage.stats.p95",
        percentile(&all, 0.95),
        "ms",
        Some(("<=", 50.0)),
        format!(
            "{queries} London statistics queries over HTTP with {sessions} sessions stored \
             (p50 {:.1} ms, max {:.1} ms)",
            percentile(&all, 0.5),
            all.last().copied().unwrap_or(0.0)
        ),
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    if std::env::var("EVFED_BENCH_KEEP").is_ok_and(|v| v == "1") {
        println!("kept {}", tmp.path().display());
    }
}

/// CPU time this process has used (user and system), from `/proc/self/stat`; 0 where that is
/// not readable. Less disturbed than wall time by other work on the machine.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses: utime and stime are 14th and 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    // Linux reports in USER_HZ, 100 on every architecture it runs on.
    ticks / 100.0
}

/// One harvest round of every member by 8 workers, as `serve` runs it; returns the entries
/// applied.
fn round(store: &Store, london: &London, harvester: &Harvester) -> u64 {
    let members = store.members().unwrap();
    evfed_aggregator::harvest::bounded(&members, 8, |m| {
        harvester.harvest(store, london, m, 0).unwrap()
    })
    .into_iter()
    .map(|outcome| {
        assert_eq!(outcome.reason, None);
        outcome.applied
    })
    .sum()
}

fn build_node(
    root: &Path,
    i: usize,
    locations: usize,
    entries: usize,
    rng: &mut impl Rng,
) -> BenchNode {
    let dir = root.join(format!("node{i}"));
    let origin: Origin = format!("evfed.bench{i}.example").parse().unwrap();
    embed::init(&dir, &origin, NodeKind::Cpo, None, None, &[]).unwrap();
    let open = embed::open(&dir, None).unwrap();
    let party_id = format!("B{i:02}");
    let party = format!("GB*{party_id}");
    let london = AreaSet::london();
    let base = DateTime::now().unix_millis() - 2 * 24 * HOUR_MS;
    let time = |ms: i64| DateTime::from_unix_millis(ms).unwrap().to_string();
    let mut evses = Vec::new();
    let mut items = Vec::new();
    for l in 0..locations {
        let (lat, lon, ward) = loop {
            let lat = rng.gen_range(51.29..51.70);
            let lon = rng.gen_range(-0.51..0.34);
            if let Some(p) = london.place(lat, lon)
                && let Some(w) = p.ward
            {
                break (lat, lon, w.code.clone());
            }
        };
        let id = format!("{party_id}-{l:05}");
        let uids = [format!("{id}-1"), format!("{id}-2")];
        let connector = json!({"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
            "power_type": "AC_1_PHASE", "max_voltage": 230, "max_amperage": 32,
            "last_updated": time(base)});
        let loc = json!({
            "country_code": "GB", "party_id": party_id, "id": id, "publish": true,
            "address": format!("{l} Bench Street"), "city": "London", "country": "GBR",
            "coordinates": {"latitude": format!("{lat:.6}"), "longitude": format!("{lon:.6}")},
            "time_zone": "Europe/London", "last_updated": time(base),
            "evses": uids.iter().map(|u| json!({"uid": u, "status": "AVAILABLE",
                "last_updated": time(base), "connectors": [connector.clone()]})).collect::<Vec<_>>(),
            "evfed": {"ward": {"code": ward, "boundary_vintage": "2022"}},
        });
        items.push(serde_json::from_value::<Location>(loc).unwrap());
        evses.push((id, uids));
    }
    let state = &open.state;
    for chunk in items.chunks(1000) {
        let results = put_locations(
            &state.store,
            &state.policy,
            chunk.iter().cloned().map(Ok).collect(),
            DateTime::now(),
            BatchOptions::default(),
        )
        .unwrap();
        assert!(results.iter().all(|r| r.appended == 1));
    }
    // Status changes for the rest: each EVSE cycles through its day.
    let cycle = [
        "CHARGING",
        "AVAILABLE",
        "CHARGING",
        "AVAILABLE",
        "OUTOFORDER",
        "AVAILABLE",
    ];
    let changes = entries - locations;
    let party_parsed = party.parse().unwrap();
    let mut done = 0;
    while done < changes {
        let n = (changes - done).min(1000);
        let batch: Vec<Value> = (done..done + n)
            .map(|c| {
                let (loc, uids) = &evses[c % evses.len()];
                let turn = c / evses.len();
                json!({"country_code": "GB", "party_id": party_id, "location_id": loc,
                    "evse_uid": uids[turn % 2], "status": cycle[(turn / 2) % cycle.len()],
                    "event_time": time(base + 1000 + c as i64 * 1000)})
            })
            .collect();
        let result = post_status(
            &state.store,
            &state.policy,
            &party_parsed,
            serde_json::to_vec(&batch).unwrap().as_slice(),
            DateTime::now(),
        )
        .unwrap();
        assert_eq!(result.appended, n as u64, "every change is a change");
        done += n;
    }
    state
        .signer
        .sign_grown(&state.store, embed::unix_now(), false)
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let served = state.clone();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server =
                actix_web::HttpServer::new(move || evfed_node::embed::http::app(served.clone()))
                    .workers(1)
                    .bind("127.0.0.1:0")
                    .unwrap();
            tx.send(server.addrs()[0]).unwrap();
            server.disable_signals().run().await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    BenchNode {
        open,
        url: format!("http://{addr}"),
        party,
        evses,
    }
}

/// A session at a random place, in the last year, mostly in the day, 20 minutes to 5 hours.
fn session(
    rng: &mut impl Rng,
    places: &[(String, String, String, String)],
    i: usize,
    year_ago: i64,
    prefix: &str,
) -> NewSession {
    let (party, location_id, borough, ward) = &places[rng.gen_range(0..places.len())];
    let day = rng.gen_range(0..365i64);
    let hour = [7, 8, 9, 10, 12, 14, 16, 17, 18, 19, 20, 22][rng.gen_range(0..12)];
    let start = year_ago + day * 24 * HOUR_MS + hour * HOUR_MS + rng.gen_range(0..HOUR_MS);
    let minutes = rng.gen_range(20..300i64);
    NewSession {
        party: party.clone(),
        id: format!("{prefix}-{i}"),
        location_id: location_id.clone(),
        evse_uid: format!("{location_id}-{}", 1 + i % 2),
        row: SessionRow {
            borough: borough.clone(),
            ward: ward.clone(),
            start_ms: start,
            end_ms: Some(start + minutes * 60_000),
            kwh: (minutes as f64 / 60.0 * 6.5 * 100.0).round() / 100.0,
        },
    }
}

/// Loads `n` sessions and their roll-ups straight into the aggregator's database.
fn bulk_sessions(
    db: &Path,
    n: usize,
    places: &[(String, String, String, String)],
    year_ago: i64,
    rng: &mut impl Rng,
) {
    let mut conn = rusqlite::Connection::open(db).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "OFF").unwrap();
    let tx = conn.transaction().unwrap();
    type Key = (i64, i64, String, String);
    let mut tables: [HashMap<Key, (i64, f64, i64)>; 3] = Default::default();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO session (origin, party, id, location_id, evse_uid, borough, ward,
                                      start_ms, end_ms, kwh)
                 VALUES ('bench', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .unwrap();
        for i in 0..n {
            let s = session(rng, places, i, year_ago, "bulk");
            insert
                .execute(rusqlite::params![
                    s.party,
                    s.id,
                    s.location_id,
                    s.evse_uid,
                    s.row.borough,
                    s.row.ward,
                    s.row.start_ms,
                    s.row.end_ms.unwrap(),
                    s.row.kwh
                ])
                .unwrap();
            // The store's own roll-up arithmetic, summed in memory and written once per row.
            for (t, (_, cells)) in evfed_aggregator::store::roll_up_cells(&s.row, 1)
                .into_iter()
                .enumerate()
            {
                for c in cells {
                    let cell = tables[t]
                        .entry((c.level, c.start_ms, c.borough.to_owned(), c.ward.to_owned()))
                        .or_default();
                    cell.0 += c.sessions;
                    cell.1 += c.kwh;
                    cell.2 += c.busy_ms;
                }
            }
        }
        for (t, (table, _)) in evfed_aggregator::store::ROLL_UPS.iter().enumerate() {
            let mut upsert = tx
                .prepare(&format!(
                    "INSERT INTO {table} (level, start_ms, borough, ward, sessions, kwh, busy_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (level, start_ms, borough, ward) DO UPDATE SET
                         sessions = sessions + excluded.sessions, kwh = kwh + excluded.kwh,
                         busy_ms = busy_ms + excluded.busy_ms"
                ))
                .unwrap();
            let mut cells: Vec<_> = tables[t].drain().collect();
            cells.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            for ((level, start, borough, ward), (sessions, kwh, busy)) in cells {
                upsert
                    .execute(rusqlite::params![
                        level, start, borough, ward, sessions, kwh, busy
                    ])
                    .unwrap();
            }
        }
    }
    tx.commit().unwrap();
    conn.execute_batch("ANALYZE").unwrap();
}

/// Runs the real aggregator binary over `dir`; returns it and its URL.
fn serve(dir: &Path) -> (Child, String) {
    let ready: PathBuf = dir.join("ready.json");
    let child = Command::new(BIN)
        .args(["serve", "--dir"])
        .arg(dir)
        .args(["--listen", "127.0.0.1:0", "--ready-file"])
        .arg(&ready)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !ready.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no ready file"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let v: Value = serde_json::from_slice(&std::fs::read(&ready).unwrap()).unwrap();
    (child, v["url"].as_str().unwrap().to_owned())
}
