//! The London view: locations, their sources, the borough check, status, statistics and
//! exports.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use evfed_spec::ocpi::{Capability, Location, Status};
use evfed_spec::problem::Problem;
use evfed_spec::time::DateTime;
use serde::Serialize;
use serde_json::{Value, json};

use super::MAX_LIMIT;
use super::{ApiError, AppState, blocking};
use crate::domain::pages::ListPage;
use crate::london::{self, Copy, Key, served_json};

/// An area a filter names: one of the area set's codes, or none (locations outside every area).
#[derive(Debug, Clone, PartialEq)]
enum AreaFilter {
    Code(String),
    Outside,
}

impl AreaFilter {
    fn matches(&self, placed: Option<&str>) -> bool {
        match self {
            AreaFilter::Code(c) => placed == Some(c.as_str()),
            AreaFilter::Outside => placed.is_none(),
        }
    }
}

/// Resolves a `borough` or `ward` parameter: a code or name of the area set, `none`, or a
/// well-formed code that names no area (which matches nothing); anything else is refused.
fn area_filter(what: &str, text: &str, within: Option<&str>) -> Result<AreaFilter, ApiError> {
    if text == "none" {
        return Ok(AreaFilter::Outside);
    }
    let set = crate::domain::places::area_set();
    match set.find(text, within) {
        Ok(a) => Ok(AreaFilter::Code(a.code.clone())),
        Err(evfed_spec::areas::LookupError::Unknown(_))
            if text.len() <= 36
                && text.chars().all(|c| c.is_ascii_alphanumeric())
                && text.chars().any(|c| c.is_ascii_digit()) =>
        {
            Ok(AreaFilter::Code(text.to_owned()))
        }
        Err(e) => Err(ApiError::query(format!(
            "{what}={text:?}: {e}; give an area code (e.g. E09000007), a name (e.g. Camden; a \
             ward's name with borough=…), or none for locations outside every area"
        ))),
    }
}

/// An OCPI enumeration value from a query (case aside), or a refusal listing the values.
fn ocpi_value<T: serde::de::DeserializeOwned>(
    what: &str,
    text: &str,
    allowed: &str,
) -> Result<T, ApiError> {
    serde_json::from_value(Value::String(text.to_ascii_uppercase()))
        .map_err(|_| ApiError::query(format!("{what}={text:?} is not one of {allowed}")))
}

/// The filters of `GET /v1/london/locations`.
#[derive(Debug, Default)]
struct Filter {
    borough: Option<AreaFilter>,
    ward: Option<AreaFilter>,
    party: Option<String>,
    min_kw: Option<f64>,
    max_kw: Option<f64>,
    standard: Option<evfed_spec::ocpi::ConnectorType>,
    status: Option<evfed_spec::ocpi::Status>,
    bbox: Option<[f64; 4]>,
    near: Option<(f64, f64, f64)>,
    /// Only copies with `last_updated` at or after this (OCPI `date_from`).
    from: Option<DateTime>,
    /// Only copies with `last_updated` before this (OCPI `date_to`).
    to: Option<DateTime>,
    offset: usize,
    limit: usize,
}

