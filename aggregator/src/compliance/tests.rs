//! Tests of the compliance indicators over a synthetic London (`synthetic`): the colour rules
//! (nothing measured is never green, nor makes a supplier green), the wording people read
//! (no epoch milliseconds in the CSV or HTML report), and the cache (the same answer as a
//! fresh computation, and read again exactly when what it rests on changed).
//!
//! `timing_of_every_supplier_status` also prints the timing `BENCHMARKS.md` records:
//! `EVFED_COMPLIANCE_EVSES` (default 400) EVSEs, `EVFED_COMPLIANCE_SESSIONS` (default 4,000)
//! sessions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use evfed_spec::ocpi::Status;
use serde_json::Value;

use super::history::{self, StatusEvent};
use super::synthetic::{self, World};
use super::*;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().expect(name))
        .unwrap_or(default)
}

struct Fixture {
    dir: tempfile::TempDir,
    store: Store,
    world: World,
    now: i64,
}

fn fixture(evses: usize, sessions: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("aggregator.db")).unwrap();
    let now = evfed_spec::time::DateTime::now().unix_millis();
    let world = synthetic::build(&store, evses, 60, sessions, now);
    std::fs::write(dir.path().join(REGISTER_FILE), &world.register_text).unwrap();
    Fixture {
        dir,
        store,
        world,
        now,
    }
}

impl Fixture {
    /// Every supplier's status computed afresh, as JSON.
    fn fresh(&self, now: i64) -> Value {
        let members = self.store.members().unwrap();
        let inputs = Inputs {
            store: &self.store,
            london: &self.world.london,
            members: &members,
            thresholds: &self.world.register.thresholds,
            now_ms: now,
        };
        let all: Vec<SupplierStatus> = self
            .world
            .register
            .suppliers
            .iter()
            .map(|s| s.status(&inputs).unwrap())
            .collect();
        serde_json::to_value(all).unwrap()
    }

    fn cached(&self, cache: &Cache, now: i64) -> Value {
        let s = statuses_cached(
            cache,
            self.dir.path(),
            &self.store,
            &self.world.london,
            now,
            None,
        )
        .unwrap();
        serde_json::to_value(s.suppliers).unwrap()
    }

    /// One status change of `pid`'s first EVSE at `at`, as a harvest writes it.
    fn change(&self, pid: &str, status: Status, at: i64) {
        let party: Arc<str> = Arc::from(format!("GB*{pid}"));
        let id = format!("{pid}-00000");
        let ev = StatusEvent {
            party,
            location_id: Arc::from(id.as_str()),
            evse_uid: format!("{id}-1"),
            status,
            at_ms: at,
            rapid: matches!(pid, "CRP" | "VWH"),
            hours: None,
            live: true,
        };
        history::apply_for_test(
            &self.store,
            &synthetic::origin(pid),
            &[ev],
            Some(at + 5_000),
        )
        .unwrap();
    }
}

/// The first place two JSON values differ, as a path.
fn difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (x, y))| difference(x, y, &format!("{path}[{i}]"))),
        (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
            x.iter().find_map(|(k, v)| {
                y.get(k).map_or_else(
                    || Some(format!("{path}.{k} missing")),
                    |w| difference(v, w, &format!("{path}.{k}")),
                )
            })
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {a} != {b}")),
    }
}

#[track_caller]
fn assert_same(cached: &Value, fresh: &Value) {
    if let Some(d) = difference(cached, fresh, "") {
        panic!("the cache's answer differs from a fresh computation at {d}");
    }
}

fn supplier<'a>(all: &'a Value, id: &str) -> &'a Value {
    all.as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap()
}

fn indicator<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap()
}

/// A run of 13 or more digits: what an epoch-milliseconds time looks like.
fn has_epoch_ms(text: &str) -> bool {
    let mut run = 0;
    for c in text.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 13 {
            return true;
        }
    }
    false
}

