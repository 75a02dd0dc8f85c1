//! Area sets: the authorities (London's boroughs) and wards a city is divided into, with their
//! names, boundaries and optional census figures, and the placement of a point in them
//! (STANDARD.md §4.4).
//!
//! An area set is a GeoJSON FeatureCollection (RFC 7946, WGS84) whose features are Polygons or
//! MultiPolygons with the properties `code`, `name`, `level` (`"authority"` or `"ward"`),
//! `parent` (a ward's authority code), and optionally `vintage` (the boundary set, e.g.
//! `"2022"`) and the census figures `population`, `households`, `households_no_car` and
//! `share_flats`. The collection may carry, beside its `name`, the words for its authorities
//! (`authority_label`, `authorities_label`, e.g. `"borough"`, `"boroughs"`), `census_source`,
//! `attribution` and `needs_note`, which the dashboard shows. London's (the 33 boroughs and the 704 wards of December 2022, with Census 2021
//! figures; `spec/data/london/README.md`) is embedded as the default; another city loads its
//! own with [`AreaSet::from_geojson`].
//!
//! Placement: where a set has wards, a point is placed in the ward that contains it and its
//! authority is that ward's parent, so ward totals add up to authority totals. A point inside an
//! authority's outline but in none of its wards (a gap between generalised outlines) takes the
//! nearest of its wards within [`TOLERANCE_M`]. A point outside every outline is outside the
//! set, however near its edge (a chargepoint 150 m over London's boundary is in Surrey). A set
//! without wards places by its authorities' boundaries.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// How far outside an area's boundary a point may lie and still be taken to be in it, in
/// metres: the one tolerance for placement and for judging a claimed area (boundaries are
/// generalised, London's boroughs simplified to about 100 m).
pub const TOLERANCE_M: f64 = 200.0;

/// London's area set, as embedded.
static LONDON_GEOJSON: &str = include_str!("../data/london/areas.geojson");

/// The level of an area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A local authority, e.g. a London borough.
    Authority,
    /// An electoral ward, inside one authority.
    Ward,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Authority => "authority",
            Level::Ward => "ward",
        }
    }
}

/// Census figures of an area (London: Census 2021).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Census {
    /// Usual residents.
    pub population: u64,
    pub households: u64,
    /// Households with no car or van.
    pub households_no_car: u64,
    /// Share of households living in a flat, maisonette or apartment (0 to 1).
    pub share_flats: f64,
}

impl Census {
    /// Households with at least one car or van.
    pub fn car_households(&self) -> u64 {
        self.households.saturating_sub(self.households_no_car)
    }

    /// The sum of several areas' figures (flats weighted by households).
    pub fn sum<'a>(parts: impl IntoIterator<Item = &'a Census>) -> Census {
        let mut total = Census::default();
        let mut flats = 0.0;
        for c in parts {
            total.population += c.population;
            total.households += c.households;
            total.households_no_car += c.households_no_car;
            flats += c.share_flats * c.households as f64;
        }
        if total.households > 0 {
            total.share_flats = flats / total.households as f64;
        }
        total
    }
}

/// One area of a set.
#[derive(Clone)]
pub struct Area {
    /// e.g. `E09000007` (London), `GM0344` (Utrecht).
    pub code: String,
    pub name: String,
    pub level: Level,
    /// A ward's authority code.
    pub parent: Option<String>,
    pub vintage: Option<String>,
    /// The area's census figures; for an authority whose features carry none, the sum of its
    /// wards' when every ward has them.
    pub census: Option<Census>,
    /// Area in km² on the WGS84 sphere; an authority with wards is the sum of its wards.
    pub area_km2: f64,
    polygons: Vec<Polygon>,
    bbox: BBox,
}

impl std::fmt::Debug for Area {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Area")
            .field("code", &self.code)
            .field("name", &self.name)
            .field("level", &self.level)
            .field("parent", &self.parent)
            .finish_non_exhaustive()
    }
}

/// A set of areas: authorities, and optionally their wards.
#[derive(Clone, Default)]
pub struct AreaSet {
    /// The set's name (the collection's `name`, e.g. `London`), for titles.
    pub name: String,
    /// What one authority is called, e.g. `borough` (`authority_label`; default `area`).
    pub authority_label: String,
    /// And several (`authorities_label`; default `areas`).
    pub authorities_label: String,
    /// Where the census figures come from, e.g. `Census 2021` (`census_source`).
    pub census_source: Option<String>,
    /// The attribution the boundaries and figures require (`attribution`).
    pub attribution: Option<String>,
    /// A note for the ranking of wards by need (`needs_note`), e.g. how a city's centre with
    /// few residents is counted.
    pub needs_note: Option<String>,
    areas: Vec<Area>,
    by_code: HashMap<String, usize>,
    has_wards: bool,
}

