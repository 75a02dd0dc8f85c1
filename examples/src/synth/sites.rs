//! One synthetic site as an OCPI 2.2.1 Location: its EVSEs and connectors by kind, a made-up
//! address on the borough's ground, the operator, and for borough-procured chargers the
//! borough as owner with a DPS contract reference.

use evfed_spec::ocpi::{self, Location};
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};

use super::{Operator, Place, SiteKind, SynthError};

/// What to build.
pub(super) struct Spec<'a> {
    pub kind: SiteKind,
    pub place: &'a Place,
    pub operator: &'a Operator,
    /// The operator's running number in this borough.
    pub number: u32,
    pub evses: usize,
}

/// Street names for made-up addresses (common across London; no address is real).
const STREETS: [&str; 40] = [
    "High Street",
    "Church Road",
    "Station Road",
    "Park Road",
    "Victoria Road",
    "Manor Road",
    "Kings Road",
    "Queens Road",
    "Grove Road",
    "Albert Road",
    "Springfield Road",
    "The Avenue",
    "Mill Lane",
    "Green Lane",
    "Elm Road",
    "Cedar Road",
    "Windsor Road",
    "Richmond Road",
    "York Road",
    "Alexandra Road",
    "Stanley Road",
    "Highfield Road",
    "Beech Grove",
    "Chestnut Avenue",
    "Orchard Road",
    "Crescent Road",
    "Salisbury Road",
    "Clarence Road",
    "Cambridge Road",
    "Oxford Road",
    "Warwick Road",
    "Mount Pleasant",
    "Princes Road",
    "Stanhope Road",
    "Lansdowne Road",
    "Addison Road",
    "Chatsworth Road",
    "Wellington Road",
    "Belmont Road",
    "Carlton Road",
];

/// Built and then read back through the standard's own parser, so a bug here is an error and
/// never an invalid object handed to a node.
pub(super) fn build<R: Rng>(rng: &mut R, spec: &Spec<'_>) -> Result<Location, SynthError> {
    let pid = spec.operator.party.party_id.as_str();
    let id = format!("{pid}-{}-{:05}", spec.place.short, spec.number);
    let (lat, lon) = spec.place.point(rng)?;
    let street = STREETS[rng.gen_range(0..STREETS.len())];
    let house = rng.gen_range(1..=240u32);
    // Commissioned between 2021 and mid-2025; later changes come as status updates.
    let commissioned = rng.gen_range(1_609_459_200i64..1_751_328_000);
    let installed = time(commissioned);
    let updated = time(commissioned + rng.gen_range(0..30 * 86_400));
    let (name, address, parking) = match spec.kind {
        SiteKind::LampPost => (
            format!("{street} (lamp post {})", rng.gen_range(1..=60u32)),
            format!("Outside {house} {street}"),
            "ON_STREET",
        ),
        SiteKind::Kerbside => (
            format!("{street} kerbside charging"),
            format!("Opposite {house} {street}"),
            "ON_STREET",
        ),
        SiteKind::Destination => (
            format!("{street} car park"),
            format!("{house} {street}"),
            *["PARKING_LOT", "PARKING_GARAGE", "UNDERGROUND_GARAGE"]
                .choose(rng)
                .unwrap_or(&"PARKING_LOT"),
        ),
        SiteKind::RapidHub => (
            format!("{} {street}", spec.place.name),
            format!("{house} {street}"),
            "PARKING_LOT",
        ),
        SiteKind::UltraHub => (
            format!("{} hub, {street}", spec.place.name),
            format!("{house} {street}"),
            "PARKING_LOT",
        ),
    };
    let evses: Vec<Value> = (1..=spec.evses)
        .map(|n| evse(rng, spec, &id, n, &installed, &updated))
        .collect();
    let mut loc = json!({
        "country_code": "GB",
        "party_id": pid,
        "id": id,
        "publish": true,
        "name": name,
        "address": address,
        "city": "London",
        "country": "GBR",
        "coordinates": {"latitude": lat, "longitude": lon},
        "parking_type": parking,
        "evses": evses,
        "operator": {"name": spec.operator.name, "website": spec.operator.website},
        "time_zone": "Europe/London",
        "last_updated": updated,
        "evfed": {"borough": spec.place.gss_code.as_str()},
    });
    if spec.kind.borough_contracted() {
        loc["owner"] = json!({"name": council(&spec.place.name)});
        loc["evfed"]["dps_contract"] = json!(format!(
            "LEVI-{}-{}-{:03}",
            spec.place.short,
            rng.gen_range(2021..=2025u32),
            rng.gen_range(1..=40u32)
        ));
    }
    match spec.kind {
        SiteKind::Destination => {
            let facility = ["SUPERMARKET", "MALL", "SPORT", "PARKING_LOT"]
                .choose(rng)
                .unwrap_or(&"PARKING_LOT");
            loc["facilities"] = json!([facility]);
        }
        SiteKind::UltraHub => loc["facilities"] = json!(["CAFE", "WIFI"]),
        _ => {}
    }
    let bytes = serde_json::to_vec(&loc).map_err(|e| invalid(&id, e))?;
    let parsed = ocpi::parse::<Location>(&bytes).map_err(|e| invalid(&id, e))?;
    if let Some(w) = parsed.warnings.first() {
        return Err(invalid(&id, w));
    }
    Ok(parsed.value)
}

