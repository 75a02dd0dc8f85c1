//! Where a location is and what it offers, as the London view's figures count it: its borough
//! and ward from its coordinates (the area set's placement, whatever the publisher claimed, so
//! that every location has a ward and ward totals add up to borough totals), and the UK power
//! classes of its EVSEs.

use std::sync::OnceLock;

use evfed_node::embed::NodeAreas;
use evfed_spec::areas::AreaSet;
use evfed_spec::ocpi::{Evse, Location};

pub use crate::compliance::reliability::connector_kw;

/// The aggregator's area set, chosen once per process at start-up (`areas` in
/// `aggregator.toml`); London's until then.
static AREAS: OnceLock<NodeAreas> = OnceLock::new();

/// Makes `areas` the set this process places locations in. A process serves one
/// aggregator, so a second, different set is refused.
pub fn use_areas(areas: NodeAreas) -> Result<(), String> {
    let current = AREAS.get_or_init(|| areas);
    if std::ptr::eq(current.set, areas.set) {
        Ok(())
    } else {
        Err(format!(
            "this process already serves the area set {:?}; one aggregator per process",
            current.set.name
        ))
    }
}

/// The area set the aggregator places locations in.
pub fn area_set() -> &'static AreaSet {
    AREAS.get().map_or_else(AreaSet::london, |a| a.set)
}

/// The area set as GeoJSON text (served to the dashboard).
pub fn area_geojson() -> &'static str {
    AREAS
        .get()
        .map_or_else(AreaSet::london_geojson, |a| a.geojson)
}

/// A location's borough and ward codes; both `None` outside every area.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Placed {
    pub borough: Option<&'static str>,
    pub ward: Option<&'static str>,
}

impl Placed {
    /// The borough code, `""` for a location outside every borough (the usage roll-ups' key).
    pub fn borough_key(&self) -> &'static str {
        self.borough.unwrap_or("")
    }

    pub fn ward_key(&self) -> &'static str {
        self.ward.unwrap_or("")
    }
}

/// Places a location by its coordinates.
pub fn place(loc: &Location) -> Placed {
    let set = area_set();
    match set.place(loc.coordinates.lat(), loc.coordinates.lon()) {
        Some(p) => Placed {
            borough: Some(p.authority.code.as_str()),
            ward: p.ward.map(|w| w.code.as_str()),
        },
        None => Placed::default(),
    }
}

/// The UK's power classes (DfT): slow < 8 kW, fast 8–49, rapid 50–149, ultra-rapid ≥ 150.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PowerClass {
    Slow,
    Fast,
    Rapid,
    Ultra,
}

impl PowerClass {
    pub const ALL: [PowerClass; 4] = [
        PowerClass::Slow,
        PowerClass::Fast,
        PowerClass::Rapid,
        PowerClass::Ultra,
    ];

    pub fn of_kw(kw: f64) -> PowerClass {
        match kw {
            k if k < 8.0 => PowerClass::Slow,
            k if k < 50.0 => PowerClass::Fast,
            k if k < 150.0 => PowerClass::Rapid,
            _ => PowerClass::Ultra,
        }
    }

    pub fn of_evse(evse: &Evse) -> PowerClass {
        PowerClass::of_kw(evse_kw(evse))
    }

    /// The name used in the API and in CSV headers.
    pub fn as_str(self) -> &'static str {
        match self {
            PowerClass::Slow => "slow",
            PowerClass::Fast => "fast",
            PowerClass::Rapid => "rapid",
            PowerClass::Ultra => "ultra",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// An EVSE's power: its fastest connector's, in kW.
pub fn evse_kw(evse: &Evse) -> f64 {
    evse.connectors.iter().map(connector_kw).fold(0.0, f64::max)
}

/// A location's power: its fastest EVSE's, in kW.
pub fn location_kw(loc: &Location) -> f64 {
    loc.evses.iter().map(evse_kw).fold(0.0, f64::max)
}

/// What an EVSE is ready for beyond charging, from OCPI capabilities and the `evfed` member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Smart charging: the EVSE takes charging profiles (`CHARGING_PROFILE_CAPABLE`).
    pub smart: bool,
    /// ISO 15118 (-2 or -20): plug and charge, and the basis of managed and bidirectional
    /// charging.
    pub iso15118: bool,
    /// Bidirectional (V2G) capable, the EVSE or any of its connectors.
    pub v2g: bool,
}

pub fn readiness(evse: &Evse) -> Readiness {
    use evfed_spec::ocpi::Capability;
    Readiness {
        smart: evse
            .capabilities
            .contains(&Capability::ChargingProfileCapable),
        iso15118: evse.evfed.iso15118_2 == Some(true) || evse.evfed.iso15118_20 == Some(true),
        v2g: evse.evfed.bidirectional == Some(true)
            || evse
                .connectors
                .iter()
                .any(|c| c.evfed.bidirectional == Some(true)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_classes_follow_the_uk_bands() {
        assert_eq!(PowerClass::of_kw(7.4), PowerClass::Slow);
        assert_eq!(PowerClass::of_kw(8.0), PowerClass::Fast);
        assert_eq!(PowerClass::of_kw(49.9), PowerClass::Fast);
        assert_eq!(PowerClass::of_kw(50.0), PowerClass::Rapid);
        assert_eq!(PowerClass::of_kw(149.0), PowerClass::Rapid);
        assert_eq!(PowerClass::of_kw(150.0), PowerClass::Ultra);
    }

    #[test]
    fn the_lamppost_example_is_placed_in_marylebone() {
        let path = format!(
            "{}/../spec/testdata/ocpi/valid/location_westminster_lamppost.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let loc: Location = evfed_spec::ocpi::parse(&std::fs::read(path).unwrap())
            .unwrap()
            .value;
        let p = place(&loc);
        assert_eq!(p.borough, Some("E09000033"));
        assert_eq!(p.ward, Some("E05013801"));
    }
}
