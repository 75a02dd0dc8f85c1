//! `/.well-known/evfed`: the discovery document (spec §3.4).

use actix_web::{HttpResponse, get, web};
use evfed_spec::api::{AreaRef, Discovery, Endpoints};

use super::{ApiError, AppState};

/// Who this node is: origin, verifier keys, kind, area, parties and endpoint URLs (relative
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
        borough: c.area.as_ref().map(|b| b.as_str().to_owned()),
        area: c
            .area
            .as_ref()
            .and_then(|code| c.area_set.set.get(code.as_str()))
            .map(|a| AreaRef {
                code: a.code.clone(),
                name: a.name.clone(),
                level: a.level.as_str().to_owned(),
            }),
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
            areas: Some("/v1/areas".into()),
        },
    };
    let body = serde_json::to_vec(&doc).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// The node's area set (§4.4): the GeoJSON FeatureCollection of authorities and wards, with
/// codes, names, levels, parents and boundary vintage, by which the node places every
/// location. Readers check a location's claimed authority and ward against it.
#[utoipa::path(
    tag = "discovery",
    responses((status = 200, description = "A GeoJSON FeatureCollection (RFC 7946)", content_type = "application/geo+json", body = Object))
)]
#[get("/v1/areas")]
pub async fn areas(state: web::Data<AppState>) -> HttpResponse {
    let set = state.config.area_set;
    HttpResponse::Ok()
        .content_type("application/geo+json")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(set.geojson)
}
