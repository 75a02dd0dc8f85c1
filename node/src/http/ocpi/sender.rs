//! The OCPI 2.2.1 Sender interface for Locations and Tariffs (spec §10.7): OCPI envelope, OCPI
//! status codes and pagination, no credentials, published data only, and no `evfed` member.
//! The version details also list the receiver modules and credentials (`receiver`,
//! `credentials`), which are for operators that push.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use evfed_spec::ocpi::{
    Connector, Endpoint, Evse, InterfaceRole, Location, OcpiErrorResponse, OcpiResponse, Tariff,
    Version, VersionDetails,
};
use serde_json::Value;

use super::envelope::{
    INVALID_PARAMETERS, SERVER_ERROR, SUCCESS, UNKNOWN_LOCATION, base_url, envelope,
    success_around, without_evfed,
};
use crate::domain::records;
use crate::http::pages::{ListParams, RenderedPage, cached};
use crate::http::{ApiError, AppState, TREE_SIZE_HEADER, blocking};
use crate::store::Hidden;

/// OCPI versions endpoint.
#[utoipa::path(tag = "ocpi", responses((status = 200, description = "OCPI response with the version list", body = OcpiResponse<Vec<Version>>)))]
#[get("/ocpi/versions")]
pub async fn versions(req: HttpRequest) -> HttpResponse {
    let versions = [Version {
        version: "2.2.1".into(),
        url: format!("{}/ocpi/2.2.1", base_url(&req)),
    }];
    envelope(StatusCode::OK, SUCCESS, None, Some(data(&versions)))
}

/// OCPI 2.2.1 version details: Locations and Tariffs as SENDER (open); credentials, and
/// Locations, Tariffs, Sessions and CDRs as RECEIVER (for registered operators).
#[utoipa::path(tag = "ocpi", responses((status = 200, description = "OCPI response with the endpoint list", body = OcpiResponse<VersionDetails>)))]
#[get("/ocpi/2.2.1")]
pub async fn version_details(req: HttpRequest) -> HttpResponse {
    let base = base_url(&req);
    let module = |identifier: &str, role, path: &str| Endpoint {
        identifier: identifier.into(),
        role,
        url: format!("{base}/ocpi/2.2.1/{path}"),
    };
    use InterfaceRole::{Receiver, Sender};
    let details = VersionDetails {
        version: "2.2.1".into(),
        endpoints: vec![
            module("credentials", Sender, "credentials"),
            module("locations", Sender, "locations"),
            module("tariffs", Sender, "tariffs"),
            module("locations", Receiver, "receiver/locations"),
            module("tariffs", Receiver, "receiver/tariffs"),
            module("sessions", Receiver, "receiver/sessions"),
            module("cdrs", Receiver, "receiver/cdrs"),
        ],
    };
    envelope(StatusCode::OK, SUCCESS, None, Some(data(&details)))
}

/// Published locations, OCPI-paginated.
#[utoipa::path(
    tag = "ocpi",
    params(("offset" = Option<u64>, Query), ("limit" = Option<u64>, Query), ("date_from" = Option<String>, Query), ("date_to" = Option<String>, Query)),
    responses((status = 200, description = "OCPI response with a page of published Locations, \
                                            without `publish_allowed_to` or any `evfed` member; \
                                            headers Link, X-Total-Count, X-Limit", body = OcpiResponse<Vec<Location>>))
)]
#[get("/ocpi/2.2.1/locations")]
pub async fn locations(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    list(state, req, Kind::Locations).await
}

/// One published location by id.
#[utoipa::path(tag = "ocpi", params(("location_id" = String, Path)), responses(
    (status = 200, description = "OCPI response with the Location, without `publish_allowed_to` or any `evfed` member", body = OcpiResponse<Location>),
    (status = 404, description = "OCPI 2003: no published Location with this id, or several parties publish one", body = OcpiErrorResponse),
))]
#[get("/ocpi/2.2.1/locations/{location_id}")]
pub async fn location(state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    one(state, path.into_inner(), None, None).await
}

/// One EVSE of a published location.
#[utoipa::path(tag = "ocpi", params(("location_id" = String, Path), ("evse_uid" = String, Path)), responses(
    (status = 200, description = "OCPI response with the EVSE, without any `evfed` member", body = OcpiResponse<Evse>),
    (status = 404, description = "OCPI 2003: no such published Location or EVSE", body = OcpiErrorResponse),
))]
#[get("/ocpi/2.2.1/locations/{location_id}/{evse_uid}")]
pub async fn evse(state: web::Data<AppState>, path: web::Path<(String, String)>) -> HttpResponse {
    let (lid, uid) = path.into_inner();
    one(state, lid, Some(uid), None).await
}

