//! The node's OpenAPI 3.1 document, generated from the spec's wire types and committed as
//! `spec/openapi/node.json` (a test fails when the two differ).
//!
//! Routes join the document as the HTTP layer registers them through utoipa-actix-web; until
//! then the document carries the shared schemas every evfed implementation exchanges.

use evfed_spec::ocpi::{Connector, Evse, Location, Tariff};
use evfed_spec::problem::{Problem, ProblemCode};
use evfed_spec::usage::{StatusChange, UsageRecord};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "evfed node API",
        version = "1",
        description = "The evfed standard's node API: OCPI 2.2.1-compatible chargepoint data \
                       published as a signed Merkle log. Normative text: spec/STANDARD.md.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(schemas(
        Location,
        Evse,
        Connector,
        Tariff,
        UsageRecord,
        StatusChange,
        Problem,
        ProblemCode
    ))
)]
struct NodeApi;

/// The document as a value.
pub fn document() -> utoipa::openapi::OpenApi {
    NodeApi::openapi()
}

/// The document exactly as committed: pretty JSON with a final newline.
pub fn document_json() -> String {
    // Serialising an in-memory document of plain strings and maps cannot fail.
    let mut s = document().to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}
