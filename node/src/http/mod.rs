//! The HTTP layer: routes, extractors and the one error type. Handlers are thin: extract, one
//! domain call, map the result.
//!
//! Architecture Invariant: only this module knows actix-web. Every error leaves as RFC 9457
//! problem+json with a stable `code` (`ApiError`), except on the `/ocpi` routes, which answer in
//! OCPI's envelope with OCPI status codes (`ocpi::OcpiError`); every response carries
//! `Evfed-Tree-Size`.

mod admin;
mod auth;
mod batches;
mod body;
mod discovery;
mod edges;
mod home;
pub mod listen;
mod locations;
mod log;
mod ocpi;
mod ops;
mod pages;
pub mod server;
mod tariffs;
mod trace;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::body::MessageBody;
use actix_web::dev::HttpServiceFactory;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError, web};
use evfed_spec::problem::{CONTENT_TYPE, Problem, ProblemCode};
use utoipa_actix_web::{OpenApiFactory, UtoipaApp};

use crate::config::Config;
use crate::domain::Error as DomainError;
use crate::domain::records::Policy;
use crate::domain::signer::Signer;
use crate::store::{Store, StoreError};
use crate::tokens::{Issuer, TokenError};

pub use auth::Caller;
pub use edges::{Edges, OpenExtra};
pub use home::home_page;
pub use ops::RouteTable;

/// The response header naming the public log's size (spec §10.1), `Evfed-Tree-Size`.
pub const TREE_SIZE_HEADER: &str = "evfed-tree-size";

/// Everything handlers share.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub store: Arc<Store>,
    pub signer: Arc<Signer>,
    pub issuer: Issuer,
    /// Issuers trusted besides the built-in one.
    pub trusted: crate::trust::Trusted,
    pub policy: Policy,
    /// Verifier keys, current first.
    pub vkeys: Vec<String>,
    pub metrics: Metrics,
    /// Rendered anonymous list pages.
    pub pages: pages::PageCache,
    /// The OpenAPI document served at `/openapi.json`.
    pub openapi_json: String,
    /// Turns `true` when a graceful stop begins ([`listen::Listener::run`]): requests that wait
    /// (`GET …/checkpoint?newer_than=N`) answer at once instead of holding the stop up.
    pub stopping: tokio::sync::watch::Sender<bool>,
}

/// Counters exposed at `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub requests: [AtomicU64; 5],
    pub entries_appended: AtomicU64,
    pub checkpoints_signed: AtomicU64,
}

/// The one error type of the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Domain(#[from] DomainError),
    #[error("{detail}")]
    Problem { code: ProblemCode, detail: String },
    #[error("{0}")]
    Token(#[from] TokenError),
    /// No token where one is needed.
    #[error("this request needs a bearer token")]
    NoToken,
    #[error("the token lacks scope {0}")]
    Scope(&'static str),
    #[error("internal: {0}")]
    Internal(String),
    #[error("{allow}")]
    MethodNotAllowed { allow: String },
}

impl ApiError {
    pub fn query(detail: impl Into<String>) -> Self {
        ApiError::Problem {
            code: ProblemCode::InvalidQuery,
            detail: detail.into(),
        }
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::Problem {
            code: ProblemCode::NotFound,
            detail: detail.into(),
        }
    }
    pub fn invalid_field(detail: impl Into<String>) -> Self {
        ApiError::Problem {
            code: ProblemCode::InvalidField,
            detail: detail.into(),
        }
    }
    pub fn invalid_json(detail: impl Into<String>) -> Self {
        ApiError::Problem {
            code: ProblemCode::InvalidJson,
            detail: detail.into(),
        }
    }
    pub fn too_large(detail: impl Into<String>) -> Self {
        ApiError::Problem {
            code: ProblemCode::PayloadTooLarge,
            detail: detail.into(),
        }
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        ApiError::Problem {
            code: ProblemCode::Conflict,
            detail: detail.into(),
        }
    }
    pub fn unavailable(detail: impl Into<String>) -> Self {
        ApiError::Problem {
            code: ProblemCode::Unavailable,
            detail: detail.into(),
        }
    }

    fn code(&self) -> ProblemCode {
        match self {
            ApiError::Domain(e) => match e {
                DomainError::InvalidJson(_) => ProblemCode::InvalidJson,
                DomainError::InvalidField(_) => ProblemCode::InvalidField,
                DomainError::NotFound(_) => ProblemCode::NotFound,
                DomainError::PartyMismatch(_) => ProblemCode::PartyMismatch,
                DomainError::Conflict(_) => ProblemCode::Conflict,
                DomainError::TooLarge(_) => ProblemCode::PayloadTooLarge,
                DomainError::Corrupt(_) | DomainError::Store(_) => ProblemCode::Internal,
            },
            ApiError::Problem { code, .. } => *code,
            ApiError::Token(_) | ApiError::NoToken => ProblemCode::Unauthorized,
            ApiError::Scope(_) => ProblemCode::Forbidden,
            ApiError::Internal(_) => ProblemCode::Internal,
            ApiError::MethodNotAllowed { .. } => ProblemCode::MethodNotAllowed,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Domain(DomainError::Store(e))
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code().status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let code = self.code();
        let detail = if code.status() >= 500 {
            tracing::error!(error = %self, "request failed");
            match code {
                ProblemCode::Unavailable => Some(self.to_string()),
                _ => None,
            }
        } else {
            match self {
                ApiError::MethodNotAllowed { allow } => Some(format!("allowed: {allow}")),
                other => Some(other.to_string()),
            }
        };
        let mut res = HttpResponse::build(self.status_code());
        res.content_type(CONTENT_TYPE);
        match self {
            ApiError::Token(_) => {
                res.insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""));
            }
            ApiError::NoToken => {
                res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::Scope(scope) => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""),
                ));
            }
            ApiError::MethodNotAllowed { allow } => {
                res.insert_header((header::ALLOW, allow.as_str()));
            }
            _ if code == ProblemCode::Unavailable => {
                res.insert_header((header::RETRY_AFTER, "5"));
            }
            _ => {}
        }
        let body = serde_json::to_vec(&Problem::new(code, detail)).unwrap_or_default();
        res.body(body)
    }
}