impl Filter {
    fn parse(query: &str) -> Result<Self, ApiError> {
        let mut f = Filter {
            limit: 100,
            ..Filter::default()
        };
        let mut radius = None;
        let mut near = None;
        let (mut borough, mut ward) = (None, None);
        let num = |k: &str, v: &str| -> Result<f64, ApiError> {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| ApiError::query(format!("{k} must be a number, got {v:?}")))
        };
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let v = v.into_owned();
            match &*k {
                "borough" => borough = Some(v),
                "ward" => ward = Some(v),
                "party" => {
                    if v.parse::<evfed_spec::ids::Party>().is_err() {
                        return Err(ApiError::query(format!(
                            "party={v:?}: write a party CC*PID, e.g. GB*LPL"
                        )));
                    }
                    f.party = Some(v)
                }
                "min_power_kw" => f.min_kw = Some(num(&k, &v)?),
                "max_power_kw" => f.max_kw = Some(num(&k, &v)?),
                "connector_standard" => {
                    f.standard = Some(ocpi_value(
                        "connector_standard",
                        &v,
                        "the OCPI ConnectorType values, e.g. IEC_62196_T2, IEC_62196_T2_COMBO, CHADEMO",
                    )?)
                }
                "status" => {
                    f.status = Some(ocpi_value(
                        "status",
                        &v,
                        "AVAILABLE, BLOCKED, CHARGING, INOPERATIVE, OUTOFORDER, PLANNED, REMOVED, \
                         RESERVED, UNKNOWN",
                    )?)
                }
                "bbox" => {
                    let parts = v
                        .split(',')
                        .map(|p| num("bbox", p))
                        .collect::<Result<Vec<_>, _>>()?;
                    let [w, s, e, n] = parts[..] else {
                        return Err(ApiError::query("bbox is min_lon,min_lat,max_lon,max_lat"));
                    };
                    f.bbox = Some([w, s, e, n]);
                }
                "near" => {
                    let parts = v
                        .split(',')
                        .map(|p| num("near", p))
                        .collect::<Result<Vec<_>, _>>()?;
                    let [lat, lon] = parts[..] else {
                        return Err(ApiError::query("near is lat,lon"));
                    };
                    near = Some((lat, lon));
                }
                "radius_m" => radius = Some(num(&k, &v)?),
                "date_from" | "date_to" => {
                    let at = v
                        .parse::<DateTime>()
                        .map_err(|e| ApiError::query(format!("{k}: {e}")))?;
                    if k == "date_from" {
                        f.from = Some(at)
                    } else {
                        f.to = Some(at)
                    }
                }
                "offset" => {
                    f.offset = v
                        .parse()
                        .map_err(|_| ApiError::query(format!("offset {v:?} is not a count")))?
                }
                "limit" => {
                    f.limit = v
                        .parse()
                        .ok()
                        .filter(|l| (1..=MAX_LIMIT).contains(l))
                        .ok_or_else(|| ApiError::query(format!("limit must be 1 to {MAX_LIMIT}")))?
                }
                other => return Err(ApiError::query(format!("unknown parameter {other:?}"))),
            }
        }
        f.borough = borough
            .as_deref()
            .map(|b| area_filter("borough", b, None))
            .transpose()?;
        f.ward = ward
            .as_deref()
            .map(|w| area_filter("ward", w, borough.as_deref()))
            .transpose()?;
        f.near = match (near, radius) {
            (Some((lat, lon)), Some(r)) => Some((lat, lon, r)),
            (Some((lat, lon)), None) => Some((lat, lon, 1000.0)),
            (None, Some(_)) => return Err(ApiError::query("radius_m needs near")),
            (None, None) => None,
        };
        if let (Some(from), Some(to)) = (&f.from, &f.to)
            && from > to
        {
            return Err(ApiError::query("date_from is after date_to"));
        }
        Ok(f)
    }

    fn matches(&self, key: &Key, copy: &Copy) -> bool {
        let loc = &*copy.location;
        if self.party.as_ref().is_some_and(|p| *p != key.0) {
            return false;
        }
        if let Some(b) = &self.borough
            && !b.matches(copy.place.borough)
        {
            return false;
        }
        if let Some(w) = &self.ward
            && !w.matches(copy.place.ward)
        {
            return false;
        }
        let power = max_power_kw(loc);
        if self.min_kw.is_some_and(|m| power < m) || self.max_kw.is_some_and(|m| power > m) {
            return false;
        }
        if let Some(s) = &self.standard
            && !loc
                .evses
                .iter()
                .flat_map(|e| &e.connectors)
                .any(|c| c.standard == *s)
        {
            return false;
        }
        if let Some(s) = &self.status
            && !loc.evses.iter().any(|e| e.status == *s)
        {
            return false;
        }
        let (lat, lon) = (loc.coordinates.lat(), loc.coordinates.lon());
        if let Some([w, s, e, n]) = self.bbox
            && !(lon >= w && lon <= e && lat >= s && lat <= n)
        {
            return false;
        }
        if let Some((nlat, nlon, r)) = self.near
            && metres(lat, lon, nlat, nlon) > r
        {
            return false;
        }
        if self.from.as_ref().is_some_and(|f| loc.last_updated < *f)
            || self.to.as_ref().is_some_and(|t| loc.last_updated >= *t)
        {
            return false;
        }
        true
    }
}