impl std::fmt::Debug for AreaSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AreaSet")
            .field("name", &self.name)
            .field("areas", &self.areas.len())
            .finish_non_exhaustive()
    }
}

/// Where a point lies.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub authority: &'a Area,
    pub ward: Option<&'a Area>,
}

/// Why an area set was refused. Each error names the file and, where there is one, the feature.
#[derive(Debug, thiserror::Error)]
pub enum AreaError {
    #[error("{file}: not a GeoJSON FeatureCollection: {source}")]
    Json {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{file}: feature {index} ({code}): {problem}")]
    Feature {
        file: String,
        index: usize,
        code: String,
        problem: String,
    },
    #[error("{file}: {problem}")]
    Set { file: String, problem: String },
}

/// Why a name or code given by a user names no area.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("{0:?} is neither the code nor the name of an area")]
    Unknown(String),
    #[error("{name:?} names more than one ward ({codes}); give the ward's code, or its authority")]
    Ambiguous { name: String, codes: String },
}

#[derive(Deserialize)]
struct RawCollection {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    authority_label: Option<String>,
    #[serde(default)]
    authorities_label: Option<String>,
    #[serde(default)]
    census_source: Option<String>,
    #[serde(default)]
    attribution: Option<String>,
    #[serde(default)]
    needs_note: Option<String>,
    features: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawProperties {
    code: String,
    name: String,
    level: Level,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    vintage: Option<String>,
    #[serde(default)]
    population: Option<u64>,
    #[serde(default)]
    households: Option<u64>,
    #[serde(default)]
    households_no_car: Option<u64>,
    #[serde(default)]
    share_flats: Option<f64>,
}

#[derive(Deserialize)]
struct RawGeometry {
    #[serde(rename = "type")]
    kind: String,
    coordinates: serde_json::Value,
}

impl AreaSet {
    /// London's 33 boroughs and 704 wards (December 2022) with Census 2021 figures, embedded
    /// in the binary and parsed on first use. The embedded file is checked by this module's
    /// tests; were it ever broken, the set is empty rather than a panic.
    pub fn london() -> &'static AreaSet {
        static LONDON: OnceLock<AreaSet> = OnceLock::new();
        LONDON.get_or_init(|| {
            AreaSet::from_geojson("spec/data/london/areas.geojson", LONDON_GEOJSON)
                .unwrap_or_default()
        })
    }

