//! `/v1/status` and `/v1/sessions`: batched writes, the compact status list, and the restricted
//! usage list (spec §10.4, §10.5).

use std::sync::atomic::Ordering;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use evfed_spec::api::BatchResult;
use evfed_spec::problem::Problem;
use evfed_spec::time::DateTime;
use evfed_spec::usage::{StatusChange, UsageRecord};

use super::auth::Writer;
use super::body::JsonBody;
use super::pages::{ListParams, array_response};
use super::{ApiError, AppState, Caller, blocking, json_bytes};
use crate::domain::records;
use crate::store::{Hidden, Page};

/// The current status of every published EVSE, one status change per EVSE; filters `party` and
/// `date_from`/`date_to` on `event_time`.
#[utoipa::path(
    tag = "status",
    params(
        ("offset" = Option<u64>, Query), ("limit" = Option<u64>, Query),
        ("date_from" = Option<String>, Query), ("date_to" = Option<String>, Query),
        ("party" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "A page of current statuses (bare array)", body = Vec<StatusChange>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/status")]
pub async fn get_status(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = ListParams::parse(&req)?;
    let filter = params.filter(Hidden::None);
    let (offset, limit) = (params.offset, params.limit);
    let st = state.clone();
    let page = blocking(move || Ok(st.store.read(|r| r.statuses(&filter, offset, limit))?)).await?;
    let items: Vec<Vec<u8>> = page
        .items
        .iter()
        .map(|s| {
            let (cc, pid) = s.party.split_once('*').unwrap_or((&s.party, ""));
            serde_json::to_vec(&serde_json::json!({
                "country_code": cc,
                "party_id": pid,
                "location_id": s.location_id,
                "evse_uid": s.uid,
                "status": s.status,
                "event_time": s.event_time,
            }))
            .unwrap_or_default()
        })
        .collect();
    let page = Page {
        total: page.total,
        items,
        tree_size: page.tree_size,
    };
    Ok(array_response(&req, &params, &page))
}

/// A batch of status changes, all or nothing; each item must belong to the token's party.
#[utoipa::path(
    tag = "status",
    request_body = Vec<StatusChange>,
    responses(
        (status = 200, body = BatchResult),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "an EVSE the node does not hold", body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["data:write"]))
)]
#[post("/v1/status")]
pub async fn post_status(
    state: web::Data<AppState>,
    Writer(party): Writer,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let result = blocking(move || {
        Ok(records::post_status(
            &st.store,
            &st.policy,
            &party,
            &body.0,
            DateTime::now(),
        )?)
    })
    .await?;
    batch_response(&state, result)
}

/// Usage records (charging sessions without personal data); needs `usage:read`.
#[utoipa::path(
    tag = "sessions",
    params(
        ("offset" = Option<u64>, Query), ("limit" = Option<u64>, Query),
        ("date_from" = Option<String>, Query), ("date_to" = Option<String>, Query),
        ("party" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "A page of usage records (bare array)", body = Vec<UsageRecord>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["usage:read"]))
)]
#[get("/v1/sessions")]
pub async fn get_sessions(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require("usage:read")?;
    let params = ListParams::parse(&req)?;
    let filter = params.filter(Hidden::None);
    let (offset, limit) = (params.offset, params.limit);
    let st = state.clone();
    let page = blocking(move || Ok(st.store.read(|r| r.sessions(&filter, offset, limit))?)).await?;
    Ok(array_response(&req, &params, &page))
}

/// A batch of usage records, all or nothing.
#[utoipa::path(
    tag = "sessions",
    request_body = Vec<UsageRecord>,
    responses(
        (status = 200, body = BatchResult),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["data:write"]))
)]
#[post("/v1/sessions")]
pub async fn post_sessions(
    state: web::Data<AppState>,
    Writer(party): Writer,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let result = blocking(move || {
        Ok(records::post_sessions(
            &st.store,
            &st.policy,
            &party,
            &body.0,
            DateTime::now(),
        )?)
    })
    .await?;
    batch_response(&state, result)
}

fn batch_response(state: &AppState, result: BatchResult) -> Result<HttpResponse, ApiError> {
    state
        .metrics
        .entries_appended
        .fetch_add(result.appended, Ordering::Relaxed);
    let body = serde_json::to_vec(&result).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(json_bytes(StatusCode::OK, body))
}
