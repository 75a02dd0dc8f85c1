//! `/.well-known/evfed`: the discovery document (spec §3.4).

use actix_web::{HttpResponse, get, web};
use evfed_spec::api::{Discovery, Endpoints};

use super::{ApiError, AppState};

/// Who this node is: origin, verifier keys, kind, borough, parties and endpoint URLs (relative
/// to this document).
#[utoipa::path(tag = "discovery", responses((status = 200, body = Discovery)))]
#[get("/.well-known/evfed")]
pub async fn well_known(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let c = &state.config;
    let doc = Discovery {
        spec_version: "1".into(),
        standard: Some("1.1".into()),
        origin: c.origin.to_string(),
        vkeys: state.vkeys.clone(),
        kind: c.kind.as_str().into(),
        borough: c.borough.as_ref().map(|b| b.as_str().to_owned()),
        parties: c.parties.iter().map(ToString::to_string).collect(),
        endpoints: Endpoints {
            locations: "/v1/locations".into(),
            tariffs: "/v1/tariffs".into(),
            status: "/v1/status".into(),
            sessions: Some("/v1/sessions".into()),
            log: "/v1/log".into(),
            restricted_log: "/v1/restricted/log".into(),
            ocpi_versions: "/ocpi/versions".into(),
            openapi: "/openapi.json".into(),
        },
    };
    let body = serde_json::to_vec(&doc).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}
