//! The dashboard's figures: what `GET /`'s page and its API (`/v1/london/areas`,
//! `/v1/london/trends`, `/v1/london/needs`, `/v1/london/map/points`) serve, assembled from the
//! London view and the store by the pure functions of `domain`, and cached.
//!
//! Caches: the map's points and the area figures are made (the points also gzipped) at most
//! once per [`FRESH`] while the London view changes, by one request at a time (others wait
//! for it and share the result), so a stream of status changes cannot make every request
//! rebuild them; the page's live stream carries the changes in between. The slow parts of the
//! area figures (30-day usage by area, 12-month reliability) are refreshed every [`SLOW_TTL`],
//! since they move by the hour, not by the second.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::domain::areas::{self, AreaFigures, Placement, ReliabilitySums, UsageSums};
use crate::domain::needs::{self, Need};
use crate::domain::trends::{self, Period, TrendPoint};
use crate::domain::{map, places, privacy};
use crate::london::London;
use crate::store::{Store, StoreError};
use crate::usage::{self, Bucket};

/// How long the slow parts of the figures are reused.
pub const SLOW_TTL: Duration = Duration::from_secs(60);
/// How long the points and area figures are served after the view changed under them.
pub const FRESH: Duration = Duration::from_secs(1);
/// The period of the usage figures per area.
pub const USAGE_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;

/// `[dashboard]` in `aggregator.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardConfig {
    /// A tile server for the map's basemap, e.g. `https://tiles.example/{z}/{x}/{y}.png`. None
    /// (the default): the embedded borough and ward outlines are the basemap, and the page
    /// loads nothing from elsewhere.
    #[serde(default)]
    pub tile_url: Option<url::Url>,
    /// Attribution shown for those tiles.
    #[serde(default)]
    pub tile_attribution: Option<String>,
    /// Open usage figures resting on fewer sessions than this are suppressed.
    #[serde(default = "default_min_sessions")]
    pub min_sessions: u64,
}

fn default_min_sessions() -> u64 {
    privacy::DEFAULT_MIN_SESSIONS
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            tile_url: None,
            tile_attribution: None,
            min_sessions: default_min_sessions(),
        }
    }
}

/// A cached body, plain and gzipped (cheap to clone into a response).
#[derive(Debug)]
pub struct Body {
    pub version: u64,
    pub json: bytes::Bytes,
    pub gzip: bytes::Bytes,
    made: Instant,
}

impl Body {
    pub fn new(version: u64, json: Vec<u8>) -> Body {
        let gzip = gzip(&json).into();
        Body {
            version,
            json: json.into(),
            gzip,
            made: Instant::now(),
        }
    }
}

/// Gzips at the default level (fast enough to do once per change).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    if e.write_all(bytes).is_err() {
        return Vec::new();
    }
    e.finish().unwrap_or_default()
}

/// Usage and reliability by area, refreshed every [`SLOW_TTL`].
#[derive(Debug, Default)]
struct Slow {
    usage: HashMap<String, UsageSums>,
    reliability: HashMap<String, ReliabilitySums>,
}

/// Area figures with the view version and time they were made at.
type AreasEntry = (u64, Instant, Arc<Vec<AreaFigures>>);

#[derive(Debug, Default)]
pub struct Dashboard {
    pub config: DashboardConfig,
    points: Mutex<Option<Arc<Body>>>,
    /// Held while the points or the area figures are made, so that one request makes them.
    making: Mutex<()>,
    slow: Mutex<Option<(Instant, Arc<Slow>)>>,
    areas: Mutex<Option<AreasEntry>>,
    needs: Mutex<Option<(Instant, Arc<Vec<Need>>)>>,
}

/// Served locations with their keys.
fn view(london: &London) -> Vec<(String, String, Placement)> {
    london.each(|key, copy, _| {
        Some((
            key.0.clone(),
            key.1.clone(),
            Placement {
                place: copy.place,
                location: Arc::clone(&copy.location),
            },
        ))
    })
}

impl Dashboard {
    pub fn new(config: DashboardConfig) -> Self {
        Dashboard {
            config,
            ..Dashboard::default()
        }
    }

    /// The map's points at the view's current version.
    pub fn points(&self, london: &London) -> Result<Arc<Body>, StoreError> {
        let fresh = |b: &&Arc<Body>| b.version == london.version() || b.made.elapsed() < FRESH;
        if let Some(b) = lock(&self.points).as_ref().filter(fresh) {
            return Ok(Arc::clone(b));
        }
        let _making = lock(&self.making);
        if let Some(b) = lock(&self.points).as_ref().filter(fresh) {
            return Ok(Arc::clone(b));
        }
        let version = london.version();
        let doc = map::points(version, &view(london));
        let json = serde_json::to_vec(&doc).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let body = Arc::new(Body::new(version, json));
        *lock(&self.points) = Some(Arc::clone(&body));
        Ok(body)
    }

