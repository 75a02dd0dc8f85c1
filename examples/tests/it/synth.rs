//! The synthetic London: deterministic, on the real boundaries, valid OCPI, a London-like mix,
//! and activity that follows its daily and weekly profiles.

use std::collections::{BTreeMap, HashMap, HashSet};

use evfed_examples::synth::activity::{Activity, Change, local_hour_minute, local_weekday};
use evfed_examples::synth::{self, Scale, SiteKind, World};
use evfed_spec::areas::AreaSet;
use evfed_spec::ocpi::{self, Location, PowerType, Status};

/// 2026-11-23T00:00:00Z, a Monday.
const MONDAY: i64 = 1_795_392_000;

fn activity_bytes(world: &World, seed: u64, chunks: &[i64]) -> Vec<u8> {
    let mut sim = Activity::new(world, seed, MONDAY);
    let mut out = Vec::new();
    for e in sim.statuses() {
        out.extend(format!("{e:?}\n").bytes());
    }
    for until in chunks {
        for e in sim.advance(*until) {
            out.extend(format!("{e:?}\n").bytes());
        }
    }
    out
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = synth::generate(7, Scale(3_000)).unwrap();
    let b = synth::generate(7, Scale(3_000)).unwrap();
    let c = synth::generate(8, Scale(3_000)).unwrap();
    // `assert!`, not `assert_eq!`: a failure should not print megabytes.
    assert!(a.locations_jsonl() == b.locations_jsonl());
    assert!(a.locations_jsonl() != c.locations_jsonl());

    let day = [MONDAY + 86_400];
    let once = activity_bytes(&a, 7, &day);
    assert!(once == activity_bytes(&b, 7, &day));
    assert!(once != activity_bytes(&a, 8, &day));
    // How the caller slices time changes nothing.
    let sliced: Vec<i64> = (1..=95).map(|i| MONDAY + i * 900 - 7).chain(day).collect();
    assert!(once == activity_bytes(&a, 7, &sliced));
}

#[test]
fn every_location_is_valid_ocpi_inside_its_borough() {
    let world = synth::generate(3, Scale::MEDIUM).unwrap();
    let london = AreaSet::london();
    let mut keys = HashSet::new();
    let mut evse_uids = HashSet::new();
    let mut per_borough: BTreeMap<String, usize> = BTreeMap::new();
    for site in &world.sites {
        let bytes = serde_json::to_vec(&site.location).unwrap();
        let parsed = ocpi::parse::<Location>(&bytes).unwrap();
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let loc = parsed.value;
        let found = london
            .place(loc.coordinates.lat(), loc.coordinates.lon())
            .unwrap_or_else(|| panic!("{} is in no borough", loc.id));
        assert_eq!(found.authority.code, site.borough.as_str(), "{}", loc.id);
        assert_eq!(loc.evfed.borough.as_ref(), Some(&site.borough));
        assert!(!loc.evfed.outside_area);
        let party = loc.party();
        assert_eq!(party, world.operators[site.operator].party);
        assert!(keys.insert((party.to_string(), loc.id.to_string())));
        for e in &loc.evses {
            assert!(evse_uids.insert(e.uid.to_string()), "{}", e.uid);
        }
        *per_borough.entry(site.borough.to_string()).or_default() += 1;
    }
    assert_eq!(per_borough.len(), 33, "every borough has chargepoints");
}

#[test]
fn operators_are_fictional_ocpi_parties() {
    let ops = synth::operators();
    assert!(ops.len() >= 4);
    let mut seen = HashSet::new();
    for op in &ops {
        let p = op.party.to_string();
        assert!(p.starts_with("GB*") && p.len() == 6, "{p}");
        assert!(op.website.ends_with(".example"), "{}", op.website);
        assert!(seen.insert(p));
    }
}

fn kw(c: &ocpi::Connector) -> f64 {
    if let Some(w) = c.max_electric_power {
        return f64::from(w) / 1000.0;
    }
    let phases = if c.power_type == PowerType::Ac3Phase {
        3.0
    } else {
        1.0
    };
    f64::from(c.max_voltage) * f64::from(c.max_amperage) * phases / 1000.0
}