/// Where [`routes`] registers: the served `App`, or a `UtoipaApp` that also documents every
/// route (to generate the OpenAPI document), or an embedding program's `ServiceConfig`. Workers register on the plain `App`, so none of
/// them builds the document: it would stay in that worker's malloc arena (3.7 MiB each at idle).
pub trait Register: Sized {
    fn service<F: HttpServiceFactory + OpenApiFactory + 'static>(self, factory: F) -> Self;
}

impl<T> Register for actix_web::App<T>
where
    T: actix_web::dev::ServiceFactory<
            ServiceRequest,
            Config = (),
            Error = actix_web::Error,
            InitError = (),
        >,
{
    fn service<F: HttpServiceFactory + OpenApiFactory + 'static>(self, factory: F) -> Self {
        actix_web::App::service(self, factory)
    }
}

impl Register for &mut web::ServiceConfig {
    fn service<F: HttpServiceFactory + OpenApiFactory + 'static>(self, factory: F) -> Self {
        web::ServiceConfig::service(self, factory)
    }
}

impl<T> Register for UtoipaApp<T>
where
    T: actix_web::dev::ServiceFactory<
            ServiceRequest,
            Config = (),
            Error = actix_web::Error,
            InitError = (),
        >,
{
    fn service<F: HttpServiceFactory + OpenApiFactory + 'static>(self, factory: F) -> Self {
        UtoipaApp::service(self, factory)
    }
}

/// Registers every route (also used, without state, to generate the OpenAPI document).
pub fn routes<A: Register>(app: A) -> A {
    app.service(discovery::well_known)
        .service(discovery::areas)
        .service(locations::list)
        .service(locations::get_location)
        .service(locations::get_evse)
        .service(locations::get_connector)
        .service(locations::put_location)
        .service(locations::patch_location)
        .service(locations::put_evse)
        .service(locations::patch_evse)
        .service(locations::put_connector)
        .service(locations::patch_connector)
        .service(tariffs::list)
        .service(tariffs::get_tariff)
        .service(tariffs::put_tariff)
        .service(tariffs::delete_tariff)
        .service(batches::get_status)
        .service(batches::post_status)
        .service(batches::get_sessions)
        .service(batches::post_sessions)
        .service(log::checkpoint)
        .service(log::entries)
        .service(log::inclusion)
        .service(log::consistency)
        .service(log::restricted_checkpoint)
        .service(log::restricted_entries)
        .service(log::restricted_inclusion)
        .service(log::restricted_consistency)
        .service(ocpi::versions)
        .service(ocpi::version_details)
        .service(ocpi::locations)
        .service(ocpi::location)
        .service(ocpi::evse)
        .service(ocpi::connector)
        .service(ocpi::tariffs)
        .service(ocpi::credentials::get_credentials)
        .service(ocpi::credentials::post_credentials)
        .service(ocpi::credentials::put_credentials)
        .service(ocpi::credentials::delete_credentials)
        .service(ocpi::receiver::get_location)
        .service(ocpi::receiver::put_location)
        .service(ocpi::receiver::patch_location)
        .service(ocpi::receiver::get_evse)
        .service(ocpi::receiver::put_evse)
        .service(ocpi::receiver::patch_evse)
        .service(ocpi::receiver::get_connector)
        .service(ocpi::receiver::put_connector)
        .service(ocpi::receiver::patch_connector)
        .service(ocpi::receiver::get_tariff)
        .service(ocpi::receiver::put_tariff)
        .service(ocpi::receiver::delete_tariff)
        .service(ocpi::receiver::put_session)
        .service(ocpi::receiver::patch_session)
        .service(ocpi::receiver::post_cdr)
        .service(ocpi::receiver::get_cdr)
        .service(admin::post_locations)
        .service(admin::post_ocpi_registration)
        .service(admin::get_ocpi_registrations)
        .service(admin::delete_ocpi_registration)
        .service(ops::healthz)
        .service(ops::readyz)
        .service(ops::metrics)
        .service(ops::openapi_json)
}