    fn slow(&self, store: &Store, london: &London, now_ms: i64) -> Result<Arc<Slow>, StoreError> {
        if let Some((at, s)) = lock(&self.slow).as_ref()
            && at.elapsed() < SLOW_TTL
        {
            return Ok(Arc::clone(s));
        }
        let fresh = Arc::new(slow(store, london, now_ms)?);
        *lock(&self.slow) = Some((Instant::now(), Arc::clone(&fresh)));
        Ok(fresh)
    }

    /// Every area's figures (the whole set, authorities, wards).
    pub fn areas(
        &self,
        store: &Store,
        london: &London,
        now_ms: i64,
    ) -> Result<Arc<Vec<AreaFigures>>, StoreError> {
        let fresh = |(v, at, _): &AreasEntry| {
            (*v == london.version() && at.elapsed() < SLOW_TTL) || at.elapsed() < FRESH
        };
        if let Some(e) = lock(&self.areas).as_ref().filter(|e| fresh(e)) {
            return Ok(Arc::clone(&e.2));
        }
        let _making = lock(&self.making);
        if let Some(e) = lock(&self.areas).as_ref().filter(|e| fresh(e)) {
            return Ok(Arc::clone(&e.2));
        }
        let version = london.version();
        let slow = self.slow(store, london, now_ms)?;
        let placed: Vec<Placement> = view(london).into_iter().map(|(_, _, p)| p).collect();
        let rows = Arc::new(areas::figures(&areas::Inputs {
            areas: places::area_set(),
            view: &placed,
            usage: &slow.usage,
            usage_days: USAGE_DAYS as f64,
            reliability: &slow.reliability,
            min_sessions: self.config.min_sessions,
        }));
        *lock(&self.areas) = Some((version, Instant::now(), Arc::clone(&rows)));
        Ok(rows)
    }

    /// Wards ranked by need.
    pub fn needs(
        &self,
        store: &Store,
        london: &London,
        now_ms: i64,
    ) -> Result<Arc<Vec<Need>>, StoreError> {
        if let Some((at, rows)) = lock(&self.needs).as_ref()
            && at.elapsed() < SLOW_TTL
        {
            return Ok(Arc::clone(rows));
        }
        let figures = self.areas(store, london, now_ms)?;
        let hidden: std::collections::HashSet<&str> = figures
            .iter()
            .filter(|f| f.usage_30d.suppressed)
            .map(|f| f.code.as_str())
            .collect();
        let slow = self.slow(store, london, now_ms)?;
        let placed: Vec<Placement> = view(london).into_iter().map(|(_, _, p)| p).collect();
        let rows = Arc::new(needs::rank(
            places::area_set(),
            &placed,
            &slow.usage,
            &|code| hidden.contains(code),
            USAGE_DAYS as f64,
        ));
        *lock(&self.needs) = Some((Instant::now(), Arc::clone(&rows)));
        Ok(rows)
    }

