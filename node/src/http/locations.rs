//! `/v1/locations`: OCPI receiver writes (PUT, PATCH) and open reads of Locations, EVSEs and
//! Connectors (spec §10.3, §10.5).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, patch, put, web};
use evfed_spec::ids::{ConnectorId, EvseUid, Party};
use evfed_spec::ocpi::{Connector, Evse, Location};
use evfed_spec::problem::Problem;
use evfed_spec::time::DateTime;

use super::auth::Writer;
use super::body::JsonBody;
use super::pages::{ListParams, array_response, cached_list};
use super::{ApiError, AppState, Caller, blocking, json_bytes, written_response};
use crate::domain::records::{self, LocationKey, Method, Part, Viewer};
use crate::store::{Hidden, Store};

/// Published locations, paginated; filters `date_from`/`date_to` (on `last_updated`), `borough`,
/// `party`. Tokens widen the list to hidden locations they may see.
#[utoipa::path(
    tag = "locations",
    params(
        ("offset" = Option<u64>, Query, description = "Objects to skip (default 0)"),
        ("limit" = Option<u64>, Query, description = "Page size (default 100, at most 1000)"),
        ("date_from" = Option<String>, Query, description = "last_updated ≥ this DateTime"),
        ("date_to" = Option<String>, Query, description = "last_updated < this DateTime"),
        ("borough" = Option<String>, Query, description = "ONS GSS code of a borough"),
        ("party" = Option<String>, Query, description = "CC*PID"),
    ),
    responses(
        (status = 200, description = "A page of locations (bare array); headers X-Total-Count, Link", body = Vec<Location>),
        (status = 400, description = "invalid-query", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/locations")]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let params = ListParams::parse(&req)?;
    let hidden = hidden(&caller.viewer());
    let anonymous = hidden == Hidden::None;
    let filter = params.filter(hidden);
    let (offset, limit) = (params.offset, params.limit);
    let load = move |s: &Store| Ok(records::list_locations(s, &filter, offset, limit)?);
    if anonymous {
        // Only what everyone may see is cached.
        return cached_list(&state, &req, &params, load).await;
    }
    let st = state.clone();
    let page = blocking(move || load(&st.store)).await?;
    Ok(array_response(&req, &params, &page))
}

/// One location with its EVSEs, Connectors and `evfed` member.
#[utoipa::path(
    tag = "locations",
    params(
        ("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path),
    ),
    responses(
        (status = 200, body = Location),
        (status = 404, description = "not-found (also for hidden locations)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/locations/{country_code}/{party_id}/{location_id}")]
pub async fn get_location(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cc, pid, lid) = path.into_inner();
    read(
        state,
        caller.viewer(),
        key(&cc, &pid, &lid)?,
        Part::Location,
    )
    .await
}

/// One EVSE.
#[utoipa::path(
    tag = "locations",
    params(
        ("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path),
        ("evse_uid" = String, Path),
    ),
    responses(
        (status = 200, body = Evse),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/locations/{country_code}/{party_id}/{location_id}/{evse_uid}")]
pub async fn get_evse(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cc, pid, lid, uid) = path.into_inner();
    read(
        state,
        caller.viewer(),
        key(&cc, &pid, &lid)?,
        Part::Evse(evse_uid(&uid)?),
    )
    .await
}

/// One Connector.
#[utoipa::path(
    tag = "locations",
    params(
        ("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path),
        ("evse_uid" = String, Path), ("connector_id" = String, Path),
    ),
    responses(
        (status = 200, body = Connector),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/locations/{country_code}/{party_id}/{location_id}/{evse_uid}/{connector_id}")]
pub async fn get_connector(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String, String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cc, pid, lid, uid, cid) = path.into_inner();
    let part = Part::Connector(evse_uid(&uid)?, connector_id(&cid)?);
    read(state, caller.viewer(), key(&cc, &pid, &lid)?, part).await
}

/// Creates or replaces a whole Location (OCPI receiver PUT). Needs `data:write` for its party.
#[utoipa::path(
    tag = "locations",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path)),
    request_body = Location,
    responses(
        (status = 200, description = "Replaced (or unchanged)", body = Location),
        (status = 201, description = "Created", body = Location),
        (status = 400, description = "invalid-json, invalid-field", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, party-mismatch", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["data:write"]))
)]
#[put("/v1/locations/{country_code}/{party_id}/{location_id}")]
pub async fn put_location(
    state: web::Data<AppState>,
    writer: Writer,
    path: web::Path<(String, String, String)>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (cc, pid, lid) = path.into_inner();
    write(
        state,
        writer,
        (cc, pid, lid),
        Part::Location,
        Method::Put,
        body,
    )
    .await
}

/// Changes members of a Location; `last_updated` is required, absent or null members are kept.
#[utoipa::path(
    tag = "locations",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path)),
    request_body(content = serde_json::Value, description = "Members to change, with last_updated"),
    responses(
        (status = 200, body = Location),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["data:write"]))
)]
#[patch("/v1/locations/{country_code}/{party_id}/{location_id}")]
pub async fn patch_location(
    state: web::Data<AppState>,
    writer: Writer,
    path: web::Path<(String, String, String)>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (cc, pid, lid) = path.into_inner();
    write(
        state,
        writer,
        (cc, pid, lid),
        Part::Location,
        Method::Patch,
        body,
    )
    .await
}

