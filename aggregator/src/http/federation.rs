//! Members and their evidence and history (open).

use actix_web::{HttpResponse, get, web};
use evfed_spec::problem::Problem;

use super::{ApiError, AppState, blocking};

/// Every member with its harvest state (open).
#[utoipa::path(tag = "members", responses((status = 200, body = Vec<crate::store::Member>)))]
#[get("/v1/members")]
pub async fn members(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let members = web::block(move || st.store.members())
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
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
    .map_err(|e| ApiError::Internal(e.to_string()))??;
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
