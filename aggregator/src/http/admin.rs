//! The admin API for members: list, add, remove, re-admit (scope `admin`).

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use evfed_spec::problem::Problem;

use super::{Admin, ApiError, AppState, blocking, json_body};

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
    let member = spec.check().map_err(ApiError::invalid_field)?;
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
    let r = spec.check(&origin).map_err(ApiError::invalid_field)?;
    let st = state.clone();
    let member = blocking(move || {
        st.store.readmit(&origin, &r, crate::commands::unix_ms())?;
        st.london.forget(&origin);
        Ok(st.store.member(r.origin.as_deref().unwrap_or(&origin))?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(member))
}
