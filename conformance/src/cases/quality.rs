//! Data plausibility (§4.4, §4.1): coordinates inside the authority and ward a Location claims
//! (or the node's own area), judged by the area set the node publishes, and connector power
//! consistent with its standard and power type.

use std::borrow::Cow;

use evfed_spec::areas::{AreaSet, Level as AreaLevel, TOLERANCE_M};
use serde_json::Value;

use super::key_of;
use crate::case::{Case, CheckResult, Level, Stop, note};
use crate::ctx::{Ctx, Listing};

pub const CASES: &[Case] = &[
    Case {
        id: "quality.coordinates",
        section: "§4.4",
        level: Level::Core,
        required: true,
        description: "a Location naming an authority (`borough`) lies inside it; on a borough \
                      node, a Location not marked outside_area lies inside the node's area; \
                      judged by the area set the node publishes (`endpoints.areas`), else \
                      London's, within the standard's tolerance (§4.4)",
        check: coordinates,
    },
    Case {
        id: "quality.ward",
        section: "§4.4",
        level: Level::Core,
        required: false,
        description: "a Location naming a ward lies inside it (within the tolerance), and the \
                      ward belongs to the authority it names; a finding, never a failure of core",
        check: wards,
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

/// The area set placements are judged by, and where it came from: the node's published set
/// (`endpoints.areas`, standard 1.1), else London's built-in one (a node of standard 1.0 is a
/// London node).
fn area_set(ctx: &mut Ctx) -> Result<(Cow<'static, AreaSet>, String), Stop> {
    let d = ctx.discovery()?;
    let Some(url) = d.endpoints.get("areas").cloned() else {
        return Ok((
            Cow::Borrowed(AreaSet::london()),
            "London's built-in area set (the node publishes none: no `endpoints.areas`)".into(),
        ));
    };
    let ex = ctx.get(&url)?;
    if ex.status != 200 {
        return Err(Stop::fail(format!(
            "GET {url} (discovery's endpoints.areas) answered {}",
            ex.status
        )));
    }
    let text = String::from_utf8_lossy(&ex.body);
    let set = AreaSet::from_geojson(url.as_str(), &text)
        .map_err(|e| Stop::fail(format!("the node's area set is not usable: {e}")))?;
    let whence = format!("the node's area set {:?} ({url})", set.name);
    Ok((Cow::Owned(set), whence))
}

fn point(l: &Listing, loc: &Value) -> Result<(f64, f64), Stop> {
    let read = |k: &str| {
        loc["coordinates"][k]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
    };
    match (read("latitude"), read("longitude")) {
        (Some(lat), Some(lon)) => Ok((lat, lon)),
        _ => Err(ev(
            l,
            format!("Location {:?} has no readable coordinates", key_of(loc)),
        )),
    }
}

fn coordinates(ctx: &mut Ctx) -> CheckResult {
    let d = ctx.discovery()?;
    let node_area = if d.kind == "borough" {
        d.borough.clone()
    } else {
        None
    };
    let l = ctx.listing("locations")?;
    let (set, whence) = area_set(ctx)?;
    let (mut checked, mut unknown) = (0, Vec::new());
    for loc in &l.items {
        let (lat, lon) = point(&l, loc)?;
        let outside = loc["evfed"]["outside_area"] == true;
        let claimed = loc["evfed"]["borough"].as_str();
        let mut judge = |code: &str, whose: &str| -> Result<(), Stop> {
            let Some(area) = set.get(code) else {
                unknown.push(code.to_owned());
                return Ok(());
            };
            checked += 1;
            let d = area.distance_outside_m(lat, lon);
            if d > TOLERANCE_M {
                return Err(ev(
                    &l,
                    format!(
                        "Location {:?} at ({lat}, {lon}) lies {d:.0} m outside {whose} {code} ({}), \
                         judged by {whence}",
                        key_of(loc),
                        area.name
                    ),
                ));
            }
            Ok(())
        };
        if let Some(code) = claimed {
            judge(code, "the authority it claims")?;
        }
        if let (Some(own), false) = (&node_area, outside) {
            judge(own, "the node's area, and is not marked outside_area:")?;
        }
    }
    unknown.sort();
    unknown.dedup();
    if checked == 0 && !unknown.is_empty() {
        return Err(Stop::Skip(format!(
            "could check nothing: the codes claimed ({}) are not in {whence}",
            unknown.join(", ")
        )));
    }
    Ok(note(format!(
        "{checked} placements checked over {} Locations against {whence}{}",
        l.items.len(),
        if unknown.is_empty() {
            String::new()
        } else {
            format!("; codes not in it, not judged: {}", unknown.join(", "))
        }
    )))
}

fn wards(ctx: &mut Ctx) -> CheckResult {
    let l = ctx.listing("locations")?;
    let (set, whence) = area_set(ctx)?;
    if !set.has_wards() {
        return Err(Stop::Skip(format!("{whence} has no wards to judge by")));
    }
    let (mut checked, mut claims) = (0, 0);
    for loc in &l.items {
        let Some(code) = loc["evfed"]["ward"]["code"].as_str() else {
            continue;
        };
        claims += 1;
        let (lat, lon) = point(&l, loc)?;
        let Some(ward) = set.get(code).filter(|a| a.level == AreaLevel::Ward) else {
            continue;
        };
        checked += 1;
        let d = ward.distance_outside_m(lat, lon);
        if d > TOLERANCE_M {
            return Err(ev(
                &l,
                format!(
                    "Location {:?} at ({lat}, {lon}) claims ward {code} ({}) but lies {d:.0} m \
                     outside it, judged by {whence}",
                    key_of(loc),
                    ward.name
                ),
            ));
        }
        if let Some(authority) = loc["evfed"]["borough"].as_str()
            && ward.parent.as_deref() != Some(authority)
        {
            return Err(ev(
                &l,
                format!(
                    "Location {:?} claims ward {code} ({}), which is not in the authority it \
                     claims, {authority}",
                    key_of(loc),
                    ward.name
                ),
            ));
        }
    }
    if checked == 0 {
        return Err(Stop::Skip(if claims == 0 {
            format!("no Location names a ward ({} Locations)", l.items.len())
        } else {
            format!("could check nothing: none of the {claims} wards claimed is in {whence}")
        }));
    }
    Ok(note(format!(
        "{checked} ward claims checked against {whence}"
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
