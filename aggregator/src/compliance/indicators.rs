//! The indicators (`docs/compliance.md`), each computed from the store, the London view and
//! the register's thresholds into a colour, the reasons for it and its figures; here the
//! feed's (conformance, availability, freshness), in `chargepoints` the charge points'.

use evfed_spec::checkpoint::Checkpoint;
use serde_json::{Value, json};

use super::{
    Colour, ComplianceError, Indicator, Inputs, LAG_BUCKETS_S, Thresholds, WINDOW_MS, words,
};
use crate::store::Member;

/// An indicator; its reasons are dropped when it is green.
pub(super) fn indicator(
    name: &'static str,
    label: &'static str,
    colour: Colour,
    reasons: Vec<String>,
    summary: Vec<String>,
    figures: Value,
) -> Indicator {
    Indicator {
        name,
        label,
        colour,
        reasons: if colour == Colour::Green {
            Vec::new()
        } else {
            reasons
        },
        summary,
        figures,
    }
}

pub(super) const NO_MEMBER: &str = "no member publishes for this supplier";

pub(super) fn conformance(
    inp: &Inputs<'_>,
    origins: &[String],
    t: &Thresholds,
) -> Result<Indicator, ComplianceError> {
    const NAME: &str = "conformance";
    const LABEL: &str = "Conformance";
    let runs = inp
        .store
        .conformance_runs(origins, inp.now_ms - WINDOW_MS)?;
    if runs.is_empty() {
        let why = "no conformance run in the last 30 days".to_owned();
        return Ok(indicator(
            NAME,
            LABEL,
            Colour::NotMeasured,
            vec![why],
            vec!["No conformance run in the last 30 days.".into()],
            json!({"runs_30d": 0}),
        ));
    }
    let passed = runs.iter().filter(|r| r.2).count();
    let rate = passed as f64 / runs.len() as f64;
    let mut latest = Vec::new();
    let mut reasons = Vec::new();
    let mut summary = vec![format!(
        "{passed} of {} in the last 30 days passed ({}).",
        words::count(runs.len(), "run"),
        words::pct(rate)
    )];
    let mut colour = t.conformance_pass_rate.higher_is_better(rate);
    if rate < t.conformance_pass_rate.green {
        reasons.push(format!(
            "{} of the runs in the last 30 days passed; green needs {}",
            words::pct(rate),
            words::pct(t.conformance_pass_rate.green)
        ));
    }
    for o in origins {
        if let Some((_, at, ok)) = runs.iter().find(|r| &r.0 == o) {
            let at_text = words::time(*at);
            latest.push(json!({"origin": o, "at_ms": at, "at": at_text, "passed": ok}));
            let verdict = if *ok { "passed" } else { "failed" };
            summary.push(format!(
                "The latest run against {o}, at {at_text}, {verdict}."
            ));
            if !ok {
                colour = Colour::Red;
                reasons.push(format!("the latest run against {o}, at {at_text}, failed"));
            }
        }
    }
    Ok(indicator(
        NAME,
        LABEL,
        colour,
        reasons,
        summary,
        json!({"runs_30d": runs.len(), "passed_30d": passed, "pass_rate_30d": rate, "latest": latest}),
    ))
}

pub(super) fn availability(
    inp: &Inputs<'_>,
    origins: &[String],
    t: &Thresholds,
) -> Result<Indicator, ComplianceError> {
    const NAME: &str = "feed_availability";
    const LABEL: &str = "Feed availability";
    let a = inp.store.availability(origins, inp.now_ms - WINDOW_MS)?;
    if a.attempts == 0 {
        let why = if origins.is_empty() {
            NO_MEMBER
        } else {
            "not harvested in the last 30 days"
        };
        return Ok(indicator(
            NAME,
            LABEL,
            Colour::NotMeasured,
            vec![why.to_owned()],
            vec!["No harvest in the last 30 days.".into()],
            json!({"attempts_30d": 0}),
        ));
    }
    let share = a.ok as f64 / a.attempts as f64;
    let colour = t.availability.higher_is_better(share);
    let sentence = format!(
        "{} of {} in the last 30 days succeeded ({})",
        a.ok,
        words::count(a.attempts as usize, "harvest"),
        words::pct(share)
    );
    Ok(indicator(
        NAME,
        LABEL,
        colour,
        vec![format!(
            "{sentence}; green needs {}",
            words::pct(t.availability.green)
        )],
        vec![format!("{sentence}.")],
        json!({"attempts_30d": a.attempts, "ok_30d": a.ok, "share_30d": share}),
    ))
}

