//! Crash safety: a serving node is killed with SIGKILL in the middle of writes, several times,
//! and restarted on the same directory. Every write it acknowledged (2xx) is there with its
//! value, and the full `verify` passes on the crashed database and after every restart.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use evfed_spec::time::DateTime;
use reqwest::Method;
use serde_json::{Value, json};

use crate::lifecycle::location;
use crate::support::{NodeDir, Running, run as cli};

/// Kill-and-restart rounds.
const ROUNDS: usize = 5;
/// EVSEs whose status the status writer changes, one per location `L0`…
const EVSES: u64 = 4;
/// Acknowledged writes per round before the kill (the writers keep going until it lands).
const ACKS_PER_ROUND: u64 = 60;
/// The first location the location writer creates.
const FIRST_NEW: u32 = 1000;

/// The status writer's `k`th change: to EVSE `k % EVSES`, alternating per EVSE so every
/// change is a change, at an event time that only grows.
fn status_change(k: u64) -> (u64, &'static str, DateTime) {
    let status = if (k / EVSES).is_multiple_of(2) {
        "CHARGING"
    } else {
        "AVAILABLE"
    };
    let at = DateTime::from_unix_seconds(1_793_491_200 + k as i64).unwrap(); // 2026-11-01
    (k % EVSES, status, at)
}

/// What the writers sent and what the node acknowledged.
#[derive(Default)]
struct Ledger {
    /// Locations acknowledged: id number → address written.
    locations: BTreeMap<u32, String>,
    /// Per EVSE: the last acknowledged change `k`, and the last one sent.
    acked: BTreeMap<u64, u64>,
    sent: BTreeMap<u64, u64>,
    /// Status changes acknowledged.
    statuses: u64,
    /// Writes sent whose answer never came (the kill landed during them).
    unanswered: u64,
}

#[test]
fn acknowledged_writes_survive_kill_9_and_the_log_verifies() {
    let started = Instant::now();
    let node = NodeDir::camden();
    let token = node.writer("GB*LPC");
    let mut run = node.serve();
    for i in 0..EVSES as u32 {
        let res = run.send(
            Method::PUT,
            &format!("/v1/locations/GB/LPC/L{i}"),
            Some(&token),
            location(i).to_string().as_bytes(),
        );
        assert!(res.status().is_success());
    }
    let ledger = Mutex::new(Ledger::default());
    let next_location = AtomicU64::new(u64::from(FIRST_NEW));
    let next_status = AtomicU64::new(1);
    for round in 0..ROUNDS {
        let acks = AtomicU64::new(0);
        std::thread::scope(|s| {
            // Location PUTs, each a new location with a round-specific address.
            s.spawn(|| {
                loop {
                    let i = next_location.fetch_add(1, Ordering::Relaxed) as u32;
                    let mut body = location(i);
                    let address = format!("{i} Crash Street, round {round}");
                    body["address"] = json!(address);
                    let sent = run
                        .http
                        .put(format!("{}/v1/locations/GB/LPC/L{i}", run.url))
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body.to_string())
                        .send();
                    match sent {
                        Ok(res) if res.status().is_success() => {
                            ledger.lock().unwrap().locations.insert(i, address);
                            acks.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(res) => panic!("PUT L{i}: {} {:?}", res.status(), res.text()),
                        Err(_) => {
                            ledger.lock().unwrap().unanswered += 1;
                            return;
                        }
                    }
                }
            });
            // Status changes, one per request.
            s.spawn(|| {
                loop {
                    let k = next_status.fetch_add(1, Ordering::Relaxed);
                    let (evse, status, at) = status_change(k);
                    ledger.lock().unwrap().sent.insert(evse, k);
                    let batch = json!([{"country_code": "GB", "party_id": "LPC",
                        "location_id": format!("L{evse}"), "evse_uid": format!("L{evse}-1"),
                        "status": status, "event_time": at.to_string()}]);
                    let sent = run
                        .http
                        .post(format!("{}/v1/status", run.url))
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(batch.to_string())
                        .send();
                    match sent {
                        Ok(res) if res.status().is_success() => {
                            let mut ledger = ledger.lock().unwrap();
                            ledger.acked.insert(evse, k);
                            ledger.statuses += 1;
                            acks.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(res) => panic!("status {k}: {} {:?}", res.status(), res.text()),
                        Err(_) => {
                            ledger.lock().unwrap().unanswered += 1;
                            return;
                        }
                    }
                }
            });
            // Kill once enough writes were acknowledged, while both writers are sending.
            let deadline = Instant::now() + Duration::from_secs(20);
            while acks.load(Ordering::Relaxed) < ACKS_PER_ROUND {
                assert!(Instant::now() < deadline, "round {round}: writes stalled");
                std::thread::sleep(Duration::from_millis(2));
            }
            let killed = Command::new("kill")
                .args(["-KILL", &run.child.id().to_string()])
                .status()
                .unwrap();
            assert!(killed.success());
        });
        let status = run.child.wait().unwrap();
        assert!(!status.success(), "round {round}: the node was killed");

        // The crashed database as it is (WAL and all) verifies in full.
        let out = cli(&["verify", "--dir", &node.dir_arg()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "round {round}: verify after the crash failed:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );

        run = node.serve();
        check_ledger(&run, &ledger.lock().unwrap(), round);
    }
    let ledger = ledger.into_inner().unwrap();
    assert!(
        ledger.unanswered > 0,
        "at least one kill landed while a write was in flight"
    );
    // A clean stop, then the full check once more: the restarts signed every entry.
    assert!(run.stop().success());
    let out = cli(&["verify", "--dir", &node.dir_arg()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("the latest covers every entry"), "{stdout}");
    eprintln!(
        "{ROUNDS} kills, {} locations and {} status changes acknowledged, {} writes cut off, {:.1} s",
        ledger.locations.len(),
        ledger.statuses,
        ledger.unanswered,
        started.elapsed().as_secs_f64()
    );
}

/// Every acknowledged location has the address last written; every EVSE's status is the last
/// acknowledged change or one sent after it (sent, not answered: it may have committed).
fn check_ledger(run: &Running, ledger: &Ledger, round: usize) {
    for (i, address) in &ledger.locations {
        let got = run.json(&format!("/v1/locations/GB/LPC/L{i}"));
        assert_eq!(
            got["address"],
            address.as_str(),
            "round {round}: acknowledged location L{i}"
        );
    }
    for (&evse, &acked) in &ledger.acked {
        let got = run.json(&format!("/v1/locations/GB/LPC/L{evse}"));
        let e: &Value = &got["evses"][0];
        let at: DateTime = e["last_updated"].as_str().unwrap().parse().unwrap();
        let k = (at.unix_seconds() - 1_793_491_200) as u64;
        let sent = ledger.sent[&evse];
        assert!(
            acked <= k && k <= sent,
            "round {round}: EVSE L{evse}-1 shows change {k}; acknowledged up to {acked}, sent up to {sent}"
        );
        assert_eq!(
            e["status"],
            status_change(k).1,
            "round {round}: EVSE L{evse}-1 has the status of change {k}"
        );
    }
}
