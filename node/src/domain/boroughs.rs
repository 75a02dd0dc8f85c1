//! London boroughs located from coordinates, with the boundaries embedded in the binary.
//!
//! The boundaries are `spec/data/london/boroughs.json` (see `spec/data/london/boroughs.md`): simplified,
//! so a point within about 100 m of a border may be given the neighbouring borough. The file is
//! decoded from a topology, so neighbouring boroughs share their border points exactly and leave
//! no gap or overlap; the crossing test gives a point on a shared border to exactly one of them.
//! The Thames below mean high water belongs to no borough, so a point on the river gets none.

use std::sync::OnceLock;

use evfed_spec::ext::GssCode;
use serde::Deserialize;

/// A WGS84 position in decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

/// A London borough: its ONS GSS code (`E09000001` City of London … `E09000033` Westminster),
/// its name and its boundary.
#[derive(Clone)]
pub struct Borough {
    pub gss_code: GssCode,
    /// e.g. `Kingston upon Thames`.
    pub name: String,
    /// The centroid published with the boundaries. For all 33 boroughs it lies inside the
    /// borough, so it is a safe point to place a borough's label or to test with.
    pub centroid: LatLon,
    polygons: Vec<Polygon>,
    bbox: BBox,
}

/// A set of boroughs, sorted by GSS code. They are meant not to overlap; where they do,
/// `locate` answers with the first in GSS code order.
#[derive(Clone, Default)]
pub struct Boroughs {
    boroughs: Vec<Borough>,
    bbox: BBox,
}

/// Why a boundary file was refused.
#[derive(Debug, thiserror::Error)]
pub enum BoroughsError {
    #[error("borough boundaries are not JSON of the expected shape")]
    Json(#[source] serde_json::Error),
    #[error("borough {0} appears twice")]
    Duplicate(GssCode),
    #[error("borough {gss_code}: {problem}")]
    Geometry {
        gss_code: GssCode,
        problem: &'static str,
    },
}

/// One polygon: its outer ring first, then its holes. Every ring is closed (first point = last).
#[derive(Clone)]
struct Polygon {
    rings: Vec<Vec<Point>>,
    bbox: BBox,
}

/// Planar position: `x` is longitude, `y` latitude.
#[derive(Debug, Clone, Copy)]
struct Point {
    x: f64,
    y: f64,
}

/// Closed bounding box; the default one is empty (contains nothing).
#[derive(Debug, Clone, Copy)]
struct BBox {
    min: Point,
    max: Point,
}

/// The file's shape; `source`, `licence` and `attribution` are for people and are not read.
#[derive(Deserialize)]
struct RawFile {
    boroughs: Vec<RawBorough>,
}

#[derive(Deserialize)]
struct RawBorough {
    gss_code: GssCode,
    name: String,
    /// `[lon, lat]`, as in GeoJSON.
    centroid: [f64; 2],
    /// Polygons → rings (outer, then holes) → `[lon, lat]` points, as GeoJSON `MultiPolygon`.
    polygons: Vec<Vec<Vec<[f64; 2]>>>,
}

static EMBEDDED_JSON: &str = include_str!("../../../spec/data/london/boroughs.json");

impl Boroughs {
    /// The 33 London boroughs embedded in the binary, parsed on first use.
    ///
    /// The embedded file is checked by this module's tests, so it parses. Should a build ever
    /// embed a broken file, this logs an error and returns an empty set (every `locate` is then
    /// `None`) rather than take the node down.
    pub fn embedded() -> &'static Boroughs {
        static EMBEDDED: OnceLock<Boroughs> = OnceLock::new();
        EMBEDDED.get_or_init(|| {
            Boroughs::from_json(EMBEDDED_JSON).unwrap_or_else(|error| {
                tracing::error!(
                    error = &error as &(dyn std::error::Error + 'static),
                    "the embedded London borough boundaries are invalid; no location will be given a borough"
                );
                Boroughs::default()
            })
        })
    }

