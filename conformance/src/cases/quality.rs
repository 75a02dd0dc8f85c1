//! Data plausibility (§4.4, §4.1): coordinates inside the borough a Location claims (or the
//! node's borough), and connector power consistent with its standard and power type.

use serde_json::Value;

use super::key_of;
use crate::boroughs;
use crate::case::{Case, CheckResult, Level, Stop, note};
use crate::ctx::{Ctx, Listing};

pub const CASES: &[Case] = &[
    Case {
        id: "quality.coordinates",
        section: "§4.4",
        level: Level::Core,
        required: true,
        description: "a Location naming a London borough lies inside it; on a borough node, a \
                      Location not marked outside_area lies inside the node's borough (300 m \
                      tolerance for simplified boundaries)",
        check: coordinates,
    },
    Case {
        id: "quality.power",
        section: "§4.1",
        level: Level::Core,
        required: true,
        description: "connector power type fits its standard (CCS and CHAdeMO are DC, domestic \
                      plugs and Type 1 single-phase AC) and max_electric_power does not exceed \
                      voltage × amperage (× 3 for three-phase AC)",
        check: power,
    },
];

fn ev(listing: &Listing, message: String) -> Stop {
    Stop::Fail(crate::report::Evidence {
        method: Some("GET".into()),
        url: Some(listing.first_url.to_string()),
        status: Some(200),
        excerpt: None,
        message,
    })
}

fn coordinates(ctx: &mut Ctx) -> CheckResult {
    let d = ctx.discovery()?;
    let l = ctx.listing("locations")?;
    let node_borough = if d.kind == "borough" {
        d.borough.clone()
    } else {
        None
    };
    let mut checked = 0;
    for loc in &l.items {
        let lat = loc["coordinates"]["latitude"]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok());
        let lon = loc["coordinates"]["longitude"]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok());
        let (Some(lat), Some(lon)) = (lat, lon) else {
            return Err(ev(
                &l,
                format!("Location {:?} has no readable coordinates", key_of(loc)),
            ));
        };
        let outside = loc["evfed"]["outside_area"] == true;
        let claimed = loc["evfed"]["borough"].as_str();
        if let Some(code) = claimed
            && let Some(b) = boroughs::by_code(code)
        {
            checked += 1;
            if !b.contains(lat, lon) {
                return Err(ev(
                    &l,
                    format!(
                        "Location {:?} at ({lat}, {lon}) claims borough {code} ({}) but lies outside it",
                        key_of(loc),
                        b.name
                    ),
                ));
            }
        }
        if let (Some(nb), false) = (&node_borough, outside)
            && let Some(b) = boroughs::by_code(nb)
        {
            checked += 1;
            if !b.contains(lat, lon) {
                return Err(ev(
                    &l,
                    format!(
                        "Location {:?} at ({lat}, {lon}) lies outside the node's borough {nb} ({}) and is not marked outside_area",
                        key_of(loc),
                        b.name
                    ),
                ));
            }
        }
    }
    Ok(note(format!(
        "{checked} placements checked over {} Locations",
        l.items.len()
    )))
}

/// Power types a connector standard allows; `None` when any is plausible.
fn allowed_power(standard: &str) -> Option<&'static [&'static str]> {
    match standard {
        "IEC_62196_T1_COMBO" | "IEC_62196_T2_COMBO" | "CHADEMO" | "GBT_DC" | "CHAOJI" => {
            Some(&["DC"])
        }
        "DOMESTIC_G" | "DOMESTIC_F" | "DOMESTIC_E" | "DOMESTIC_B" | "DOMESTIC_A"
        | "IEC_62196_T1" => Some(&["AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT"]),
        "IEC_62196_T2" | "IEC_62196_T3A" | "IEC_62196_T3C" => {
            Some(&["AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE"])
        }
        _ => None,
    }
}

/// The problem with one connector's power, if any.
pub fn connector_problem(c: &Value) -> Option<String> {
    let standard = c["standard"].as_str().unwrap_or("");
    let power_type = c["power_type"].as_str().unwrap_or("");
    if let Some(allowed) = allowed_power(standard)
        && !allowed.contains(&power_type)
    {
        return Some(format!("standard {standard} with power_type {power_type}"));
    }
    let v = c["max_voltage"].as_f64()?;
    let a = c["max_amperage"].as_f64()?;
    let phases = if power_type == "AC_3_PHASE" { 3.0 } else { 1.0 };
    let bound = v * a * phases;
    if let Some(p) = c["max_electric_power"].as_f64()
        && (p <= 0.0 || p > bound * 1.05 + 1.0)
    {
        return Some(format!(
            "max_electric_power {p} W with {v} V × {a} A ({power_type}) allows at most {bound} W"
        ));
    }
    None
}

fn power(ctx: &mut Ctx) -> CheckResult {
    let l = ctx.listing("locations")?;
    let mut n = 0;
    for loc in &l.items {
        for e in loc["evses"].as_array().into_iter().flatten() {
            for c in e["connectors"].as_array().into_iter().flatten() {
                n += 1;
                if let Some(p) = connector_problem(c) {
                    return Err(ev(
                        &l,
                        format!(
                            "Location {:?} EVSE {} connector {}: {p}",
                            key_of(loc),
                            e["uid"],
                            c["id"]
                        ),
                    ));
                }
            }
        }
    }
    Ok(note(format!("{n} connectors plausible")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::connector_problem;

    #[test]
    fn power_must_fit_standard_and_electrics() {
        let c = |standard: &str, power_type: &str, v: u32, a: u32, p: u32| {
            json!({"standard": standard, "power_type": power_type, "max_voltage": v,
                   "max_amperage": a, "max_electric_power": p})
        };
        assert_eq!(
            connector_problem(&c("IEC_62196_T2", "AC_1_PHASE", 230, 32, 7360)),
            None
        );
        assert_eq!(
            connector_problem(&c("IEC_62196_T2", "AC_3_PHASE", 230, 32, 22080)),
            None
        );
        assert_eq!(
            connector_problem(&c("IEC_62196_T2_COMBO", "DC", 500, 125, 50000)),
            None
        );
        assert!(
            connector_problem(&c("IEC_62196_T2_COMBO", "AC_3_PHASE", 230, 32, 22080)).is_some()
        );
        assert!(connector_problem(&c("CHADEMO", "AC_1_PHASE", 500, 100, 50000)).is_some());
        assert!(connector_problem(&c("IEC_62196_T2", "AC_1_PHASE", 230, 32, 22000)).is_some());
    }
}
