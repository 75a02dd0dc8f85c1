//! RFC 9457 problem details: the body of every evfed error response, with a stable `code`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The media type of a problem body.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// Stable error codes. New codes may be added; existing ones never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemCode {
    InvalidJson,
    InvalidField,
    InvalidQuery,
    PayloadTooLarge,
    HeadersTooLarge,
    NotFound,
    Unauthorized,
    Forbidden,
    PartyMismatch,
    Conflict,
    UnsupportedMediaType,
    MethodNotAllowed,
    RateLimited,
    Internal,
    Unavailable,
}

impl ProblemCode {
    pub const ALL: [ProblemCode; 15] = [
        Self::InvalidJson,
        Self::InvalidField,
        Self::InvalidQuery,
        Self::PayloadTooLarge,
        Self::HeadersTooLarge,
        Self::NotFound,
        Self::Unauthorized,
        Self::Forbidden,
        Self::PartyMismatch,
        Self::Conflict,
        Self::UnsupportedMediaType,
        Self::MethodNotAllowed,
        Self::RateLimited,
        Self::Internal,
        Self::Unavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid-json",
            Self::InvalidField => "invalid-field",
            Self::InvalidQuery => "invalid-query",
            Self::PayloadTooLarge => "payload-too-large",
            Self::HeadersTooLarge => "headers-too-large",
            Self::NotFound => "not-found",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::PartyMismatch => "party-mismatch",
            Self::Conflict => "conflict",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::RateLimited => "rate-limited",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
        }
    }

    /// The HTTP status a server answers with for this code.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidJson | Self::InvalidField | Self::InvalidQuery => 400,
            Self::Unauthorized => 401,
            Self::Forbidden | Self::PartyMismatch => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited => 429,
            Self::HeadersTooLarge => 431,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    /// A short, fixed, human-readable summary (RFC 9457 `title`).
    pub fn title(self) -> &'static str {
        match self {
            Self::InvalidJson => "Request body is not valid JSON",
            Self::InvalidField => "A field is missing or invalid",
            Self::InvalidQuery => "Query string is invalid",
            Self::PayloadTooLarge => "Request body is too large",
            Self::HeadersTooLarge => "Request header fields are too large",
            Self::NotFound => "No such resource",
            Self::Unauthorized => "A valid bearer token is required",
            Self::Forbidden => "The token does not allow this",
            Self::PartyMismatch => "The record belongs to another party",
            Self::Conflict => "The request conflicts with the current state",
            Self::UnsupportedMediaType => "Unsupported content type",
            Self::MethodNotAllowed => "Method not allowed",
            Self::RateLimited => "Too many requests",
            Self::Internal => "Internal error",
            Self::Unavailable => "Service unavailable",
        }
    }
}

/// An RFC 9457 problem body. `type` is `urn:evfed:problem:<code>`; a 5xx `detail` never carries
/// internal text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    pub code: ProblemCode,
}

impl Problem {
    pub fn new(code: ProblemCode, detail: impl Into<Option<String>>) -> Self {
        Self {
            type_uri: format!("urn:evfed:problem:{}", code.as_str()),
            title: code.title().to_owned(),
            status: code.status(),
            detail: detail.into(),
            instance: None,
            code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_their_stable_names() {
        for code in ProblemCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
        let p = Problem::new(ProblemCode::NotFound, "no location GB*ABC/L1".to_owned());
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "urn:evfed:problem:not-found");
        assert_eq!(v["status"], 404);
        assert_eq!(v["code"], "not-found");
    }
}