    /// Parses a boundary file in the format of `spec/data/london/boroughs.json`. Refuses
    /// duplicate codes, non-finite or out-of-range coordinates, and rings that are not closed or
    /// have fewer than four points.
    pub fn from_json(json: &str) -> Result<Boroughs, BoroughsError> {
        let raw: RawFile = serde_json::from_str(json).map_err(BoroughsError::Json)?;
        let mut boroughs = raw
            .boroughs
            .into_iter()
            .map(Borough::from_raw)
            .collect::<Result<Vec<_>, _>>()?;
        boroughs.sort_by(|a, b| a.gss_code.cmp(&b.gss_code));
        if let Some(pair) = boroughs
            .windows(2)
            .find(|pair| pair[0].gss_code == pair[1].gss_code)
        {
            return Err(BoroughsError::Duplicate(pair[0].gss_code.clone()));
        }
        let bbox = boroughs
            .iter()
            .fold(BBox::EMPTY, |bbox, borough| bbox.union(borough.bbox));
        Ok(Boroughs { boroughs, bbox })
    }

    /// The borough containing the point, or `None` outside every borough or for a non-finite
    /// coordinate.
    pub fn locate(&self, lat: f64, lon: f64) -> Option<&Borough> {
        let p = Point { x: lon, y: lat };
        let candidate = lat.is_finite() && lon.is_finite() && self.bbox.contains(p);
        if !candidate {
            return None;
        }
        self.boroughs.iter().find(|borough| borough.contains(p))
    }

    /// The borough with this GSS code.
    pub fn get(&self, gss_code: &GssCode) -> Option<&Borough> {
        self.boroughs
            .binary_search_by(|borough| borough.gss_code.cmp(gss_code))
            .ok()
            .and_then(|i| self.boroughs.get(i))
    }

    /// Every borough, in GSS code order.
    pub fn iter(&self) -> std::slice::Iter<'_, Borough> {
        self.boroughs.iter()
    }
}

impl<'a> IntoIterator for &'a Boroughs {
    type Item = &'a Borough;
    type IntoIter = std::slice::Iter<'a, Borough>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl std::fmt::Debug for Boroughs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.boroughs.iter().map(|b| &b.gss_code))
            .finish()
    }
}

impl Borough {
    /// How far the point lies outside the borough, in metres: 0 inside it, otherwise the
    /// distance to the nearest point of its boundary (on a local flat projection, which at
    /// London's size is within a metre of the geodesic distance). The boundaries are
    /// simplified, so a point within a couple of hundred metres of a border may truly lie on
    /// either side; callers judging a claimed borough allow for that.
    pub fn distance_outside_m(&self, lat: f64, lon: f64) -> f64 {
        let p = Point { x: lon, y: lat };
        if !(lat.is_finite() && lon.is_finite()) {
            return f64::INFINITY;
        }
        if self.contains(p) {
            return 0.0;
        }
        // Metres per degree at the point's latitude (WGS84 mean radius).
        let m_per_deg_y = 6_371_008.8 * std::f64::consts::PI / 180.0;
        let m_per_deg_x = m_per_deg_y * lat.to_radians().cos();
        let to_m = |q: Point| ((q.x - p.x) * m_per_deg_x, (q.y - p.y) * m_per_deg_y);
        self.polygons
            .iter()
            .flat_map(|polygon| &polygon.rings)
            .flat_map(|ring| ring.windows(2))
            .map(|edge| segment_distance(to_m(edge[0]), to_m(edge[1])))
            .fold(f64::INFINITY, f64::min)
    }

    /// The borough's bounding box: south-west and north-east corners.
    pub fn bbox(&self) -> (LatLon, LatLon) {
        (
            LatLon {
                lat: self.bbox.min.y,
                lon: self.bbox.min.x,
            },
            LatLon {
                lat: self.bbox.max.y,
                lon: self.bbox.max.x,
            },
        )
    }

    /// Is the point inside (even–odd rule, holes excluded)?
    fn contains(&self, p: Point) -> bool {
        self.bbox.contains(p) && self.polygons.iter().any(|polygon| polygon.contains(p))
    }

    fn from_raw(raw: RawBorough) -> Result<Borough, BoroughsError> {
        let gss_code = raw.gss_code;
        let invalid = |problem| BoroughsError::Geometry {
            gss_code: gss_code.clone(),
            problem,
        };
        let [lon, lat] = raw.centroid;
        let centroid = LatLon { lat, lon };
        if !in_range(Point { x: lon, y: lat }) {
            return Err(invalid("centroid is not a WGS84 position"));
        }
        let polygons = raw
            .polygons
            .into_iter()
            .map(|rings| Polygon::from_raw(rings).map_err(invalid))
            .collect::<Result<Vec<_>, _>>()?;
        if polygons.is_empty() {
            return Err(invalid("has no polygon"));
        }
        let bbox = polygons
            .iter()
            .fold(BBox::EMPTY, |bbox, polygon| bbox.union(polygon.bbox));
        Ok(Borough {
            gss_code,
            name: raw.name,
            centroid,
            polygons,
            bbox,
        })
    }
}

