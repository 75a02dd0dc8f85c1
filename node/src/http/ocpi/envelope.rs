//! OCPI's response format (OCPI §4.1.6) and [`OcpiError`], the one mapping from a failure on an
//! `/ocpi` route to an HTTP status and an OCPI status code (OCPI §5). The `/ocpi` routes are
//! the node's one exception to problem+json (spec §10.7).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use evfed_spec::problem::ProblemCode;
use evfed_spec::time::DateTime;
use serde_json::{Value, json};

use crate::domain::Error as DomainError;
use crate::http::ApiError;

/// OCPI status codes used by the node (OCPI §5).
pub const SUCCESS: u32 = 1000;
pub const CLIENT_ERROR: u32 = 2000;
pub const INVALID_PARAMETERS: u32 = 2001;
pub const UNKNOWN_LOCATION: u32 = 2003;
pub const SERVER_ERROR: u32 = 3000;

/// The OCPI module a failure happened in: an unknown object is `2003` ("unknown location")
/// in Locations, and the generic `2000` elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    Locations,
    Tariffs,
    Sessions,
    Cdrs,
    Credentials,
}

/// Every way an `/ocpi` request fails.
#[derive(Debug, thiserror::Error)]
pub enum OcpiError {
    /// The domain refused or failed the request.
    #[error("{0}")]
    Domain(DomainError, Module),
    /// No token, or one that is not (or no longer) a valid credential here.
    #[error("{0}")]
    Unauthorized(String),
    /// The token is valid but its stage does not allow the method (OCPI §7.2: `405`).
    #[error("{0}")]
    NotAllowed(String),
    /// A path segment or query parameter that cannot be what it names.
    #[error("{0}")]
    InvalidParameters(String),
    /// No OCPI route at this path (`allow` empty) or not with this method.
    #[error("{message}")]
    NoRoute {
        message: String,
        allow: Option<String>,
    },
    /// A failure of the node's shared extractors and helpers (body, blocking pool).
    #[error("{0}")]
    Http(#[from] ApiError),
}

impl OcpiError {
    /// The HTTP status and OCPI status code: the one place they are decided.
    fn codes(&self) -> (StatusCode, u32) {
        match self {
            OcpiError::Domain(e, module) => match e {
                DomainError::InvalidJson(_) | DomainError::InvalidField(_) => {
                    (StatusCode::BAD_REQUEST, INVALID_PARAMETERS)
                }
                DomainError::NotFound(_) if *module == Module::Locations => {
                    (StatusCode::NOT_FOUND, UNKNOWN_LOCATION)
                }
                DomainError::NotFound(_) => (StatusCode::NOT_FOUND, CLIENT_ERROR),
                DomainError::PartyMismatch(_) => (StatusCode::FORBIDDEN, CLIENT_ERROR),
                DomainError::Conflict(_) => (StatusCode::CONFLICT, CLIENT_ERROR),
                DomainError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, CLIENT_ERROR),
                DomainError::Corrupt(_) | DomainError::Store(_) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, SERVER_ERROR)
                }
            },
            OcpiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, CLIENT_ERROR),
            OcpiError::NotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, CLIENT_ERROR),
            OcpiError::InvalidParameters(_) => (StatusCode::BAD_REQUEST, INVALID_PARAMETERS),
            OcpiError::NoRoute { allow: None, .. } => (StatusCode::NOT_FOUND, CLIENT_ERROR),
            OcpiError::NoRoute { allow: Some(_), .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, CLIENT_ERROR)
            }
            OcpiError::Http(e) => {
                let code = e.code();
                let status = StatusCode::from_u16(code.status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let ocpi = match code {
                    ProblemCode::InvalidJson
                    | ProblemCode::InvalidField
                    | ProblemCode::InvalidQuery
                    | ProblemCode::UnsupportedMediaType => INVALID_PARAMETERS,
                    _ if status.is_server_error() => SERVER_ERROR,
                    _ => CLIENT_ERROR,
                };
                (status, ocpi)
            }
        }
    }
}

impl ResponseError for OcpiError {
    fn status_code(&self) -> StatusCode {
        self.codes().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code) = self.codes();
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "OCPI request failed");
            "internal error".to_owned()
        } else {
            self.to_string()
        };
        let mut res = envelope(status, code, Some(message), None);
        let headers = res.headers_mut();
        match self {
            OcpiError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
            }
            OcpiError::NoRoute {
                allow: Some(allow), ..
            } => {
                if let Ok(v) = HeaderValue::from_str(allow) {
                    headers.insert(header::ALLOW, v);
                }
            }
            _ => {}
        }
        res
    }
}

/// An OCPI response: `data` (left out when `None`), `status_code`, `status_message`,
/// `timestamp`.
pub fn envelope(
    status: StatusCode,
    code: u32,
    message: Option<String>,
    data: Option<Value>,
) -> HttpResponse {
    let message = message.unwrap_or_else(|| {
        if code == SUCCESS {
            "Success".into()
        } else {
            "Error".into()
        }
    });
    let mut body = json!({
        "status_code": code,
        "status_message": message,
        "timestamp": DateTime::now().to_string(),
    });
    if let (Some(obj), Some(data)) = (body.as_object_mut(), data) {
        obj.insert("data".into(), data);
    }
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body.to_string())
}

