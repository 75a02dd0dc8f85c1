//! Operations endpoints (spec §10.8) and the fallback that answers unknown paths with
//! `not-found` and known paths with the wrong method with `method-not-allowed` + `Allow`.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, get, guard, web};

use super::{ApiError, AppState};
use crate::store::LogId;

/// The process is running.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Running")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// Ready: accepting requests, with a checkpoint covering the whole log and no refusal to sign.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Ready"), (status = 503, description = "Not ready")))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if let Some(reason) = state.signer.refused() {
        return Err(ApiError::unavailable(reason));
    }
    if state.signer.note(LogId::Public).is_empty() {
        return Err(ApiError::unavailable("no checkpoint signed yet"));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain")
        .body("ready\n"))
}

/// Prometheus text exposition.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Prometheus metrics", content_type = "text/plain; version=0.0.4", body = String)))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let m = &state.metrics;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP evfed_http_responses_total HTTP responses by status class."
    );
    let _ = writeln!(out, "# TYPE evfed_http_responses_total counter");
    for (i, c) in m.requests.iter().enumerate() {
        let _ = writeln!(
            out,
            "evfed_http_responses_total{{class=\"{}xx\"}} {}",
            i + 1,
            c.load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "# HELP evfed_log_entries_appended_total Log entries appended by this process."
    );
    let _ = writeln!(out, "# TYPE evfed_log_entries_appended_total counter");
    let _ = writeln!(
        out,
        "evfed_log_entries_appended_total {}",
        m.entries_appended.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP evfed_checkpoints_signed_total Checkpoints signed by this process."
    );
    let _ = writeln!(out, "# TYPE evfed_checkpoints_signed_total counter");
    let _ = writeln!(
        out,
        "evfed_checkpoints_signed_total {}",
        m.checkpoints_signed.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "# HELP evfed_log_size Entries in each log.");
    let _ = writeln!(out, "# TYPE evfed_log_size gauge");
    let _ = writeln!(
        out,
        "# HELP evfed_log_signed_size Entries covered by each log's latest checkpoint."
    );
    let _ = writeln!(out, "# TYPE evfed_log_signed_size gauge");
    for (log, name) in [(LogId::Public, "public"), (LogId::Restricted, "restricted")] {
        let _ = writeln!(
            out,
            "evfed_log_size{{log=\"{name}\"}} {}",
            state.store.size(log)
        );
        let _ = writeln!(
            out,
            "evfed_log_signed_size{{log=\"{name}\"}} {}",
            state.signer.signed_size(log)
        );
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out)
}

/// This node's OpenAPI 3.1 document.
#[utoipa::path(tag = "operations", responses((status = 200, description = "OpenAPI document", body = serde_json::Value)))]
#[get("/openapi.json")]
pub async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi_json.clone())
}

/// `GET`/`HEAD /docs`: a permanent redirect (`308`) to `/docs/`, where Swagger UI is (its
/// assets are relative to the trailing slash). Not in the OpenAPI document, like Swagger UI.
pub fn docs_redirect() -> actix_web::Resource {
    read_only("/docs", || async {
        HttpResponse::PermanentRedirect()
            .insert_header((header::LOCATION, "/docs/"))
            .finish()
    })
}

/// A resource outside the OpenAPI document (which the fallback's `405`s follow) that answers
/// `GET` and `HEAD` with `handler`, and any other method `method-not-allowed`.
pub fn read_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(
            web::route()
                .guard(guard::Any(guard::Get()).or(guard::Head()))
                .to(handler),
        )
        .default_service(web::to(|| async {
            ApiError::MethodNotAllowed {
                allow: "GET, HEAD".to_owned(),
            }
            .error_response()
        }))
}

/// The documented paths and their methods, for `405` answers.
#[derive(Debug)]
pub struct RouteTable {
    routes: Vec<(Vec<String>, Vec<String>)>,
}

impl RouteTable {
    pub fn from_document(doc: &utoipa::openapi::OpenApi) -> Self {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path.split('/').map(str::to_owned).collect();
                let mut methods: Vec<String> = serde_json::to_value(item)
                    .ok()
                    .and_then(|v| {
                        v.as_object()
                            .map(|o| o.keys().map(|k| k.to_ascii_uppercase()).collect())
                    })
                    .unwrap_or_default();
                methods
                    .retain(|m| matches!(m.as_str(), "GET" | "PUT" | "PATCH" | "POST" | "DELETE"));
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".into());
                }
                (segments, methods)
            })
            .collect();
        Self { routes }
    }

    /// The methods defined for `path`, if any route matches it.
    pub fn allowed(&self, path: &str) -> Option<String> {
        let parts: Vec<&str> = path.split('/').collect();
        let mut allow: Vec<&str> = Vec::new();
        for (segments, methods) in &self.routes {
            let matches = segments.len() == parts.len()
                && segments
                    .iter()
                    .zip(&parts)
                    .all(|(s, p)| (s.starts_with('{') && !p.is_empty()) || s == p);
            if matches {
                allow.extend(methods.iter().map(String::as_str));
            }
        }
        allow.sort_unstable();
        allow.dedup();
        (!allow.is_empty()).then(|| allow.join(", "))
    }
}

/// Unknown path: `not-found`; known path, other method: `method-not-allowed`; in OCPI's
/// envelope under `/ocpi`.
pub async fn fallback(req: HttpRequest, routes: web::Data<RouteTable>) -> HttpResponse {
    let allow = routes.allowed(req.path());
    if super::ocpi::is_ocpi(req.path()) {
        let message = match &allow {
            Some(allow) => format!("allowed: {allow}"),
            None => format!("no OCPI resource at {}", req.path()),
        };
        return super::ocpi::OcpiError::NoRoute { message, allow }.error_response();
    }
    match allow {
        Some(allow) => ApiError::MethodNotAllowed { allow },
        None => ApiError::not_found(format!("no resource at {}", req.path())),
    }
    .error_response()
}