/// The operations of every route, as utoipa-actix-web collects them from the real
/// registrations: the paths part of the OpenAPI document (`crate::openapi` adds the rest).
pub fn route_operations() -> utoipa::openapi::OpenApi {
    use utoipa_actix_web::AppExt as _;
    routes(actix_web::App::new().into_utoipa_app())
        .split_for_parts()
        .1
}

/// Builds the whole application around `state`.
pub fn app(
    state: web::Data<AppState>,
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let edges = Edges::new(state.config.limits, false);
    app_with(state, route_table(), edges, |_| {})
}

/// The routes of the node's document, as `405` and `404` answers follow them: built once per
/// server and shared by its workers (`app_with`).
pub fn route_table() -> Arc<ops::RouteTable> {
    Arc::new(ops::RouteTable::from_document(&crate::openapi::document()))
}

/// The application with `extra` services registered before the node's own (an aggregator's
/// API beside its log), and `allowed` as the routes `405` answers follow (an embedding
/// server's whole API). `/openapi.json` serves `state.openapi_json`, which `/docs/` shows
/// (`/docs` redirects there).
/// `edges` (limits, security headers, CORS) wraps every route. Build `allowed` and `edges`
/// once per server: every worker shares the one table and counts in the same limits.
pub fn app_with(
    state: web::Data<AppState>,
    allowed: Arc<ops::RouteTable>,
    edges: Edges,
    extra: impl FnOnce(&mut web::ServiceConfig),
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let max_body = state.config.max_body_bytes;
    let app =
        actix_web::App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(max_body))
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                ApiError::query(format!("malformed query string: {e}")).into()
            }))
            .app_data(
                web::PathConfig::default()
                    .error_handler(|_, _| ApiError::not_found("no such object").into()),
            )
            .app_data(web::Data::from(allowed))
            .app_data(web::Data::new(edges))
            .configure(extra);
    let app = routes(app);
    // Swagger UI reads the served document; it keeps no copy of its own.
    let docs = utoipa_swagger_ui::Config::new(["/openapi.json"]);
    app.service(ops::docs_redirect())
        .service(utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").config(docs))
        .default_service(web::to(ops::fallback))
        .wrap(actix_web::middleware::from_fn(edges::middleware))
        .wrap(actix_web::middleware::from_fn(tree_size))
        .wrap(tracing_actix_web::TracingLogger::<trace::SafeSpan>::new())
}

/// Adds `Evfed-Tree-Size` to every response (a `429` from the edge too); counts responses.
async fn tree_size(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let mut res = next.call(req).await?;
    if let Some(state) = state {
        // A list page carries the size it was read at; everything else the size now.
        let name = header::HeaderName::from_static(TREE_SIZE_HEADER);
        if !res.headers().contains_key(&name)
            && let Ok(v) = HeaderValue::from_str(&state.store.public_size().to_string())
        {
            res.headers_mut().insert(name, v);
        }
        let class = (res.status().as_u16() / 100).clamp(1, 5) as usize - 1;
        state.metrics.requests[class].fetch_add(1, Ordering::Relaxed);
    }
    Ok(res)
}

/// Runs blocking store work off the executor.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(f).await?
}

/// Answers JSON bytes as they are.
pub fn json_bytes(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body)
}

/// Counts a write's entries and answers `201` (created) or `200` with the stored object.
pub fn written_response(
    state: &AppState,
    written: crate::domain::records::Written,
) -> HttpResponse {
    state
        .metrics
        .entries_appended
        .fetch_add(written.appended, Ordering::Relaxed);
    let status = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_bytes(status, written.body)
}
