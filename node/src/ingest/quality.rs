//! The plausibility rules the project's conformance suite applies to every served Location
//! (`quality.power`, spec §4.1), applied to each imported location before it is written, so
//! an import never publishes data the suite rejects. The suite's own code
//! (`conformance/src/cases/quality.rs`) is not a dependency of the node; this is the same rule,
//! kept in step by hand, and tested against the same cases.
//!
//! A connector whose `power_type` its standard cannot deliver rejects its location (which of
//! the two is wrong cannot be known); a `max_electric_power` that the connector's voltage and
//! current cannot give is left out (it is optional), with a warning. The other quality rule,
//! `quality.coordinates`, holds by construction: the importer never writes a borough, the node
//! places each location from its coordinates, and the area check keeps out what lies outside
//! the node's area.

use evfed_spec::ocpi::{ConnectorType, Location, PowerType};

use crate::ingest::report::Finding;

/// Power types a connector standard allows; `None` when any is plausible.
pub fn allowed_power(standard: ConnectorType) -> Option<&'static [PowerType]> {
    use ConnectorType as C;
    use PowerType as P;
    const AC_SINGLE: &[PowerType] = &[P::Ac1Phase, P::Ac2Phase, P::Ac2PhaseSplit];
    const AC_ANY: &[PowerType] = &[P::Ac1Phase, P::Ac2Phase, P::Ac2PhaseSplit, P::Ac3Phase];
    match standard {
        C::Iec62196T1Combo | C::Iec62196T2Combo | C::Chademo | C::GbtDc | C::Chaoji => {
            Some(&[P::Dc])
        }
        C::DomesticA
        | C::DomesticB
        | C::DomesticE
        | C::DomesticF
        | C::DomesticG
        | C::Iec62196T1 => Some(AC_SINGLE),
        C::Iec62196T2 | C::Iec62196T3A | C::Iec62196T3C => Some(AC_ANY),
        _ => None,
    }
}

/// The most power a connector can deliver, in watts, with the suite's 5 % (+1 W) allowance
/// for rounding: voltage × current, × 3 for three-phase AC (OCPI's voltage is line to
/// neutral).
pub fn power_bound(max_voltage: u32, max_amperage: u32, power_type: PowerType) -> f64 {
    let phases = if power_type == PowerType::Ac3Phase {
        3.0
    } else {
        1.0
    };
    f64::from(max_voltage) * f64::from(max_amperage) * phases * 1.05 + 1.0
}

/// Checks every connector of `loc`: `Err` (code `implausible-power`) when a standard and its
/// power type disagree; an impossible `max_electric_power` is removed, with a `dropped`
/// warning in `warnings`. `line` is the line the findings name.
pub fn check(loc: &mut Location, line: u64, warnings: &mut Vec<Finding>) -> Result<(), Finding> {
    for evse in &mut loc.evses {
        for c in &mut evse.connectors {
            let what = format!("EVSE {} connector {}", evse.uid, c.id);
            if let Some(allowed) = allowed_power(c.standard)
                && !allowed.contains(&c.power_type)
            {
                return Err(Finding::rejected(
                    line,
                    "implausible-power",
                    format!(
                        "{what}: standard {} cannot deliver power_type {} (it allows {})",
                        name(&c.standard),
                        name(&c.power_type),
                        allowed.iter().map(name).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            let Some(p) = c.max_electric_power else {
                continue;
            };
            let bound = power_bound(c.max_voltage, c.max_amperage, c.power_type);
            if p == 0 || f64::from(p) > bound {
                warnings.push(Finding::warning(
                    line,
                    "dropped",
                    format!(
                        "{what}: max_electric_power {p} W is more than {} V × {} A ({}) can \
                         give; left out",
                        c.max_voltage,
                        c.max_amperage,
                        name(&c.power_type)
                    ),
                ));
                c.max_electric_power = None;
            }
        }
    }
    Ok(())
}

/// An OCPI enumeration value as OCPI spells it.
fn name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "?".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The suite's own cases (`conformance/src/cases/quality.rs`,
    /// `power_must_fit_standard_and_electrics`), through this rule.
    #[test]
    fn the_suites_cases_judge_alike() {
        use ConnectorType as C;
        use PowerType as P;
        let plausible = |standard, power_type, v, a, p: u32| {
            allowed_power(standard).is_none_or(|ok| ok.contains(&power_type))
                && f64::from(p) <= power_bound(v, a, power_type)
        };
        assert!(plausible(C::Iec62196T2, P::Ac1Phase, 230, 32, 7360));
        assert!(plausible(C::Iec62196T2, P::Ac3Phase, 230, 32, 22080));
        assert!(plausible(C::Iec62196T2Combo, P::Dc, 500, 125, 50000));
        assert!(!plausible(C::Iec62196T2Combo, P::Ac3Phase, 230, 32, 22080));
        assert!(!plausible(C::Chademo, P::Ac1Phase, 500, 100, 50000));
        assert!(!plausible(C::Iec62196T2, P::Ac1Phase, 230, 32, 22000));
        // What the NCR's Tesla "Type 2 … DC" connector was mapped to before: refused.
        assert!(!plausible(C::Iec62196T2, P::Dc, 400, 300, 120000));
        assert!(plausible(C::TeslaS, P::Dc, 400, 300, 120000));
    }
}
