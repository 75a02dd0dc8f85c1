//! The map's points: every served location in a compact, columnar JSON document that the
//! dashboard filters and clusters in the browser (a few hundred kB gzipped for London, against
//! the GeoJSON export's 8 MB), made once per version of the London view.
//!
//! Shape (`spec/openapi/aggregator.json`, `MapPoints`): dictionaries for the repeated strings
//! (`operators`, `areas`, `standards`, `statuses`) and one array per location in `locations`:
//! `[party_index, id, lon, lat, borough_index, ward_index, name, address, postcode, on_street,
//! evses]`, each EVSE `[uid, status_index, power_kw, standards_bitmask]`. Indices of `-1` mean
//! none.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::areas::Placement;
use super::places::evse_kw;

/// The statuses in index order (OCPI names).
pub const STATUSES: [&str; 9] = [
    "AVAILABLE",
    "BLOCKED",
    "CHARGING",
    "INOPERATIVE",
    "OUTOFORDER",
    "PLANNED",
    "REMOVED",
    "RESERVED",
    "UNKNOWN",
];

/// The compact document's top level, as documented for OpenAPI.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MapPoints {
    /// The London view's version the points were made at (also the `ETag`).
    pub version: u64,
    /// `{party, name}` per operator (party `CC*PID`).
    pub operators: Vec<Value>,
    /// `{code, name, level}` of the boroughs and wards referred to.
    pub areas: Vec<Value>,
    /// OCPI connector standards referred to by the bitmasks (bit i = standards[i]).
    pub standards: Vec<String>,
    pub statuses: Vec<String>,
    /// One array per location (see the module's description).
    pub locations: Vec<Value>,
    /// Totals, for checking a client's sums.
    pub location_count: u64,
    pub evse_count: u64,
}

/// Builds the document.
pub fn points(version: u64, view: &[(String, String, Placement)]) -> MapPoints {
    let set = super::places::area_set();
    let mut operators: Vec<Value> = Vec::new();
    let mut op_index: HashMap<String, i64> = HashMap::new();
    let mut areas: Vec<Value> = Vec::new();
    let mut area_index: HashMap<&str, i64> = HashMap::new();
    let mut standards: Vec<String> = Vec::new();
    let mut std_index: HashMap<String, u32> = HashMap::new();
    let mut locations = Vec::with_capacity(view.len());
    let mut evse_count = 0u64;
    let mut area_of = |code: Option<&'static str>, areas: &mut Vec<Value>| -> i64 {
        let Some(code) = code else { return -1 };
        *area_index.entry(code).or_insert_with(|| {
            let a = set.get(code);
            areas.push(json!({
                "code": code,
                "name": a.map_or(code, |a| a.name.as_str()),
                "level": a.map_or("authority", |a| a.level.as_str()),
            }));
            areas.len() as i64 - 1
        })
    };
    for (party, id, p) in view {
        let loc = &p.location;
        let op = *op_index.entry(party.clone()).or_insert_with(|| {
            let name = loc
                .operator
                .as_ref()
                .map_or_else(|| party.clone(), |o| o.name.clone());
            operators.push(json!({"party": party, "name": name}));
            operators.len() as i64 - 1
        });
        let borough = area_of(p.place.borough, &mut areas);
        let ward = area_of(p.place.ward, &mut areas);
        let evses: Vec<Value> = loc
            .evses
            .iter()
            .map(|e| {
                let mut mask = 0u64;
                for c in &e.connectors {
                    let name = serde_json::to_value(c.standard)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    let bit = *std_index.entry(name.clone()).or_insert_with(|| {
                        standards.push(name);
                        standards.len() as u32 - 1
                    });
                    if bit < 64 {
                        mask |= 1 << bit;
                    }
                }
                let status = STATUSES
                    .iter()
                    .position(|s| *s == e.status.as_str())
                    .unwrap_or(STATUSES.len() - 1);
                json!([
                    e.uid.as_str(),
                    status,
                    super::areas::round(evse_kw(e), 1),
                    mask
                ])
            })
            .collect();
        evse_count += evses.len() as u64;
        locations.push(json!([
            op,
            id,
            loc.coordinates.lon(),
            loc.coordinates.lat(),
            borough,
            ward,
            loc.name.as_deref().unwrap_or(""),
            loc.address,
            loc.postal_code.as_deref().unwrap_or(""),
            loc.parking_type == Some(evfed_spec::ocpi::ParkingType::OnStreet),
            evses,
        ]));
    }
    MapPoints {
        version,
        operators,
        areas,
        standards,
        statuses: STATUSES.iter().map(|s| (*s).to_owned()).collect(),
        location_count: locations.len() as u64,
        locations,
        evse_count,
    }
}
