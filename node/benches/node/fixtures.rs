//! A realistic London estate for one operator: locations spread over the 33 boroughs at points
//! inside them, 2 or 3 EVSEs each (2.5 on average), 1 or 2 connectors per EVSE, shaped like the
//! fixtures in `spec/testdata/ocpi/valid/location_*.json`. Seeded, so every run loads the same
//! data.

use evfed_spec::areas::{Area, AreaSet};
use evfed_spec::time::DateTime;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// The operator every generated location belongs to.
pub const COUNTRY_CODE: &str = "GB";
pub const PARTY_ID: &str = "ABC";
pub const PARTY: &str = "GB*ABC";

/// Every status a status change may carry.
pub const STATUSES: [&str; 9] = [
    "AVAILABLE",
    "CHARGING",
    "BLOCKED",
    "INOPERATIVE",
    "OUTOFORDER",
    "PLANNED",
    "REMOVED",
    "RESERVED",
    "UNKNOWN",
];

/// One location, ready to PUT.
#[derive(Debug)]
pub struct Fixture {
    /// `/v1/locations/GB/ABC/{id}`.
    pub path: String,
    pub body: Vec<u8>,
    pub evses: Vec<EvseRef>,
}

/// An EVSE as status changes name it, with the status it was loaded with.
#[derive(Debug, Clone)]
pub struct EvseRef {
    pub location_id: String,
    pub uid: String,
    pub status: &'static str,
}

/// What kind of site a location is; decides parking, power and connectors.
#[derive(Debug, Clone, Copy)]
enum Site {
    /// A socket in a lamp column, 5 kW (London's most common public charger).
    Lamppost,
    /// A kerbside post, 7 kW, some with a 3-pin socket beside the Type 2.
    Kerbside,
    /// A car park, 22 kW three-phase.
    CarPark,
    /// A rapid hub, 50–150 kW DC, CCS and often CHAdeMO.
    Rapid,
}

/// One outward postcode district per borough, in GSS code order (E09000001 … E09000033).
const DISTRICTS: [&str; 33] = [
    "EC2V", "IG11", "N12", "DA6", "NW10", "BR1", "NW1", "CR0", "W5", "EN1", "SE10", "E8", "W6",
    "N17", "HA1", "RM1", "UB8", "TW3", "N1", "W8", "KT1", "SW9", "SE13", "SW19", "E15", "IG1",
    "TW9", "SE1", "SM1", "E14", "E17", "SW18", "W1U",
];

const STREETS: [&str; 24] = [
    "High Street",
    "Church Road",
    "Station Road",
    "Park Road",
    "Victoria Road",
    "Green Lane",
    "Manor Road",
    "Kings Road",
    "Queens Road",
    "Grove Road",
    "Albert Road",
    "London Road",
    "Mill Lane",
    "The Broadway",
    "Elm Grove",
    "North Road",
    "Springfield Road",
    "Richmond Road",
    "Windsor Road",
    "Stanley Road",
    "Alexandra Road",
    "Cedar Avenue",
    "Chestnut Grove",
    "Orchard Way",
];

/// `n` locations holding `n / 2` three-EVSE and `n - n / 2` two-EVSE sites: 25,000 EVSEs for
/// 10,000 locations. Times lie between 3 hours and 60 days before `now`.
pub fn estate(n: usize, now: &DateTime) -> Vec<Fixture> {
    let mut rng = StdRng::seed_from_u64(0x00e7_fed0);
    let boroughs: Vec<&Area> = AreaSet::london().authorities().collect();
    let mut evse_counts: Vec<usize> = (0..n).map(|i| if i < n / 2 { 3 } else { 2 }).collect();
    evse_counts.shuffle(&mut rng);
    let mut next_evse_id = 1u32;
    evse_counts
        .iter()
        .enumerate()
        .map(|(i, &evses)| {
            let b = rng.gen_range(0..boroughs.len());
            location(
                &mut rng,
                i,
                boroughs[b],
                DISTRICTS.get(b).copied().unwrap_or("EC1A"),
                evses,
                &mut next_evse_id,
                now,
            )
        })
        .collect()
}