/// One connector of a published location.
#[utoipa::path(tag = "ocpi", params(("location_id" = String, Path), ("evse_uid" = String, Path), ("connector_id" = String, Path)), responses(
    (status = 200, description = "OCPI response with the Connector, without any `evfed` member", body = OcpiResponse<Connector>),
    (status = 404, description = "OCPI 2003: no such published Location, EVSE or Connector", body = OcpiErrorResponse),
))]
#[get("/ocpi/2.2.1/locations/{location_id}/{evse_uid}/{connector_id}")]
pub async fn connector(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> HttpResponse {
    let (lid, uid, cid) = path.into_inner();
    one(state, lid, Some(uid), Some(cid)).await
}

/// Tariffs, OCPI-paginated.
#[utoipa::path(
    tag = "ocpi",
    params(("offset" = Option<u64>, Query), ("limit" = Option<u64>, Query), ("date_from" = Option<String>, Query), ("date_to" = Option<String>, Query)),
    responses((status = 200, description = "OCPI response with a page of Tariffs, without any \
                                            `evfed` member; headers Link, X-Total-Count, X-Limit", body = OcpiResponse<Vec<Tariff>>))
)]
#[get("/ocpi/2.2.1/tariffs")]
pub async fn tariffs(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    list(state, req, Kind::Tariffs).await
}

#[derive(Clone, Copy)]
enum Kind {
    Locations,
    Tariffs,
}

async fn list(state: web::Data<AppState>, req: HttpRequest, kind: Kind) -> HttpResponse {
    let params = match ListParams::parse(&req) {
        Ok(p) => p,
        Err(e) => {
            return envelope(
                StatusCode::BAD_REQUEST,
                INVALID_PARAMETERS,
                Some(e.to_string()),
                None,
            );
        }
    };
    // OCPI lists have no party or borough filters; ignore them rather than narrowing silently.
    let mut filter = params.filter(Hidden::None);
    filter.party = None;
    filter.borough = None;
    let (offset, limit) = (params.offset, params.limit);
    let path = req.path().to_owned();
    let query = req.query_string().to_owned();
    // Open data, the same for every caller: cached like an anonymous `/v1` page, as `data` only.
    let page = cached(&state, req.uri().to_string(), move |store| {
        let page = match kind {
            Kind::Locations => records::list_locations(store, &filter, offset, limit)?,
            Kind::Tariffs => store.read(|r| r.tariffs(&filter, offset, limit))?,
        };
        let items: Vec<Vec<u8>> = page
            .items
            .iter()
            .filter_map(|b| strip_evfed(b))
            .map(|v| serde_json::to_vec(&v).unwrap_or_default())
            .collect();
        Ok(RenderedPage::new(
            (&path, &query),
            offset,
            page.items.len(),
            page.total,
            page.tree_size,
            &items,
        ))
    })
    .await;
    let page = match page {
        Ok(p) => p,
        Err(e) => return server_error(e),
    };
    let mut res = success_around(page.body());
    let headers = res.headers_mut();
    insert(headers, "x-total-count", page.total().to_string());
    insert(headers, "x-limit", limit.to_string());
    insert(headers, TREE_SIZE_HEADER, page.tree_size().to_string());
    if let Some(next) = page.next() {
        insert(
            headers,
            "link",
            format!("<{}{next}>; rel=\"next\"", base_url(&req)),
        );
    }
    res
}

async fn one(
    state: web::Data<AppState>,
    lid: String,
    uid: Option<String>,
    cid: Option<String>,
) -> HttpResponse {
    let st = state.clone();
    let id = lid.clone();
    let found =
        blocking(move || Ok(records::published_locations_with_id(&st.store, &id, 2)?)).await;
    let found = match found {
        Ok(f) => f,
        Err(e) => return server_error(e),
    };
    let unknown = |msg: String| envelope(StatusCode::NOT_FOUND, UNKNOWN_LOCATION, Some(msg), None);
    let body = match found.as_slice() {
        [] => return unknown(format!("unknown location {lid}")),
        [one] => one,
        _ => {
            return unknown(format!(
                "location id {lid} is ambiguous: several parties publish it here; use /v1/locations/{{country_code}}/{{party_id}}/{lid}"
            ));
        }
    };
    let Some(loc) = strip_evfed(body) else {
        return server_error(ApiError::Internal("stored location is not JSON".into()));
    };
    let Some(uid) = uid else {
        return envelope(StatusCode::OK, SUCCESS, None, Some(loc));
    };
    let found = loc["evses"]
        .as_array()
        .and_then(|es| es.iter().find(|e| e["uid"] == uid.as_str()))
        .cloned();
    let Some(found) = found else {
        return unknown(format!("unknown EVSE {uid} in location {lid}"));
    };
    let Some(cid) = cid else {
        return envelope(StatusCode::OK, SUCCESS, None, Some(found));
    };
    match found["connectors"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == cid.as_str()))
    {
        Some(c) => envelope(StatusCode::OK, SUCCESS, None, Some(c.clone())),
        None => unknown(format!("unknown connector {cid} on EVSE {uid}")),
    }
}

/// The OCPI object without the `evfed` members and `publish_allowed_to` (spec §10.7).
fn strip_evfed(body: &[u8]) -> Option<Value> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    without_evfed(&mut v);
    if let Some(obj) = v.as_object_mut() {
        obj.remove("publish_allowed_to");
    }
    Some(v)
}

/// A wire type as the envelope's `data`. Serialising these plain structs cannot fail.
fn data(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or_default()
}

fn server_error(e: ApiError) -> HttpResponse {
    tracing::error!(error = %e, "OCPI request failed");
    envelope(
        StatusCode::INTERNAL_SERVER_ERROR,
        SERVER_ERROR,
        Some("internal error".into()),
        None,
    )
}

fn insert(headers: &mut actix_web::http::header::HeaderMap, name: &'static str, value: String) {
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&value) {
        headers.insert(actix_web::http::header::HeaderName::from_static(name), v);
    }
}