impl std::fmt::Debug for Borough {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Borough")
            .field("gss_code", &self.gss_code)
            .field("name", &self.name)
            .field("centroid", &self.centroid)
            .field("polygons", &self.polygons.len())
            .finish_non_exhaustive()
    }
}

impl Polygon {
    fn from_raw(raw: Vec<Vec<[f64; 2]>>) -> Result<Polygon, &'static str> {
        let rings = raw
            .into_iter()
            .map(|ring| {
                let ring: Vec<Point> = ring.into_iter().map(|[x, y]| Point { x, y }).collect();
                if !ring.iter().all(|&p| in_range(p)) {
                    return Err("a point is not a WGS84 position");
                }
                match (ring.first(), ring.last()) {
                    (Some(first), Some(last))
                        if ring.len() >= 4 && first.x == last.x && first.y == last.y =>
                    {
                        Ok(ring)
                    }
                    _ => Err("a ring is not closed or has fewer than 4 points"),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The outer ring bounds the polygon; holes lie inside it.
        let bbox = rings
            .first()
            .ok_or("a polygon has no ring")?
            .iter()
            .fold(BBox::EMPTY, |bbox, &p| bbox.union(BBox { min: p, max: p }));
        Ok(Polygon { rings, bbox })
    }

    /// Even–odd rule over every ring, so a point in a hole crosses an even number of edges.
    fn contains(&self, p: Point) -> bool {
        self.bbox.contains(p)
            && self
                .rings
                .iter()
                .fold(false, |inside, ring| inside ^ ring_crossings_odd(ring, p))
    }
}

/// Distance from the origin to the segment `a`–`b`, in the segment's plane units.
fn segment_distance(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let length2 = dx * dx + dy * dy;
    let t = if length2 > 0.0 {
        (-(a.0 * dx + a.1 * dy) / length2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (a.0 + t * dx).hypot(a.1 + t * dy)
}

impl BBox {
    const EMPTY: BBox = BBox {
        min: Point {
            x: f64::INFINITY,
            y: f64::INFINITY,
        },
        max: Point {
            x: f64::NEG_INFINITY,
            y: f64::NEG_INFINITY,
        },
    };

    fn union(self, other: BBox) -> BBox {
        BBox {
            min: Point {
                x: self.min.x.min(other.min.x),
                y: self.min.y.min(other.min.y),
            },
            max: Point {
                x: self.max.x.max(other.max.x),
                y: self.max.y.max(other.max.y),
            },
        }
    }

    fn contains(&self, p: Point) -> bool {
        self.min.x <= p.x && p.x <= self.max.x && self.min.y <= p.y && p.y <= self.max.y
    }
}

impl Default for BBox {
    fn default() -> BBox {
        BBox::EMPTY
    }
}

/// Does a ray from `p` towards +x cross the closed ring an odd number of times? Each edge is
/// half-open in y (`a.y > y` differs from `b.y > y`), so a ray through a vertex counts once. The
/// crossing is computed from the edge's lower end whichever way the ring runs, so an edge shared
/// by two neighbours gives both the same answer and a point on it is inside exactly one.
fn ring_crossings_odd(ring: &[Point], p: Point) -> bool {
    let mut odd = false;
    for (&a, &b) in ring.iter().zip(ring.iter().skip(1)) {
        if (a.y > p.y) != (b.y > p.y) {
            let (lo, hi) = if a.y < b.y { (a, b) } else { (b, a) };
            let x = lo.x + (p.y - lo.y) * (hi.x - lo.x) / (hi.y - lo.y);
            if p.x < x {
                odd = !odd;
            }
        }
    }
    odd
}

fn in_range(p: Point) -> bool {
    (-180.0..=180.0).contains(&p.x) && (-90.0..=90.0).contains(&p.y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> GssCode {
        s.parse().unwrap()
    }

    fn located(lat: f64, lon: f64) -> Option<&'static str> {
        Boroughs::embedded()
            .locate(lat, lon)
            .map(|b| b.gss_code.as_str())
    }

    #[test]
    fn distance_outside_is_zero_inside_and_metres_to_the_nearest_edge_outside() {
        let square = r#"{"boroughs": [{"gss_code": "E09000001", "name": "Square",
            "centroid": [0.005, 51.005],
            "polygons": [[[[0.0, 51.0], [0.01, 51.0], [0.01, 51.01], [0.0, 51.01], [0.0, 51.0]]]]}]}"#;
        let boroughs = Boroughs::from_json(square).unwrap();
        let b = boroughs.get(&code("E09000001")).unwrap();
        assert_eq!(b.distance_outside_m(51.005, 0.005), 0.0);
        // 0.01° of longitude east of the edge at 51.005°N: 111,195 m × cos(51.005°) × 0.01.
        let east = b.distance_outside_m(51.005, 0.02);
        assert!((east - 699.8).abs() < 1.0, "{east}");
        // 0.001° of latitude north of the north-east corner's edge.
        let north = b.distance_outside_m(51.011, 0.005);
        assert!((north - 111.2).abs() < 0.5, "{north}");
        // Diagonal from the corner.
        let corner = b.distance_outside_m(51.011, 0.011);
        assert!(corner > north && corner < north * 1.5, "{corner}");
        assert!(b.distance_outside_m(f64::NAN, 0.0).is_infinite());

        // Real boroughs: Westminster's own centroid is inside it, Camden's is outside it but
        // closer than the two centroids are to each other.
        let all = Boroughs::embedded();
        let westminster = all.get(&code("E09000033")).unwrap();
        let camden = all.get(&code("E09000007")).unwrap();
        assert_eq!(
            westminster.distance_outside_m(westminster.centroid.lat, westminster.centroid.lon),
            0.0
        );
        let d = westminster.distance_outside_m(camden.centroid.lat, camden.centroid.lon);
        assert!(d > 100.0 && d < 5_000.0, "{d}");
    }

    #[test]
    fn the_embedded_file_holds_the_33_london_boroughs() {
        let boroughs = Boroughs::from_json(EMBEDDED_JSON).unwrap();
        let codes: Vec<_> = boroughs.iter().map(|b| b.gss_code.to_string()).collect();
        let expected: Vec<_> = (1..=33).map(|n| format!("E090000{n:02}")).collect();
        assert_eq!(codes, expected);
        assert_eq!(Boroughs::embedded().iter().count(), 33);
        let westminster = boroughs.get(&code("E09000033")).unwrap();
        assert_eq!(westminster.name, "Westminster");
        assert_eq!(
            boroughs.get(&code("E09000001")).unwrap().name,
            "City of London"
        );
        assert!(boroughs.get(&code("E09000034")).is_none());
    }

    #[test]
    fn every_centroid_is_in_its_own_borough() {
        // Checked beforehand: all 33 published centroids lie inside their own polygons.
        for borough in Boroughs::embedded() {
            let LatLon { lat, lon } = borough.centroid;
            assert_eq!(
                located(lat, lon),
                Some(borough.gss_code.as_str()),
                "{}",
                borough.name
            );
        }
    }

    #[test]
    fn well_known_places() {
        for (place, lat, lon, gss) in [
            ("Trafalgar Square", 51.50809, -0.12804, "E09000033"),
            ("Tower of London", 51.50811, -0.07595, "E09000030"),
            ("Heathrow Airport", 51.4700, -0.4543, "E09000017"),
            (
                "Royal Observatory Greenwich",
                51.47687,
                -0.00053,
                "E09000011",
            ),
            ("Guildhall", 51.51559, -0.09192, "E09000001"),
            ("Wembley Stadium", 51.55601, -0.27963, "E09000005"),
            ("Olympic Stadium", 51.5386, -0.0166, "E09000025"),
            ("Kew Gardens", 51.4787, -0.2956, "E09000027"),
            ("Romford", 51.5751, 0.1837, "E09000016"),
        ] {
            assert_eq!(located(lat, lon), Some(gss), "{place}");
        }
    }

    #[test]
    fn places_outside_london_have_no_borough() {
        for (place, lat, lon) in [
            ("Brighton", 50.8225, -0.1372),
            ("Paris", 48.8566, 2.3522),
            ("Watford", 51.6565, -0.3903),
            ("Dartford", 51.4462, 0.2187),
            ("Epsom", 51.3360, -0.2670),
            ("Null Island", 0.0, 0.0),
            ("lat/lon swapped", -0.12804, 51.50809),
            ("NaN", f64::NAN, -0.12804),
            ("NaN", 51.50809, f64::NAN),
            ("infinite", f64::INFINITY, f64::NEG_INFINITY),
        ] {
            assert_eq!(located(lat, lon), None, "{place}");
        }
    }

    #[test]
    fn points_on_borders_are_in_at_most_one_borough() {
        let boroughs = Boroughs::embedded();
        let mut on_a_border = 0;
        for ring in boroughs
            .iter()
            .flat_map(|b| &b.polygons)
            .flat_map(|p| &p.rings)
        {
            for (a, b) in ring.iter().zip(ring.iter().skip(1)) {
                let mid = Point {
                    x: (a.x + b.x) / 2.0,
                    y: (a.y + b.y) / 2.0,
                };
                for p in [*a, mid] {
                    let hits = boroughs.iter().filter(|b| b.contains(p)).count();
                    assert!(hits <= 1, "{p:?} is in {hits} boroughs");
                    on_a_border += hits;
                }
            }
        }
        // Points shared by two boroughs belong to one of them (2,862 of the 3,465 tested today;
        // the rest lie on London's outer border or the Thames, outside every borough).
        assert!(on_a_border > 2000, "{on_a_border}");
    }

    /// A 10×10 square with a 2×2 hole, and a second, separate 1×1 square.
    const SQUARE_WITH_HOLE: &str = r#"{
        "gss_code": "E09000099", "name": "Test", "centroid": [1, 1],
        "polygons": [
            [[[0,0],[10,0],[10,10],[0,10],[0,0]], [[4,4],[4,6],[6,6],[6,4],[4,4]]],
            [[[20,20],[21,20],[21,21],[20,21],[20,20]]]
        ]}"#;

