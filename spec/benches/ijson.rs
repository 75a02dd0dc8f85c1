//! What the I-JSON check costs on the write path: `jcs::check_ijson` against the typed parse
//! it precedes (`ocpi::parse`, which runs it) and against serde alone, for a batch of 1,000
//! status changes (the `POST /v1/status` body of the node's benchmark) and a Location. Prints
//! figures; asserts nothing about time.
//!
//! `cargo bench -p evfed-spec --bench ijson`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use evfed_spec::jcs::check_ijson;
use evfed_spec::ocpi::{Location, parse};
use evfed_spec::usage::StatusChange;

fn main() {
    let batch: Vec<serde_json::Value> = (0..1000)
        .map(|i| {
            serde_json::json!({
                "country_code": "GB", "party_id": "LPC",
                "location_id": format!("LPC-BENCH-{:05}", i / 4),
                "evse_uid": format!("LPC-BENCH-{:05}-{}", i / 4, i % 4),
                "status": if i % 2 == 0 { "CHARGING" } else { "AVAILABLE" },
                "event_time": "2026-11-22T10:14:58.123Z",
            })
        })
        .collect();
    let batch = serde_json::to_vec(&batch).unwrap();
    let location = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/ocpi/valid/location_park_royal_rapid_hub.json"
    ))
    .unwrap();
    println!(
        "{:<46} {:>10} {:>10} {:>10}",
        "body", "check", "serde", "parse"
    );
    row(
        "1,000 status changes",
        &batch,
        |b| {
            black_box(serde_json::from_slice::<Vec<StatusChange>>(b).unwrap());
        },
        |b| {
            black_box(parse::<Vec<StatusChange>>(b).unwrap());
        },
    );
    row(
        "a Location (Park Royal rapid hub)",
        &location,
        |b| {
            black_box(serde_json::from_slice::<Location>(b).unwrap());
        },
        |b| {
            black_box(parse::<Location>(b).unwrap());
        },
    );
}

/// One line: the median time of the check alone, of serde alone, and of `ocpi::parse` (check,
/// serde, unknown-field and path tracking).
fn row(name: &str, body: &[u8], serde: impl Fn(&[u8]), parse: impl Fn(&[u8])) {
    let check = median(|| check_ijson(black_box(body)).unwrap());
    let serde = median(|| serde(black_box(body)));
    let parse = median(|| parse(black_box(body)));
    println!(
        "{:<46} {:>10} {:>10} {:>10}   check is {:.1} % of parse, {:.0} MB/s",
        format!("{name}, {} bytes", body.len()),
        us(check),
        us(serde),
        us(parse),
        100.0 * check.as_secs_f64() / parse.as_secs_f64(),
        body.len() as f64 / check.as_secs_f64() / 1e6,
    );
}

/// The median of 31 timings, each of enough runs to last about 20 ms.
fn median(f: impl Fn()) -> Duration {
    let started = Instant::now();
    let mut runs = 0u32;
    while started.elapsed() < Duration::from_millis(20) {
        f();
        runs += 1;
    }
    let mut times: Vec<Duration> = (0..31)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..runs {
                f();
            }
            t.elapsed() / runs
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}
