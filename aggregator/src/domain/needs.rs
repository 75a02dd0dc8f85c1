//! Where more chargepoints are needed: wards ranked by pressure on public supply
//! (`docs/dashboard.md`, "Where more are needed").
//!
//! Three measures, each ranked (1 = most need), and wards ranked by the mean of their ranks:
//!
//! 1. **Pressure**: car-owning households likely to have no off-street parking, per public
//!    EVSE: `(households − households_no_car) × share_flats ÷ max(1, EVSEs)`. Households in flats
//!    stand in for households without a driveway, the Census having no question on parking.
//! 2. **Occupancy**: the share of time the ward's EVSEs were in use over the last 30 days; busy
//!    chargepoints mean demand is already there. Missing where the ward has no EVSE or its usage
//!    is suppressed (a rank would disclose the suppressed figure's order); the mean is then
//!    over the other two ranks.
//! 3. **Distance**: the share of the ward's area more than 400 m (about a five-minute walk) from
//!    any on-street EVSE (`parking_type` `ON_STREET`), measured on a grid of points every
//!    [`GRID_M`] metres inside the ward.
//!
//! Authorities whose wards lack census figures count as one area (London's City of London).

use std::collections::HashMap;
use std::sync::OnceLock;

use evfed_spec::areas::{Area, AreaSet, Census, Level};
use evfed_spec::ocpi::ParkingType;
use serde::Serialize;

use super::areas::{Placement, UsageSums, round};

/// Walking distance within which an on-street EVSE counts as near.
pub const NEAR_M: f64 = 400.0;
/// Spacing of the points at which distance is measured.
pub const GRID_M: f64 = 125.0;

const M_PER_DEG: f64 = 6_371_008.8 * std::f64::consts::PI / 180.0;

/// One ward's (or census unit's) need.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Need {
    /// 1 = most need.
    pub rank: u32,
    pub code: String,
    pub name: String,
    pub borough: String,
    pub borough_name: String,
    /// `(households − households_no_car) × share_flats`.
    pub car_households_without_driveway: f64,
    pub evses: u64,
    /// The above per public EVSE (per one when there is none).
    pub pressure: f64,
    /// 30-day occupancy of the EVSEs there; `null` without EVSEs or when suppressed.
    pub occupancy_30d: Option<f64>,
    pub occupancy_suppressed: bool,
    /// Share of the area more than 400 m from an on-street EVSE (0 to 1).
    pub far_share: f64,
    pub pressure_rank: u32,
    pub occupancy_rank: Option<u32>,
    pub far_rank: u32,
    pub mean_rank: f64,
}

/// One unit to rank: a ward, or an authority counted whole.
struct Unit<'a> {
    code: &'a str,
    name: String,
    authority: &'a Area,
    census: Census,
    members: Vec<&'a Area>,
}

