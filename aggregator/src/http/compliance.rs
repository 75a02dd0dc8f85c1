//! DPS supplier compliance: statuses and signed evidence reports.

use actix_web::{HttpResponse, get, web};
use evfed_spec::problem::Problem;

use super::{ApiError, AppState, ComplianceReader, blocking};

/// Every supplier's compliance status, or one supplier's, computed now from cached inputs
/// (`compliance::statuses_cached`), with the register and members they were computed under.
async fn compliance_statuses(
    state: &web::Data<AppState>,
    only: Option<String>,
) -> Result<crate::compliance::Statuses, ApiError> {
    let state = state.clone();
    blocking(move || {
        let statuses = crate::compliance::statuses_cached(
            &state.compliance_cache,
            &state.dir,
            &state.store,
            &state.london,
            crate::commands::unix_ms(),
            only.as_deref(),
        )
        .map_err(|e| ApiError::Internal(format!("compliance: {e}")))?;
        if let Some(id) = only
            && statuses.suppliers.is_empty()
        {
            return Err(ApiError::not_found(format!("no supplier {id}")));
        }
        Ok(statuses)
    })
    .await
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
    _reader: ComplianceReader,
) -> Result<HttpResponse, ApiError> {
    let all = compliance_statuses(&state, None).await?;
    Ok(HttpResponse::Ok().json(all.suppliers))
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
    _reader: ComplianceReader,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let mut one = compliance_statuses(&state, Some(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(one.suppliers.pop()))
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
    _reader: ComplianceReader,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, format) = path.into_inner();
    if !matches!(format.as_str(), "json" | "csv" | "html") {
        return Err(ApiError::not_found(format!("no report format {format:?}")));
    }
    let mut one = compliance_statuses(&state, Some(id)).await?;
    let Some(supplier) = one.suppliers.pop() else {
        return Err(ApiError::not_found("no such supplier"));
    };
    let signed = crate::compliance::report::signed(
        &supplier,
        &one.register.thresholds,
        &one.members,
        crate::commands::unix_ms(),
        &state.origin,
        &state.report_key,
    )
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(match format.as_str() {
        "csv" => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(
                crate::compliance::report::csv(&signed)
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
            ),
        "html" => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(crate::compliance::report::html(&signed)),
        _ => HttpResponse::Ok().json(signed),
    })
}
