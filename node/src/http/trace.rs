//! The request span every log line of a request is reported in: what is safe to log only.
//!
//! Architecture Invariant: no request header (so no `Authorization`), query string, body or
//! forwarded-for claim enters the logs through the request span; errors are recorded by their
//! `Display`, which never carries a credential, not their `Debug`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage as _};
use tracing::Span;
use tracing::field::Empty;
use tracing_actix_web::{RequestId, RootSpanBuilder};

/// tracing-actix-web's root span without `http.target`'s query string, the user agent, the
/// forwarded client address or the error's `Debug` form.
#[derive(Debug)]
pub struct SafeSpan;

impl RootSpanBuilder for SafeSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let peer = request
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %request.match_pattern().unwrap_or_default(),
            http.path = %request.path(),
            http.peer = %peer,
            request_id = %request_id,
            http.status_code = Empty,
            exception.message = Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, error) = match outcome {
            Ok(res) => (
                res.status(),
                res.response().error().map(ToString::to_string),
            ),
            Err(e) => (e.as_response_error().status_code(), Some(e.to_string())),
        };
        span.record("http.status_code", status.as_u16());
        if let Some(message) = error {
            span.record("exception.message", message);
        }
    }
}
