//! The node's OpenAPI 3.1 document, collected from the real routes (utoipa-actix-web) plus the
//! shared schemas, and committed as `spec/openapi/node.json` (a test fails when the two differ).

use evfed_spec::api::{BatchResult, Discovery, Endpoints, Proof};
use evfed_spec::ocpi::{Connector, Evse, Location, Tariff};
use evfed_spec::problem::{Problem, ProblemCode};
use evfed_spec::usage::{StatusChange, UsageRecord};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt as _;

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
        ProblemCode,
        Discovery,
        Endpoints,
        BatchResult,
        Proof
    )),
    modifiers(&BearerAuth)
)]
struct NodeApi;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .description(Some(
                            "RFC 9068 JWT access token (typ at+jwt, EdDSA) with `scope` and `party` claims",
                        ))
                        .build(),
                ),
            );
            components.add_security_scheme(
                "ocpi_token",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                    "Authorization",
                    "OCPI 2.2.1 credentials token: `Token <base64 of the token>` (see \
                     node/docs/ocpi-receiver.md)",
                ))),
            );
        }
    }
}

/// The document as a value.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, routes) =
        crate::http::routes(actix_web::App::new().into_utoipa_app()).split_for_parts();
    let mut doc = NodeApi::openapi();
    doc.merge(routes);
    doc
}

/// The document exactly as committed: pretty JSON with a final newline.
pub fn document_json() -> String {
    // Serialising an in-memory document of plain strings and maps cannot fail.
    let mut s = document().to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}
