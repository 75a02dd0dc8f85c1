//! Figures by area: for London, each borough and each ward, the chargepoints and EVSEs there by
//! power class, EVSEs per km², per 10,000 residents and per 1,000 car-owning households,
//! availability now, 30-day usage (small numbers suppressed), regulation-7 reliability of the
//! rapid EVSEs and smart-charging, ISO 15118 and V2G readiness.
//!
//! Per-resident figures use the area set's census figures. Where an authority has wards
//! without figures (London's City: 15 of its 25 wards have no residents of their own in the
//! census), its wards take the authority's per-resident figures, the authority counting as one
//! area (`census_area`).

use std::collections::HashMap;
use std::sync::Arc;

use evfed_spec::areas::{Area, AreaSet, Census, Level};
use evfed_spec::ocpi::{Location, Status};
use serde::Serialize;

use super::places::{Placed, PowerClass, readiness};
use super::privacy;

/// The code of the whole set's row.
pub const ALL: &str = "all";
/// The code of the row of locations outside every area.
pub const OUTSIDE: &str = "none";

/// A served location as the figures need it.
#[derive(Debug, Clone)]
pub struct Placement {
    pub place: Placed,
    pub location: Arc<Location>,
}

/// Sessions, kWh and EVSE-time in use in one area over a period.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UsageSums {
    pub sessions: u64,
    pub kwh: f64,
    pub busy_ms: i64,
}

/// Regulation-7 figures of the rapid EVSEs of an area: the sum of each EVSE's share of access
/// time working, and how many were measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReliabilitySums {
    pub sum_share: f64,
    pub measured: u64,
}

/// What the area figures are made from.
#[derive(Debug)]
pub struct Inputs<'a> {
    pub areas: &'a AreaSet,
    pub view: &'a [Placement],
    /// Usage over the last `usage_days` by area code (boroughs, wards, and [`ALL`]).
    pub usage: &'a HashMap<String, UsageSums>,
    pub usage_days: f64,
    /// Rapid EVSEs' reliability by area code.
    pub reliability: &'a HashMap<String, ReliabilitySums>,
    pub min_sessions: u64,
}

/// EVSEs by UK power class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PowerCounts {
    /// Under 8 kW.
    pub slow: u64,
    /// 8 to 49 kW.
    pub fast: u64,
    /// 50 to 149 kW.
    pub rapid: u64,
    /// 150 kW and over.
    pub ultra: u64,
}

/// Usage over the last 30 days; every figure `null` when `suppressed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Usage {
    /// The figures rest on fewer sessions than may be published, or would let such a figure
    /// be recovered (`docs/dashboard.md`).
    pub suppressed: bool,
    pub sessions: Option<u64>,
    pub kwh: Option<f64>,
    pub sessions_per_evse_day: Option<f64>,
    pub kwh_per_evse_day: Option<f64>,
    /// Share of EVSE-time occupied by a session (0 to 1).
    pub occupancy: Option<f64>,
}

/// One area's figures.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AreaFigures {
    /// Area code (ONS GSS in London); `all` for the whole set, `none` for locations outside
    /// every area.
    pub code: String,
    pub name: String,
    /// `all`, `authority` (a London borough) or `ward`.
    pub level: &'static str,
    /// A ward's borough.
    pub borough: Option<String>,
    pub borough_name: Option<String>,
    pub area_km2: f64,
    /// Census residents, households, car-owning households and share in flats (London:
    /// Census 2021); `null` where the area has none of its own (see `census_area`).
    pub population: Option<u64>,
    pub households: Option<u64>,
    pub car_households: Option<u64>,
    pub share_flats: Option<f64>,
    /// When per-resident figures are a larger area's (the City of London's wards): its code.
    pub census_area: Option<String>,
    /// Locations (chargepoint sites) and EVSEs (chargepoints).
    pub locations: u64,
    pub evses: u64,
    pub evses_by_power: PowerCounts,
    pub evses_per_km2: Option<f64>,
    pub evses_per_10k_residents: Option<f64>,
    pub evses_per_1k_car_households: Option<f64>,
    /// EVSEs `AVAILABLE` now, and their share of the EVSEs.
    pub available_now: u64,
    pub availability_now: Option<f64>,
    pub usage_30d: Usage,
    /// Mean share of access time working of the rapid EVSEs over the last 12 months (Public
    /// Charge Point Regulations 2023, reg. 7); `null`: not measured.
    pub reliability: Option<f64>,
    pub rapid_evses_measured: u64,
    /// Shares of EVSEs ready for smart charging, ISO 15118 and V2G.
    pub smart_share: Option<f64>,
    pub iso15118_share: Option<f64>,
    pub v2g_share: Option<f64>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Stock {
    locations: u64,
    evses: u64,
    power: PowerCounts,
    available: u64,
    smart: u64,
    iso15118: u64,
    v2g: u64,
}