fn location(
    rng: &mut StdRng,
    i: usize,
    borough: &Area,
    district: &str,
    evse_count: usize,
    next_evse_id: &mut u32,
    now: &DateTime,
) -> Fixture {
    let id = format!("{PARTY_ID}-L{i:05}");
    let site = match rng.gen_range(0..100) {
        0..45 => Site::Lamppost,
        45..75 => Site::Kerbside,
        75..90 => Site::CarPark,
        _ => Site::Rapid,
    };
    let (lat, lon) = point_in(rng, borough);
    let number = rng.gen_range(1..240);
    let street = STREETS.choose(rng).copied().unwrap_or("High Street");
    let ago = |rng: &mut StdRng, min_h: i64, max_h: i64| {
        let ms = now.unix_millis() - rng.gen_range(min_h * 3_600_000..max_h * 3_600_000);
        DateTime::from_unix_millis(ms).unwrap_or(*now)
    };
    let mut refs = Vec::with_capacity(evse_count);
    let mut evses = Vec::with_capacity(evse_count);
    let mut latest = ago(rng, 24 * 30, 24 * 60);
    for k in 1..=evse_count {
        let uid = format!("{id}-{k}");
        let status = initial_status(rng);
        let updated = ago(rng, 3, 24 * 30);
        latest = latest.max(updated);
        let connectors_updated = ago(rng, 24 * 30, 24 * 60).to_string();
        evses.push(evse(
            rng,
            site,
            &uid,
            *next_evse_id,
            status,
            k,
            &updated,
            &connectors_updated,
        ));
        *next_evse_id += 1;
        refs.push(EvseRef {
            location_id: id.clone(),
            uid,
            status,
        });
    }
    let (name, address, parking) = match site {
        Site::Lamppost => (
            format!("{street} (lamp post {number})"),
            format!("Outside {number} {street}"),
            "ON_STREET",
        ),
        Site::Kerbside => (
            format!("{street} kerbside charging"),
            format!("Opposite {number} {street}"),
            "ON_STREET",
        ),
        Site::CarPark => (
            format!("{street} car park"),
            format!("{number} {street}"),
            if rng.gen_bool(0.5) {
                "PARKING_GARAGE"
            } else {
                "PARKING_LOT"
            },
        ),
        Site::Rapid => (
            format!("{} rapid hub", borough.name),
            format!("{number} {street}"),
            "PARKING_LOT",
        ),
    };
    let mut loc = json!({
        "country_code": COUNTRY_CODE,
        "party_id": PARTY_ID,
        "id": id,
        "publish": true,
        "name": name,
        "address": address,
        "city": "London",
        "postal_code": format!("{district} {}{}{}", rng.gen_range(1..10), letter(rng), letter(rng)),
        "country": "GBR",
        "coordinates": { "latitude": format!("{lat:.6}"), "longitude": format!("{lon:.6}") },
        "parking_type": parking,
        "evses": evses,
        "operator": { "name": "ABC Charging Ltd", "website": "https://abc-charging.example" },
        "time_zone": "Europe/London",
        "opening_times": { "twentyfourseven": true },
        "last_updated": latest.to_string(),
        "evfed": { "dps_contract": format!("LEVI-{}-2025-{:03}", district, i % 97) },
    });
    if let Value::Object(obj) = &mut loc {
        match site {
            Site::Lamppost => {
                obj.insert(
                    "directions".into(),
                    json!([{ "language": "en",
                             "text": format!("Socket in the base of the lamp column outside number {number}.") }]),
                );
                obj.insert(
                    "owner".into(),
                    json!({ "name": format!("London Borough of {}", borough.name) }),
                );
            }
            Site::Rapid => {
                obj.insert("facilities".into(), json!(["SUPERMARKET", "CAFE", "WIFI"]));
            }
            Site::Kerbside | Site::CarPark => {}
        }
    }
    Fixture {
        path: format!("/v1/locations/{COUNTRY_CODE}/{PARTY_ID}/{id}"),
        body: serde_json::to_vec(&loc).unwrap_or_default(),
        evses: refs,
    }
}

