//! London borough boundaries, to judge whether a location's coordinates lie in the borough it
//! claims (§4.4). The data is `spec/data/london/boroughs.json` (OGL v3; source and build in
//! `spec/data/london/boroughs.md`), the one copy the node and the demo embed too.
//! The boundaries are simplified, so points are judged with a tolerance of [`TOLERANCE_M`].

use std::sync::OnceLock;

use serde::Deserialize;

/// The embedded boundary file.
const BOUNDARIES: &str = include_str!("../../spec/data/london/boroughs.json");

/// How far outside a (simplified) boundary a point may lie and still count as inside.
pub const TOLERANCE_M: f64 = 300.0;

/// One borough: GSS code, name and polygons (`[lon, lat]` rings, outer ring first).
#[derive(Debug, Deserialize)]
pub struct Borough {
    pub gss_code: String,
    pub name: String,
    polygons: Vec<Vec<Vec<[f64; 2]>>>,
}

#[derive(Deserialize)]
struct File {
    boroughs: Vec<Borough>,
}

/// All 33 boroughs; empty if the embedded file were unreadable (a build defect the unit tests
/// catch).
pub fn all() -> &'static [Borough] {
    static CELL: OnceLock<Vec<Borough>> = OnceLock::new();
    CELL.get_or_init(|| {
        serde_json::from_str::<File>(BOUNDARIES)
            .map(|f| f.boroughs)
            .unwrap_or_default()
    })
}

/// The borough with this GSS code.
pub fn by_code(code: &str) -> Option<&'static Borough> {
    all().iter().find(|b| b.gss_code == code)
}

/// Whether the point lies in any borough (within the tolerance).
pub fn in_london(lat: f64, lon: f64) -> bool {
    all().iter().any(|b| b.contains(lat, lon))
}

impl Borough {
    /// Inside the boundary, or within [`TOLERANCE_M`] of it.
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        self.polygons.iter().any(|poly| {
            let inside = poly
                .first()
                .is_some_and(|outer| ring_contains(outer, lon, lat))
                && !poly[1..].iter().any(|hole| ring_contains(hole, lon, lat));
            inside
                || poly
                    .iter()
                    .any(|r| ring_distance_m(r, lat, lon) <= TOLERANCE_M)
        })
    }
}

/// Even-odd crossing test on a closed ring of `[lon, lat]` points.
fn ring_contains(ring: &[[f64; 2]], x: f64, y: f64) -> bool {
    let mut inside = false;
    for w in ring.windows(2) {
        let ([x1, y1], [x2, y2]) = (w[0], w[1]);
        if (y1 > y) != (y2 > y) && x < (x2 - x1) * (y - y1) / (y2 - y1) + x1 {
            inside = !inside;
        }
    }
    inside
}

/// Distance in metres from a point to a ring, on a local equirectangular projection (good to a
/// few metres across London).
fn ring_distance_m(ring: &[[f64; 2]], lat: f64, lon: f64) -> f64 {
    const M_PER_DEG: f64 = 111_320.0;
    let kx = M_PER_DEG * lat.to_radians().cos();
    let p = (lon * kx, lat * M_PER_DEG);
    ring.windows(2)
        .map(|w| {
            let a = (w[0][0] * kx, w[0][1] * M_PER_DEG);
            let b = (w[1][0] * kx, w[1][1] * M_PER_DEG);
            segment_distance(p, a, b)
        })
        .fold(f64::INFINITY, f64::min)
}

fn segment_distance(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    };
    let (cx, cy) = (a.0 + t * dx, a.1 + t * dy);
    ((p.0 - cx).powi(2) + (p.1 - cy).powi(2)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_three_boroughs_and_camden_high_street_is_in_camden() {
        assert_eq!(all().len(), 33);
        let camden = by_code("E09000007").unwrap();
        assert!(camden.contains(51.539, -0.1426));
        assert!(!by_code("E09000033").unwrap().contains(51.55, -0.1643));
        assert!(in_london(51.5, -0.12));
        assert!(!in_london(52.2, 0.12), "Cambridge");
    }
}