impl Stock {
    fn add(&mut self, loc: &Location) {
        self.locations += 1;
        for e in &loc.evses {
            self.evses += 1;
            match PowerClass::of_evse(e) {
                PowerClass::Slow => self.power.slow += 1,
                PowerClass::Fast => self.power.fast += 1,
                PowerClass::Rapid => self.power.rapid += 1,
                PowerClass::Ultra => self.power.ultra += 1,
            }
            if e.status == Status::Available {
                self.available += 1;
            }
            let r = readiness(e);
            self.smart += u64::from(r.smart);
            self.iso15118 += u64::from(r.iso15118);
            self.v2g += u64::from(r.v2g);
        }
    }
}

/// Figures for the whole set, every authority and every ward, in that order (the set's order
/// within each level), with a row for locations outside every area when there are any.
pub fn figures(input: &Inputs<'_>) -> Vec<AreaFigures> {
    let set = input.areas;
    let mut stock: HashMap<&str, Stock> = HashMap::new();
    for p in input.view {
        for code in [
            Some(ALL),
            Some(p.place.borough.unwrap_or(OUTSIDE)),
            p.place.ward,
        ]
        .into_iter()
        .flatten()
        {
            stock.entry(code).or_default().add(&p.location);
        }
    }
    // Rows: all, authorities, wards, outside.
    let mut rows: Vec<(&str, Option<&Area>)> = vec![(ALL, None)];
    rows.extend(set.authorities().map(|a| (a.code.as_str(), Some(a))));
    rows.extend(set.wards().map(|a| (a.code.as_str(), Some(a))));
    if stock.contains_key(OUTSIDE) {
        rows.push((OUTSIDE, None));
    }
    let index: HashMap<&str, usize> = rows.iter().enumerate().map(|(i, r)| (r.0, i)).collect();
    // Suppression: boroughs within the whole, wards within their borough.
    let sessions: Vec<u64> = rows
        .iter()
        .map(|(code, _)| input.usage.get(*code).map_or(0, |u| u.sessions))
        .collect();
    let mut groups: Vec<Vec<usize>> = vec![
        rows.iter()
            .enumerate()
            .filter(|(_, (code, a))| {
                *code == OUTSIDE || a.is_some_and(|a| a.level == Level::Authority)
            })
            .map(|(i, _)| i)
            .collect(),
    ];
    for a in set.authorities() {
        groups.push(
            set.wards_of(&a.code)
                .filter_map(|w| index.get(w.code.as_str()).copied())
                .collect(),
        );
    }
    let hidden = privacy::suppress(&sessions, &groups, input.min_sessions);

    // Census units: an authority with a ward lacking figures counts as one area.
    let whole_authority: HashMap<&str, bool> = set
        .authorities()
        .map(|a| {
            let mut wards = set.wards_of(&a.code).peekable();
            let partial =
                wards.peek().is_some() && set.wards_of(&a.code).any(|w| w.census.is_none());
            (a.code.as_str(), partial)
        })
        .collect();
    let total_census = Census::sum(set.authorities().filter_map(|a| a.census.as_ref()));
    let total_km2: f64 = set.authorities().map(|a| a.area_km2).sum();

    rows.iter()
        .enumerate()
        .map(|(i, (code, area))| {
            let s = stock.get(code).copied().unwrap_or_default();
            let (name, level, borough, km2) = match area {
                Some(a) => (
                    a.name.clone(),
                    a.level.as_str(),
                    a.parent.as_ref().and_then(|p| set.get(p)),
                    Some(a.area_km2),
                ),
                None if *code == ALL => (set.name.clone(), "all", None, Some(total_km2)),
                None => ("Outside every area".to_owned(), "authority", None, None),
            };
            // Per-resident figures: the area's own census, or its authority's as one unit.
            let unit = match (area, borough) {
                (Some(a), Some(b))
                    if a.level == Level::Ward
                        && whole_authority.get(b.code.as_str()) == Some(&true) =>
                {
                    Some(b)
                }
                _ => None,
            };
            let (census, unit_evses) = match (unit, area) {
                (Some(b), _) => (b.census, stock.get(b.code.as_str()).map_or(0, |s| s.evses)),
                (None, Some(a)) => (a.census, s.evses),
                (None, None) if *code == ALL => (Some(total_census), s.evses),
                (None, None) => (None, s.evses),
            };
            let own_census = if unit.is_some() { None } else { census };
            let per =
                |n: u64, d: u64, scale: f64| (d > 0).then(|| round(n as f64 * scale / d as f64, 2));
            let share = |n: u64| (s.evses > 0).then(|| round(n as f64 / s.evses as f64, 4));
            let u = input.usage.get(*code).copied().unwrap_or_default();
            let usage = if hidden[i] {
                Usage {
                    suppressed: true,
                    ..Usage::default()
                }
            } else {
                let evse_days = s.evses as f64 * input.usage_days;
                Usage {
                    suppressed: false,
                    sessions: Some(u.sessions),
                    kwh: Some(round(u.kwh, 1)),
                    sessions_per_evse_day: (evse_days > 0.0)
                        .then(|| round(u.sessions as f64 / evse_days, 3)),
                    kwh_per_evse_day: (evse_days > 0.0).then(|| round(u.kwh / evse_days, 2)),
                    occupancy: (evse_days > 0.0)
                        .then(|| round(u.busy_ms as f64 / (evse_days * 86_400_000.0), 4)),
                }
            };
            let rel = input.reliability.get(*code).copied().unwrap_or_default();
            AreaFigures {
                code: (*code).to_owned(),
                name,
                level,
                borough: borough.map(|b| b.code.clone()),
                borough_name: borough.map(|b| b.name.clone()),
                area_km2: round(km2.unwrap_or(0.0), 3),
                population: own_census.map(|c| c.population),
                households: own_census.map(|c| c.households),
                car_households: own_census.map(|c| c.car_households()),
                share_flats: own_census.map(|c| round(c.share_flats, 4)),
                census_area: unit.map(|b| b.code.clone()),
                locations: s.locations,
                evses: s.evses,
                evses_by_power: s.power,
                evses_per_km2: km2
                    .filter(|k| *k > 0.0)
                    .map(|k| round(s.evses as f64 / k, 2)),
                evses_per_10k_residents: census
                    .and_then(|c| per(unit_evses, c.population, 10_000.0)),
                evses_per_1k_car_households: census
                    .and_then(|c| per(unit_evses, c.car_households(), 1_000.0)),
                available_now: s.available,
                availability_now: share(s.available),
                usage_30d: usage,
                reliability: (rel.measured > 0)
                    .then(|| round(rel.sum_share / rel.measured as f64, 4)),
                rapid_evses_measured: rel.measured,
                smart_share: share(s.smart),
                iso15118_share: share(s.iso15118),
                v2g_share: share(s.v2g),
            }
        })
        .collect()
}