    /// London's area set as the embedded GeoJSON text (to serve to browsers).
    pub fn london_geojson() -> &'static str {
        LONDON_GEOJSON
    }

    /// Reads an area set; `file` names it in errors.
    pub fn from_geojson(file: &str, text: &str) -> Result<AreaSet, AreaError> {
        let raw: RawCollection = serde_json::from_str(text).map_err(|source| AreaError::Json {
            file: file.to_owned(),
            source,
        })?;
        let set_error = |problem: String| AreaError::Set {
            file: file.to_owned(),
            problem,
        };
        if raw.kind != "FeatureCollection" {
            return Err(set_error(format!(
                "the top level is a {:?}, not a FeatureCollection",
                raw.kind
            )));
        }
        let mut set = AreaSet {
            name: raw.name.unwrap_or_default(),
            authority_label: raw.authority_label.unwrap_or_else(|| "area".into()),
            authorities_label: raw.authorities_label.unwrap_or_else(|| "areas".into()),
            census_source: raw.census_source,
            attribution: raw.attribution,
            needs_note: raw.needs_note,
            ..AreaSet::default()
        };
        for (index, feature) in raw.features.into_iter().enumerate() {
            let area =
                Area::from_feature(feature).map_err(|(code, problem)| AreaError::Feature {
                    file: file.to_owned(),
                    index,
                    code,
                    problem,
                })?;
            if set.by_code.contains_key(&area.code) {
                return Err(AreaError::Feature {
                    file: file.to_owned(),
                    index,
                    code: area.code,
                    problem: "the code appears twice".into(),
                });
            }
            set.by_code.insert(area.code.clone(), set.areas.len());
            set.areas.push(area);
        }
        for (index, area) in set.areas.iter().enumerate() {
            let problem = match (area.level, &area.parent) {
                (Level::Ward, None) => Some("a ward needs a parent (its authority's code)".into()),
                (Level::Ward, Some(p)) => match set.get(p) {
                    Some(a) if a.level == Level::Authority => None,
                    Some(_) => Some(format!("the parent {p} is not an authority")),
                    None => Some(format!("the parent {p} is not in the set")),
                },
                (Level::Authority, Some(_)) => Some("an authority has no parent".into()),
                (Level::Authority, None) => None,
            };
            if let Some(problem) = problem {
                return Err(AreaError::Feature {
                    file: file.to_owned(),
                    index,
                    code: area.code.clone(),
                    problem,
                });
            }
        }
        if set.authorities().next().is_none() {
            return Err(set_error("the set has no authority".into()));
        }
        set.has_wards = set.areas.iter().any(|a| a.level == Level::Ward);
        // Authorities with wards: area and census from their wards.
        let mut sums: HashMap<String, (f64, Vec<Option<Census>>)> = HashMap::new();
        for w in set.wards() {
            if let Some(p) = &w.parent {
                let e = sums.entry(p.clone()).or_default();
                e.0 += w.area_km2;
                e.1.push(w.census);
            }
        }
        for a in set.areas.iter_mut() {
            if let Some((km2, census)) = sums.remove(&a.code) {
                a.area_km2 = km2;
                // Wards without figures have their residents counted in the others (London's
                // City wards), so the authority is the sum of those that have them.
                let known: Vec<Census> = census.into_iter().flatten().collect();
                if a.census.is_none() && !known.is_empty() {
                    a.census = Some(Census::sum(&known));
                }
            }
        }
        Ok(set)
    }

    /// The area with this code.
    pub fn get(&self, code: &str) -> Option<&Area> {
        self.by_code.get(code).and_then(|&i| self.areas.get(i))
    }

    /// Every area, in the file's order.
    pub fn iter(&self) -> impl Iterator<Item = &Area> {
        self.areas.iter()
    }

    pub fn authorities(&self) -> impl Iterator<Item = &Area> {
        self.areas.iter().filter(|a| a.level == Level::Authority)
    }

    pub fn wards(&self) -> impl Iterator<Item = &Area> {
        self.areas.iter().filter(|a| a.level == Level::Ward)
    }

    /// The wards of one authority.
    pub fn wards_of<'a>(&'a self, authority: &'a str) -> impl Iterator<Item = &'a Area> + 'a {
        self.wards()
            .filter(move |w| w.parent.as_deref() == Some(authority))
    }

    /// Whether the set has wards.
    pub fn has_wards(&self) -> bool {
        self.has_wards
    }

    /// Where a point lies: its ward and authority, or `None` outside every area and for
    /// non-finite coordinates.
    pub fn place(&self, lat: f64, lon: f64) -> Option<Place<'_>> {
        if !(lat.is_finite() && lon.is_finite()) {
            return None;
        }
        let level = if self.has_wards {
            Level::Ward
        } else {
            Level::Authority
        };
        let p = Point { x: lon, y: lat };
        let candidates = || self.areas.iter().filter(move |a| a.level == level);
        if let Some(found) = candidates().find(|a| a.contains(p)) {
            return match found.level {
                Level::Authority => Some(Place {
                    authority: found,
                    ward: None,
                }),
                Level::Ward => Some(Place {
                    authority: self.get(found.parent.as_deref()?)?,
                    ward: Some(found),
                }),
            };
        }
        if !self.has_wards {
            return None;
        }
        // In no ward, but inside an authority's outline: a gap between generalised ward
        // outlines. The nearest of its wards within the tolerance, else the authority alone.
        // A point outside every outline is outside the set, however near its edge.
        let authority = self.authorities().find(|a| a.contains(p))?;
        let margin = TOLERANCE_M / 111_000.0 / lat.to_radians().cos().max(0.1);
        let ward = self
            .wards_of(&authority.code)
            .filter(|w| w.bbox.grown(margin).contains(p))
            .map(|w| (w.distance_outside_m(lat, lon), w))
            .filter(|(d, _)| *d <= TOLERANCE_M)
            .min_by(|x, y| x.0.total_cmp(&y.0))
            .map(|(_, w)| w);
        Some(Place { authority, ward })
    }

    /// The area a user names: a code, or a name (case and spacing aside). A ward's name may
    /// repeat across authorities (London has two "Abbey" wards), so `within` (an authority's
    /// code or name) chooses among them; an ambiguous name is an error that lists the codes.
    pub fn find(&self, text: &str, within: Option<&str>) -> Result<&Area, LookupError> {
        if let Some(a) = self.get(text.trim()) {
            return Ok(a);
        }
        let want = fold(text);
        let parent = within
            .and_then(|w| self.find(w, None).ok())
            .map(|a| &a.code);
        let mut found = self
            .areas
            .iter()
            .filter(|a| fold(&a.name) == want && (parent.is_none() || a.parent.as_ref() == parent));
        let first = found
            .next()
            .ok_or_else(|| LookupError::Unknown(text.to_owned()))?;
        let others: Vec<&Area> = found.collect();
        // A borough and a ward may share a name (e.g. "Hackney"): the authority wins.
        if others.is_empty() || first.level == Level::Authority {
            return Ok(first);
        }
        Err(LookupError::Ambiguous {
            name: text.to_owned(),
            codes: std::iter::once(first)
                .chain(others)
                .map(|a| {
                    let parent = a.parent.as_deref().and_then(|p| self.get(p));
                    format!("{} in {}", a.code, parent.map_or("?", |p| p.name.as_str()))
                })
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

/// Lower case, single spaces, `&` as `and`: how names are compared.
fn fold(s: &str) -> String {
    s.split_whitespace()
        .map(|w| {
            if w == "&" {
                "and".to_owned()
            } else {
                w.to_lowercase()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Area {
    fn from_feature(feature: serde_json::Value) -> Result<Area, (String, String)> {
        let code_of = |f: &serde_json::Value| {
            f.pointer("/properties/code")
                .and_then(|c| c.as_str())
                .unwrap_or("no code")
                .to_owned()
        };
        let code = code_of(&feature);
        let fail = |problem: String| (code.clone(), problem);
        let props: RawProperties = serde_json::from_value(
            feature
                .get("properties")
                .cloned()
                .ok_or_else(|| fail("has no properties".into()))?,
        )
        .map_err(|e| fail(format!("properties: {e}")))?;
        if let Err(e) = props.code.parse::<crate::ext::GssCode>() {
            return Err(fail(e.to_string()));
        }
        if let Some(v) = &props.vintage
            && !(v.len() == 4 && v.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(fail(format!(
                "the vintage {v:?} is not a year of four digits (e.g. \"2022\")"
            )));
        }
        if props.name.trim().is_empty() {
            return Err(fail("the name is empty".into()));
        }
        let geometry: RawGeometry = serde_json::from_value(
            feature
                .get("geometry")
                .cloned()
                .ok_or_else(|| fail("has no geometry".into()))?,
        )
        .map_err(|e| fail(format!("geometry: {e}")))?;
        let polygons: Vec<Vec<Vec<[f64; 2]>>> = match geometry.kind.as_str() {
            "Polygon" => vec![
                serde_json::from_value(geometry.coordinates)
                    .map_err(|e| fail(format!("Polygon coordinates: {e}")))?,
            ],
            "MultiPolygon" => serde_json::from_value(geometry.coordinates)
                .map_err(|e| fail(format!("MultiPolygon coordinates: {e}")))?,
            other => {
                return Err(fail(format!(
                    "the geometry is a {other}, not a Polygon or MultiPolygon"
                )));
            }
        };
        let polygons = polygons
            .into_iter()
            .map(Polygon::from_raw)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|p| {
                fail(format!(
                    "{p} (coordinates must be WGS84 [longitude, latitude]; convert with \
                     ogr2ogr -t_srs EPSG:4326)"
                ))
            })?;
        if polygons.is_empty() {
            return Err(fail("the geometry has no polygon".into()));
        }
        let census = match (
            props.population,
            props.households,
            props.households_no_car,
            props.share_flats,
        ) {
            (Some(population), Some(households), Some(households_no_car), Some(share_flats))
                if households_no_car <= households && (0.0..=1.0).contains(&share_flats) =>
            {
                Some(Census {
                    population,
                    households,
                    households_no_car,
                    share_flats,
                })
            }
            (None, None, None, None) => None,
            _ => {
                return Err(fail(
                    "census figures need all of population, households, households_no_car \
                     (at most households) and share_flats (0 to 1)"
                        .into(),
                ));
            }
        };
        let bbox = polygons
            .iter()
            .fold(BBox::EMPTY, |b, polygon| b.union(polygon.bbox));
        let area_km2 = polygons.iter().map(Polygon::area_km2).sum();
        Ok(Area {
            code: props.code,
            name: props.name,
            level: props.level,
            parent: props.parent,
            vintage: props.vintage,
            census,
            area_km2,
            polygons,
            bbox,
        })
    }

    /// How far the point lies outside the area, in metres: 0 inside, else the distance to the
    /// nearest point of its boundary (on a local flat projection, within a metre of the
    /// geodesic distance at a city's size).
    pub fn distance_outside_m(&self, lat: f64, lon: f64) -> f64 {
        let p = Point { x: lon, y: lat };
        if !(lat.is_finite() && lon.is_finite()) {
            return f64::INFINITY;
        }
        if self.contains(p) {
            return 0.0;
        }
        let m_per_deg_y = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        let m_per_deg_x = m_per_deg_y * lat.to_radians().cos();
        let to_m = |q: Point| ((q.x - p.x) * m_per_deg_x, (q.y - p.y) * m_per_deg_y);
        self.polygons
            .iter()
            .flat_map(|polygon| &polygon.rings)
            .flat_map(|ring| ring.windows(2))
            .map(|edge| segment_distance(to_m(edge[0]), to_m(edge[1])))
            .fold(f64::INFINITY, f64::min)
    }

    /// A point inside the area (latitude, longitude), for labels and for tests: on the line of
    /// latitude through the middle of its largest polygon, the middle of the widest stretch
    /// that lies inside it.
    pub fn inner_point(&self) -> (f64, f64) {
        let Some(polygon) = self
            .polygons
            .iter()
            .max_by(|a, b| a.area_km2().total_cmp(&b.area_km2()))
        else {
            return (0.0, 0.0);
        };
        // Off the exact middle, so that the line meets no vertex in practice.
        let y = polygon.bbox.min.y + (polygon.bbox.max.y - polygon.bbox.min.y) * 0.500_137;
        let mut xs: Vec<f64> = polygon
            .rings
            .iter()
            .flat_map(|ring| ring.windows(2))
            .filter(|e| (e[0].y > y) != (e[1].y > y))
            .map(|e| e[0].x + (y - e[0].y) * (e[1].x - e[0].x) / (e[1].y - e[0].y))
            .collect();
        xs.sort_by(f64::total_cmp);
        let widest = xs
            .chunks_exact(2)
            .max_by(|a, b| (a[1] - a[0]).total_cmp(&(b[1] - b[0])));
        match widest {
            Some(pair) => (y, (pair[0] + pair[1]) / 2.0),
            None => (
                (polygon.bbox.min.y + polygon.bbox.max.y) / 2.0,
                (polygon.bbox.min.x + polygon.bbox.max.x) / 2.0,
            ),
        }
    }

    /// Whether the point lies inside the area (holes excluded).
    pub fn contains_point(&self, lat: f64, lon: f64) -> bool {
        self.contains(Point { x: lon, y: lat })
    }

    /// The bounding box: `[min_lon, min_lat, max_lon, max_lat]`.
    pub fn bbox(&self) -> [f64; 4] {
        [
            self.bbox.min.x,
            self.bbox.min.y,
            self.bbox.max.x,
            self.bbox.max.y,
        ]
    }

    fn contains(&self, p: Point) -> bool {
        self.bbox.contains(p) && self.polygons.iter().any(|polygon| polygon.contains(p))
    }
}

/// WGS84 mean radius.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

#[derive(Clone)]
struct Polygon {
    rings: Vec<Vec<Point>>,
    bbox: BBox,
}

#[derive(Debug, Clone, Copy)]
struct Point {
    x: f64,
    y: f64,
}

#[derive(Debug, Clone, Copy)]
struct BBox {
    min: Point,
    max: Point,
}

impl Polygon {
    fn from_raw(raw: Vec<Vec<[f64; 2]>>) -> Result<Polygon, String> {
        let rings = raw
            .into_iter()
            .map(|ring| {
                let ring: Vec<Point> = ring.into_iter().map(|[x, y]| Point { x, y }).collect();
                if let Some(p) = ring.iter().find(|p| !in_range(**p)) {
                    return Err(format!(
                        "the point [{}, {}] is not a WGS84 position",
                        p.x, p.y
                    ));
                }
                match (ring.first(), ring.last()) {
                    (Some(first), Some(last))
                        if ring.len() >= 4 && first.x == last.x && first.y == last.y =>
                    {
                        Ok(ring)
                    }
                    _ => Err("a ring is not closed or has fewer than 4 points".to_owned()),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let bbox = rings
            .first()
            .ok_or("a polygon has no ring")?
            .iter()
            .fold(BBox::EMPTY, |b, &p| b.union(BBox { min: p, max: p }));
        Ok(Polygon { rings, bbox })
    }

    /// Even–odd rule over every ring, so a point in a hole crosses an even number of edges.
    fn contains(&self, p: Point) -> bool {
        self.bbox.contains(p)
            && self
                .rings
                .iter()
                .fold(false, |inside, ring| inside ^ crossings_odd(ring, p))
    }

    /// The outer ring's area less its holes', on the sphere (spherical excess of each ring).
    fn area_km2(&self) -> f64 {
        let ring_area = |ring: &Vec<Point>| {
            let sum: f64 = ring
                .windows(2)
                .map(|e| {
                    (e[1].x - e[0].x).to_radians()
                        * (2.0 + e[0].y.to_radians().sin() + e[1].y.to_radians().sin())
                })
                .sum();
            (sum * EARTH_RADIUS_M * EARTH_RADIUS_M / 2.0).abs() / 1e6
        };
        let mut rings = self.rings.iter();
        let outer = rings.next().map_or(0.0, ring_area);
        (outer - rings.map(ring_area).sum::<f64>()).max(0.0)
    }
}

/// Whether a ray from `p` towards +x crosses the ring an odd number of times.
fn crossings_odd(ring: &[Point], p: Point) -> bool {
    let mut odd = false;
    for e in ring.windows(2) {
        let (a, b) = (e[0], e[1]);
        if (a.y > p.y) != (b.y > p.y) {
            let x = a.x + (p.y - a.y) * (b.x - a.x) / (b.y - a.y);
            if p.x < x {
                odd = !odd;
            }
        }
    }
    odd
}

fn in_range(p: Point) -> bool {
    p.x.is_finite()
        && p.y.is_finite()
        && (-180.0..=180.0).contains(&p.x)
        && (-90.0..=90.0).contains(&p.y)
}

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

    fn union(self, o: BBox) -> BBox {
        BBox {
            min: Point {
                x: self.min.x.min(o.min.x),
                y: self.min.y.min(o.min.y),
            },
            max: Point {
                x: self.max.x.max(o.max.x),
                y: self.max.y.max(o.max.y),
            },
        }
    }

    fn grown(self, by: f64) -> BBox {
        BBox {
            min: Point {
                x: self.min.x - by,
                y: self.min.y - by,
            },
            max: Point {
                x: self.max.x + by,
                y: self.max.y + by,
            },
        }
    }

    fn contains(self, p: Point) -> bool {
        p.x >= self.min.x && p.x <= self.max.x && p.y >= self.min.y && p.y <= self.max.y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_inner_point_is_placed_in_its_own_area() {
        let london = AreaSet::london();
        for area in london.iter() {
            let (lat, lon) = area.inner_point();
            assert!(area.contains_point(lat, lon), "{area:?}");
            let place = london.place(lat, lon).unwrap();
            let placed = match area.level {
                Level::Authority => place.authority,
                Level::Ward => place.ward.unwrap(),
            };
            // Wards place strictly; an authority's inner point may sit in a gap between its
            // wards' generalised outlines, and is then given the nearest ward's authority.
            assert_eq!(placed.code, area.code, "{area:?}");
        }
    }

    #[test]
    fn london_has_its_boroughs_wards_and_census() {
        let london = AreaSet::london();
        assert_eq!(london.name, "London");
        assert_eq!(london.authorities_label, "boroughs");
        assert!(
            london
                .attribution
                .as_deref()
                .unwrap()
                .contains("Open Government Licence")
        );
        assert_eq!(london.authorities().count(), 33);
        assert_eq!(london.wards().count(), 704);
        assert_eq!(london.wards_of("E09000001").count(), 25);
        // Census totals as published (spec/data/london/README.md).
        let all = Census::sum(london.authorities().filter_map(|a| a.census.as_ref()));
        assert_eq!(all.population, 8_799_770);
        assert_eq!(all.households, 3_423_882);
        assert_eq!(all.households_no_car, 1_440_344);
        assert!(
            (all.share_flats - 0.540).abs() < 0.001,
            "{}",
            all.share_flats
        );
        let city = london.get("E09000001").unwrap();
        assert_eq!(city.census.unwrap().population, 8_589);
        // Greater London is about 1,572 km² (1,595 with the Thames, which no ward holds).
        let km2: f64 = london.authorities().map(|a| a.area_km2).sum();
        assert!((1540.0..1600.0).contains(&km2), "{km2}");
        let westminster = london.get("E09000033").unwrap();
        assert!(
            (20.0..23.0).contains(&westminster.area_km2),
            "{}",
            westminster.area_km2
        );
    }

    #[test]
    fn points_are_placed_in_their_ward_and_its_borough() {
        let london = AreaSet::london();
        // Marylebone High Street.
        let p = london.place(51.5203, -0.1516).unwrap();
        assert_eq!(p.authority.code, "E09000033");
        assert_eq!(p.ward.unwrap().name, "Marylebone");
        // Paris is in no London area.
        assert!(london.place(48.8566, 2.3522).is_none());
        assert!(london.place(f64::NAN, 0.0).is_none());
        // The Thames below mean high water belongs to no borough (Westminster Bridge).
        assert!(london.place(51.50085, -0.12185).is_none());
        // 151 m outside London's boundary is Surrey (an NCR device in Whyteleafe).
        assert!(london.place(51.309401, -0.081073).is_none());
    }

    #[test]
    fn names_and_codes_are_found_and_ambiguous_names_refused() {
        let london = AreaSet::london();
        assert_eq!(london.find("Camden", None).unwrap().code, "E09000007");
        assert_eq!(
            london.find("  kensington & chelsea ", None).unwrap().code,
            "E09000020"
        );
        assert_eq!(london.find("E09000007", None).unwrap().name, "Camden");
        let abbey = london.find("Abbey", None).unwrap_err();
        assert!(matches!(abbey, LookupError::Ambiguous { .. }), "{abbey}");
        let in_merton = london.find("Abbey", Some("Merton")).unwrap();
        assert_eq!(in_merton.parent.as_deref(), Some("E09000024"));
        assert!(matches!(
            london.find("Atlantis", None),
            Err(LookupError::Unknown(_))
        ));
    }

    #[test]
    fn another_citys_set_is_read_and_its_errors_name_the_feature() {
        let set = |features: &str| {
            format!(r#"{{"type":"FeatureCollection","name":"Utrecht","features":[{features}]}}"#)
        };
        let square = |code: &str, level: &str, parent: &str, d: f64| {
            format!(
                r#"{{"type":"Feature","properties":{{"code":"{code}","name":"{code} name","level":"{level}"{parent}}},
                "geometry":{{"type":"Polygon","coordinates":[[[5.0,52.0],[{x},52.0],[{x},{y}],[5.0,{y}],[5.0,52.0]]]}}}}"#,
                x = 5.0 + d,
                y = 52.0 + d
            )
        };
        let ok = set(&[
            square("GM0344", "authority", "", 0.2),
            square("WK034401", "ward", r#","parent":"GM0344""#, 0.1),
        ]
        .join(","));
        let utrecht = AreaSet::from_geojson("utrecht.geojson", &ok).unwrap();
        let p = utrecht.place(52.05, 5.05).unwrap();
        assert_eq!(p.authority.code, "GM0344");
        assert_eq!(p.ward.unwrap().code, "WK034401");
        // Outside the only ward but inside the authority: no ward within the tolerance.
        let p = utrecht.place(52.15, 5.15).unwrap();
        assert_eq!(p.authority.code, "GM0344");
        assert!(p.ward.is_none());
        // Just outside the authority's outline: outside the set.
        assert!(utrecht.place(52.1, 5.2001).is_none());

        let orphan = set(&square("WK1", "ward", r#","parent":"GM9""#, 0.1));
        let e = AreaSet::from_geojson("x.geojson", &orphan)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x.geojson") && e.contains("WK1") && e.contains("GM9"),
            "{e}"
        );
        let projected = set(&square("GM1", "authority", "", 0.1).replace("52.0", "452000.0"));
        let e = AreaSet::from_geojson("rd.geojson", &projected)
            .unwrap_err()
            .to_string();
        assert!(e.contains("ogr2ogr"), "{e}");
    }
}
