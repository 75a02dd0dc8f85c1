//! The OCPI credential a request presents: `Authorization: Token <base64 of the token>` (OCPI
//! 2.2.1), or the token as it is (OCPI 2.1.1, and 2.2 clients that do not encode). Extracted
//! before the body, so a request without a valid credential is refused before it is read.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use base64::Engine as _;
use evfed_spec::ids::Party;
use evfed_spec::time::DateTime;

use super::envelope::OcpiError;
use crate::http::{AppState, blocking};
use crate::receiver::credentials::{self, Credential, Stage, Token};

/// A valid token A or C, the credential it belongs to, and the token itself (for the
/// handshake, and for echoing in `GET /credentials`; never logged).
#[derive(Debug, Clone)]
pub struct Presented {
    pub credential: Credential,
    pub token: Token,
}

/// The party of a registered credential (token C): what the receiver modules need.
#[derive(Debug, Clone)]
pub struct Registered(pub Party);

type AuthFuture<T> = Pin<Box<dyn Future<Output = Result<T, OcpiError>>>>;

impl FromRequest for Presented {
    type Error = OcpiError;
    type Future = AuthFuture<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let candidates = candidates(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let candidates = candidates?;
            let state = state.ok_or_else(|| {
                OcpiError::Http(crate::http::ApiError::Internal(
                    "no application state".into(),
                ))
            })?;
            let found = blocking(move || {
                let now = DateTime::now();
                for token in candidates {
                    if let Some(credential) = credentials::authenticate(&state.store, &token, now)
                        .map_err(crate::http::ApiError::Domain)?
                    {
                        return Ok(Some(Presented { credential, token }));
                    }
                }
                Ok(None)
            })
            .await?;
            found.ok_or_else(|| {
                OcpiError::Unauthorized("the token is not a valid credential here".into())
            })
        })
    }
}

impl FromRequest for Registered {
    type Error = OcpiError;
    type Future = AuthFuture<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let presented = Presented::from_request(req, payload);
        Box::pin(async move {
            let p = presented.await?;
            match p.credential.stage {
                Stage::Registered => Ok(Registered(p.credential.party)),
                Stage::Pending => Err(OcpiError::Unauthorized(
                    "a registration token only serves the credentials handshake; POST your \
                     credentials to /ocpi/2.2.1/credentials first"
                        .into(),
                )),
            }
        })
    }
}

/// The tokens an `Authorization` header may carry, most likely first.
fn candidates(req: &HttpRequest) -> Result<Vec<Token>, OcpiError> {
    let missing = || {
        OcpiError::Unauthorized(
            "this request needs `Authorization: Token <base64 of your token>`".into(),
        )
    };
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| missing())?
        .trim();
    let (scheme, token) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("token") {
        return Err(missing());
    }
    let token = token.trim();
    if token.is_empty() || token.len() > 200 {
        return Err(missing());
    }
    let mut out = Vec::with_capacity(2);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()));
    if let Some(d) = decoded {
        out.push(Token::presented(&d));
    }
    out.push(Token::presented(token));
    Ok(out)
}