#[allow(clippy::too_many_arguments)]
fn evse(
    rng: &mut StdRng,
    site: Site,
    uid: &str,
    serial: u32,
    status: &str,
    bay: usize,
    updated: &DateTime,
    connectors_updated: &str,
) -> Value {
    let ac = |power_type: &str, amps: u32, watts: u32| {
        json!({ "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": power_type,
                "max_voltage": 230, "max_amperage": amps, "max_electric_power": watts,
                "tariff_ids": ["ABC-AC-STD"], "last_updated": connectors_updated })
    };
    let ccs = |kw: u32| {
        json!({ "standard": "IEC_62196_T2_COMBO", "format": "CABLE", "power_type": "DC",
                "max_voltage": 920, "max_amperage": kw * 1000 / 400, "max_electric_power": kw * 1000,
                "tariff_ids": ["ABC-RAPID"], "last_updated": connectors_updated })
    };
    let (mut connectors, capabilities, ocpp) = match site {
        Site::Lamppost => (
            vec![ac("AC_1_PHASE", 22, 5000)],
            json!(["CONTACTLESS_CARD_SUPPORT", "REMOTE_START_STOP_CAPABLE"]),
            "1.6",
        ),
        Site::Kerbside => {
            let mut c = vec![ac("AC_1_PHASE", 32, 7400)];
            if rng.gen_bool(0.3) {
                c.push(json!({ "standard": "DOMESTIC_G", "format": "SOCKET", "power_type": "AC_1_PHASE",
                               "max_voltage": 230, "max_amperage": 13, "max_electric_power": 2990,
                               "tariff_ids": ["ABC-AC-STD"], "last_updated": connectors_updated }));
            }
            (
                c,
                json!(["RFID_READER", "REMOTE_START_STOP_CAPABLE"]),
                "1.6",
            )
        }
        Site::CarPark => (
            vec![ac("AC_3_PHASE", 32, 22000)],
            json!(["RFID_READER", "CONTACTLESS_CARD_SUPPORT", "RESERVABLE"]),
            "2.0.1",
        ),
        Site::Rapid => {
            let mut c = vec![ccs(if rng.gen_bool(0.5) { 150 } else { 50 })];
            if rng.gen_bool(0.6) {
                c.push(
                    json!({ "standard": "CHADEMO", "format": "CABLE", "power_type": "DC",
                               "max_voltage": 500, "max_amperage": 125, "max_electric_power": 50000,
                               "tariff_ids": ["ABC-RAPID"], "last_updated": connectors_updated }),
                );
            }
            (
                c,
                json!([
                    "CHARGING_PROFILE_CAPABLE",
                    "CONTACTLESS_CARD_SUPPORT",
                    "CREDIT_CARD_PAYABLE",
                    "DEBIT_CARD_PAYABLE",
                    "REMOTE_START_STOP_CAPABLE",
                    "RFID_READER"
                ]),
                "2.0.1",
            )
        }
    };
    for (n, c) in connectors.iter_mut().enumerate() {
        if let Value::Object(obj) = c {
            obj.insert("id".into(), json!((n + 1).to_string()));
        }
    }
    json!({
        "uid": uid,
        "evse_id": format!("GB*{PARTY_ID}*E{serial:07}"),
        "status": status,
        "capabilities": capabilities,
        "connectors": connectors,
        "physical_reference": format!("Bay {bay}"),
        "parking_restrictions": ["EV_ONLY"],
        "last_updated": updated.to_string(),
        "evfed": { "ocpp_version": ocpp, "iso15118_2": ocpp == "2.0.1", "bidirectional": false },
    })
}

/// A point inside `borough`: jittered around an inner point, the jitter shrinking until the
/// area set places the point in that borough.
fn point_in(rng: &mut StdRng, borough: &Area) -> (f64, f64) {
    let (lat0, lon0) = borough.inner_point();
    let mut radius = 0.03;
    for _ in 0..40 {
        let lat = lat0 + rng.gen_range(-radius..radius);
        let lon = lon0 + rng.gen_range(-radius..radius) * 1.6;
        let found = AreaSet::london().place(lat, lon);
        if found.is_some_and(|p| p.authority.code == borough.code) {
            return (lat, lon);
        }
        radius *= 0.85;
    }
    (lat0, lon0)
}

fn initial_status(rng: &mut StdRng) -> &'static str {
    match rng.gen_range(0..100) {
        0..70 => "AVAILABLE",
        70..90 => "CHARGING",
        90..95 => "OUTOFORDER",
        95..98 => "INOPERATIVE",
        _ => "UNKNOWN",
    }
}

fn letter(rng: &mut StdRng) -> char {
    // Letters used in the inward part of UK postcodes.
    const INWARD: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
    INWARD.choose(rng).map_or('A', |&b| b as char)
}
