//! The aggregator's HTTP API: members and their evidence, and the London view.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, delete, get, post, web};
use evfed_spec::ocpi::Location;
use evfed_spec::problem::{CONTENT_TYPE, Problem, ProblemCode};
use futures_util::future::LocalBoxFuture;
use serde::Serialize;
use serde_json::{Value, json};

use crate::london::{self, Copy, Key, London};
use crate::store::{State, Store, StoreError};

#[derive(Debug)]
pub struct AppState {
    pub store: Arc<Store>,
    pub london: Arc<London>,
    pub origin: String,
    /// The aggregator directory (for `suppliers.toml`).
    pub dir: std::path::PathBuf,
    /// The aggregator's log key, which signs evidence reports.
    pub report_key: Arc<evfed_spec::note::SigningKey>,
    /// Whether `/v1/compliance/...` is open (else `usage:read`).
    pub compliance_open: bool,
}

/// Largest page of a list.
pub const MAX_LIMIT: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Query(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the request could not be run: {0}")]
    Blocking(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    InvalidJson(String),
    #[error("{0}")]
    TooLarge(String),
    /// A refusal of the embedded node's token check (401/403 with their challenges).
    #[error(transparent)]
    Node(#[from] evfed_node::http::ApiError),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code().status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
    fn error_response(&self) -> HttpResponse {
        if let ApiError::Node(e) = self {
            return e.error_response();
        }
        let code = self.code();
        let detail = if code.status() >= 500 {
            tracing::error!(error = %self, "request failed");
            None
        } else {
            Some(self.to_string())
        };
        HttpResponse::build(self.status_code())
            .content_type(CONTENT_TYPE)
            .json(Problem::new(code, detail))
    }
}

impl ApiError {
    fn code(&self) -> ProblemCode {
        match self {
            ApiError::Query(_) => ProblemCode::InvalidQuery,
            ApiError::NotFound(_) | ApiError::Store(StoreError::NoMember(_)) => {
                ProblemCode::NotFound
            }
            ApiError::Store(StoreError::Duplicate(_)) => ProblemCode::Conflict,
            ApiError::Store(_) | ApiError::Blocking(_) => ProblemCode::Internal,
            ApiError::Invalid(_) => ProblemCode::InvalidField,
            ApiError::InvalidJson(_) => ProblemCode::InvalidJson,
            ApiError::TooLarge(_) => ProblemCode::PayloadTooLarge,
            ApiError::Node(e) => match e.status_code().as_u16() {
                401 => ProblemCode::Unauthorized,
                403 => ProblemCode::Forbidden,
                _ => ProblemCode::Internal,
            },
        }
    }
}

/// Largest admin request body.
const MAX_ADMIN_BODY: usize = 64 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(members)
        .service(evidence)
        .service(history)
        .service(admin_members)
        .service(admin_add_member)
        .service(admin_remove_member)
        .service(admin_readmit_member)
        .service(locations)
        .service(location)
        .service(location_sources)
        .service(placement)
        .service(status)
        .service(borough_stats)
        .service(export)
        .service(usage_stats)
        .service(usage_trends)
        .service(saturation)
        .service(compliance_suppliers)
        .service(compliance_report)
        .service(compliance_supplier)
        .service(conformance_members)
        .service(conformance_member);
}

/// The aggregator's open-data reads besides the node's (which the edge allows cross-origin):
/// the London view and its exports (not usage analytics or saturation, which need
/// `usage:read`), members, conformance results, the authorization server's keys, and
/// compliance when `compliance_open`.
pub fn open_reads(compliance_open: bool) -> evfed_node::http::OpenExtra {
    std::sync::Arc::new(move |path: &str| {
        let london = path.starts_with("/v1/london/")
            && !path.starts_with("/v1/london/usage")
            && !path.ends_with("/saturation");
        london
            || path == "/v1/members"
            || path.starts_with("/v1/members/")
            || path == "/v1/conformance/members"
            || path.starts_with("/v1/conformance/members/")
            || path == "/oauth2/jwks"
            || (compliance_open && path.starts_with("/v1/compliance/"))
    })
}

#[cfg(test)]
mod open_tests {
    #[test]
    fn restricted_reads_are_not_open() {
        let open = super::open_reads(false);
        for path in [
            "/v1/london/locations",
            "/v1/london/exports/locations.csv",
            "/v1/london/status",
            "/v1/members",
            "/oauth2/jwks",
        ] {
            assert!(open(path), "{path}");
        }
        for path in [
            "/v1/london/usage",
            "/v1/london/usage/trends",
            "/v1/london/locations/GB/ABC/L1/saturation",
            "/v1/admin/members",
            "/v1/admin/clients",
            "/oauth2/token",
            "/v1/compliance/suppliers",
        ] {
            assert!(!open(path), "{path}");
        }
        assert!(super::open_reads(true)("/v1/compliance/suppliers"));
    }
}

/// Every member with its harvest state (open).
#[utoipa::path(tag = "members", responses((status = 200, body = Vec<crate::store::Member>)))]
#[get("/v1/members")]
pub async fn members(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let members = web::block(move || st.store.members())
        .await
        .map_err(|e| ApiError::Blocking(e.to_string()))??;
    Ok(HttpResponse::Ok().json(members))
}

/// Why a member is or was not ok, with the signed notes that prove it, newest first.
#[utoipa::path(tag = "members", params(("origin" = String, Path)),
    responses((status = 200, body = Vec<crate::store::Evidence>),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/members/{origin}/evidence")]
pub async fn evidence(
    state: web::Data<AppState>,
    origin: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let origin = origin.into_inner();
    let found = web::block(move || {
        st.store.member(&origin)?;
        st.store.evidence(&origin, 100)
    })
    .await
    .map_err(|e| ApiError::Blocking(e.to_string()))??;
    Ok(HttpResponse::Ok().json(found))
}

/// A member's earlier identities (re-admissions), newest first.
#[utoipa::path(tag = "members", params(("origin" = String, Path)),
    responses((status = 200, body = Vec<crate::store::HistoryEntry>),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/members/{origin}/history")]
pub async fn history(
    state: web::Data<AppState>,
    origin: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let origin = origin.into_inner();
    let found = blocking(move || {
        st.store.member(&origin)?;
        Ok(st.store.history(&origin)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(found))
}

/// A caller holding an `admin` token of the aggregator's own authorization server (RFC 9068:
/// EdDSA, `typ: at+jwt`, `iss` its issuer, `aud` its origin; checked by the embedded node's
/// token validation, which trusts that issuer's keys in `DIR`). Extracted before any body is
/// read: no token or an invalid one is `401`, a valid one without `admin` `403`.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = evfed_node::http::Caller::from_request(req, payload);
        let issuer = req
            .app_data::<web::Data<crate::oauth::AuthServer>>()
            .map(|s| s.issuer.clone());
        Box::pin(async move {
            let caller = caller.await?;
            let issuer =
                issuer.ok_or_else(|| ApiError::Blocking("no authorization server".into()))?;
            caller.require_from(&issuer, "admin")?;
            Ok(Admin)
        })
    }
}

/// Reads an admin request's JSON body (at most [`MAX_ADMIN_BODY`] bytes), after the caller's
/// token was checked.
pub(crate) async fn json_body<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<T, ApiError> {
    use futures_util::StreamExt as _;
    let json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if !json {
        return Err(ApiError::InvalidJson(
            "the body must be application/json".into(),
        ));
    }
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::InvalidJson(e.to_string()))?;
        if bytes.len() + chunk.len() > MAX_ADMIN_BODY {
            return Err(ApiError::TooLarge(format!(
                "bodies are limited to {MAX_ADMIN_BODY} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::InvalidJson(e.to_string()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(f)
        .await
        .map_err(|e| ApiError::Blocking(e.to_string()))?
}

/// Every member (admin).
#[utoipa::path(tag = "admin", security(("bearer" = ["admin"])),
    responses((status = 200, body = Vec<crate::store::Member>),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/admin/members")]
pub async fn admin_members(
    state: web::Data<AppState>,
    _admin: Admin,
) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let all = blocking(move || Ok(st.store.members()?)).await?;
    Ok(HttpResponse::Ok().json(all))
}

/// Registers a member (admin).
#[utoipa::path(tag = "admin", security(("bearer" = ["admin"])), request_body = crate::members::MemberSpec,
    responses((status = 201, body = crate::store::Member),
              (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json")))]
#[post("/v1/admin/members")]
pub async fn admin_add_member(
    state: web::Data<AppState>,
    _admin: Admin,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let spec: crate::members::MemberSpec = json_body(&req, body).await?;
    let member = spec.check().map_err(ApiError::Invalid)?;
    let st = state.clone();
    let added = blocking(move || {
        st.store.add_member(&member)?;
        Ok(st.store.member(&member.origin)?)
    })
    .await?;
    Ok(HttpResponse::Created().json(added))
}

/// Removes a member and every copy it published (admin).
#[utoipa::path(tag = "admin", security(("bearer" = ["admin"])), params(("origin" = String, Path)),
    responses((status = 204),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
#[delete("/v1/admin/members/{origin}")]
pub async fn admin_remove_member(
    state: web::Data<AppState>,
    _admin: Admin,
    origin: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let origin = origin.into_inner();
    blocking(move || {
        st.store.remove_member(&origin)?;
        st.london.forget(&origin);
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Re-admits a member under new keys (and origin) after a disaster, keeping its history
/// (admin, STANDARD.md §9.4).
#[utoipa::path(tag = "admin", security(("bearer" = ["admin"])), params(("origin" = String, Path)),
    request_body = crate::members::ReadmitSpec,
    responses((status = 200, body = crate::store::Member),
              (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json")))]
#[post("/v1/admin/members/{origin}/readmit")]
pub async fn admin_readmit_member(
    state: web::Data<AppState>,
    _admin: Admin,
    req: HttpRequest,
    origin: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let spec: crate::members::ReadmitSpec = json_body(&req, body).await?;
    let origin = origin.into_inner();
    let r = spec.check(&origin).map_err(ApiError::Invalid)?;
    let st = state.clone();
    let member = blocking(move || {
        st.store.readmit(&origin, &r, crate::commands::unix_ms())?;
        st.london.forget(&origin);
        Ok(st.store.member(r.origin.as_deref().unwrap_or(&origin))?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(member))
}

/// The filters of `GET /v1/london/locations`.
#[derive(Debug, Default)]
struct Filter {
    borough: Option<String>,
    ward: Option<String>,
    party: Option<String>,
    min_kw: Option<f64>,
    max_kw: Option<f64>,
    standard: Option<String>,
    status: Option<String>,
    bbox: Option<[f64; 4]>,
    near: Option<(f64, f64, f64)>,
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
        let num = |k: &str, v: &str| -> Result<f64, ApiError> {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| ApiError::Query(format!("{k} must be a number, got {v:?}")))
        };
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let v = v.into_owned();
            match &*k {
                "borough" => f.borough = Some(v),
                "ward" => f.ward = Some(v),
                "party" => f.party = Some(v),
                "min_power_kw" => f.min_kw = Some(num(&k, &v)?),
                "max_power_kw" => f.max_kw = Some(num(&k, &v)?),
                "connector_standard" => f.standard = Some(v),
                "status" => f.status = Some(v),
                "bbox" => {
                    let parts = v
                        .split(',')
                        .map(|p| num("bbox", p))
                        .collect::<Result<Vec<_>, _>>()?;
                    let [w, s, e, n] = parts[..] else {
                        return Err(ApiError::Query(
                            "bbox is min_lon,min_lat,max_lon,max_lat".into(),
                        ));
                    };
                    f.bbox = Some([w, s, e, n]);
                }
                "near" => {
                    let parts = v
                        .split(',')
                        .map(|p| num("near", p))
                        .collect::<Result<Vec<_>, _>>()?;
                    let [lat, lon] = parts[..] else {
                        return Err(ApiError::Query("near is lat,lon".into()));
                    };
                    near = Some((lat, lon));
                }
                "radius_m" => radius = Some(num(&k, &v)?),
                "offset" => {
                    f.offset = v
                        .parse()
                        .map_err(|_| ApiError::Query(format!("offset {v:?} is not a count")))?
                }
                "limit" => {
                    f.limit = v
                        .parse()
                        .ok()
                        .filter(|l| (1..=MAX_LIMIT).contains(l))
                        .ok_or_else(|| ApiError::Query(format!("limit must be 1 to {MAX_LIMIT}")))?
                }
                other => return Err(ApiError::Query(format!("unknown parameter {other:?}"))),
            }
        }
        f.near = match (near, radius) {
            (Some((lat, lon)), Some(r)) => Some((lat, lon, r)),
            (Some((lat, lon)), None) => Some((lat, lon, 1000.0)),
            (None, Some(_)) => return Err(ApiError::Query("radius_m needs near".into())),
            (None, None) => None,
        };
        Ok(f)
    }

    fn matches(&self, key: &Key, loc: &Location) -> bool {
        let text = |v: &dyn erased::Named| v.name();
        if self.party.as_ref().is_some_and(|p| *p != key.0) {
            return false;
        }
        if let Some(b) = &self.borough
            && loc.evfed.borough.as_ref().map(|g| g.as_str()) != Some(b.as_str())
        {
            return false;
        }
        if let Some(w) = &self.ward
            && loc.evfed.ward.as_ref().map(|w| w.code.as_str()) != Some(w.as_str())
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
                .any(|c| text(&c.standard) == *s)
        {
            return false;
        }
        if let Some(s) = &self.status
            && !loc.evses.iter().any(|e| text(&e.status) == *s)
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
        true
    }
}

/// OCPI enum names through serde, e.g. `IEC_62196_T2`.
mod erased {
    pub trait Named {
        fn name(&self) -> String;
    }
    impl<T: serde::Serialize> Named for T {
        fn name(&self) -> String {
            match serde_json::to_value(self) {
                Ok(serde_json::Value::String(s)) => s,
                _ => String::new(),
            }
        }
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

/// The served copy as JSON, with where it comes from and whether that member is current.
fn london_json(copy: &Copy, all: &[Copy], stale: &[String]) -> Value {
    let mut v = copy.to_json();
    v["evfed_london"] = json!({
        "sources": all.iter().map(|c| c.origin.as_str()).collect::<Vec<_>>(),
        "stale": stale.contains(&copy.origin),
    });
    v
}

/// Origins of members whose data is not current (any state but ok).
fn stale_origins(store: &Store) -> Result<Vec<String>, StoreError> {
    Ok(store
        .members()?
        .into_iter()
        .filter(|m| m.state != State::Ok)
        .map(|m| m.origin)
        .collect())
}

/// The London view: every location, as served from its winning copy, with its sources.
#[utoipa::path(tag = "london",
    params(
        ("borough" = Option<String>, Query, description = "ONS GSS code"),
        ("ward" = Option<String>, Query, description = "ward code, as the publishing node gives it"),
        ("party" = Option<String>, Query, description = "CC*PID"),
        ("min_power_kw" = Option<f64>, Query),
        ("max_power_kw" = Option<f64>, Query),
        ("connector_standard" = Option<String>, Query, description = "OCPI ConnectorType"),
        ("status" = Option<String>, Query, description = "OCPI Status of any EVSE"),
        ("bbox" = Option<String>, Query, description = "min_lon,min_lat,max_lon,max_lat"),
        ("near" = Option<String>, Query, description = "lat,lon; with radius_m"),
        ("radius_m" = Option<f64>, Query),
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
    let st = state.clone();
    let (total, page) = web::block(move || -> Result<_, ApiError> {
        let stale = stale_origins(&st.store)?;
        let mut total = 0usize;
        let page = st.london.each(|key, copy, all| {
            if !filter.matches(key, &copy.location) {
                return None;
            }
            total += 1;
            let i = total - 1;
            (i >= filter.offset && i < filter.offset + filter.limit)
                .then(|| london_json(copy, all, &stale))
        });
        Ok((total, page))
    })
    .await
    .map_err(|e| ApiError::Blocking(e.to_string()))??;
    let offset = Filter::parse(req.query_string())?.offset;
    let mut res = HttpResponse::Ok();
    res.insert_header(("X-Total-Count", total.to_string()));
    let next = offset + page.len();
    if next < total && !page.is_empty() {
        let query: Vec<(String, String)> =
            url::form_urlencoded::parse(req.query_string().as_bytes())
                .filter(|(k, _)| k != "offset")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .chain([("offset".to_owned(), next.to_string())])
                .collect();
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        let info = req.connection_info();
        res.insert_header((
            "Link",
            format!(
                "<{}://{}{}?{query}>; rel=\"next\"",
                info.scheme(),
                info.host(),
                req.path()
            ),
        ));
    }
    Ok(res.json(page))
}

fn key_of(path: &(String, String, String)) -> Key {
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
        return Err(ApiError::NotFound(format!(
            "no location {}/{}",
            key.0, key.1
        )));
    };
    let st = state.clone();
    let stale = web::block(move || stale_origins(&st.store))
        .await
        .map_err(|e| ApiError::Blocking(e.to_string()))??;
    Ok(HttpResponse::Ok().json(london_json(served, &copies, &stale)))
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
        return Err(ApiError::NotFound(format!(
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
            _ => return Err(ApiError::Query(format!("unknown parameter {k:?}"))),
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
            *by_status.entry(erased::Named::name(&e.status)).or_default() += 1;
        }
        Some(())
    });
    let evses: u64 = by_status.values().sum();
    HttpResponse::Ok().json(json!({"locations": count, "evses": evses, "by_status": by_status}))
}

#[derive(Debug, Default, Serialize)]
struct BoroughStats {
    borough: String,
    locations: u64,
    evses: u64,
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

/// Per borough: locations, EVSEs, connectors by power class, availability now, smart-charging
/// share.
#[utoipa::path(tag = "london", responses((status = 200, body = Object)))]
#[get("/v1/london/stats/boroughs")]
pub async fn borough_stats(state: web::Data<AppState>) -> HttpResponse {
    let mut stats: BTreeMap<String, (BoroughStats, u64)> = BTreeMap::new();
    state.london.each(|_, copy, _| {
        let loc = &copy.location;
        let borough = loc
            .evfed
            .borough
            .as_ref()
            .map_or("none".to_owned(), |b| b.as_str().to_owned());
        let (s, smart) = stats.entry(borough.clone()).or_default();
        s.borough = borough;
        s.locations += 1;
        for e in &loc.evses {
            s.evses += 1;
            if erased::Named::name(&e.status) == "AVAILABLE" {
                s.evses_available += 1;
            }
            if e.capabilities
                .iter()
                .any(|c| erased::Named::name(c) == "CHARGING_PROFILE_CAPABLE")
            {
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
            return Err(ApiError::NotFound(format!(
                "no export format {other:?}: csv, geojson or json"
            )));
        }
    };
    let filter = Filter::parse(req.query_string())?;
    let st = state.clone();
    let body = web::block(move || -> Result<Vec<u8>, ApiError> {
        let stale = stale_origins(&st.store)?;
        let copies = st.london.each(|key, copy, all| {
            filter
                .matches(key, &copy.location)
                .then(|| (copy.clone(), all.to_vec()))
        });
        let rows: Vec<crate::exports::Row<'_>> = copies
            .iter()
            .map(|(copy, all)| crate::exports::Row {
                copy,
                sources: all.iter().map(|c| c.origin.as_str()).collect(),
                stale: stale.contains(&copy.origin),
            })
            .collect();
        let bytes = match format.as_str() {
            "csv" => crate::exports::csv(&rows)
                .map_err(|e| ApiError::Blocking(format!("writing CSV: {e}")))?,
            "geojson" => serde_json::to_vec(&crate::exports::geojson(&rows))
                .map_err(|e| ApiError::Blocking(e.to_string()))?,
            _ => serde_json::to_vec(&crate::exports::ocpi(&rows))
                .map_err(|e| ApiError::Blocking(e.to_string()))?,
        };
        Ok(bytes)
    })
    .await
    .map_err(|e| ApiError::Blocking(e.to_string()))??;
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"london-locations.{ext}\""),
        ))
        .body(body))
}

/// Most periods × areas one usage answer holds; a longer answer asks for a coarser bucket.
const MAX_FIGURES: usize = 50_000;

fn usage_query(query: &str, store: &Store) -> Result<crate::usage::Query, ApiError> {
    use crate::usage::{Area, Bucket, Query, parse_time};
    let mut q = Query {
        from_ms: i64::MIN,
        to_ms: crate::commands::unix_ms(),
        bucket: Bucket::Day,
        area: Area::Borough,
        borough: None,
        ward: None,
    };
    let mut from = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let time = |v: &str| {
            parse_time(v).ok_or_else(|| {
                ApiError::Query(format!(
                    "{k}={v:?} is not an RFC 3339 time or a YYYY-MM-DD date"
                ))
            })
        };
        match k.as_ref() {
            "from" => from = Some(time(&v)?),
            "to" => q.to_ms = time(&v)?,
            "by" => {
                q.bucket = match v.as_ref() {
                    "hour" => Bucket::Hour,
                    "day" => Bucket::Day,
                    "month" => Bucket::Month,
                    _ => return Err(ApiError::Query("by is hour, day or month".into())),
                }
            }
            "area" => {
                q.area = match v.as_ref() {
                    "borough" => Area::Borough,
                    "ward" => Area::Ward,
                    "london" => Area::London,
                    _ => return Err(ApiError::Query("area is borough, ward or london".into())),
                }
            }
            "borough" => q.borough = Some(v.into_owned()),
            "ward" => q.ward = Some(v.into_owned()),
            other => return Err(ApiError::Query(format!("unknown parameter {other:?}"))),
        }
    }
    q.from_ms = match from {
        Some(f) => f,
        // From the first data: monthly trends have no cap.
        None => store
            .read(crate::usage::extent)?
            .map_or(q.to_ms, |(first, _)| first),
    };
    if q.from_ms >= q.to_ms {
        return Err(ApiError::Query("from must be before to".into()));
    }
    Ok(q)
}

async fn usage_answer(
    state: web::Data<AppState>,
    caller: evfed_node::http::Caller,
    query: String,
) -> Result<HttpResponse, ApiError> {
    caller.require("usage:read")?;
    let st = state.clone();
    let figures = blocking(move || {
        let q = usage_query(&query, &st.store)?;
        let counts = st.london.evses_by_area();
        let figures = st.store.read(|c| {
            crate::usage::figures(c, &q, &|area| counts.get(area).copied().unwrap_or(0))
        })?;
        if figures.len() > MAX_FIGURES {
            return Err(ApiError::Query(format!(
                "{} figures is more than {MAX_FIGURES}: ask for a shorter range or a coarser `by`",
                figures.len()
            )));
        }
        Ok(figures)
    })
    .await?;
    Ok(HttpResponse::Ok().json(figures))
}

/// Sessions, kWh and utilisation by borough or ward per hour, day or month over any range
/// (scope `usage:read`). Without `from`, from the first data.
#[utoipa::path(tag = "usage", security(("bearer" = ["usage:read"])),
    params(
        ("from" = Option<String>, Query, description = "RFC 3339 time or YYYY-MM-DD; default: the first data"),
        ("to" = Option<String>, Query, description = "exclusive; default: now"),
        ("by" = Option<String>, Query, description = "hour, day (default) or month"),
        ("area" = Option<String>, Query, description = "borough (default), ward or london"),
        ("borough" = Option<String>, Query),
        ("ward" = Option<String>, Query),
    ),
    responses((status = 200, body = Vec<crate::usage::Figure>),
              (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/london/usage")]
pub async fn usage_stats(
    state: web::Data<AppState>,
    caller: evfed_node::http::Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    usage_answer(state, caller, req.query_string().to_owned()).await
}

/// Monthly trends by borough since the first data (scope `usage:read`).
#[utoipa::path(tag = "usage", security(("bearer" = ["usage:read"])),
    responses((status = 200, body = Vec<crate::usage::Figure>),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/london/usage/trends")]
pub async fn usage_trends(
    state: web::Data<AppState>,
    caller: evfed_node::http::Caller,
) -> Result<HttpResponse, ApiError> {
    usage_answer(state, caller, "by=month&area=borough".to_owned()).await
}

/// Share of the range during which every EVSE of the location was busy (scope `usage:read`).
#[utoipa::path(tag = "usage", security(("bearer" = ["usage:read"])),
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path),
           ("from" = Option<String>, Query, description = "default: 30 days before `to`"),
           ("to" = Option<String>, Query, description = "exclusive; default: now")),
    responses((status = 200, body = crate::usage::Saturation),
              (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/london/locations/{country_code}/{party_id}/{location_id}/saturation")]
pub async fn saturation(
    state: web::Data<AppState>,
    caller: evfed_node::http::Caller,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require("usage:read")?;
    let key = key_of(&path);
    let Some(served) = state.london.get(&key).into_iter().next() else {
        return Err(ApiError::NotFound(format!(
            "no location {}/{}",
            key.0, key.1
        )));
    };
    let mut to = crate::commands::unix_ms();
    let mut from = None;
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        let t = crate::usage::parse_time(&v)
            .ok_or_else(|| ApiError::Query(format!("{k}={v:?} is not a time or a date")))?;
        match k.as_ref() {
            "from" => from = Some(t),
            "to" => to = t,
            other => return Err(ApiError::Query(format!("unknown parameter {other:?}"))),
        }
    }
    let from = from.unwrap_or(to - 30 * 24 * crate::store::HOUR_MS);
    if from >= to {
        return Err(ApiError::Query("from must be before to".into()));
    }
    let evses = served.location.evses.len();
    let st = state.clone();
    let found = blocking(move || {
        Ok(st
            .store
            .read(|c| crate::usage::saturation(c, &key.0, &key.1, evses, from, to))?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(found))
}

/// Every supplier's compliance status, or one supplier's, computed now.
async fn compliance_statuses(
    state: &web::Data<AppState>,
    caller: &evfed_node::http::Caller,
    only: Option<String>,
) -> Result<Vec<crate::compliance::SupplierStatus>, ApiError> {
    if !state.compliance_open {
        caller.require("usage:read")?;
    }
    let state = state.clone();
    web::block(move || -> Result<_, ApiError> {
        let register = crate::compliance::Register::load(&state.dir)
            .map_err(|e| ApiError::Blocking(format!("the supplier register: {e}")))?;
        let all_members = state.store.members()?;
        let inputs = crate::compliance::Inputs {
            store: &state.store,
            london: &state.london,
            members: &all_members,
            thresholds: &register.thresholds,
            now_ms: crate::commands::unix_ms(),
        };
        let mut out = Vec::new();
        for s in register
            .suppliers
            .iter()
            .filter(|s| only.as_ref().is_none_or(|id| &s.id == id))
        {
            out.push(
                s.status(&inputs)
                    .map_err(|e| ApiError::Blocking(e.to_string()))?,
            );
        }
        if let Some(id) = only
            && out.is_empty()
        {
            return Err(ApiError::NotFound(format!("no supplier {id}")));
        }
        Ok(out)
    })
    .await
    .map_err(|e| ApiError::Blocking(e.to_string()))?
}

/// Every DPS supplier with its compliance status and reasons (open unless configured
/// otherwise: with `compliance_open = false`, scope `usage:read`).
#[utoipa::path(tag = "compliance", security((), ("bearer" = ["usage:read"])),
    responses((status = 200, body = Vec<crate::compliance::SupplierStatus>),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/compliance/suppliers")]
pub async fn compliance_suppliers(
    state: web::Data<AppState>,
    caller: evfed_node::http::Caller,
) -> Result<HttpResponse, ApiError> {
    let all = compliance_statuses(&state, &caller, None).await?;
    Ok(HttpResponse::Ok().json(all))
}

/// One DPS supplier's compliance status: every indicator with its figures, colour and reasons.
#[utoipa::path(tag = "compliance", params(("id" = String, Path)),
    security((), ("bearer" = ["usage:read"])),
    responses((status = 200, body = crate::compliance::SupplierStatus),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/compliance/suppliers/{id}")]
pub async fn compliance_supplier(
    state: web::Data<AppState>,
    caller: evfed_node::http::Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let mut one = compliance_statuses(&state, &caller, Some(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(one.pop()))
}

/// A supplier's evidence report, signed by the aggregator and citing the member checkpoints it
/// rests on: `report.json` (verify with `evfed-conformance verify-report`), `report.csv`, or
/// `report.html` (printable; carries the signed JSON).
#[utoipa::path(tag = "compliance",
    params(("id" = String, Path), ("format" = String, Path, description = "json, csv or html")),
    security((), ("bearer" = ["usage:read"])),
    responses((status = 200, description = "the signed report"),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/compliance/suppliers/{id}/report.{format}")]
pub async fn compliance_report(
    state: web::Data<AppState>,
    caller: evfed_node::http::Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, format) = path.into_inner();
    // The token first: a restricted report's formats are no one's business without it.
    if !state.compliance_open {
        caller.require("usage:read")?;
    }
    if !matches!(format.as_str(), "json" | "csv" | "html") {
        return Err(ApiError::NotFound(format!("no report format {format:?}")));
    }
    let mut one = compliance_statuses(&state, &caller, Some(id)).await?;
    let Some(supplier) = one.pop() else {
        return Err(ApiError::NotFound("no such supplier".into()));
    };
    let st = state.clone();
    let signed = web::block(move || -> Result<Value, ApiError> {
        let register = crate::compliance::Register::load(&st.dir)
            .map_err(|e| ApiError::Blocking(e.to_string()))?;
        let all_members = st.store.members()?;
        crate::compliance::report::signed(
            &supplier,
            &register.thresholds,
            &all_members,
            crate::commands::unix_ms(),
            &st.origin,
            &st.report_key,
        )
        .map_err(|e| ApiError::Blocking(e.to_string()))
    })
    .await
    .map_err(|e| ApiError::Blocking(e.to_string()))??;
    Ok(match format.as_str() {
        "csv" => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(
                crate::compliance::report::csv(&signed)
                    .map_err(|e| ApiError::Blocking(e.to_string()))?,
            ),
        "html" => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(crate::compliance::report::html(&signed)),
        _ => HttpResponse::Ok().json(signed),
    })
}

/// A stored conformance report, summarised.
fn run_summary(origin: &str, at_ms: i64, passed: bool, report: &[u8]) -> Value {
    let r: Value = serde_json::from_slice(report).unwrap_or(Value::Null);
    json!({
        "origin": origin,
        "at": evfed_spec::time::DateTime::from_unix_millis(at_ms).map(|d| d.to_string()),
        "passed": passed,
        "level": r["level"],
        "target": r["target"],
        "counts": r["counts"],
        "failed": r["results"].as_array().map(|rs| rs.iter()
            .filter(|c| c["outcome"] == "fail")
            .map(|c| json!({"id": c["id"], "section": c["section"], "required": c["required"]}))
            .collect::<Vec<_>>()),
        "skipped": r["results"].as_array().map(|rs| rs.iter()
            .filter(|c| c["outcome"] == "skip")
            .map(|c| json!({"id": c["id"], "reason": c["evidence"]["message"]}))
            .collect::<Vec<_>>()),
    })
}

/// Every member's latest conformance run: when, whether it passed, counts and failed cases.
#[utoipa::path(tag = "conformance", responses((status = 200, body = Vec<Object>)))]
#[get("/v1/conformance/members")]
pub async fn conformance_members(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let runs = blocking(move || Ok(st.store.latest_conformance_runs()?)).await?;
    let out: Vec<Value> = runs
        .iter()
        .map(|(origin, at, passed, report)| run_summary(origin, *at, *passed, report))
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

/// One member's conformance runs in the last 30 days (newest first) and its latest full report
/// (every case with its evidence).
#[utoipa::path(tag = "conformance", params(("origin" = String, Path)),
    responses((status = 200, body = Object),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/conformance/members/{origin}")]
pub async fn conformance_member(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let origin = path.into_inner();
    let st = state.clone();
    let o = origin.clone();
    let (runs, latest) = blocking(move || {
        let since = crate::commands::unix_ms() - 30 * 24 * crate::store::HOUR_MS;
        Ok((
            st.store.conformance_runs(std::slice::from_ref(&o), since)?,
            st.store.latest_conformance_report(&o)?,
        ))
    })
    .await?;
    let Some((_, report)) = latest else {
        return Err(ApiError::NotFound(format!(
            "no conformance run of {origin}"
        )));
    };
    let report: Value = serde_json::from_slice(&report).unwrap_or(Value::Null);
    Ok(HttpResponse::Ok().json(json!({
        "origin": origin,
        "runs": runs.iter().map(|(_, at, passed)| json!({
            "at": evfed_spec::time::DateTime::from_unix_millis(*at).map(|d| d.to_string()),
            "passed": passed,
        })).collect::<Vec<_>>(),
        "latest": report,
    })))
}
