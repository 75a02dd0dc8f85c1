//! The request body extractors: `application/json` only (`JsonBody`), or any type for the OCPI
//! receiver (`AnyBody`), bounded by `max_body_bytes`, failing with an `ApiError` (actix's own
//! extractors answer in plain text).
//!
//! Every body is checked to be I-JSON whole (`jcs::check_ijson`) before any route reads it:
//! routes read bodies through serde, which skips unknown members unchecked, and §13 refuses
//! non-I-JSON anywhere in a body. Checking here covers every write route, whatever parser it
//! uses, in one place.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use evfed_spec::jcs::check_ijson;
use evfed_spec::problem::ProblemCode;
use futures_util::StreamExt as _;

use super::{ApiError, AppState};

/// A JSON request body, read whole.
#[derive(Debug)]
pub struct JsonBody(pub web::Bytes);

/// A request body of any declared content type, read whole and bounded like [`JsonBody`]:
/// for the OCPI receiver, whose clients differ in what they declare; parsing decides.
#[derive(Debug)]
pub struct AnyBody(pub web::Bytes);

type BodyFuture<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = BodyFuture<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read(req, payload, true);
        Box::pin(async move { read.await.map(JsonBody) })
    }
}

impl FromRequest for AnyBody {
    type Error = ApiError;
    type Future = BodyFuture<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read(req, payload, false);
        Box::pin(async move { read.await.map(AnyBody) })
    }
}

/// Reads the body whole, refusing more than `max_body_bytes` (before reading, when the
/// declared length says so) and, with `require_json`, any type but JSON.
fn read(req: &HttpRequest, payload: &mut Payload, require_json: bool) -> BodyFuture<web::Bytes> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.config.max_body_bytes)
        .unwrap_or(1024 * 1024);
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut payload = payload.take();
    Box::pin(async move {
        if require_json && !json {
            return Err(ApiError::Problem {
                code: ProblemCode::UnsupportedMediaType,
                detail: "send the body as application/json".into(),
            });
        }
        let too_large = || ApiError::Problem {
            code: ProblemCode::PayloadTooLarge,
            detail: format!("bodies are limited to {limit} bytes"),
        };
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| ApiError::Problem {
                code: ProblemCode::InvalidJson,
                detail: format!("could not read the body: {e}"),
            })?;
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        // No body is left to the route (a DELETE has none; a PUT without one is refused there).
        if !body.is_empty() {
            check_ijson(&body).map_err(|e| ApiError::Problem {
                code: ProblemCode::InvalidJson,
                detail: format!("body is not I-JSON: {e}"),
            })?;
        }
        Ok(body.freeze())
    })
}
