//! The bearer-token extractor. Open routes take any request (a bad token there is ignored, as
//! spec §14.1 demands); restricted and write routes call [`Caller::require`].

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use evfed_spec::ids::Party;

use super::{ApiError, AppState};
use crate::domain::records::Viewer;
use crate::tokens::{Grant, TokenError};

/// Who is calling: a validated grant, or nobody (with the reason a token was refused).
#[derive(Debug, Clone, Default)]
pub struct Caller {
    grant: Option<Grant>,
    refused: Option<TokenError>,
    sent: bool,
}

impl Caller {
    /// The grant, if it carries `scope`; otherwise the 401/403 the request deserves.
    pub fn require(&self, scope: &'static str) -> Result<&Grant, ApiError> {
        match (&self.grant, &self.refused) {
            (Some(g), _) if g.has_scope(scope) => Ok(g),
            (Some(_), _) => Err(ApiError::Scope(scope)),
            (None, Some(e)) => Err(ApiError::Token(e.clone())),
            (None, None) if self.sent => Err(ApiError::Token(TokenError::Invalid(
                "not a bearer token".into(),
            ))),
            (None, None) => Err(ApiError::NoToken),
        }
    }

    /// The party a `data:write` token may write for.
    pub fn writer(&self) -> Result<Party, ApiError> {
        let grant = self.require("data:write")?;
        grant
            .party
            .clone()
            .ok_or(ApiError::Domain(crate::domain::Error::PartyMismatch(
                "a data:write token must name its party".into(),
            )))
    }

    /// What hidden data this caller may read (spec §10.5).
    pub fn viewer(&self) -> Viewer {
        let Some(g) = &self.grant else {
            return Viewer::default();
        };
        Viewer {
            all_hidden: g.has_scope("usage:read"),
            writer_for: if g.has_scope("data:write") {
                g.party.clone()
            } else {
                None
            },
        }
    }
}

/// The party of a valid `data:write` token; extracted before the body, so a request without a
/// usable token is refused (401/403) before its body is even read.
#[derive(Debug, Clone)]
pub struct Writer(pub Party);

impl FromRequest for Writer {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = match Caller::from_request(req, payload).into_inner() {
            Ok(c) => c,
            Err(e) => return ready(Err(e)),
        };
        ready(caller.writer().map(Writer))
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(value) = req.headers().get(header::AUTHORIZATION) else {
            return ready(Ok(Caller::default()));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let Some(token) = token else {
            return ready(Ok(Caller {
                sent: true,
                ..Caller::default()
            }));
        };
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::Internal("no application state".into())));
        };
        let now = evfed_spec::time::DateTime::now().unix_seconds().max(0) as u64;
        ready(Ok(match state.issuer.validate(token, now) {
            Ok(grant) => Caller {
                grant: Some(grant),
                refused: None,
                sent: true,
            },
            Err(e) => Caller {
                grant: None,
                refused: Some(e),
                sent: true,
            },
        }))
    }
}
