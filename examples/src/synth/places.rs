//! Where synthetic chargepoints go: the 33 London boroughs with a short code for ids, a weight
//! for how much public charging each has, and points drawn inside each borough's real boundary.
//!
//! Points are drawn uniformly in the borough's bounding box and kept only when the area set's
//! placement (the one nodes use) puts them in that borough, so every location lands where a
//! node will place it (the Thames, which belongs to no borough, is never chosen).

use std::sync::OnceLock;

use evfed_spec::areas::AreaSet;
use evfed_spec::ext::GssCode;
use rand::Rng;

use super::SynthError;

/// One London borough as the generator sees it.
#[derive(Debug, Clone)]
pub struct Place {
    pub gss_code: GssCode,
    pub name: String,
    /// Three letters used in location ids, e.g. `CMD` for Camden.
    pub short: &'static str,
    /// Relative amount of public charging, shaped like London's published per-borough counts
    /// (inner boroughs with many lamp-post chargers weigh most); not real figures.
    pub weight: f64,
    /// Longitude and latitude bounds of the borough's boundary.
    bbox: [f64; 4],
}

/// Short code and weight of E09000001 … E09000033, in GSS order.
const TABLE: [(&str, f64); 33] = [
    ("COL", 0.6), // City of London
    ("BAD", 0.6), // Barking and Dagenham
    ("BRN", 1.2), // Barnet
    ("BEX", 0.5), // Bexley
    ("BRT", 1.4), // Brent
    ("BRM", 0.7), // Bromley
    ("CMD", 1.8), // Camden
    ("CRY", 0.9), // Croydon
    ("EAL", 1.9), // Ealing
    ("ENF", 0.8), // Enfield
    ("GRE", 1.1), // Greenwich
    ("HCK", 1.7), // Hackney
    ("HMF", 2.6), // Hammersmith and Fulham
    ("HGY", 1.3), // Haringey
    ("HRW", 0.6), // Harrow
    ("HAV", 0.4), // Havering
    ("HIL", 0.9), // Hillingdon
    ("HNS", 2.0), // Hounslow
    ("ISL", 1.6), // Islington
    ("KNC", 2.2), // Kensington and Chelsea
    ("KNG", 0.8), // Kingston upon Thames
    ("LBH", 1.7), // Lambeth
    ("LEW", 1.2), // Lewisham
    ("MRT", 0.9), // Merton
    ("NWM", 1.0), // Newham
    ("RDB", 0.7), // Redbridge
    ("RCH", 1.5), // Richmond upon Thames
    ("SWK", 1.8), // Southwark
    ("STN", 0.5), // Sutton
    ("TWH", 1.4), // Tower Hamlets
    ("WFT", 1.3), // Waltham Forest
    ("WND", 2.4), // Wandsworth
    ("WST", 3.0), // Westminster
];

/// Every London borough in GSS code order.
pub fn places() -> Result<&'static [Place], SynthError> {
    static PLACES: OnceLock<Result<Vec<Place>, String>> = OnceLock::new();
    PLACES
        .get_or_init(load)
        .as_deref()
        .map_err(|e| SynthError::Boundaries(e.clone()))
}

/// The place with this GSS code.
pub fn place(gss_code: &GssCode) -> Option<&'static Place> {
    places().ok()?.iter().find(|p| &p.gss_code == gss_code)
}

fn load() -> Result<Vec<Place>, String> {
    let london = AreaSet::london();
    let mut out = Vec::with_capacity(TABLE.len());
    for (i, (short, weight)) in TABLE.into_iter().enumerate() {
        let code = format!("E09{:06}", i + 1);
        let area = london
            .get(&code)
            .ok_or_else(|| format!("the area set has no borough {code}"))?;
        out.push(Place {
            gss_code: code.parse().map_err(|e| format!("{e}"))?,
            name: area.name.clone(),
            short,
            weight,
            bbox: area.bbox(),
        });
    }
    if london.authorities().count() != TABLE.len() {
        return Err(format!(
            "expected {} boroughs, the area set has {}",
            TABLE.len(),
            london.authorities().count()
        ));
    }
    Ok(out)
}

impl Place {
    /// A point inside this borough (as the node locates it), with six decimals, as OCPI strings.
    pub fn point<R: Rng>(&self, rng: &mut R) -> Result<(String, String), SynthError> {
        let [w, s, e, n] = self.bbox;
        // Even the City of London fills a quarter of its box; 10,000 misses means a bug.
        for _ in 0..10_000 {
            let lat = format!("{:.6}", rng.gen_range(s..n));
            let lon = format!("{:.6}", rng.gen_range(w..e));
            let (Ok(y), Ok(x)) = (lat.parse::<f64>(), lon.parse::<f64>()) else {
                continue;
            };
            if AreaSet::london()
                .place(y, x)
                .is_some_and(|p| p.authority.code == self.gss_code.as_str())
            {
                return Ok((lat, lon));
            }
        }
        Err(SynthError::Boundaries(format!(
            "no point found inside {}",
            self.name
        )))
    }

    /// A lower-case slug of the name for host names, e.g. `kensington-and-chelsea`.
    pub fn slug(&self) -> String {
        self.name.to_lowercase().replace(' ', "-")
    }
}