/// The p95 of the freshness histogram, as its bucket's upper bound (`i64::MAX`: over a day).
fn p95(counts: &[u64]) -> Option<i64> {
    let total: u64 = counts.iter().sum();
    (total > 0).then(|| {
        let need = (total as f64 * 0.95).ceil() as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= need {
                return LAG_BUCKETS_S.get(i).copied().unwrap_or(i64::MAX);
            }
        }
        i64::MAX
    })
}

pub(super) fn freshness(
    inp: &Inputs<'_>,
    origins: &[String],
    t: &Thresholds,
) -> Result<Indicator, ComplianceError> {
    const NAME: &str = "freshness";
    const LABEL: &str = "Freshness";
    let mut counts = inp.store.lag_counts(origins, inp.now_ms - WINDOW_MS)?;
    counts.resize(LAG_BUCKETS_S.len(), 0);
    let total: u64 = counts.iter().sum();
    let mut reasons = Vec::new();
    let mut summary = Vec::new();
    let p95 = p95(&counts);
    let mut colour = match p95 {
        Some(p) => {
            let within = if p == i64::MAX {
                "more than a day".to_owned()
            } else {
                format!("at most {}", words::duration_s(p))
            };
            let sentence = format!(
                "95 % of the {} in the last 30 days reached a verified checkpoint in {within}",
                words::count(total as usize, "status change")
            );
            let c = t.freshness_p95_s.lower_is_better(p as f64);
            if c != Colour::Green {
                reasons.push(format!(
                    "{sentence}; green needs {}",
                    words::duration_s(t.freshness_p95_s.green as i64)
                ));
            }
            summary.push(format!("{sentence}."));
            c
        }
        None => {
            reasons.push(
                "no status change observed in the last 30 days, so how fast changes arrive \
                 was not measured"
                    .into(),
            );
            summary.push("No status change observed in the last 30 days.".into());
            Colour::NotMeasured
        }
    };
    let mut ages = Vec::new();
    let mine: Vec<&Member> = inp
        .members
        .iter()
        .filter(|m| origins.contains(&m.origin))
        .collect();
    if mine.is_empty() {
        reasons.push(NO_MEMBER.into());
        colour = colour.max(Colour::NotMeasured);
    }
    for m in mine {
        let time = m
            .checkpoint
            .as_deref()
            .and_then(|n| evfed_spec::note::parse(n).ok())
            .and_then(|(text, _)| Checkpoint::parse_text(&text).ok())
            .map(|c| c.time as i64 * 1000);
        match time {
            Some(t_ms) => {
                let age_s = ((inp.now_ms - t_ms) / 1000).max(0);
                let signed = words::time(t_ms);
                let c = t.checkpoint_age_s.lower_is_better(age_s as f64);
                let sentence = format!(
                    "{}'s newest verified checkpoint was signed at {signed}, {} before this report",
                    m.origin,
                    words::duration_s(age_s)
                );
                if c != Colour::Green {
                    reasons.push(format!(
                        "{sentence}; green needs at most {}",
                        words::duration_s(t.checkpoint_age_s.green as i64)
                    ));
                }
                summary.push(format!("{sentence}."));
                colour = colour.max(c);
                ages.push(
                    json!({"origin": m.origin, "checkpoint_age_s": age_s, "signed_at": signed}),
                );
            }
            None => {
                colour = Colour::Red;
                reasons.push(format!("no verified checkpoint of {}", m.origin));
                summary.push(format!("No verified checkpoint of {}.", m.origin));
            }
        }
    }
    Ok(indicator(
        NAME,
        LABEL,
        colour,
        reasons,
        summary,
        json!({
            "status_changes_30d": total,
            "p95_lag_s_at_most": p95.filter(|p| *p != i64::MAX),
            "lag_buckets_s": LAG_BUCKETS_S.iter().map(|b| if *b == i64::MAX { None } else { Some(*b) }).collect::<Vec<_>>(),
            "lag_counts": counts,
            "checkpoints": ages,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::Band;
    use crate::london::London;
    use crate::store::{Kind, NewMember, Store, StoreError};

    const HOUR: i64 = 3_600_000;
    /// 2026-03-15T12:00:00Z.
    const NOW: i64 = 1_773_576_000_000;

    struct World {
        _dir: tempfile::TempDir,
        store: Store,
        london: London,
        thresholds: Thresholds,
    }

    impl World {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(&dir.path().join("aggregator.db")).unwrap();
            store
                .add_member(&NewMember {
                    origin: "m.example".into(),
                    url: "https://m.example".into(),
                    kind: Kind::Cpo,
                    parties: Vec::new(),
                    borough: None,
                    supplier: None,
                    usage_token: None,
                    vkeys: Vec::new(),
                })
                .unwrap();
            World {
                _dir: dir,
                store,
                london: London::default(),
                thresholds: Thresholds::default(),
            }
        }

        /// `f` on the inputs as of `NOW`, for the one member.
        fn with<T>(
            &self,
            f: impl FnOnce(&Inputs<'_>, &[String], &Thresholds) -> Result<T, ComplianceError>,
        ) -> T {
            let members = self.store.members().unwrap();
            let inp = Inputs {
                store: &self.store,
                london: &self.london,
                members: &members,
                thresholds: &self.thresholds,
                now_ms: NOW,
            };
            f(&inp, &["m.example".to_owned()], &self.thresholds).unwrap()
        }

        fn harvests(&self, ok: usize, failed: usize) {
            for i in 0..ok + failed {
                let at = NOW - (i as i64 + 1) * HOUR;
                self.store
                    .count_harvest_for_test("m.example", at, i < ok)
                    .unwrap();
            }
        }
    }

    /// Harvest shares at and around the default band (green from 99 %, amber from 95 %), and
    /// no harvest at all: not measured, with a reason, never green.
    #[test]
    fn feed_availability_is_coloured_by_its_band() {
        let w = World::new();
        let none = w.with(availability);
        assert_eq!(none.colour, Colour::NotMeasured);
        assert_eq!(none.reasons, ["not harvested in the last 30 days"]);
        w.harvests(99, 1);
        let green = w.with(availability);
        assert_eq!(green.colour, Colour::Green, "{:?}", green.summary);
        assert!(green.reasons.is_empty());
        assert_eq!(green.figures["attempts_30d"], 100);
        w.harvests(0, 3);
        let amber = w.with(availability);
        assert_eq!(
            amber.colour,
            Colour::Amber,
            "99 of 103: {:?}",
            amber.summary
        );
        assert!(
            amber.reasons[0].contains("green needs 99"),
            "{:?}",
            amber.reasons
        );
        w.harvests(0, 10);
        assert_eq!(w.with(availability).colour, Colour::Red);
        // A stricter register moves the same figures to red.
        let strict = World {
            thresholds: Thresholds {
                availability: Band {
                    green: 1.0,
                    amber: 1.0,
                },
                ..Thresholds::default()
            },
            ..World::new()
        };
        strict.harvests(99, 1);
        assert_eq!(strict.with(availability).colour, Colour::Red);
        // Harvests older than the 30-day window do not count.
        let old = World::new();
        old.store
            .count_harvest_for_test("m.example", NOW - 31 * 24 * HOUR, true)
            .unwrap();
        assert_eq!(old.with(availability).colour, Colour::NotMeasured);
    }

    /// The p95 of the lag histogram picks its bucket's upper bound, and an open last bucket
    /// means more than a day; nothing counted is nothing measured.
    #[test]
    fn the_p95_lag_is_a_bucket_bound() {
        assert_eq!(p95(&[0; LAG_BUCKETS_S.len()]), None);
        let mut counts = [0u64; LAG_BUCKETS_S.len()];
        counts[0] = 95;
        counts[6] = 5;
        assert_eq!(p95(&counts), Some(1));
        counts[6] = 6;
        assert_eq!(p95(&counts), Some(60));
        counts[LAG_BUCKETS_S.len() - 1] = 100;
        assert_eq!(p95(&counts), Some(i64::MAX));
    }

    /// Conformance: no run in the window is not measured; the pass rate takes the band's
    /// colour.
    #[test]
    fn conformance_is_coloured_by_the_pass_rate() {
        let w = World::new();
        let none = w.with(conformance);
        assert_eq!(none.colour, Colour::NotMeasured);
        assert_eq!(none.figures["runs_30d"], 0);
        w.store
            .add_conformance_run("m.example", NOW - HOUR, true, b"{}")
            .unwrap();
        assert_eq!(w.with(conformance).colour, Colour::Green);
        // 4 of 6 passed: 67 %, red; 8 of 10: 80 %, the bottom of amber.
        for i in 0..3 {
            w.store
                .add_conformance_run("m.example", NOW - 2 * HOUR - i, i == 0, b"{}")
                .unwrap();
        }
        for i in 0..2 {
            w.store
                .add_conformance_run("m.example", NOW - 3 * HOUR - i, true, b"{}")
                .unwrap();
        }
        let c = w.with(conformance);
        assert_eq!(c.colour, Colour::Red, "{:?}", c.summary);
        for i in 0..4 {
            w.store
                .add_conformance_run("m.example", NOW - 4 * HOUR - i, true, b"{}")
                .unwrap();
        }
        let c = w.with(conformance);
        assert_eq!(c.colour, Colour::Amber, "{:?}", c.summary);
    }

    /// Freshness: lags counted by the harvest's fold give the p95 that colours the indicator,
    /// and a member never verified at all makes it red.
    #[test]
    fn freshness_is_coloured_by_the_p95_lag() {
        use evfed_spec::ocpi::Status;

        use crate::compliance::history::{self, StatusEvent};

        let w = World::new();
        // No change observed is not measured; a member with no verified checkpoint is red.
        let f = w.with(freshness);
        assert_eq!(f.colour, Colour::Red);
        assert!(
            f.reasons[0].starts_with("no status change observed"),
            "{:?}",
            f.reasons
        );
        assert_eq!(f.reasons[1], "no verified checkpoint of m.example");
        assert_eq!(f.figures["p95_lag_s_at_most"], Value::Null);
        let event = |uid: &str, at_ms: i64| StatusEvent {
            party: "GB*AAA".into(),
            location_id: "L1".into(),
            evse_uid: uid.into(),
            status: Status::Available,
            at_ms,
            rapid: false,
            hours: None,
            live: true,
        };
        // 20 changes verified 2 s after they happened: p95 2 s, within the green minute.
        let quick: Vec<StatusEvent> = (0..20)
            .map(|i| event(&format!("E{i}"), NOW - HOUR))
            .collect();
        history::apply_for_test(&w.store, "m.example", &quick, Some(NOW - HOUR + 2_000)).unwrap();
        let f = w.with(freshness);
        assert_eq!(f.figures["p95_lag_s_at_most"], 2, "{}", f.figures);
        // 2 more that took ten minutes: the p95 of 22 moves to the 600 s bucket, red.
        let slow: Vec<StatusEvent> = (0..2)
            .map(|i| event(&format!("S{i}"), NOW - HOUR))
            .collect();
        history::apply_for_test(&w.store, "m.example", &slow, Some(NOW - HOUR + 600_000)).unwrap();
        let f = w.with(freshness);
        assert_eq!(f.figures["p95_lag_s_at_most"], 600, "{}", f.figures);
        assert_eq!(f.colour, Colour::Red, "{:?}", f.reasons);
    }

    /// A corrupt histogram row is an error, not a zero that would colour the supplier.
    #[test]
    fn a_corrupt_record_is_an_error_not_a_colour() {
        let w = World::new();
        w.store
            .execute_for_test(
                "INSERT INTO freshness_day (origin, day_ms, counts) VALUES ('m.example', 1773532800000, 'not json')",
            )
            .unwrap();
        let members = w.store.members().unwrap();
        let inp = Inputs {
            store: &w.store,
            london: &w.london,
            members: &members,
            thresholds: &w.thresholds,
            now_ms: NOW,
        };
        match freshness(&inp, &["m.example".to_owned()], &w.thresholds) {
            Err(ComplianceError::Store(StoreError::Corrupt(_))) => {}
            other => panic!("{other:?}"),
        }
    }
}
