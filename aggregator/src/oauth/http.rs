//! The authorization server's routes: `POST /oauth2/token` (RFC 6749 JSON errors, never
//! problem+json), RFC 8414 metadata, the JWKS, and the clients admin API (problem+json, an
//! `admin` access token of this authorization server like `/v1/admin/members`).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, delete, get, post, web};
use evfed_node::embed::http::Register;
use evfed_spec::problem::{CONTENT_TYPE, Problem, ProblemCode};
use futures_util::StreamExt as _;
use serde_json::json;
use utoipa::OpenApi;

use super::keys::Keys;
use super::token::{OAuthError, TokenRequest, TokenResponse, grant};
use super::{AuthServer, ClientSpec};
use crate::http::Admin;
use crate::store::StoreError;

/// Largest token request body.
pub const MAX_TOKEN_BODY: usize = 16 * 1024;

#[derive(OpenApi)]
#[openapi(components(schemas(
    TokenResponse,
    OAuthErrorBody,
    super::Client,
    super::ClientSpec,
    super::Registered
)))]
#[derive(Debug)]
pub struct OauthApi;

/// An RFC 6749 §5.2 error body.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `unsupported_grant_type`, `invalid_scope`,
    /// `invalid_target` or `server_error`.
    pub error: String,
    pub error_description: Option<String>,
}

/// The errors of the clients admin API (problem+json).
#[derive(Debug, thiserror::Error)]
pub enum ClientsError {
    #[error(transparent)]
    Admin(crate::http::ApiError),
    #[error("{0}")]
    Invalid(String),
    #[error("no client {0}")]
    NotFound(String),
    #[error("client {0} is already registered")]
    Conflict(String),
    #[error("{0}")]
    Internal(String),
}

/// Registers the authorization server's routes on `app`.
pub fn routes<A: Register>(app: A) -> A {
    app.service(token)
        .service(metadata)
        .service(jwks)
        .service(admin_clients)
        .service(admin_add_client)
        .service(admin_remove_client)
}

/// Access tokens by the client credentials grant (RFC 6749 §4.4).
///
/// Client authentication `client_secret_basic` or `private_key_jwt` (RFC 7523, EdDSA);
/// `resource` (RFC 8707) names the node's origin the token is for; `scope` (optional) a subset
/// of the client's scopes. Errors are RFC 6749 JSON.
#[utoipa::path(tag = "oauth",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
                 description = "grant_type=client_credentials&resource=ORIGIN[&scope=…]\
                                [&client_assertion_type=…&client_assertion=JWT]"),
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, body = OAuthErrorBody, description = "invalid_request, unsupported_grant_type, invalid_scope, invalid_target"),
        (status = 401, body = OAuthErrorBody, description = "invalid_client"),
    ))]
#[post("/oauth2/token")]
pub async fn token(
    server: web::Data<AuthServer>,
    req: HttpRequest,
    mut body: web::Payload,
) -> HttpResponse {
    let form_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return oauth_error(&OAuthError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded".into(),
        ));
    }
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(c) if bytes.len() + c.len() <= MAX_TOKEN_BODY => bytes.extend_from_slice(&c),
            Ok(_) => {
                return oauth_error(&OAuthError::InvalidRequest(format!(
                    "the body is larger than {MAX_TOKEN_BODY} bytes"
                )));
            }
            Err(_) => {
                return oauth_error(&OAuthError::InvalidRequest("the body was cut short".into()));
            }
        }
    }
    let request = TokenRequest {
        authorization: req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        form: url::form_urlencoded::parse(&bytes).into_owned().collect(),
    };
    let now = evfed_spec::time::DateTime::now().unix_seconds().max(0) as u64;
    let answer = web::block(move || grant(&server, &request, now))
        .await
        .unwrap_or_else(|e| Err(OAuthError::Server(e.to_string())));
    match answer {
        Ok(t) => no_store(HttpResponse::Ok()).json(t),
        Err(e) => oauth_error(&e),
    }
}

/// RFC 8414 authorization server metadata.
#[utoipa::path(tag = "oauth", responses((status = 200, body = Object)))]
#[get("/.well-known/oauth-authorization-server")]
pub async fn metadata(server: web::Data<AuthServer>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "issuer": server.issuer,
        "token_endpoint": server.token_endpoint(),
        "jwks_uri": server.jwks_uri(),
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA"],
        "scopes_supported": super::SCOPES,
        "resource_indicators_supported": true,
    }))
}