/// Rounds to `places` decimals (figures are for reading, not for further sums).
pub fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// The figures as CSV, one row per area, with the columns a spreadsheet wants.
pub fn csv(rows: &[AreaFigures]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "code",
        "name",
        "level",
        "borough",
        "borough_name",
        "area_km2",
        "population",
        "households",
        "car_households",
        "share_flats",
        "census_area",
        "locations",
        "evses",
        "evses_slow",
        "evses_fast",
        "evses_rapid",
        "evses_ultra",
        "evses_per_km2",
        "evses_per_10k_residents",
        "evses_per_1k_car_households",
        "available_now",
        "availability_now",
        "usage_30d_suppressed",
        "sessions_30d",
        "kwh_30d",
        "sessions_per_evse_day",
        "kwh_per_evse_day",
        "occupancy_30d",
        "reliability_12m",
        "rapid_evses_measured",
        "smart_share",
        "iso15118_share",
        "v2g_share",
    ])?;
    let opt = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    let optu = |x: Option<u64>| x.map(|v| v.to_string()).unwrap_or_default();
    for r in rows {
        let u = &r.usage_30d;
        w.write_record([
            r.code.clone(),
            r.name.clone(),
            r.level.to_owned(),
            r.borough.clone().unwrap_or_default(),
            r.borough_name.clone().unwrap_or_default(),
            r.area_km2.to_string(),
            optu(r.population),
            optu(r.households),
            optu(r.car_households),
            opt(r.share_flats),
            r.census_area.clone().unwrap_or_default(),
            r.locations.to_string(),
            r.evses.to_string(),
            r.evses_by_power.slow.to_string(),
            r.evses_by_power.fast.to_string(),
            r.evses_by_power.rapid.to_string(),
            r.evses_by_power.ultra.to_string(),
            opt(r.evses_per_km2),
            opt(r.evses_per_10k_residents),
            opt(r.evses_per_1k_car_households),
            r.available_now.to_string(),
            opt(r.availability_now),
            if u.suppressed { "suppressed" } else { "" }.to_owned(),
            optu(u.sessions),
            opt(u.kwh),
            opt(u.sessions_per_evse_day),
            opt(u.kwh_per_evse_day),
            opt(u.occupancy),
            opt(r.reliability),
            r.rapid_evses_measured.to_string(),
            opt(r.smart_share),
            opt(r.iso15118_share),
            opt(r.v2g_share),
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lamppost() -> Arc<Location> {
        let path = format!(
            "{}/../spec/testdata/ocpi/valid/location_westminster_lamppost.json",
            env!("CARGO_MANIFEST_DIR")
        );
        Arc::new(
            evfed_spec::ocpi::parse(&std::fs::read(path).unwrap())
                .unwrap()
                .value,
        )
    }

    #[test]
    fn wards_add_up_to_boroughs_and_small_usage_is_suppressed() {
        let set = AreaSet::london();
        let loc = lamppost();
        let place = super::super::places::place(&loc);
        let view = vec![Placement {
            place,
            location: Arc::clone(&loc),
        }];
        let mut usage = HashMap::new();
        // Marylebone has 4 sessions: suppressed, and so must be another Westminster ward.
        for (code, n) in [("all", 4), ("E09000033", 4), ("E05013801", 4)] {
            usage.insert(
                code.to_owned(),
                UsageSums {
                    sessions: n,
                    kwh: 30.0,
                    busy_ms: 3_600_000,
                },
            );
        }
        let rows = figures(&Inputs {
            areas: set,
            view: &view,
            usage: &usage,
            usage_days: 30.0,
            reliability: &HashMap::new(),
            min_sessions: 10,
        });
        assert_eq!(rows.len(), 1 + 33 + 704);
        let get = |code: &str| rows.iter().find(|r| r.code == code).unwrap();
        let all = get("all");
        assert_eq!(all.name, "London");
        assert_eq!(all.evses, loc.evses.len() as u64);
        assert_eq!(get("E09000033").evses, all.evses);
        assert_eq!(get("E05013801").evses, all.evses);
        assert_eq!(
            get("E05013801").borough_name.as_deref(),
            Some("Westminster")
        );
        assert!(get("E05013801").usage_30d.suppressed);
        assert!(get("E09000033").usage_30d.suppressed);
        assert_eq!(get("E05013801").usage_30d.sessions, None);
        let westminster_hidden = rows
            .iter()
            .filter(|r| r.borough.as_deref() == Some("E09000033") && r.usage_30d.suppressed)
            .count();
        assert!(westminster_hidden >= 2, "{westminster_hidden}");
        // Per-resident figures exist, and the City's wards count as one area.
        assert!(get("E05013801").evses_per_10k_residents.is_some());
        let aldgate = get("E05009289");
        assert_eq!(aldgate.census_area.as_deref(), Some("E09000001"));
        assert_eq!(aldgate.population, None);
        assert_eq!(aldgate.evses_per_10k_residents, Some(0.0));
    }

    #[test]
    fn the_csv_has_one_row_per_area_and_says_suppressed() {
        let rows = figures(&Inputs {
            areas: AreaSet::london(),
            view: &[],
            usage: &HashMap::from([(
                "E09000007".to_owned(),
                UsageSums {
                    sessions: 3,
                    kwh: 1.0,
                    busy_ms: 1,
                },
            )]),
            usage_days: 30.0,
            reliability: &HashMap::new(),
            min_sessions: 10,
        });
        let text = String::from_utf8(csv(&rows).unwrap()).unwrap();
        assert_eq!(text.lines().count(), 1 + rows.len());
        let camden = text.lines().find(|l| l.starts_with("E09000007,")).unwrap();
        assert!(camden.contains(",suppressed,"), "{camden}");
    }
}