/// Great-circle distance in metres.
fn metres(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * a.sqrt().asin()
}

/// A connector's maximum power in kW: `max_electric_power`, else voltage × current (× 3 for
/// three-phase AC, whose voltage OCPI gives line to neutral).
pub use crate::compliance::reliability::connector_kw;

fn max_power_kw(loc: &Location) -> f64 {
    loc.evses
        .iter()
        .flat_map(|e| &e.connectors)
        .map(connector_kw)
        .fold(0.0, f64::max)
}

/// The London view: every location, as served from its winning copy, with its sources.
#[utoipa::path(tag = "london",
    params(
        ("borough" = Option<String>, Query, description = "the borough the coordinates lie in: a code (E09000007), a name (Camden), or none"),
        ("ward" = Option<String>, Query, description = "the ward the coordinates lie in: a code, or a name (with borough where names repeat)"),
        ("party" = Option<String>, Query, description = "CC*PID"),
        ("min_power_kw" = Option<f64>, Query),
        ("max_power_kw" = Option<f64>, Query),
        ("connector_standard" = Option<String>, Query, description = "OCPI ConnectorType"),
        ("status" = Option<String>, Query, description = "OCPI Status of any EVSE"),
        ("bbox" = Option<String>, Query, description = "min_lon,min_lat,max_lon,max_lat"),
        ("near" = Option<String>, Query, description = "lat,lon; with radius_m"),
        ("radius_m" = Option<f64>, Query),
        ("date_from" = Option<String>, Query, description = "only locations last updated at or after this RFC 3339 time"),
        ("date_to" = Option<String>, Query, description = "only locations last updated before this RFC 3339 time"),
        ("offset" = Option<usize>, Query),
        ("limit" = Option<usize>, Query, description = "1 to 1000, default 100"),
    ),
    responses((status = 200, body = Vec<Location>, headers(("X-Total-Count" = usize), ("Link" = String))),
              (status = 400, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/london/locations")]
pub async fn locations(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let filter = Filter::parse(req.query_string())?;
    let query = req.query_string().to_owned();
    // Read before the page: a page is never older than the version it is kept under.
    let version = state.london.version();
    let st = state.clone();
    let page = state
        .london
        .pages()
        .get_or_render(&query.clone(), version, move || {
            blocking(move || {
                let page = st.london.page(
                    |key, copy| filter.matches(key, copy),
                    filter.offset,
                    filter.limit,
                );
                Ok(ListPage::new(&query, filter.offset, page))
            })
        })
        .await?;
    let mut res = HttpResponse::Ok();
    res.content_type("application/json");
    res.insert_header(("X-Total-Count", page.total().to_string()));
    if let Some(next) = page.next() {
        let info = req.connection_info();
        res.insert_header((
            "Link",
            format!(
                "<{}://{}{}?{next}>; rel=\"next\"",
                info.scheme(),
                info.host(),
                req.path()
            ),
        ));
    }
    Ok(res.body(page.body().clone()))
}

pub(super) fn key_of(path: &(String, String, String)) -> Key {
    (format!("{}*{}", path.0, path.1), path.2.clone())
}

/// One location of the London view.
#[utoipa::path(tag = "london",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path)),
    responses((status = 200, body = Location),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/london/locations/{country_code}/{party_id}/{location_id}")]
pub async fn location(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let key = key_of(&path);
    let copies = state.london.get(&key);
    let Some(served) = copies.first() else {
        return Err(ApiError::not_found(format!(
            "no location {}/{}",
            key.0, key.1
        )));
    };
    let stale = state.london.is_stale(&served.origin);
    Ok(HttpResponse::Ok().json(served_json(served, &copies, stale)))
}

/// Every member's copy of one location: which is served, and where they disagree.
#[utoipa::path(tag = "london",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path)),
    responses((status = 200, body = Object),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/london/locations/{country_code}/{party_id}/{location_id}/sources")]
pub async fn location_sources(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let key = key_of(&path);
    let copies = state.london.get(&key);
    if copies.is_empty() {
        return Err(ApiError::not_found(format!(
            "no location {}/{}",
            key.0, key.1
        )));
    }
    let (sources, disagreements) = london::sources(&copies);
    Ok(HttpResponse::Ok().json(json!({"sources": sources, "disagreements": disagreements})))
}

/// One finding of the borough check.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlacementFinding {
    /// `CC*PID`.
    party: String,
    id: String,
    /// The member whose copy it is.
    origin: String,
    /// The borough the copy claims, if any.
    borough: Option<String>,
    findings: Vec<String>,
}

/// Copies whose coordinates lie more than 200 m outside the borough they claim, or outside
/// their borough member's borough (the embedded boundaries are simplified; the tolerance
/// allows for that). Such copies are still served; this is the list to correct.
#[utoipa::path(tag = "london",
    params(("borough" = Option<String>, Query, description = "only copies claiming this ONS GSS code")),
    responses((status = 200, body = Vec<PlacementFinding>),
              (status = 400, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/london/placement")]
pub async fn placement(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut borough = None;
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        match &*k {
            "borough" => borough = Some(v.into_owned()),
            _ => return Err(ApiError::query(format!("unknown parameter {k:?}"))),
        }
    }
    let borough = borough.as_ref();
    let mut out: Vec<PlacementFinding> = Vec::new();
    state.london.each(|key, _, all| {
        for c in all.iter().filter(|c| !c.placement.is_empty()) {
            let claimed = c.location.evfed.borough.as_ref().map(|g| g.to_string());
            if borough.is_none() || borough == claimed.as_ref() {
                out.push(PlacementFinding {
                    party: key.0.clone(),
                    id: key.1.clone(),
                    origin: c.origin.clone(),
                    borough: claimed,
                    findings: c.placement.to_vec(),
                });
            }
        }
        Some(())
    });
    Ok(HttpResponse::Ok().json(out))
}

/// EVSEs by status, London-wide.
#[utoipa::path(tag = "london", responses((status = 200, body = Object)))]
#[get("/v1/london/status")]
pub async fn status(state: web::Data<AppState>) -> HttpResponse {
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    let mut count = 0u64;
    state.london.each(|_, copy, _| {
        count += 1;
        for e in &copy.location.evses {
            *by_status.entry(e.status.as_str().to_owned()).or_default() += 1;
        }
        Some(())
    });
    let evses: u64 = by_status.values().sum();
    HttpResponse::Ok().json(json!({"locations": count, "evses": evses, "by_status": by_status}))
}

/// One borough's figures in `GET /v1/london/stats/boroughs`.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub(crate) struct BoroughStats {
    /// The borough's GSS code, or `none` for locations outside every borough.
    borough: String,
    /// The borough's name.
    name: String,
    locations: u64,
    evses: u64,
    /// Connectors by power class (`slow`, `fast`, `rapid`, `ultra`).
    #[schema(value_type = BTreeMap<String, u64>)]
    connectors: BTreeMap<&'static str, u64>,
    evses_available: u64,
    /// Share of EVSEs available now.
    availability: f64,
    /// Share of EVSEs capable of smart charging (`CHARGING_PROFILE_CAPABLE`).
    smart_charging_share: f64,
}

/// Power classes: slow < 8 kW, fast 8–49, rapid 50–149, ultra ≥ 150.
pub fn power_class(kw: f64) -> &'static str {
    match kw {
        k if k < 8.0 => "slow",
        k if k < 50.0 => "fast",
        k if k < 150.0 => "rapid",
        _ => "ultra",
    }
}

/// Per borough (placed by coordinates; `none` for locations outside every borough): name,
/// locations, EVSEs, connectors by power class, availability now, smart-charging share.
#[utoipa::path(tag = "london", responses((status = 200, body = Vec<BoroughStats>)))]
#[get("/v1/london/stats/boroughs")]
pub async fn borough_stats(state: web::Data<AppState>) -> HttpResponse {
    let mut stats: BTreeMap<String, (BoroughStats, u64)> = BTreeMap::new();
    state.london.each(|_, copy, _| {
        let loc = &copy.location;
        // The borough the coordinates lie in, as `borough=` filters; `none` outside every one.
        let borough = copy.place.borough.unwrap_or("none").to_owned();
        let (s, smart) = stats.entry(borough.clone()).or_default();
        s.name = crate::domain::places::area_set()
            .get(&borough)
            .map_or_else(|| "Outside every borough".to_owned(), |a| a.name.clone());
        s.borough = borough;
        s.locations += 1;
        for e in &loc.evses {
            s.evses += 1;
            if e.status == Status::Available {
                s.evses_available += 1;
            }
            if e.capabilities.contains(&Capability::ChargingProfileCapable) {
                *smart += 1;
            }
            for c in &e.connectors {
                *s.connectors
                    .entry(power_class(connector_kw(c)))
                    .or_default() += 1;
            }
        }
        Some(())
    });
    let out: Vec<BoroughStats> = stats
        .into_values()
        .map(|(mut s, smart)| {
            let n = s.evses.max(1) as f64;
            s.availability = s.evses_available as f64 / n;
            s.smart_charging_share = smart as f64 / n;
            s
        })
        .collect();
    HttpResponse::Ok().json(out)
}

/// The London view, filtered as `GET /v1/london/locations` is but not paginated, as CSV (one
/// row per connector; Power BI, spreadsheets), GeoJSON (QGIS) or OCPI JSON.
#[utoipa::path(tag = "london",
    params(("format" = String, Path, description = "csv, geojson or json (OCPI Location objects)")),
    responses((status = 200, description = "the export, as an attachment"),
              (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/london/exports/locations.{format}")]
pub async fn export(
    state: web::Data<AppState>,
    req: HttpRequest,
    format: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let format = format.into_inner();
    let (content_type, ext) = match format.as_str() {
        "csv" => ("text/csv; charset=utf-8", "csv"),
        "geojson" => ("application/geo+json", "geojson"),
        "json" => ("application/json", "json"),
        other => {
            return Err(ApiError::not_found(format!(
                "no export format {other:?}: csv, geojson or json"
            )));
        }
    };
    let filter = Filter::parse(req.query_string())?;
    let st = state.clone();
    let body = web::block(move || -> Result<Vec<u8>, ApiError> {
        let copies = st.london.each(|key, copy, all| {
            filter
                .matches(key, copy)
                .then(|| (copy.clone(), all.to_vec()))
        });
        let rows: Vec<crate::exports::Row<'_>> = copies
            .iter()
            .map(|(copy, all)| crate::exports::Row {
                copy,
                sources: all.iter().map(|c| c.origin.as_str()).collect(),
                stale: st.london.is_stale(&copy.origin),
            })
            .collect();
        let bytes = match format.as_str() {
            "csv" => crate::exports::csv(&rows)
                .map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))?,
            "geojson" => serde_json::to_vec(&crate::exports::geojson(&rows))
                .map_err(|e| ApiError::Internal(e.to_string()))?,
            _ => serde_json::to_vec(&crate::exports::ocpi(&rows))
                .map_err(|e| ApiError::Internal(e.to_string()))?,
        };
        Ok(bytes)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"london-locations.{ext}\""),
        ))
        .body(body))
}
