//! Members' conformance runs.

use actix_web::{HttpResponse, get, web};
use evfed_spec::problem::Problem;
use serde_json::{Value, json};

use super::{ApiError, AppState, blocking};

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
        return Err(ApiError::not_found(format!(
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