/// Points inside each ward, on a grid, computed once (for the one area set served).
fn grid(set: &'static AreaSet) -> &'static HashMap<String, Vec<(f64, f64)>> {
    static GRID: OnceLock<HashMap<String, Vec<(f64, f64)>>> = OnceLock::new();
    GRID.get_or_init(|| {
        let mut out = HashMap::new();
        for w in set.wards() {
            let [w0, s0, e0, n0] = w.bbox();
            let dy = GRID_M / M_PER_DEG;
            let dx = GRID_M / (M_PER_DEG * ((s0 + n0) / 2.0).to_radians().cos());
            let mut pts = Vec::new();
            let mut lat = s0 + dy / 2.0;
            while lat < n0 {
                let mut lon = w0 + dx / 2.0;
                while lon < e0 {
                    if w.contains_point(lat, lon) {
                        pts.push((lat, lon));
                    }
                    lon += dx;
                }
                lat += dy;
            }
            if pts.is_empty() {
                // A ward smaller than the grid: its box's centre stands for it.
                pts.push(((s0 + n0) / 2.0, (w0 + e0) / 2.0));
            }
            out.insert(w.code.clone(), pts);
        }
        out
    })
}

/// On-street EVSE locations hashed into cells of [`NEAR_M`].
struct Near {
    cells: HashMap<(i64, i64), Vec<(f64, f64)>>,
    cos: f64,
}

impl Near {
    fn new(points: impl Iterator<Item = (f64, f64)>, lat0: f64) -> Near {
        let cos = lat0.to_radians().cos();
        let mut cells: HashMap<(i64, i64), Vec<(f64, f64)>> = HashMap::new();
        for (lat, lon) in points {
            let (x, y) = (lon * M_PER_DEG * cos, lat * M_PER_DEG);
            cells
                .entry(((x / NEAR_M).floor() as i64, (y / NEAR_M).floor() as i64))
                .or_default()
                .push((x, y));
        }
        Near { cells, cos }
    }

    fn any_within(&self, lat: f64, lon: f64) -> bool {
        let (x, y) = (lon * M_PER_DEG * self.cos, lat * M_PER_DEG);
        let (cx, cy) = ((x / NEAR_M).floor() as i64, (y / NEAR_M).floor() as i64);
        (cx - 1..=cx + 1).any(|i| {
            (cy - 1..=cy + 1).any(|j| {
                self.cells
                    .get(&(i, j))
                    .is_some_and(|pts| pts.iter().any(|(px, py)| (px - x).hypot(py - y) <= NEAR_M))
            })
        })
    }
}

/// Ranks every ward of `set` (authorities without complete ward figures as one unit).
/// `usage` is the last 30 days by area code, `hidden` the codes whose usage is suppressed.
pub fn rank(
    set: &'static AreaSet,
    view: &[Placement],
    usage: &HashMap<String, UsageSums>,
    hidden: &dyn Fn(&str) -> bool,
    usage_days: f64,
) -> Vec<Need> {
    let mut units: Vec<Unit<'_>> = Vec::new();
    for a in set.authorities() {
        let wards: Vec<&Area> = set.wards_of(&a.code).collect();
        let whole = !wards.is_empty() && wards.iter().any(|w| w.census.is_none());
        if whole {
            units.push(Unit {
                code: &a.code,
                name: format!("{} (all {} wards)", a.name, wards.len()),
                authority: a,
                census: a.census.unwrap_or_default(),
                members: wards,
            });
        } else {
            for w in wards {
                units.push(Unit {
                    code: &w.code,
                    name: w.name.clone(),
                    authority: a,
                    census: w.census.unwrap_or_default(),
                    members: vec![w],
                });
            }
        }
    }
    let mut evses: HashMap<&str, u64> = HashMap::new();
    for p in view {
        if let Some(w) = p.place.ward {
            *evses.entry(w).or_default() += p.location.evses.len() as u64;
        }
    }
    let lat0 = set
        .authorities()
        .next()
        .map_or(51.5, |a| (a.bbox()[1] + a.bbox()[3]) / 2.0);
    let near = Near::new(
        view.iter()
            .filter(|p| p.location.parking_type == Some(ParkingType::OnStreet))
            .map(|p| (p.location.coordinates.lat(), p.location.coordinates.lon())),
        lat0,
    );
    let grid = grid(set);

    struct Row {
        demand: f64,
        evses: u64,
        pressure: f64,
        occupancy: Option<f64>,
        suppressed: bool,
        far: f64,
    }
    let rows: Vec<Row> = units
        .iter()
        .map(|u| {
            let n: u64 = u
                .members
                .iter()
                .map(|w| evses.get(w.code.as_str()).copied().unwrap_or(0))
                .sum();
            let demand = u.census.car_households() as f64 * u.census.share_flats;
            let suppressed = u.members.iter().any(|w| hidden(&w.code))
                || (u.members.len() > 1 && hidden(u.code));
            let busy: i64 = u
                .members
                .iter()
                .filter_map(|w| usage.get(&w.code))
                .map(|s| s.busy_ms)
                .sum();
            let occupancy = (n > 0 && !suppressed)
                .then(|| busy as f64 / (n as f64 * usage_days * 86_400_000.0));
            let (mut far, mut all) = (0usize, 0usize);
            for w in &u.members {
                for &(lat, lon) in grid.get(&w.code).map_or(&[][..], |v| v.as_slice()) {
                    all += 1;
                    if !near.any_within(lat, lon) {
                        far += 1;
                    }
                }
            }
            Row {
                demand,
                evses: n,
                pressure: demand / n.max(1) as f64,
                occupancy,
                suppressed,
                far: if all == 0 {
                    0.0
                } else {
                    far as f64 / all as f64
                },
            }
        })
        .collect();

    let pressure_rank = ranks(&rows.iter().map(|r| Some(r.pressure)).collect::<Vec<_>>());
    let occupancy_rank = ranks(&rows.iter().map(|r| r.occupancy).collect::<Vec<_>>());
    let far_rank = ranks(&rows.iter().map(|r| Some(r.far)).collect::<Vec<_>>());
    let mut out: Vec<Need> = units
        .iter()
        .zip(&rows)
        .enumerate()
        .map(|(i, (u, r))| {
            let parts: Vec<u32> = [pressure_rank[i], occupancy_rank[i], far_rank[i]]
                .into_iter()
                .flatten()
                .collect();
            let mean = parts.iter().map(|&x| f64::from(x)).sum::<f64>() / parts.len().max(1) as f64;
            Need {
                rank: 0,
                code: u.code.to_owned(),
                name: u.name.clone(),
                borough: u.authority.code.clone(),
                borough_name: u.authority.name.clone(),
                car_households_without_driveway: round(r.demand, 0),
                evses: r.evses,
                pressure: round(r.pressure, 1),
                occupancy_30d: r.occupancy.map(|o| round(o, 4)),
                occupancy_suppressed: r.suppressed,
                far_share: round(r.far, 4),
                pressure_rank: pressure_rank[i].unwrap_or(0),
                occupancy_rank: occupancy_rank[i],
                far_rank: far_rank[i].unwrap_or(0),
                mean_rank: round(mean, 2),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        a.mean_rank
            .total_cmp(&b.mean_rank)
            .then(a.pressure_rank.cmp(&b.pressure_rank))
            .then(a.code.cmp(&b.code))
    });
    for (i, n) in out.iter_mut().enumerate() {
        n.rank = i as u32 + 1;
    }
    out
}

/// Competition ranks, largest value first (1, 2, 2, 4); `None` stays unranked.
fn ranks(values: &[Option<f64>]) -> Vec<Option<u32>> {
    let mut order: Vec<(usize, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut out = vec![None; values.len()];
    let mut last: Option<(f64, u32)> = None;
    for (pos, (i, v)) in order.into_iter().enumerate() {
        let r = match last {
            Some((lv, lr)) if lv == v => lr,
            _ => pos as u32 + 1,
        };
        last = Some((v, r));
        out[i] = Some(r);
    }
    out
}

/// The ranking as CSV.
pub fn csv(rows: &[Need]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "rank",
        "code",
        "name",
        "borough",
        "borough_name",
        "car_households_without_driveway",
        "evses",
        "pressure",
        "occupancy_30d",
        "far_share",
        "pressure_rank",
        "occupancy_rank",
        "far_rank",
        "mean_rank",
    ])?;
    for n in rows {
        w.write_record([
            n.rank.to_string(),
            n.code.clone(),
            n.name.clone(),
            n.borough.clone(),
            n.borough_name.clone(),
            n.car_households_without_driveway.to_string(),
            n.evses.to_string(),
            n.pressure.to_string(),
            match (n.occupancy_30d, n.occupancy_suppressed) {
                (_, true) => "suppressed".to_owned(),
                (Some(o), false) => o.to_string(),
                (None, false) => String::new(),
            },
            n.far_share.to_string(),
            n.pressure_rank.to_string(),
            n.occupancy_rank.map(|r| r.to_string()).unwrap_or_default(),
            n.far_rank.to_string(),
            n.mean_rank.to_string(),
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// Whether the set can be ranked: it needs wards with census figures.
pub fn rankable(set: &AreaSet) -> bool {
    set.wards()
        .any(|w| w.census.is_some() && w.level == Level::Ward)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_are_competition_ranks_largest_first() {
        assert_eq!(
            ranks(&[Some(1.0), Some(3.0), None, Some(3.0), Some(0.5)]),
            [Some(3), Some(1), None, Some(1), Some(4)]
        );
    }

    #[test]
    fn every_ward_is_ranked_and_the_city_counts_once() {
        let set = AreaSet::london();
        let needs = rank(set, &[], &HashMap::new(), &|_| false, 30.0);
        // 704 wards, the City's 25 as one.
        assert_eq!(needs.len(), 704 - 25 + 1);
        let city = needs.iter().find(|n| n.code == "E09000001").unwrap();
        assert_eq!(city.name, "City of London (all 25 wards)");
        // With no chargepoint anywhere, every ward is entirely far from one.
        assert!(
            needs
                .iter()
                .all(|n| n.far_share == 1.0 && n.occupancy_30d.is_none())
        );
        // Ranked by pressure alone then: the most car-owning households in flats first.
        assert!(needs.windows(2).all(|w| w[0].pressure >= w[1].pressure));
        assert_eq!(needs[0].rank, 1);
    }
}
