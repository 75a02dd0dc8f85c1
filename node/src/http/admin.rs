//! `/v1/admin/*`: node-operations endpoints for the node's own tools (scope `admin`), outside
//! the standard. `POST /v1/admin/locations` is how `evfed-node import` writes into a node that
//! is serving (the serving process owns the database and the log heads); the
//! `/v1/admin/ocpi/registrations` endpoints are how `evfed-node ocpi register|list|revoke`
//! manage OCPI credentials there.

use std::sync::atomic::Ordering;

use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, delete, dev::Payload, get, post, web};
use evfed_spec::api::{ItemResult, OcpiCredential, OcpiRegistration, OcpiRegistrationRequest};
use evfed_spec::ids::Party;
use evfed_spec::ocpi::{self, Location};
use evfed_spec::problem::{Problem, ProblemCode};
use evfed_spec::time::DateTime;
use serde_json::value::RawValue;

use super::body::JsonBody;
use super::{ApiError, AppState, Caller, blocking, json_bytes};
use crate::domain::import::{self, BatchOptions};
use crate::domain::records::MAX_BATCH;
use crate::receiver::credentials;

/// A caller with scope `admin`; extracted before the body, so a request without one is refused
/// before its body is read.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        Box::pin(async move { caller.await?.require("admin").map(|_| Admin) })
    }
}

/// Up to 1,000 whole Locations at once, each accepted or rejected on its own.
///
/// Creates or replaces Locations of any party the node accepts, each as its own `PUT` would
/// (same checks, no-churn rule and log entries); the answer lists one result per item, in
/// order. With `dry_run=true` nothing is kept. For the node's own `import` command while the
/// node serves; a node-operations endpoint, not part of the standard.
#[utoipa::path(
    tag = "operations",
    params(
        ("dry_run" = Option<bool>, Query, description = "Check and report, keep nothing (default false)"),
    ),
    request_body(content = Vec<Location>, description = "At most 1,000 OCPI Locations, bounded like every body by max_body_bytes"),
    responses(
        (status = 200, description = "One result per item, in request order", body = Vec<ItemResult>),
        (status = 400, description = "invalid-json, invalid-query", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["admin"]))
)]
#[post("/v1/admin/locations")]
pub async fn post_locations(
    state: web::Data<AppState>,
    _admin: Admin,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let opts = BatchOptions {
        dry_run: dry_run(req.query_string())?,
    };
    let st = state.clone();
    let results = blocking(move || {
        let items = items(&body.0)?;
        Ok(import::put_locations(
            &st.store,
            &st.policy,
            items,
            DateTime::now(),
            opts,
        )?)
    })
    .await?;
    let appended: u64 = results.iter().map(|r| r.appended).sum();
    state
        .metrics
        .entries_appended
        .fetch_add(appended, Ordering::Relaxed);
    let body = serde_json::to_vec(&results).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(json_bytes(StatusCode::OK, body))
}