/// A success response around `data`, JSON already rendered: the bytes `envelope` gives for
/// the same `data`, with the `timestamp` of now. A cached page is kept as its `data` only, so
/// the envelope of every answer says when that answer was made.
pub fn success_around(data: &[u8]) -> HttpResponse {
    // The envelope with a `null` in data's place, then data put there: the members keep the
    // order `envelope` writes them in, whichever order serde_json's maps keep.
    const MEMBER: &str = "\"data\":";
    const SLOT: &str = "\"data\":null";
    let head = json!({
        "status_code": SUCCESS,
        "status_message": "Success",
        "timestamp": DateTime::now().to_string(),
        "data": null,
    })
    .to_string();
    let Some(at) = head.find(SLOT) else {
        return envelope(
            StatusCode::OK,
            SUCCESS,
            None,
            serde_json::from_slice(data).ok(),
        );
    };
    let mut body = Vec::with_capacity(head.len() + data.len());
    body.extend_from_slice(&head.as_bytes()[..at + MEMBER.len()]);
    body.extend_from_slice(data);
    body.extend_from_slice(&head.as_bytes()[at + SLOT.len()..]);
    HttpResponse::build(StatusCode::OK)
        .content_type("application/json")
        .body(body)
}

/// `scheme://host` of the request, for OCPI's absolute URLs.
pub fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// A stored OCPI object (a Location, EVSE or Connector) without the `evfed` members, which
/// OCPI does not know (spec §10.7).
pub fn without_evfed(value: &mut Value) {
    let Some(obj) = value.as_object_mut() else {
        return;
    };
    obj.remove("evfed");
    for child in ["evses", "connectors"] {
        if let Some(items) = obj.get_mut(child).and_then(Value::as_array_mut) {
            items.iter_mut().for_each(without_evfed);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt as _;

    use super::*;

    #[test]
    fn failures_map_to_http_and_ocpi_codes() {
        let domain = |e, m| OcpiError::Domain(e, m).codes();
        assert_eq!(
            domain(DomainError::NotFound("x".into()), Module::Locations),
            (StatusCode::NOT_FOUND, UNKNOWN_LOCATION)
        );
        assert_eq!(
            domain(DomainError::NotFound("x".into()), Module::Tariffs),
            (StatusCode::NOT_FOUND, CLIENT_ERROR)
        );
        assert_eq!(
            domain(DomainError::InvalidField("x".into()), Module::Sessions),
            (StatusCode::BAD_REQUEST, INVALID_PARAMETERS)
        );
        assert_eq!(
            domain(DomainError::PartyMismatch("x".into()), Module::Cdrs),
            (StatusCode::FORBIDDEN, CLIENT_ERROR)
        );
        let too_large = OcpiError::Http(ApiError::Problem {
            code: ProblemCode::PayloadTooLarge,
            detail: "x".into(),
        });
        assert_eq!(
            too_large.codes(),
            (StatusCode::PAYLOAD_TOO_LARGE, CLIENT_ERROR)
        );
        assert_eq!(
            OcpiError::Http(ApiError::Internal("x".into())).codes(),
            (StatusCode::INTERNAL_SERVER_ERROR, SERVER_ERROR)
        );
    }

    #[test]
    fn a_success_around_rendered_data_is_the_envelope_of_that_data() {
        let data = json!([{"id": "L1", "coordinates": {"latitude": "51.5", "longitude": "-0.1"},
            "n": 1.5, "s": "\u{e9}\"\n"}, {"id": "L2"}]);
        let body = |res: HttpResponse| {
            let bytes = actix_web::body::to_bytes(res.into_body()).now_or_never();
            String::from_utf8(bytes.and_then(Result::ok).unwrap_or_default().to_vec()).unwrap()
        };
        // The timestamps of two answers may differ; everything else must not.
        let stamp = |text: String| {
            let v: Value = serde_json::from_str(&text).unwrap();
            let ts = v["timestamp"].as_str().unwrap().to_owned();
            text.replace(&ts, "T")
        };
        let raw = serde_json::to_vec(&data).unwrap();
        let around = success_around(&raw);
        assert_eq!(
            around.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
        assert_eq!(
            stamp(body(around)),
            stamp(body(envelope(StatusCode::OK, SUCCESS, None, Some(data))))
        );
    }

    #[test]
    fn evfed_members_are_removed_at_every_level() {
        let mut v = json!({"id": "L", "evfed": {}, "evses": [{"uid": "E", "evfed": {},
            "connectors": [{"id": "1", "evfed": {}}]}]});
        without_evfed(&mut v);
        assert_eq!(
            v,
            json!({"id": "L", "evses": [{"uid": "E", "connectors": [{"id": "1"}]}]})
        );
        let mut evse = json!({"uid": "E", "evfed": {}, "connectors": [{"id": "1", "evfed": {}}]});
        without_evfed(&mut evse);
        assert_eq!(evse, json!({"uid": "E", "connectors": [{"id": "1"}]}));
    }
}
