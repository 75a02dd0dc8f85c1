//! The OCPI 2.2.1 credentials module (OCPI §7.2) at `/ocpi/2.2.1/credentials`: `POST` with
//! the registration token (A) is the handshake, `GET`, `PUT` (rotation) and `DELETE`
//! (unregistration) need the node's token (C). The work is `receiver::credentials`'.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use evfed_spec::ocpi::{Credentials, OcpiAck, OcpiErrorResponse, OcpiResponse};
use evfed_spec::time::DateTime;
use serde_json::{Value, json};

use super::OcpiBody;
use super::auth::Presented;
use super::envelope::{Module, OcpiError, SUCCESS, base_url, envelope};
use crate::domain::Error as DomainError;
use crate::http::{AppState, blocking};
use crate::receiver::credentials::{self, Stage, Token};

/// The role the node takes in the credentials it gives: OCPI's National Access Point, a
/// database of public charging locations.
const NODE_ROLE: &str = "NAP";

/// The node's credentials for the caller (its token C, which the request presented).
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_get_credentials",
    responses(
        (status = 200, description = "OCPI response with the node's credentials object", body = OcpiResponse<Credentials>),
        (status = 401, description = "No valid token", body = OcpiErrorResponse),
        (status = 405, description = "Not registered yet", body = OcpiErrorResponse),
    ),
    security(("ocpi_token" = []))
)]
#[get("/ocpi/2.2.1/credentials")]
pub async fn get_credentials(
    state: web::Data<AppState>,
    req: HttpRequest,
    presented: Presented,
) -> Result<HttpResponse, OcpiError> {
    require(&presented, Stage::Registered)?;
    let data = node_credentials(&state, &req, &presented.token)?;
    Ok(envelope(StatusCode::OK, SUCCESS, None, Some(data)))
}

/// The registration handshake: the client's credentials (its token B, versions URL and roles,
/// which must include the party the registration token was made for), sent with token A;
/// answered with the node's credentials and token C. Token A no longer works afterwards.
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_post_credentials",
    request_body(content = serde_json::Value, description = "The client's OCPI 2.2.1 credentials object"),
    responses(
        (status = 200, description = "OCPI response with the node's credentials object (token C)", body = OcpiResponse<Credentials>),
        (status = 400, description = "OCPI 2001: not a valid credentials object", body = OcpiErrorResponse),
        (status = 401, description = "No valid token", body = OcpiErrorResponse),
        (status = 403, description = "The roles do not include the registered party", body = OcpiErrorResponse),
        (status = 405, description = "Already registered: use PUT", body = OcpiErrorResponse),
    ),
    security(("ocpi_token" = []))
)]
#[post("/ocpi/2.2.1/credentials")]
pub async fn post_credentials(
    state: web::Data<AppState>,
    req: HttpRequest,
    presented: Presented,
    body: OcpiBody,
) -> Result<HttpResponse, OcpiError> {
    require(&presented, Stage::Pending)?;
    exchange(state, req, presented, Stage::Pending, body).await
}

/// Updates the client's credentials and rotates the node's token C.
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_put_credentials",
    request_body(content = serde_json::Value, description = "The client's OCPI 2.2.1 credentials object"),
    responses(
        (status = 200, description = "OCPI response with the node's credentials object (a new token C)", body = OcpiResponse<Credentials>),
        (status = 400, description = "OCPI 2001: the body or a path segment is invalid; nothing was written", body = OcpiErrorResponse),
        (status = 405, description = "Not registered yet: use POST", body = OcpiErrorResponse),
    ),
    security(("ocpi_token" = []))
)]
#[put("/ocpi/2.2.1/credentials")]
pub async fn put_credentials(
    state: web::Data<AppState>,
    req: HttpRequest,
    presented: Presented,
    body: OcpiBody,
) -> Result<HttpResponse, OcpiError> {
    require(&presented, Stage::Registered)?;
    exchange(state, req, presented, Stage::Registered, body).await
}

/// Unregisters: the credential (token C) no longer works.
#[utoipa::path(
    tag = "ocpi-receiver",
    operation_id = "ocpi_delete_credentials",
    responses((status = 200, description = "OCPI response without data: the credential no longer works", body = OcpiAck), (status = 405, description = "Not registered", body = OcpiErrorResponse)),
    security(("ocpi_token" = []))
)]
#[delete("/ocpi/2.2.1/credentials")]
pub async fn delete_credentials(
    state: web::Data<AppState>,
    presented: Presented,
) -> Result<HttpResponse, OcpiError> {
    require(&presented, Stage::Registered)?;
    let party = presented.credential.party;
    let st = state.clone();
    blocking(move || Ok(credentials::unregister(&st.store, &party)))
        .await?
        .map_err(|e| OcpiError::Domain(e, Module::Credentials))?;
    Ok(envelope(StatusCode::OK, SUCCESS, None, None))
}

async fn exchange(
    state: web::Data<AppState>,
    req: HttpRequest,
    presented: Presented,
    stage: Stage,
    body: OcpiBody,
) -> Result<HttpResponse, OcpiError> {
    // Refuse before token A is spent if the answer could not be given.
    let probe = node_credentials(&state, &req, &presented.token)?;
    let st = state.clone();
    let token = blocking(move || {
        Ok(
            credentials::client_credentials(&body.0, &presented.credential.party).and_then(
                |client| {
                    credentials::handshake(
                        &st.store,
                        &presented.token,
                        stage,
                        &client,
                        DateTime::now(),
                    )
                },
            ),
        )
    })
    .await?
    .map_err(|e| OcpiError::Domain(e, Module::Credentials))?;
    let mut data = probe;
    data["token"] = Value::String(token.expose().to_owned());
    Ok(envelope(StatusCode::OK, SUCCESS, None, Some(data)))
}

/// A `405` unless the presented token is at `stage`.
fn require(presented: &Presented, stage: Stage) -> Result<(), OcpiError> {
    match (presented.credential.stage, stage) {
        (have, want) if have == want => Ok(()),
        (Stage::Registered, _) => Err(OcpiError::NotAllowed(
            "already registered: PUT your credentials to update them, or DELETE to unregister"
                .into(),
        )),
        (Stage::Pending, _) => Err(OcpiError::NotAllowed(
            "not registered yet: POST your credentials with the registration token first".into(),
        )),
    }
}

/// The node's credentials object carrying `token`.
fn node_credentials(
    state: &AppState,
    req: &HttpRequest,
    token: &Token,
) -> Result<Value, OcpiError> {
    let Some(party) = &state.config.ocpi_party else {
        return Err(OcpiError::Domain(
            DomainError::Conflict(
                "this node is not set up for OCPI registration (no ocpi_party in its \
                 configuration); ask its operator"
                    .into(),
            ),
            Module::Credentials,
        ));
    };
    Ok(json!({
        "token": token.expose(),
        "url": format!("{}/ocpi/versions", base_url(req)),
        "roles": [{
            "role": NODE_ROLE,
            "country_code": party.country_code,
            "party_id": party.party_id,
            "business_details": {"name": state.config.origin.as_str()},
        }],
    }))
}