fn evse<R: Rng>(
    rng: &mut R,
    spec: &Spec<'_>,
    id: &str,
    n: usize,
    installed: &str,
    updated: &str,
) -> Value {
    let pid = spec.operator.party.party_id.as_str();
    let roll: f64 = rng.r#gen();
    let status = if roll < 0.04 {
        "OUTOFORDER"
    } else if roll < 0.05 {
        "INOPERATIVE"
    } else {
        "AVAILABLE"
    };
    let connector = |cid: &str, standard: &str, format: &str, power: &str, v: u32, a: u32| {
        json!({
            "id": cid, "standard": standard, "format": format, "power_type": power,
            "max_voltage": v, "max_amperage": a, "last_updated": installed,
        })
    };
    let (connectors, capabilities, ocpp, iso) = match spec.kind {
        SiteKind::LampPost => {
            let (a, watts) = *[(16, None), (22, Some(5_000)), (24, None)]
                .choose(rng)
                .unwrap_or(&(16, None));
            let mut c = connector("1", "IEC_62196_T2", "SOCKET", "AC_1_PHASE", 230, a);
            if let Some(w) = watts {
                c["max_electric_power"] = json!(w);
            }
            (
                vec![c],
                vec!["REMOTE_START_STOP_CAPABLE", "RFID_READER"],
                "1.6",
                false,
            )
        }
        SiteKind::Kerbside | SiteKind::Destination => {
            let power = if rng.gen_bool(0.2) {
                "AC_3_PHASE"
            } else {
                "AC_1_PHASE"
            };
            (
                vec![connector("1", "IEC_62196_T2", "SOCKET", power, 230, 32)],
                vec![
                    "CHARGING_PROFILE_CAPABLE",
                    "CONTACTLESS_CARD_SUPPORT",
                    "REMOTE_START_STOP_CAPABLE",
                    "RFID_READER",
                ],
                if rng.gen_bool(0.5) { "2.0.1" } else { "1.6" },
                false,
            )
        }
        SiteKind::RapidHub | SiteKind::UltraHub => {
            let watts: u32 = match spec.kind {
                SiteKind::RapidHub => *[50_000, 50_000, 100_000].choose(rng).unwrap_or(&50_000),
                _ => *[150_000, 150_000, 350_000].choose(rng).unwrap_or(&150_000),
            };
            let amps = if watts > 150_000 { 500 } else { 350 };
            let mut ccs = connector("1", "IEC_62196_T2_COMBO", "CABLE", "DC", 920, amps);
            ccs["max_electric_power"] = json!(watts);
            let mut cs = vec![ccs];
            if spec.kind == SiteKind::RapidHub && rng.gen_bool(0.3) {
                let mut chademo = connector("2", "CHADEMO", "CABLE", "DC", 500, 125);
                chademo["max_electric_power"] = json!(50_000);
                cs.push(chademo);
            }
            (
                cs,
                vec![
                    "CHARGING_PROFILE_CAPABLE",
                    "CONTACTLESS_CARD_SUPPORT",
                    "CREDIT_CARD_PAYABLE",
                    "DEBIT_CARD_PAYABLE",
                    "REMOTE_START_STOP_CAPABLE",
                    "RFID_READER",
                ],
                "2.0.1",
                true,
            )
        }
    };
    let reference = match spec.kind {
        SiteKind::LampPost => format!("LP{}", rng.gen_range(1..=99u32)),
        _ => format!("Bay {n}"),
    };
    let mut evse = json!({
        "uid": format!("{id}-{n}"),
        "evse_id": format!("GB*{pid}*E{}{:05}{n}", spec.place.short, spec.number),
        "status": status,
        "capabilities": capabilities,
        "connectors": connectors,
        "physical_reference": reference,
        "last_updated": updated,
        "evfed": {"ocpp_version": ocpp, "iso15118_2": iso, "bidirectional": false},
    });
    if spec.kind.borough_contracted() {
        evse["parking_restrictions"] = json!(["EV_ONLY"]);
    }
    evse
}

/// The council that owns a borough's on-street chargers.
fn council(borough: &str) -> String {
    match borough {
        "City of London" => "City of London Corporation".to_owned(),
        "Westminster" => "Westminster City Council".to_owned(),
        "Kensington and Chelsea" | "Kingston upon Thames" | "Greenwich" => {
            format!("Royal Borough of {borough}")
        }
        _ => format!("London Borough of {borough}"),
    }
}

/// An RFC 3339 time from Unix seconds.
fn time(secs: i64) -> String {
    evfed_spec::time::DateTime::from_unix_seconds(secs)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn invalid(id: &str, reason: impl std::fmt::Display) -> SynthError {
    SynthError::Invalid {
        id: id.to_owned(),
        reason: reason.to_string(),
    }
}
