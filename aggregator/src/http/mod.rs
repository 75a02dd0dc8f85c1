//! The aggregator's HTTP API, by resource: members, admin, the London view, usage, compliance,
//! conformance and the dashboard. Handlers are thin: parse, one call into the domain, map the
//! answer; every failure goes through [`ApiError`].

mod admin;
mod compliance;
mod conformance;
mod federation;
mod figures;
mod ui;
mod usage;
mod view;

pub use admin::*;
pub use compliance::*;
pub use conformance::*;
pub use federation::*;
pub use figures::*;
pub use ui::*;
pub use usage::*;
pub use view::*;

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use evfed_node::embed::http::Register;
use futures_util::future::LocalBoxFuture;

use crate::london::London;
use crate::store::{Store, StoreError};

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
    /// What compliance statuses are computed from, kept between requests.
    pub compliance_cache: crate::compliance::Cache,
    /// The dashboard's configuration and caches.
    pub dashboard: Arc<crate::dashboard::Dashboard>,
}

/// Largest page of a list.
pub const MAX_LIMIT: usize = 1000;

/// The one error of the HTTP layer, the node's: every failure is problem+json with a stable
/// code. A store failure maps as follows.
pub use evfed_node::embed::http::ApiError;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoMember(_) => ApiError::not_found(e.to_string()),
            StoreError::Duplicate(_) => ApiError::conflict(e.to_string()),
            e => ApiError::Internal(e.to_string()),
        }
    }
}

/// Largest admin request body.
const MAX_ADMIN_BODY: usize = 64 * 1024;

/// Registers every route of the aggregator's own API on `app` (the served app's
/// `ServiceConfig`, or a `UtoipaApp` for [`route_operations`]).
pub fn routes<A: Register>(app: A) -> A {
    app.service(members)
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
        .service(conformance_member)
        .service(areas_csv)
        .service(boundaries)
        .service(areas)
        .service(trends)
        .service(needs_csv)
        .service(needs)
        .service(map_points)
        .service(status_stream)
        .service(dashboard_config)
        .service(location_details)
}

/// The dashboard's page and files: not API operations, so registered apart from [`routes`]
/// and last (after the authorization server's routes).
pub fn pages(cfg: &mut web::ServiceConfig) {
    cfg.service(index).service(file);
}

/// The operations of every route of the aggregator's own API and its authorization server,
/// as utoipa-actix-web collects them from the real registrations: the paths part of its
/// OpenAPI document (`crate::openapi` adds the rest), so no route is listed twice.
pub fn route_operations() -> utoipa::openapi::OpenApi {
    use utoipa_actix_web::AppExt as _;
    let app = routes(actix_web::App::new().into_utoipa_app());
    crate::oauth::http::routes(app).split_for_parts().1
}

/// The aggregator's open-data reads besides the node's (which the edge allows cross-origin):
/// the London view and its exports (not usage analytics or saturation, which need
/// `usage:read`), members, conformance results, the authorization server's keys, and
/// compliance when `compliance_open`.
pub fn open_reads(compliance_open: bool) -> evfed_node::embed::http::OpenExtra {
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
        let caller = evfed_node::embed::http::Caller::from_request(req, payload);
        let issuer = req
            .app_data::<web::Data<crate::oauth::AuthServer>>()
            .map(|s| s.issuer.clone());
        Box::pin(async move {
            let caller = caller.await?;
            let issuer =
                issuer.ok_or_else(|| ApiError::Internal("no authorization server".into()))?;
            caller.require_from(&issuer, "admin")?;
            Ok(Admin)
        })
    }
}

/// A caller holding `usage:read` (usage analytics and saturation). Extracted before the
/// handler runs: no token or an invalid one is `401`, one without the scope `403`.
#[derive(Debug, Clone, Copy)]
pub struct UsageReader;

impl FromRequest for UsageReader {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = evfed_node::embed::http::Caller::from_request(req, payload);
        Box::pin(async move {
            caller.await?.require("usage:read")?;
            Ok(UsageReader)
        })
    }
}

/// A caller allowed to read compliance: anyone while `compliance_open` (the DPS's
/// transparency), else a holder of `usage:read`, as [`UsageReader`].
#[derive(Debug, Clone, Copy)]
pub struct ComplianceReader;

impl FromRequest for ComplianceReader {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let open = req
            .app_data::<web::Data<AppState>>()
            .is_some_and(|s| s.compliance_open);
        let reader = (!open).then(|| UsageReader::from_request(req, payload));
        Box::pin(async move {
            if let Some(reader) = reader {
                reader.await?;
            }
            Ok(ComplianceReader)
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
        return Err(ApiError::invalid_json("the body must be application/json"));
    }
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::invalid_json(e.to_string()))?;
        if bytes.len() + chunk.len() > MAX_ADMIN_BODY {
            return Err(ApiError::too_large(format!(
                "bodies are limited to {MAX_ADMIN_BODY} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::invalid_json(e.to_string()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(f)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}
