//! `/v1/tariffs`: writes (PUT, DELETE) and open reads of Tariffs (spec §10.3, §10.5).

use std::sync::atomic::Ordering;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};
use evfed_spec::ids::Party;
use evfed_spec::ocpi::Tariff;
use evfed_spec::problem::Problem;
use evfed_spec::time::DateTime;

use super::auth::Writer;
use super::body::JsonBody;
use super::pages::{ListParams, cached_list};
use super::{ApiError, AppState, blocking, json_bytes, written_response};
use crate::domain::records::{self, TariffKey};
use crate::store::{Hidden, Store};

/// Tariffs, paginated; filters `date_from`/`date_to` (on `last_updated`) and `party`.
#[utoipa::path(
    tag = "tariffs",
    params(
        ("offset" = Option<u64>, Query), ("limit" = Option<u64>, Query),
        ("date_from" = Option<String>, Query), ("date_to" = Option<String>, Query),
        ("party" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "A page of tariffs (bare array)", body = Vec<Tariff>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/tariffs")]
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let params = ListParams::parse(&req)?;
    let filter = params.filter(Hidden::None);
    let (offset, limit) = (params.offset, params.limit);
    let load = move |s: &Store| Ok(s.read(|r| r.tariffs(&filter, offset, limit))?);
    cached_list(&state, &req, &params, load).await
}

/// One tariff.
#[utoipa::path(
    tag = "tariffs",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("tariff_id" = String, Path)),
    responses((status = 200, body = Tariff), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
#[get("/v1/tariffs/{country_code}/{party_id}/{tariff_id}")]
pub async fn get_tariff(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let key = key(&path)?;
    let st = state.clone();
    let body = blocking(move || {
        Ok(st
            .store
            .read(|r| r.tariff(&key.party.to_string(), key.id.as_str()))?)
    })
    .await?;
    body.map(|b| json_bytes(StatusCode::OK, b))
        .ok_or_else(|| ApiError::not_found("no such tariff"))
}

/// Creates or replaces a tariff.
#[utoipa::path(
    tag = "tariffs",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("tariff_id" = String, Path)),
    request_body = Tariff,
    responses(
        (status = 200, body = Tariff), (status = 201, body = Tariff),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["data:write"]))
)]
#[put("/v1/tariffs/{country_code}/{party_id}/{tariff_id}")]
pub async fn put_tariff(
    state: web::Data<AppState>,
    Writer(party): Writer,
    path: web::Path<(String, String, String)>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let key = key(&path)?;
    let st = state.clone();
    let w = blocking(move || {
        Ok(records::put_tariff(
            &st.store,
            &st.policy,
            &party,
            &key,
            &body.0,
            DateTime::now(),
        )?)
    })
    .await?;
    Ok(written_response(&state, w))
}

/// Removes a tariff.
#[utoipa::path(
    tag = "tariffs",
    params(("country_code" = String, Path), ("party_id" = String, Path), ("tariff_id" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["data:write"]))
)]
#[delete("/v1/tariffs/{country_code}/{party_id}/{tariff_id}")]
pub async fn delete_tariff(
    state: web::Data<AppState>,
    Writer(party): Writer,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let key = key(&path)?;
    let st = state.clone();
    blocking(move || {
        Ok(records::delete_tariff(
            &st.store,
            &st.policy,
            &party,
            &key,
            DateTime::now(),
        )?)
    })
    .await?;
    state
        .metrics
        .entries_appended
        .fetch_add(1, Ordering::Relaxed);
    Ok(HttpResponse::NoContent().finish())
}

fn key(path: &(String, String, String)) -> Result<TariffKey, ApiError> {
    let nf = || ApiError::not_found("no such tariff");
    Ok(TariffKey {
        party: Party::new(
            path.0.clone().try_into().map_err(|_| nf())?,
            path.1.clone().try_into().map_err(|_| nf())?,
        ),
        id: path.2.clone().try_into().map_err(|_| nf())?,
    })
}
