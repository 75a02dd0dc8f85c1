//! The area set a node places its locations in (STANDARD.md §4.4): London's boroughs and wards,
//! embedded, or another city's from the GeoJSON file `config.toml` names (`areas = "…"`).
//! The geometry and the placement rule are `evfed_spec::areas`, shared with the aggregator and
//! the conformance suite; this module adds what a node needs around them: loading the file once
//! per process, the text it serves at `/v1/areas`, and the placement of one Location.

use std::path::Path;

use evfed_spec::areas::{AreaSet, Level};
use evfed_spec::ext::{GssCode, LocationExt, Ward};

/// A node's area set and the GeoJSON text it was read from (served as the node's published
/// boundaries). Both live for the whole process.
#[derive(Clone, Copy)]
pub struct NodeAreas {
    pub set: &'static AreaSet,
    pub geojson: &'static str,
}

impl std::fmt::Debug for NodeAreas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("NodeAreas").field(&self.set.name).finish()
    }
}

impl Default for NodeAreas {
    fn default() -> Self {
        Self::london()
    }
}

/// What placing a Location found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The `evfed` member as it is to be stored.
    pub ext: LocationExt,
    /// A claim of the writer that the coordinates contradict (a data-quality finding, never a
    /// reason to refuse the write), in words.
    pub disagreement: Option<String>,
}

impl NodeAreas {
    /// London's 33 boroughs and 704 wards (2022), embedded.
    pub fn london() -> Self {
        Self {
            set: AreaSet::london(),
            geojson: AreaSet::london_geojson(),
        }
    }

    /// Reads an area set from `path`. The set is kept for the rest of the process (a node
    /// loads its configuration once).
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the area set {}: {e}", path.display()))?;
        let set =
            AreaSet::from_geojson(&path.display().to_string(), &text).map_err(|e| e.to_string())?;
        Ok(Self {
            set: Box::leak(Box::new(set)),
            geojson: Box::leak(text.into_boxed_str()),
        })
    }

    /// Whether this is London's embedded set.
    pub fn is_london(&self) -> bool {
        std::ptr::eq(self.set, AreaSet::london())
    }

    /// The authority with this code, or an error saying what the set holds.
    pub fn authority(&self, code: &GssCode) -> Result<&'static evfed_spec::areas::Area, String> {
        match self.set.get(code.as_str()) {
            Some(a) if a.level == Level::Authority => Ok(a),
            Some(a) => Err(format!(
                "{code} is a ward ({}) of {}, not an authority",
                a.name, self.set.name
            )),
            None if self.is_london() => Err(format!(
                "{code} is not a London borough (E09000001 to E09000033). For another city, \
                 give its area set: `evfed-node init --areas FILE.geojson --area CODE` \
                 (docs/adopt.md)"
            )),
            None => Err(format!(
                "{code} is not an authority of the area set {:?}",
                self.set.name
            )),
        }
    }

    /// Places a Location (§4.4): its authority and ward from its coordinates, the boundary
    /// vintage with the ward, and `outside_area` when it lies outside `own` (a borough node's
    /// authority) or outside the whole set. A claim the writer made is kept; where the
    /// coordinates contradict it, that is reported, not refused. A location outside the node's
    /// area is stored with neither authority nor ward.
    pub fn place(
        &self,
        lat: f64,
        lon: f64,
        claimed: &LocationExt,
        own: Option<&GssCode>,
    ) -> Placed {
        let found = self.set.place(lat, lon);
        let code = |a: &evfed_spec::areas::Area| a.code.parse::<GssCode>().ok();
        let derived_authority = found.and_then(|p| code(p.authority));
        let derived_ward = found.and_then(|p| {
            let w = p.ward?;
            Some(Ward {
                code: code(w)?,
                boundary_vintage: w.vintage.clone()?,
            })
        });
        let mut ext = claimed.clone();
        let mut disagreement = None;
        if let (Some(c), Some(d)) = (&claimed.borough, &derived_authority)
            && c != d
            && self
                .set
                .get(c.as_str())
                .is_none_or(|a| a.distance_outside_m(lat, lon) > evfed_spec::areas::TOLERANCE_M)
        {
            disagreement = Some(format!(
                "the location claims authority {c}, but its coordinates lie in {d}"
            ));
        }
        if let (Some(c), Some(d)) = (&claimed.ward, &derived_ward)
            && c.code != d.code
            && self
                .set
                .get(c.code.as_str())
                .is_none_or(|a| a.distance_outside_m(lat, lon) > evfed_spec::areas::TOLERANCE_M)
        {
            disagreement.get_or_insert_with(|| {
                format!(
                    "the location claims ward {}, but its coordinates lie in ward {}",
                    c.code, d.code
                )
            });
        }
        let authority = claimed.borough.clone().or(derived_authority);
        let inside = match (&authority, own) {
            (None, _) => false,
            (Some(a), Some(own)) => a == own,
            (Some(a), None) => self.set.get(a.as_str()).is_some(),
        };
        if inside {
            ext.borough = authority;
            if ext.ward.is_none() {
                ext.ward = derived_ward;
            }
            ext.outside_area = false;
        } else {
            ext.borough = None;
            ext.ward = None;
            ext.outside_area = true;
        }
        Placed { ext, disagreement }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> GssCode {
        s.parse().unwrap()
    }

    #[test]
    fn a_point_gets_its_ward_with_the_vintage_and_its_borough() {
        let london = NodeAreas::london();
        // Marylebone High Street.
        let p = london.place(51.5203, -0.1515, &LocationExt::default(), None);
        assert_eq!(p.ext.borough, Some(code("E09000033")));
        let ward = p.ext.ward.unwrap();
        assert_eq!(ward.code, code("E05013801"));
        assert_eq!(ward.boundary_vintage, "2022");
        assert!(!p.ext.outside_area);
        assert_eq!(p.disagreement, None);
    }

    #[test]
    fn outside_the_nodes_borough_or_the_set_is_flagged_without_areas() {
        let london = NodeAreas::london();
        let camden = code("E09000007");
        let p = london.place(51.5203, -0.1515, &LocationExt::default(), Some(&camden));
        assert!(p.ext.outside_area);
        assert_eq!(p.ext.borough, None);
        assert_eq!(p.ext.ward, None);
        // Paris.
        let p = london.place(48.8566, 2.3522, &LocationExt::default(), None);
        assert!(p.ext.outside_area);
    }

    #[test]
    fn a_claim_the_coordinates_contradict_is_kept_and_reported() {
        let london = NodeAreas::london();
        let claimed = LocationExt {
            ward: Some(Ward {
                code: code("E05013806"),
                boundary_vintage: "2022".into(),
            }),
            ..LocationExt::default()
        };
        let p = london.place(51.5203, -0.1515, &claimed, None);
        assert_eq!(p.ext.ward, claimed.ward);
        assert_eq!(p.ext.borough, Some(code("E09000033")));
        assert!(p.disagreement.unwrap().contains("E05013806"));
    }
}
