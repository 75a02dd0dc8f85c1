//! The `/ocpi` routes: the open OCPI 2.2.1 Sender interface for Locations and Tariffs (spec
//! §10.7, `sender`) and, for operators that push, the Receiver interface for Locations,
//! Tariffs, Sessions and CDRs (`receiver`) with the credentials module (`credentials`). All of
//! them answer in OCPI's envelope with OCPI status codes (`envelope`).

mod auth;
pub mod credentials;
mod envelope;
pub mod receiver;
mod sender;

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::body::AnyBody;

pub use envelope::{OcpiError, base_url};
pub use sender::{connector, evse, location, locations, tariffs, version_details, versions};

/// A request body for an OCPI route: any content type, bounded by `max_body_bytes`, refused
/// in OCPI's envelope.
#[derive(Debug)]
pub struct OcpiBody(pub web::Bytes);

impl FromRequest for OcpiBody {
    type Error = OcpiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, OcpiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = AnyBody::from_request(req, payload);
        Box::pin(async move { Ok(OcpiBody(body.await?.0)) })
    }
}

/// Whether `path` is on the OCPI surface (whose unknown paths answer in OCPI's envelope).
pub fn is_ocpi(path: &str) -> bool {
    path == "/ocpi" || path.starts_with("/ocpi/")
}
