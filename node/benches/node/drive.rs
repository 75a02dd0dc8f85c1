//! Writers that drive a node over HTTP: concurrent location PUTs and batched status changes,
//! each client a thread with its own blocking reqwest client (one keep-alive connection).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use evfed_spec::time::DateTime;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::fixtures::{self, EvseRef, Fixture};

/// What a writing phase did.
#[derive(Debug)]
pub struct Run {
    pub requests: u64,
    /// Items the server took: locations created, or status changes appended.
    pub items: u64,
    /// Items sent (status changes may be refused as no-ops; the bench sends none).
    pub sent: u64,
    pub elapsed: Duration,
    /// Per-request latencies, sorted.
    pub latencies: Vec<Duration>,
}

impl Run {
    pub fn rate(&self) -> f64 {
        self.items as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency at quantile `q` (0..=1).
    pub fn quantile(&self, q: f64) -> Duration {
        let n = self.latencies.len();
        if n == 0 {
            return Duration::ZERO;
        }
        let i = ((n as f64 * q).ceil() as usize).clamp(1, n) - 1;
        self.latencies[i]
    }
}

/// PUTs every fixture once from `clients` threads; each must answer 201 Created.
pub fn load(url: &str, token: &str, estate: &[Fixture], clients: usize) -> anyhow::Result<Run> {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let per_client = std::thread::scope(|s| {
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<Vec<Duration>> {
                    let http = client()?;
                    let mut lat = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(f) = estate.get(i) else {
                            return Ok(lat);
                        };
                        let t = Instant::now();
                        let res = http
                            .put(format!("{url}{}", f.path))
                            .bearer_auth(token)
                            .header("content-type", "application/json")
                            .body(f.body.clone())
                            .send()
                            .with_context(|| format!("PUT {}", f.path))?;
                        let status = res.status();
                        let body = res.text().unwrap_or_default();
                        lat.push(t.elapsed());
                        if status != reqwest::StatusCode::CREATED {
                            bail!("PUT {} answered {status}: {body}", f.path);
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| bail!("a loader thread panicked"))
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let elapsed = started.elapsed();
    let mut latencies: Vec<Duration> = per_client.into_iter().flatten().collect();
    latencies.sort_unstable();
    Ok(Run {
        requests: latencies.len() as u64,
        items: estate.len() as u64,
        sent: estate.len() as u64,
        elapsed,
        latencies,
    })
}

/// Status changes for every loaded EVSE, shared by the status phases so that each change
/// really changes something and event times only move forward.
#[derive(Debug)]
pub struct StatusFeed {
    evses: Vec<EvseRef>,
    /// Milliseconds added to `base` for the next change.
    tick: AtomicU64,
    base_ms: i64,
}

impl StatusFeed {
    /// Event times start 2 hours before `now` (every loaded EVSE's time is older still) and
    /// advance 1 ms per change, so 7.2 million changes stay in the past.
    pub fn new(estate: &[Fixture], now: &DateTime) -> Self {
        let mut evses: Vec<EvseRef> = estate.iter().flat_map(|f| f.evses.clone()).collect();
        evses.shuffle(&mut StdRng::seed_from_u64(7));
        Self {
            evses,
            tick: AtomicU64::new(0),
            base_ms: now.unix_millis() - 2 * 3_600_000,
        }
    }

    pub fn evse_count(&self) -> usize {
        self.evses.len()
    }

    /// `clients` threads each POST batches of `batch` changes to `/v1/status` for `duration`.
    /// Client `k` owns every EVSE whose position is `k` modulo `clients`, so no two clients
    /// race on one EVSE and every change appends exactly one entry.
    pub fn run(
        &mut self,
        url: &str,
        token: &str,
        clients: usize,
        batch: usize,
        duration: Duration,
    ) -> anyhow::Result<Run> {
        let base_ms = self.base_ms;
        let tick = &self.tick;
        let mut shares: Vec<Vec<&mut EvseRef>> = (0..clients).map(|_| Vec::new()).collect();
        for (i, e) in self.evses.iter_mut().enumerate() {
            shares[i % clients].push(e);
        }
        let started = Instant::now();
        let deadline = started + duration;
        let results = std::thread::scope(|s| {
            let workers: Vec<_> = shares
                .into_iter()
                .enumerate()
                .map(|(k, mut mine)| {
                    s.spawn(move || -> anyhow::Result<(u64, u64, Vec<Duration>)> {
                        let http = client()?;
                        let mut rng = StdRng::seed_from_u64(k as u64 + 100);
                        let (mut appended, mut sent, mut lat) = (0, 0, Vec::new());
                        let mut cursor = 0;
                        while Instant::now() < deadline {
                            let len = mine.len();
                            let n = batch.min(len);
                            let mut items = Vec::with_capacity(n);
                            for _ in 0..n {
                                let e = &mut *mine[cursor % len];
                                cursor += 1;
                                e.status = next_status(&mut rng, e.status);
                                let ms = base_ms + tick.fetch_add(1, Ordering::Relaxed) as i64;
                                let at = DateTime::from_unix_millis(ms)
                                    .context("event time out of range")?;
                                items.push(serde_json::json!({
                                    "country_code": fixtures::COUNTRY_CODE,
                                    "party_id": fixtures::PARTY_ID,
                                    "location_id": e.location_id,
                                    "evse_uid": e.uid,
                                    "status": e.status,
                                    "event_time": at.to_string(),
                                }));
                            }
                            let body = serde_json::to_vec(&items)?;
                            let t = Instant::now();
                            let res = http
                                .post(format!("{url}/v1/status"))
                                .bearer_auth(token)
                                .header("content-type", "application/json")
                                .body(body)
                                .send()
                                .context("POST /v1/status")?;
                            let status = res.status();
                            let text = res.text().unwrap_or_default();
                            lat.push(t.elapsed());
                            if status != reqwest::StatusCode::OK {
                                bail!("POST /v1/status answered {status}: {text}");
                            }
                            let result: serde_json::Value = serde_json::from_str(&text)
                                .with_context(|| format!("batch result: {text}"))?;
                            appended += result["appended"].as_u64().unwrap_or(0);
                            sent += n as u64;
                        }
                        Ok((appended, sent, lat))
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .unwrap_or_else(|_| bail!("a status thread panicked"))
                })
                .collect::<anyhow::Result<Vec<_>>>()
        })?;
        let elapsed = started.elapsed();
        let mut run = Run {
            requests: 0,
            items: 0,
            sent: 0,
            elapsed,
            latencies: Vec::new(),
        };
        for (appended, sent, lat) in results {
            run.items += appended;
            run.sent += sent;
            run.requests += lat.len() as u64;
            run.latencies.extend(lat);
        }
        run.latencies.sort_unstable();
        Ok(run)
    }
}

/// A connector's day: mostly available ↔ charging, now and then something else.
fn next_status(rng: &mut StdRng, current: &'static str) -> &'static str {
    let next = match (current, rng.gen_range(0..100)) {
        (_, 0..4) => *fixtures::STATUSES.choose(rng).unwrap_or(&"UNKNOWN"),
        ("AVAILABLE", _) => "CHARGING",
        _ => "AVAILABLE",
    };
    if next == current {
        if current == "AVAILABLE" {
            "CHARGING"
        } else {
            "AVAILABLE"
        }
    } else {
        next
    }
}

fn client() -> anyhow::Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("building an HTTP client")
}