/// The signing keys (RFC 7517): the current one and, after a rotation, the previous one.
#[utoipa::path(tag = "oauth", responses((status = 200, body = Object)))]
#[get("/oauth2/jwks")]
pub async fn jwks(server: web::Data<AuthServer>) -> HttpResponse {
    let dir = server.dir.clone();
    match web::block(move || Keys::load(&dir)).await {
        Ok(Ok(keys)) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "max-age=300"))
            .json(keys.jwks()),
        Ok(Err(e)) => {
            tracing::error!(error = %format!("{e:#}"), "reading the OAuth keys");
            HttpResponse::InternalServerError().finish()
        }
        Err(e) => {
            tracing::error!(error = %e, "reading the OAuth keys");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// Every OAuth client (admin).
#[utoipa::path(tag = "admin", security(("bearer" = ["admin"])),
    responses((status = 200, body = Vec<super::Client>),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json")))]
#[get("/v1/admin/clients")]
pub async fn admin_clients(
    _admin: Admin,
    server: web::Data<AuthServer>,
) -> Result<HttpResponse, ClientsError> {
    let all = blocking(move || Ok(server.store.clients()?)).await?;
    Ok(HttpResponse::Ok().json(all))
}

/// Registers an OAuth client (admin); a `client_secret_basic` client's secret is in this
/// answer only.
#[utoipa::path(tag = "admin", security(("bearer" = ["admin"])), request_body = super::ClientSpec,
    responses((status = 201, body = super::Registered),
              (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json")))]
#[post("/v1/admin/clients")]
pub async fn admin_add_client(
    _admin: Admin,
    server: web::Data<AuthServer>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ClientsError> {
    let spec: ClientSpec = crate::http::json_body(&req, body)
        .await
        .map_err(ClientsError::Admin)?;
    let registered = spec
        .check(crate::commands::unix_ms())
        .map_err(ClientsError::Invalid)?;
    let registered = blocking(move || {
        server.store.add_client(&registered.client)?;
        Ok(registered)
    })
    .await?;
    Ok(no_store(HttpResponse::Created()).json(registered))
}

/// Removes an OAuth client (admin); tokens it holds stay valid until they expire.
#[utoipa::path(tag = "admin", security(("bearer" = ["admin"])), params(("id" = String, Path)),
    responses((status = 204),
              (status = 401, body = Problem, content_type = "application/problem+json"),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
#[delete("/v1/admin/clients/{id}")]
pub async fn admin_remove_client(
    _admin: Admin,
    server: web::Data<AuthServer>,
    id: web::Path<String>,
) -> Result<HttpResponse, ClientsError> {
    let id = id.into_inner();
    let gone = {
        let id = id.clone();
        blocking(move || Ok(server.store.remove_client(&id)?)).await?
    };
    if gone {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ClientsError::NotFound(id))
    }
}

impl From<StoreError> for ClientsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate(what) => {
                ClientsError::Conflict(what.trim_start_matches("client ").to_owned())
            }
            other => ClientsError::Internal(other.to_string()),
        }
    }
}

impl ResponseError for ClientsError {
    fn status_code(&self) -> StatusCode {
        match self {
            ClientsError::Admin(e) => e.status_code(),
            ClientsError::Invalid(_) => StatusCode::BAD_REQUEST,
            ClientsError::NotFound(_) => StatusCode::NOT_FOUND,
            ClientsError::Conflict(_) => StatusCode::CONFLICT,
            ClientsError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (code, detail) = match self {
            ClientsError::Admin(e) => return e.error_response(),
            ClientsError::Invalid(_) => (ProblemCode::InvalidField, Some(self.to_string())),
            ClientsError::NotFound(_) => (ProblemCode::NotFound, Some(self.to_string())),
            ClientsError::Conflict(_) => (ProblemCode::Conflict, Some(self.to_string())),
            ClientsError::Internal(_) => {
                tracing::error!(error = %self, "clients request failed");
                (ProblemCode::Internal, None)
            }
        };
        HttpResponse::build(self.status_code())
            .content_type(CONTENT_TYPE)
            .json(Problem::new(code, detail))
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ClientsError> + Send + 'static,
) -> Result<T, ClientsError> {
    web::block(f)
        .await
        .map_err(|e| ClientsError::Internal(e.to_string()))?
}

fn no_store(mut res: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
    res
}

/// An RFC 6749 §5.2 error answer; `invalid_client` is 401 with a `Basic` challenge.
fn oauth_error(e: &OAuthError) -> HttpResponse {
    let description = match e {
        OAuthError::Server(detail) => {
            tracing::error!(error = %detail, "token request failed");
            None
        }
        other => Some(other.to_string()),
    };
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = no_store(HttpResponse::build(status));
    if let OAuthError::InvalidClient(_) = e {
        res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"evfed\""));
    }
    res.json(OAuthErrorBody {
        error: e.code().to_owned(),
        error_description: description,
    })
}