#[test]
fn colours_order_from_green_to_red_and_not_measured_is_its_own_value() {
    assert!(Colour::Green < Colour::NotMeasured);
    assert!(Colour::NotMeasured < Colour::Amber);
    assert!(Colour::Amber < Colour::Red);
    assert_eq!(
        serde_json::to_value([
            Colour::Green,
            Colour::NotMeasured,
            Colour::Amber,
            Colour::Red
        ])
        .unwrap(),
        serde_json::json!(["green", "not_measured", "amber", "red"])
    );
    assert_eq!(Colour::NotMeasured.words(), "not measured");
    let ind = |c| indicator_of(c);
    assert_eq!(
        worst(&[]),
        Colour::NotMeasured,
        "nothing at all is not green"
    );
    assert_eq!(worst(&[ind(Colour::Green)]), Colour::Green);
    assert_eq!(
        worst(&[ind(Colour::Green), ind(Colour::NotMeasured)]),
        Colour::NotMeasured,
        "an unmeasured indicator keeps the whole from green"
    );
    assert_eq!(
        worst(&[ind(Colour::NotMeasured), ind(Colour::Amber)]),
        Colour::Amber
    );
    assert_eq!(
        worst(&[ind(Colour::Red), ind(Colour::NotMeasured)]),
        Colour::Red
    );
    let band = Band {
        green: 0.99,
        amber: 0.95,
    };
    assert_eq!(band.higher_is_better(0.99), Colour::Green);
    assert_eq!(band.higher_is_better(0.95), Colour::Amber);
    assert_eq!(band.higher_is_better(0.5), Colour::Red);
    let lower = Band {
        green: 60.0,
        amber: 300.0,
    };
    assert_eq!(lower.lower_is_better(60.0), Colour::Green);
    assert_eq!(lower.lower_is_better(61.0), Colour::Amber);
    assert_eq!(lower.lower_is_better(301.0), Colour::Red);
}

fn indicator_of(colour: Colour) -> Indicator {
    super::indicators::indicator(
        "x",
        "X",
        colour,
        vec!["why".into()],
        Vec::new(),
        Value::Null,
    )
}

#[test]
fn nothing_measured_is_never_green() {
    // A supplier whose member is not registered and that lists no contract: nothing at all
    // can be measured.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("aggregator.db")).unwrap();
    std::fs::write(
        dir.path().join(REGISTER_FILE),
        "[[supplier]]\nid = \"NEW\"\nname = \"New Ltd\"\nparties = [\"GB*NEW\"]\nmembers = [\"evfed.new.example\"]\n",
    )
    .unwrap();
    let london = London::default();
    let now = evfed_spec::time::DateTime::now().unix_millis();
    let s = statuses_cached(&Cache::default(), dir.path(), &store, &london, now, None).unwrap();
    let s = &s.suppliers[0];
    for i in &s.indicators {
        assert_eq!(i.colour, Colour::NotMeasured, "{i:?}");
        assert!(!i.reasons.is_empty(), "says why: {i:?}");
        assert!(!i.summary.is_empty(), "{i:?}");
    }
    assert_eq!(s.status, Colour::NotMeasured);
    assert!(s.summary.starts_with("Not measured: "), "{}", s.summary);
    assert!(
        s.reasons
            .iter()
            .any(|r| r.starts_with("Reliability (statutory): no rapid")),
        "{:?}",
        s.reasons
    );
}