    fn file(boroughs: &[&str]) -> String {
        format!(r#"{{"boroughs": [{}]}}"#, boroughs.join(","))
    }

    #[test]
    fn holes_and_multipolygons() {
        let boroughs = Boroughs::from_json(&file(&[SQUARE_WITH_HOLE])).unwrap();
        let at = |lat, lon| boroughs.locate(lat, lon).map(|b| b.name.as_str());
        assert_eq!(at(1.0, 1.0), Some("Test"));
        assert_eq!(at(5.0, 5.0), None, "inside the hole");
        assert_eq!(at(5.0, 7.0), Some("Test"), "beside the hole");
        assert_eq!(at(20.5, 20.5), Some("Test"), "second polygon");
        assert_eq!(at(15.0, 15.0), None, "between the polygons");
        assert_eq!(at(-1.0, 5.0), None);
    }

    #[test]
    fn invalid_files_are_refused() {
        for (case, from, to) in [
            ("open ring", "[0,10],[0,0]]", "[0,10],[0,1]]"),
            (
                "short ring",
                "[10,0],[10,10],[0,10],[0,0]]",
                "[10,0],[0,0]]",
            ),
            ("off the globe", "[21,21]", "[210,21]"),
            ("centroid off the globe", "[1, 1]", "[1, 91]"),
            ("bad code", "E09000099", "e09000099"),
            ("polygon without rings", "[[[0,0]", "[], [[[0,0]"),
            ("not JSON", "{", "["),
        ] {
            let broken = SQUARE_WITH_HOLE.replacen(from, to, 1);
            assert_ne!(broken, SQUARE_WITH_HOLE, "{case}: nothing replaced");
            assert!(Boroughs::from_json(&file(&[&broken])).is_err(), "{case}");
        }
        let no_polygons =
            r#"{"gss_code": "E09000099", "name": "x", "centroid": [0, 0], "polygons": []}"#;
        assert!(Boroughs::from_json(&file(&[no_polygons])).is_err());
        assert!(matches!(
            Boroughs::from_json(&file(&[SQUARE_WITH_HOLE, SQUARE_WITH_HOLE])),
            Err(BoroughsError::Duplicate(c)) if c.as_str() == "E09000099"
        ));
    }
}