/// Creates or replaces one EVSE of an existing Location.
#[utoipa::path(
    tag = "locations",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path), ("evse_uid" = String, Path)),
    request_body = Evse,
    responses((status = 200, body = Evse), (status = 201, body = Evse), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["data:write"]))
)]
#[put("/v1/locations/{country_code}/{party_id}/{location_id}/{evse_uid}")]
pub async fn put_evse(
    state: web::Data<AppState>,
    writer: Writer,
    path: web::Path<(String, String, String, String)>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (cc, pid, lid, uid) = path.into_inner();
    let part = Part::Evse(evse_uid(&uid)?);
    write(state, writer, (cc, pid, lid), part, Method::Put, body).await
}

/// Changes members of one EVSE (e.g. `status` with `last_updated`: logged as `evse_status`).
#[utoipa::path(
    tag = "locations",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path), ("evse_uid" = String, Path)),
    request_body(content = serde_json::Value, description = "Members to change, with last_updated"),
    responses((status = 200, body = Evse), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["data:write"]))
)]
#[patch("/v1/locations/{country_code}/{party_id}/{location_id}/{evse_uid}")]
pub async fn patch_evse(
    state: web::Data<AppState>,
    writer: Writer,
    path: web::Path<(String, String, String, String)>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (cc, pid, lid, uid) = path.into_inner();
    let part = Part::Evse(evse_uid(&uid)?);
    write(state, writer, (cc, pid, lid), part, Method::Patch, body).await
}

/// Creates or replaces one Connector of an existing EVSE.
#[utoipa::path(
    tag = "locations",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path), ("evse_uid" = String, Path), ("connector_id" = String, Path)),
    request_body = Connector,
    responses((status = 200, body = Connector), (status = 201, body = Connector), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["data:write"]))
)]
#[put("/v1/locations/{country_code}/{party_id}/{location_id}/{evse_uid}/{connector_id}")]
pub async fn put_connector(
    state: web::Data<AppState>,
    writer: Writer,
    path: web::Path<(String, String, String, String, String)>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (cc, pid, lid, uid, cid) = path.into_inner();
    let part = Part::Connector(evse_uid(&uid)?, connector_id(&cid)?);
    write(state, writer, (cc, pid, lid), part, Method::Put, body).await
}

/// Changes members of one Connector.
#[utoipa::path(
    tag = "locations",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("location_id" = String, Path), ("evse_uid" = String, Path), ("connector_id" = String, Path)),
    request_body(content = serde_json::Value, description = "Members to change, with last_updated"),
    responses((status = 200, body = Connector), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["data:write"]))
)]
#[patch("/v1/locations/{country_code}/{party_id}/{location_id}/{evse_uid}/{connector_id}")]
pub async fn patch_connector(
    state: web::Data<AppState>,
    writer: Writer,
    path: web::Path<(String, String, String, String, String)>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (cc, pid, lid, uid, cid) = path.into_inner();
    let part = Part::Connector(evse_uid(&uid)?, connector_id(&cid)?);
    write(state, writer, (cc, pid, lid), part, Method::Patch, body).await
}

async fn read(
    state: web::Data<AppState>,
    viewer: Viewer,
    key: LocationKey,
    part: Part,
) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let body =
        blocking(move || Ok(records::read_location(&st.store, &viewer, &key, &part)?)).await?;
    match body {
        Some(b) => Ok(json_bytes(StatusCode::OK, b)),
        None => Err(ApiError::not_found("no such object")),
    }
}

async fn write(
    state: web::Data<AppState>,
    Writer(party): Writer,
    (cc, pid, lid): (String, String, String),
    part: Part,
    method: Method,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let key = key(&cc, &pid, &lid)?;
    let st = state.clone();
    let written = blocking(move || {
        Ok(records::write_location(
            &st.store,
            &st.policy,
            &party,
            &key,
            &part,
            method,
            &body.0,
            DateTime::now(),
        )?)
    })
    .await?;
    Ok(written_response(&state, written))
}

/// Hidden rows a viewer may list.
pub fn hidden(viewer: &Viewer) -> Hidden {
    match (&viewer.all_hidden, &viewer.writer_for) {
        (true, _) => Hidden::All,
        (false, Some(p)) => Hidden::Party(p.to_string()),
        (false, None) => Hidden::None,
    }
}

/// A location key from path segments; a malformed id is simply not found.
pub fn key(cc: &str, pid: &str, lid: &str) -> Result<LocationKey, ApiError> {
    let nf = || ApiError::not_found("no such location");
    Ok(LocationKey {
        party: Party::new(
            cc.to_owned().try_into().map_err(|_| nf())?,
            pid.to_owned().try_into().map_err(|_| nf())?,
        ),
        id: lid.to_owned().try_into().map_err(|_| nf())?,
    })
}

fn evse_uid(s: &str) -> Result<EvseUid, ApiError> {
    s.to_owned()
        .try_into()
        .map_err(|_| ApiError::not_found("no such EVSE"))
}

fn connector_id(s: &str) -> Result<ConnectorId, ApiError> {
    s.to_owned()
        .try_into()
        .map_err(|_| ApiError::not_found("no such connector"))
}