#[test]
fn unmeasured_reliability_keeps_a_supplier_from_green() {
    let f = fixture(200, 400);
    let all = f.fresh(f.now);
    // LPL runs no rapid charge point: regulation 7 has nothing to measure.
    let lpl = supplier(&all, "LPL");
    let rel = indicator(lpl, "reliability");
    assert_eq!(rel["colour"], "not_measured", "{rel}");
    assert_eq!(rel["figures"]["year_to_date"], Value::Null);
    assert!(
        rel["summary"][0].as_str().unwrap().contains("not measured"),
        "{rel}"
    );
    assert_ne!(lpl["status"], "green", "{lpl}");
    assert!(
        lpl["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("Reliability (statutory): ")),
        "{lpl}"
    );
    // CRP's rapid charge points are measured, with a figure and a colour.
    let crp = supplier(&all, "CRP");
    let rel = indicator(crp, "reliability");
    assert!(rel["figures"]["year_to_date"].as_f64().is_some(), "{rel}");
    assert_ne!(rel["colour"], "not_measured");
    assert!(
        rel["summary"][0]
            .as_str()
            .unwrap()
            .starts_with("Rapid charge points were working "),
        "{rel}"
    );
    // Every indicator's colour is one of the four, and only green ones have no reasons.
    for s in all.as_array().unwrap() {
        let mut inds: Vec<&Value> = s["indicators"].as_array().unwrap().iter().collect();
        for c in s["contracts"].as_array().unwrap() {
            inds.extend(c["indicators"].as_array().unwrap());
        }
        for i in inds {
            let colour = i["colour"].as_str().unwrap();
            assert!(
                ["green", "amber", "red", "not_measured"].contains(&colour),
                "{i}"
            );
            assert_eq!(
                i["reasons"].as_array().unwrap().is_empty(),
                colour == "green",
                "{i}"
            );
            for line in i["summary"].as_array().unwrap() {
                assert!(!has_epoch_ms(line.as_str().unwrap()), "{line}");
            }
        }
    }
}

#[test]
fn reports_print_figures_in_words() {
    let f = fixture(200, 400);
    let s = statuses_cached(
        &Cache::default(),
        f.dir.path(),
        &f.store,
        &f.world.london,
        f.now,
        Some("LPL"),
    )
    .unwrap();
    let key = evfed_spec::note::SigningKey::from_seed("evfed.london.example", &[7; 32]).unwrap();
    let signed = report::signed(
        &s.suppliers[0],
        &s.register.thresholds,
        &s.members,
        f.now,
        "evfed.london.example",
        &key,
    )
    .unwrap();
    // Still a report `verify-report` accepts.
    let bytes = serde_json::to_vec(&signed).unwrap();
    evfed_spec::report::verify(&bytes, std::slice::from_ref(key.verifier())).unwrap();
    let csv = String::from_utf8(report::csv(&signed).unwrap()).unwrap();
    let html = report::html(&signed);
    // The HTML page carries the signed JSON (with its `…_ms` figures for programs): look at
    // what a person reads, before it.
    let page = &html[..html.find("<script").unwrap()];
    for (what, text) in [("csv", csv.as_str()), ("html", page)] {
        assert!(
            !has_epoch_ms(text),
            "{what} prints epoch milliseconds:\n{text}"
        );
        assert!(!text.contains("{\""), "{what} prints a JSON blob:\n{text}");
        assert!(text.contains("not measured"), "{what}:\n{text}");
        assert!(text.contains("Feed availability"), "{what}:\n{text}");
    }
    // Times as RFC 3339: the conformance run's.
    let run = words::time(f.now - DAY_MS);
    assert!(csv.contains(&run), "{csv}");
    assert!(page.contains(&run));
    assert!(
        csv.starts_with("supplier,scope,indicator,colour,reasons,figures\n"),
        "{csv}"
    );
    assert!(page.contains("class=\"not-measured\""), "{page}");
}

#[test]
fn the_cache_answers_as_a_fresh_computation_and_reads_again_only_what_changed() {
    let f = fixture(300, 400);
    let cache = Cache::default();
    let first = f.cached(&cache, f.now);
    assert_same(&first, &f.fresh(f.now));
    let after_first = cache.reads();
    assert_eq!(after_first.register, 1);
    assert_eq!(after_first.evses, 4, "one read per member");
    assert_eq!(after_first.usage, 4);

    // Nothing changed: nothing is read again, and the figures move on with the time.
    let later = f.now + 60_000;
    assert_same(&f.cached(&cache, later), &f.fresh(later));
    assert_eq!(cache.reads(), after_first);

    // A harvest writes a status change to CRP: only CRP's EVSEs are read again.
    f.change("CRP", Status::OutOfOrder, f.now - 3_600_000);
    let after = f.cached(&cache, later);
    assert_same(&after, &f.fresh(later));
    assert_ne!(
        indicator(supplier(&after, "CRP"), "reliability")["figures"],
        indicator(supplier(&first, "CRP"), "reliability")["figures"],
        "the change shows"
    );
    let r = cache.reads();
    assert_eq!((r.evses, r.usage, r.register), (5, 4, 1));

    // New sessions for KRB: only its usage is read again.
    f.store
        .add_sessions_for_test(&synthetic::origin("KRB"), "GB*KRB", 3, f.now - 1_000, f.now)
        .unwrap();
    assert_same(&f.cached(&cache, later), &f.fresh(later));
    let r = cache.reads();
    assert_eq!((r.evses, r.usage, r.register), (5, 5, 1));

    // suppliers.toml rewritten with the same bytes: kept; with other bytes: read again.
    let path = f.dir.path().join(REGISTER_FILE);
    std::fs::write(&path, &f.world.register_text).unwrap();
    f.cached(&cache, later);
    assert_eq!(cache.reads().register, 1);
    let text = f
        .world
        .register_text
        .replace("name = \"LPL Ltd\"", "name = \"Lampline\"");
    std::fs::write(&path, text).unwrap();
    let renamed = f.cached(&cache, later);
    assert_eq!(supplier(&renamed, "LPL")["name"], "Lampline");
    assert_eq!(cache.reads().register, 2);
    // A register that no longer parses is an error, not a stale answer.
    std::fs::write(&path, "[[supplier]]\nid = 1\n").unwrap();
    assert!(statuses_cached(&cache, f.dir.path(), &f.store, &f.world.london, later, None).is_err());
    std::fs::remove_file(&path).unwrap();
    let none =
        statuses_cached(&cache, f.dir.path(), &f.store, &f.world.london, later, None).unwrap();
    assert!(none.suppliers.is_empty(), "no file, no suppliers");
}

#[test]
fn timing_of_every_supplier_status() {
    let evses = knob("EVFED_COMPLIANCE_EVSES", 400);
    let sessions = knob("EVFED_COMPLIANCE_SESSIONS", 4_000);
    let t = Instant::now();
    let f = fixture(evses, sessions);
    eprintln!(
        "compliance timing: built {} EVSEs, {sessions} sessions in {:?}",
        f.world.evses,
        t.elapsed()
    );
    let time = |what: &str, run: &mut dyn FnMut() -> Value| {
        let mut best = Duration::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            let v = run();
            best = best.min(t.elapsed());
            assert!(v.as_array().is_some_and(|a| a.len() == 4));
        }
        eprintln!("compliance timing: {what}: {best:?} (best of 3)");
    };
    time(
        "every supplier computed afresh (Supplier::status)",
        &mut || f.fresh(f.now),
    );
    let cache = Cache::default();
    let t = Instant::now();
    f.cached(&cache, f.now);
    eprintln!(
        "compliance timing: statuses_cached, first call: {:?}",
        t.elapsed()
    );
    time("statuses_cached, nothing changed", &mut || {
        f.cached(&cache, f.now + 1_000)
    });
    let mut k = 0;
    time(
        "statuses_cached after a status change at each member",
        &mut || {
            k += 1;
            for pid in ["LPL", "KRB", "CRP", "VWH"] {
                let s = if k % 2 == 0 {
                    Status::Available
                } else {
                    Status::Charging
                };
                f.change(pid, s, f.now - 60_000 + k);
            }
            f.cached(&cache, f.now + 2_000)
        },
    );
}
