//! Tests of the compliance indicators over a synthetic London (`synthetic`), and the timing of
//! every supplier's status that `BENCHMARKS.md` records: `EVFED_COMPLIANCE_EVSES` (default
//! 400) EVSEs and `EVFED_COMPLIANCE_SESSIONS` (default 4,000) sessions; the time is printed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use super::synthetic;
use super::*;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().expect(name))
        .unwrap_or(default)
}

#[test]
fn timing_of_every_supplier_status() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("aggregator.db")).unwrap();
    let now = evfed_spec::time::DateTime::now().unix_millis();
    let evses = knob("EVFED_COMPLIANCE_EVSES", 400);
    let sessions = knob("EVFED_COMPLIANCE_SESSIONS", 4_000);
    let t = Instant::now();
    let world = synthetic::build(&store, evses, 60, sessions, now);
    eprintln!("compliance timing: built {} EVSEs in {:?}", world.evses, t.elapsed());
    for round in 0..3 {
        let t = Instant::now();
        let members = store.members().unwrap();
        let inputs = Inputs {
            store: &store,
            london: &world.london,
            members: &members,
            thresholds: &world.register.thresholds,
            now_ms: now,
        };
        let mut n = 0;
        for s in &world.register.suppliers {
            let origins = s.origins(&members);
            let t1 = Instant::now();
            let r = store.reliability(&origins, year_start(now), now).unwrap();
            let t2 = Instant::now();
            let u = store.usage_months(&origins).unwrap();
            let t3 = Instant::now();
            let all: Vec<&Contract> = s.contracts.iter().collect();
            let c = completeness(s, &inputs, &origins, &all, &world.register.thresholds).unwrap();
            let t4 = Instant::now();
            let a = store.availability(&origins, 0).unwrap();
            let l = store.lag_counts(&origins, 0).unwrap();
            let cr = store.conformance_runs(&origins, 0).unwrap();
            eprintln!("  {}: reliability {} rows {:?}; usage {} {:?}; completeness {:?} {:?}; small {:?} ({} {} {})", s.id, r.len(), t2 - t1, u.len(), t3 - t2, t4 - t3, c.colour, t4.elapsed(), a.attempts, l.len(), cr.len());
            let st = s.status(&inputs).unwrap();
            n += st.indicators.len();
        }
        eprintln!(
            "compliance timing: round {round}: every supplier ({} suppliers, {n} indicators) in {:?}",
            world.register.suppliers.len(),
            t.elapsed()
        );
    }
}