    /// The monthly or quarterly series of London ([`areas::ALL`]), a borough or a ward.
    pub fn trends(
        &self,
        store: &Store,
        london: &London,
        code: &str,
        period: Period,
        now_ms: i64,
    ) -> Result<Vec<TrendPoint>, StoreError> {
        let set = places::area_set();
        let area = set.get(code);
        // The siblings whose sum is published beside the target, and the usage level to read.
        let (siblings, level): (Vec<String>, usage::Area) = match area {
            None => (vec![areas::ALL.to_owned()], usage::Area::London),
            Some(a) => match &a.parent {
                Some(p) => (
                    set.wards_of(p).map(|w| w.code.clone()).collect(),
                    usage::Area::Ward,
                ),
                None => (
                    set.authorities().map(|b| b.code.clone()).collect(),
                    usage::Area::Borough,
                ),
            },
        };
        let first = usage::extent(store)?.map_or(now_ms, |(first, _)| first);
        let from = usage::bucket_start(first.min(now_ms), Bucket::Month);
        let q = usage::Query {
            from_ms: from,
            to_ms: now_ms,
            bucket: Bucket::Month,
            area: level,
            borough: area.and_then(|a| a.parent.clone()),
            ward: None,
        };
        let mut by_cell: HashMap<(String, i64), UsageSums> = HashMap::new();
        if from < now_ms {
            for f in usage::figures(store, &q, &|_| 0)? {
                let start = usage::parse_time(&f.period).unwrap_or(0);
                let key = if level == usage::Area::London {
                    areas::ALL.to_owned()
                } else {
                    f.area.clone()
                };
                let e = by_cell.entry((key, start)).or_default();
                e.sessions += f.sessions.max(0) as u64;
                e.kwh += f.kwh;
                e.busy_ms += (f.busy_hours * 3_600_000.0) as i64;
            }
        }
        // EVSEs in service per month, placed through today's view.
        let mut placed: HashMap<(String, String), places::Placed> = HashMap::new();
        london.each(|key, copy, _| {
            placed.insert(key.clone(), copy.place);
            None::<()>
        });
        let mut evses: HashMap<(String, i64), u64> = HashMap::new();
        for m in store.evses_by_month(from)? {
            let Some(p) = placed.get(&(m.party, m.location_id)) else {
                continue;
            };
            let target = match area {
                None => Some(areas::ALL),
                Some(a) if a.parent.is_some() => p.ward,
                Some(_) => p.borough,
            };
            if let Some(t) = target
                && (area.is_none() || t == code)
            {
                *evses.entry((t.to_owned(), m.month_ms)).or_default() += m.evses;
            }
        }
        let counts = london.evses_by_area();
        let evses_now = counts
            .get(if area.is_none() { "london" } else { code })
            .copied()
            .unwrap_or(0);
        let months = trends::months(from, now_ms);
        let target = if area.is_none() { areas::ALL } else { code };
        Ok(trends::series(
            &trends::Inputs {
                target,
                siblings: &siblings,
                usage: &by_cell,
                evses: &evses,
                evses_now,
                months: &months,
                now_ms,
                min_sessions: self.config.min_sessions,
            },
            period,
        ))
    }
}

/// 30-day usage by area (London, boroughs, wards) and 12-month reliability of rapid EVSEs.
fn slow(store: &Store, london: &London, now_ms: i64) -> Result<Slow, StoreError> {
    let from = now_ms - USAGE_DAYS * DAY_MS;
    let mut usage: HashMap<String, UsageSums> = HashMap::new();
    for area in [usage::Area::London, usage::Area::Borough, usage::Area::Ward] {
        let q = usage::Query {
            from_ms: from,
            to_ms: now_ms,
            bucket: Bucket::Month,
            area,
            borough: None,
            ward: None,
        };
        for f in usage::figures(store, &q, &|_| 0)? {
            let key = match area {
                usage::Area::London => areas::ALL.to_owned(),
                _ if f.area.is_empty() => areas::OUTSIDE.to_owned(),
                _ => f.area.clone(),
            };
            if area == usage::Area::Ward && key == areas::OUTSIDE {
                continue;
            }
            let e = usage.entry(key).or_default();
            e.sessions += f.sessions.max(0) as u64;
            e.kwh += f.kwh;
            e.busy_ms += (f.busy_hours * 3_600_000.0) as i64;
        }
    }
    // Reliability: the last 12 whole months and this one, served copies' EVSEs only.
    let year_ago = usage::bucket_start(now_ms - 334 * DAY_MS, Bucket::Month);
    let served: HashMap<(String, String), (String, places::Placed)> = {
        let mut m = HashMap::new();
        london.each(|key, copy, _| {
            m.insert(key.clone(), (copy.origin.clone(), copy.place));
            None::<()>
        });
        m
    };
    let origins: Vec<String> = {
        let mut o: Vec<String> = served.values().map(|(o, _)| o.clone()).collect();
        o.sort();
        o.dedup();
        o
    };
    let mut reliability: HashMap<String, ReliabilitySums> = HashMap::new();
    for r in crate::compliance::reliability::evses(store, &origins, year_ago, now_ms)? {
        if !r.rapid || r.access_ms <= 0 {
            continue;
        }
        let Some((origin, place)) = served.get(&(r.party.clone(), r.location_id.clone())) else {
            continue;
        };
        if *origin != r.origin {
            continue;
        }
        let share = 1.0 - (r.failed_ms as f64 / r.access_ms as f64).clamp(0.0, 1.0);
        for code in [
            Some(areas::ALL),
            Some(place.borough.unwrap_or(areas::OUTSIDE)),
            place.ward,
        ]
        .into_iter()
        .flatten()
        {
            let e = reliability.entry(code.to_owned()).or_default();
            e.sum_share += share;
            e.measured += 1;
        }
    }
    Ok(Slow { usage, reliability })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
