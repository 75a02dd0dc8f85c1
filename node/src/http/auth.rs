//! The bearer-token extractor. Open routes take any request (a bad token there is ignored, as
//! spec §14.1 demands); restricted and write routes call [`Caller::require`].

use std::future::ready;

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use evfed_spec::ids::Party;
use futures_util::future::LocalBoxFuture;

use super::{ApiError, AppState};
use crate::domain::records::Viewer;
use crate::tokens::{Grant, TokenError};
use crate::trust::Refusal;

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

    /// [`Caller::require`], from one issuer only: a token of any other trusted issuer, even
    /// with `scope`, is `401` (the aggregator's admin API takes only its own authorization
    /// server's tokens).
    pub fn require_from(&self, issuer: &str, scope: &'static str) -> Result<&Grant, ApiError> {
        let grant = self.require(scope)?;
        if grant.issuer == issuer {
            Ok(grant)
        } else {
            Err(ApiError::Token(TokenError::UnknownIssuer))
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
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        Box::pin(async move { caller.await?.writer().map(Writer) })
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    /// Checks the token against cached keys; only when it names an issuer key not cached yet
    /// is the issuer's JWKS fetched, off the executor.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(value) = req.headers().get(header::AUTHORIZATION) else {
            return Box::pin(ready(Ok(Caller::default())));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|t| t.trim().to_owned());
        let Some(token) = token else {
            return Box::pin(ready(Ok(Caller {
                sent: true,
                ..Caller::default()
            })));
        };
        let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
            return Box::pin(ready(Err(ApiError::Internal(
                "no application state".into(),
            ))));
        };
        let now = evfed_spec::time::DateTime::now().unix_seconds().max(0) as u64;
        match state.trusted.validate(&state.issuer, &token, now, false) {
            Err(Refusal::NeedKeys) => Box::pin(async move {
                let checked =
                    web::block(move || state.trusted.validate(&state.issuer, &token, now, true))
                        .await
                        .map_err(|e| ApiError::Internal(e.to_string()))?;
                Ok(Caller::checked(checked))
            }),
            checked => Box::pin(ready(Ok(Caller::checked(checked)))),
        }
    }
}

impl Caller {
    fn checked(result: Result<Grant, Refusal>) -> Self {
        match result {
            Ok(grant) => Caller {
                grant: Some(grant),
                refused: None,
                sent: true,
            },
            Err(Refusal::Token(e)) => Caller {
                grant: None,
                refused: Some(e),
                sent: true,
            },
            Err(Refusal::NeedKeys) => Caller {
                grant: None,
                refused: Some(TokenError::Invalid(
                    "signed with a key the issuer does not publish".into(),
                )),
                sent: true,
            },
        }
    }
}