#[test]
fn the_mix_looks_like_london() {
    let world = synth::generate(1, Scale::LONDON).unwrap();
    let evses = world.evse_count() as f64;
    assert!((23_000.0..27_000.0).contains(&evses), "{evses} EVSEs");
    let mut by_kind: HashMap<SiteKind, usize> = HashMap::new();
    let (mut slow_ac, mut rapid_dc, mut ultra, mut out_of_order) = (0, 0, 0, 0);
    for site in &world.sites {
        for e in &site.location.evses {
            *by_kind.entry(site.kind).or_default() += 1;
            let max = e.connectors.iter().map(kw).fold(0.0, f64::max);
            let dc = e.connectors.iter().any(|c| c.power_type == PowerType::Dc);
            match site.kind {
                SiteKind::LampPost => {
                    assert!((3.0..=7.0).contains(&max) && !dc, "lamp post at {max} kW");
                    assert_eq!(site.location.evses.len(), 1);
                }
                SiteKind::RapidHub => assert!(dc && (50.0..150.0).contains(&max)),
                SiteKind::UltraHub => assert!(dc && max >= 150.0),
                _ => assert!(!dc && max <= 22.1),
            }
            if !dc && max <= 7.4 {
                slow_ac += 1;
            }
            if dc && max >= 50.0 {
                rapid_dc += 1;
            }
            if max >= 150.0 {
                ultra += 1;
            }
            if e.status == Status::OutOfOrder {
                out_of_order += 1;
            }
        }
    }
    let share = |n: usize| n as f64 / evses;
    let lamp = share(by_kind[&SiteKind::LampPost]);
    assert!((0.5..0.6).contains(&lamp), "lamp posts {lamp}");
    assert!(share(slow_ac) > 0.6, "slow AC on street {}", share(slow_ac));
    assert!(
        (0.08..0.2).contains(&share(rapid_dc)),
        "rapid and ultra {}",
        share(rapid_dc)
    );
    assert!(
        ultra > 0 && share(ultra) < 0.08,
        "ultra-rapid {}",
        share(ultra)
    );
    assert!((0.02..0.07).contains(&share(out_of_order)));
    // Lamp posts dominate the operator that runs them.
    let lampline = world.sites.iter().filter(|s| s.operator == 0).count();
    assert!(lampline * 2 > world.sites.len());
}

#[test]
fn scale_names() {
    assert_eq!("small".parse::<Scale>().unwrap(), Scale::SMALL);
    assert_eq!("london".parse::<Scale>().unwrap(), Scale(25_000));
    assert_eq!("1234".parse::<Scale>().unwrap(), Scale(1234));
    assert!("huge".parse::<Scale>().is_err());
    assert!("0".parse::<Scale>().is_err());
}

#[test]
fn activity_follows_daily_and_weekly_profiles() {
    let world = synth::generate(5, Scale(4_000)).unwrap();
    let mut sim = Activity::new(&world, 5, MONDAY);
    let initial = sim.statuses();
    let week = sim.advance(MONDAY + 7 * 86_400);
    assert!(week.windows(2).all(|w| w[0].at <= w[1].at), "in time order");
    assert!(
        week.iter()
            .all(|e| (MONDAY..MONDAY + 7 * 86_400).contains(&e.at))
    );
    // Session starts by kind and London hour, and by weekday.
    let mut by_hour: HashMap<(SiteKind, u32), f64> = HashMap::new();
    let mut by_day: HashMap<(SiteKind, usize), f64> = HashMap::new();
    let mut per_evse: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
    for e in &week {
        if let Change::Session(r) = &e.change {
            let start = r.start_date_time.unix_seconds();
            let end = r.end_date_time.unwrap().unix_seconds();
            assert!(end > start);
            assert!(r.kwh > 0.0 && r.kwh <= 90.0, "{} kWh", r.kwh);
            let kind = world.sites[e.site].kind;
            *by_hour
                .entry((kind, local_hour_minute(start).0))
                .or_default() += 1.0;
            *by_day.entry((kind, local_weekday(start))).or_default() += 1.0;
            per_evse
                .entry(r.evse_uid.to_string())
                .or_default()
                .push((start, end));
        }
    }
    let hours = |kind, hs: &[u32]| {
        hs.iter()
            .map(|h| by_hour.get(&(kind, *h)).copied().unwrap_or(0.0))
            .sum::<f64>()
    };
    // Residential charging starts in the evening, not in the small hours.
    assert!(
        hours(SiteKind::LampPost, &[17, 18, 19, 20])
            > 5.0 * hours(SiteKind::LampPost, &[2, 3, 4, 5])
    );
    // Rapid hubs are busy by day.
    assert!(
        hours(SiteKind::RapidHub, &[8, 9, 10, 11]) > 3.0 * hours(SiteKind::RapidHub, &[1, 2, 3, 4])
    );
    // Car parks fill on Saturdays, rapid hubs empty at weekends.
    let day = |kind, d| by_day.get(&(kind, d)).copied().unwrap_or(0.0);
    assert!(day(SiteKind::Destination, 5) > 1.2 * day(SiteKind::Destination, 1));
    assert!(day(SiteKind::RapidHub, 6) < day(SiteKind::RapidHub, 1));
    // One vehicle at a time.
    for sessions in per_evse.values_mut() {
        sessions.sort_unstable();
        assert!(sessions.windows(2).all(|w| w[0].1 <= w[1].0));
    }
    // Statuses follow sessions: CHARGING at a start, AVAILABLE after.
    let mut last: HashMap<String, Status> = HashMap::new();
    for e in initial.iter().chain(&week) {
        if let Change::Status(s) = &e.change {
            let prev = last.insert(s.evse_uid.to_string(), s.status);
            if s.status == Status::Charging {
                assert!(matches!(prev, None | Some(Status::Available)), "{prev:?}");
            }
        }
    }
}