/// Makes an OCPI registration token (token A) for an operator's platform, bound to one party.
///
/// The token is shown once (the node keeps its hash), is valid for `ttl_seconds` (default 7
/// days), and serves only the credentials handshake. A party already registered keeps its
/// credential until a handshake with the new token replaces it. For `evfed-node ocpi register`
/// while the node serves; a node-operations endpoint, not part of the standard.
#[utoipa::path(
    tag = "operations",
    request_body = OcpiRegistrationRequest,
    responses(
        (status = 201, description = "The registration token", body = OcpiRegistration),
        (status = 400, description = "invalid-json, invalid-field", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "forbidden, party-mismatch (a party the node does not accept)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The node has no ocpi_party configured", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["admin"]))
)]
#[post("/v1/admin/ocpi/registrations")]
pub async fn post_ocpi_registration(
    state: web::Data<AppState>,
    _admin: Admin,
    req: HttpRequest,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let asked: OcpiRegistrationRequest = serde_json::from_slice(&body.0).map_err(|e| {
        let code = if e.is_data() {
            ProblemCode::InvalidField
        } else {
            ProblemCode::InvalidJson
        };
        ApiError::Problem {
            code,
            detail: format!("the body must be {{\"party\": \"CC*PID\", \"ttl_seconds\": N}}: {e}"),
        }
    })?;
    state
        .config
        .ocpi_party_for_registration()
        .map_err(|e| ApiError::Problem {
            code: ProblemCode::Conflict,
            detail: e.to_string(),
        })?;
    let ttl = asked
        .ttl_seconds
        .map(Duration::from_secs)
        .unwrap_or(credentials::DEFAULT_TTL);
    let st = state.clone();
    let party = asked.party.clone();
    let reg = blocking(move || {
        Ok(credentials::register(
            &st.store,
            &st.policy,
            &party,
            ttl,
            DateTime::now(),
        )?)
    })
    .await?;
    let body = OcpiRegistration {
        party: reg.party,
        token: reg.token.expose().to_owned(),
        expires_at: reg.expires_at,
        versions_url: format!("{}/ocpi/versions", super::ocpi::base_url(&req)),
    };
    let body = serde_json::to_vec(&body).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Created()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

/// Every OCPI credential the node holds, by party (no tokens: the node keeps only hashes).
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, body = Vec<OcpiCredential>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["admin"]))
)]
#[get("/v1/admin/ocpi/registrations")]
pub async fn get_ocpi_registrations(
    state: web::Data<AppState>,
    _admin: Admin,
) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let list = blocking(move || Ok(credentials::list(&st.store)?)).await?;
    let list: Vec<OcpiCredential> = list
        .into_iter()
        .map(|c| OcpiCredential {
            party: c.party,
            pending_until: c.pending_until,
            registered_at: c.registered_at,
            client_url: c.client_url,
        })
        .collect();
    let body = serde_json::to_vec(&list).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(json_bytes(StatusCode::OK, body))
}

/// Revokes a party's OCPI credential: its tokens stop working at once.
#[utoipa::path(
    tag = "operations",
    params(("country_code" = String, Path), ("party_id" = String, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The party has no credential", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["admin"]))
)]
#[delete("/v1/admin/ocpi/registrations/{country_code}/{party_id}")]
pub async fn delete_ocpi_registration(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cc, pid) = path.into_inner();
    let party: Party = format!("{cc}*{pid}")
        .parse()
        .map_err(|_| ApiError::not_found("no such party"))?;
    let st = state.clone();
    let what = format!("party {party} has no OCPI credential");
    let removed = blocking(move || Ok(credentials::unregister(&st.store, &party)?)).await?;
    if removed {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(what))
    }
}

/// The body's items, each parsed on its own so that one bad item rejects only itself.
fn items(body: &[u8]) -> Result<Vec<Result<Location, crate::domain::Error>>, ApiError> {
    let raw: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| {
        let code = if e.is_data() {
            ProblemCode::InvalidField
        } else {
            ProblemCode::InvalidJson
        };
        ApiError::Problem {
            code,
            detail: format!("the body must be a JSON array of Locations: {e}"),
        }
    })?;
    if raw.len() > MAX_BATCH {
        return Err(ApiError::Problem {
            code: ProblemCode::PayloadTooLarge,
            detail: format!(
                "a batch holds at most {MAX_BATCH} items; this one has {}",
                raw.len()
            ),
        });
    }
    Ok(raw
        .into_iter()
        .map(|item| {
            ocpi::parse::<Location>(item.get().as_bytes())
                .map(|p| p.value)
                .map_err(Into::into)
        })
        .collect())
}

fn dry_run(query: &str) -> Result<bool, ApiError> {
    let mut dry = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("dry_run", "true") => dry = true,
            ("dry_run", "false") => dry = false,
            ("dry_run", other) => {
                return Err(ApiError::query(format!(
                    "dry_run must be true or false, not {other:?}"
                )));
            }
            (name, _) => {
                return Err(ApiError::query(format!("unknown parameter {name:?}")));
            }
        }
    }
    Ok(dry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_items() {
        assert!(!dry_run("").unwrap());
        assert!(dry_run("dry_run=true").unwrap());
        assert!(dry_run("dry_run=yes").is_err());
        assert!(dry_run("limit=3").is_err());
        assert!(matches!(
            items(b"{}"),
            Err(ApiError::Problem {
                code: ProblemCode::InvalidField,
                ..
            })
        ));
        assert!(matches!(
            items(b"[1,"),
            Err(ApiError::Problem {
                code: ProblemCode::InvalidJson,
                ..
            })
        ));
        let parsed = items(br#"[{"id": 1}, {}]"#).unwrap();
        assert_eq!(parsed.len(), 2);
        assert!(parsed.iter().all(Result::is_err));
    }
}
