//! The node's OpenAPI 3.1 document, collected from the real routes
//! (`http::route_operations`) plus the shared schemas, and committed as
//! `spec/openapi/node.json` (a test fails when the two differ).

use evfed_spec::api::{BatchResult, Discovery, Endpoints, Proof};
use evfed_spec::ocpi::{Connector, Evse, Location, OcpiErrorResponse, Tariff};
use evfed_spec::problem::{Problem, ProblemCode};
use evfed_spec::usage::{StatusChange, UsageRecord};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

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
        Proof,
        OcpiErrorResponse
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
    let mut doc = NodeApi::openapi();
    doc.merge(crate::http::route_operations());
    complete(&mut doc);
    reference_ocpi_data(&mut doc);
    doc
}

/// The document exactly as committed: pretty JSON with a final newline.
pub fn document_json() -> String {
    // Serialising an in-memory document of plain strings and maps cannot fail.
    let mut s = document().to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}

/// Documents the answers every operation can give besides its own, from what the operation
/// declares, so that the document and the behaviour agree without each route listing them:
///
/// - a token requirement (`security`): `401`, and `403` when it names scopes (or is an OCPI
///   credential, which acts for one party);
/// - a request body: `400` (`invalid-json`, `invalid-field`) and `413`; on `/v1` also `415`
///   (`http::body` takes only JSON there);
/// - a path parameter: `404`; a query parameter: `400` (`invalid-query`);
/// - every operation: `429` from the HTTP edge (`http::edges`).
///
/// `/v1` and `/.well-known` answer `application/problem+json`, `/ocpi` OCPI's error envelope
/// (`OcpiErrorResponse`) as `application/json`, except for the edge's `429`, which is
/// problem+json everywhere; the OAuth token endpoint documents its own RFC 6749 errors. A list's
/// `limit` is at least 1 (STANDARD.md §11.1: zero is `invalid-query`). Answers an operation
/// documents itself are kept.
pub fn complete(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            complete_operation(path, op);
        }
    }
}

fn complete_operation(path: &str, op: &mut utoipa::openapi::path::Operation) {
    use serde_json::Value;
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder, Schema};

    let ocpi = path.starts_with("/ocpi");
    let oauth = path.starts_with("/oauth2/");
    let answer = |status: &str| -> (&str, RefOr<Schema>) {
        if ocpi && status != "429" {
            (
                "application/json",
                Ref::from_schema_name("OcpiErrorResponse").into(),
            )
        } else {
            (
                "application/problem+json",
                Ref::from_schema_name("Problem").into(),
            )
        }
    };
    let params = op.parameters.as_deref().unwrap_or_default();
    let has_param = |place: ParameterIn| {
        params
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == place))
    };
    let (query, in_path) = (has_param(ParameterIn::Query), has_param(ParameterIn::Path));
    // A requirement's schemes and scopes are private to utoipa; its JSON says them.
    let security: Vec<Value> = op
        .security
        .iter()
        .flatten()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect();
    let scoped = security.iter().any(|req| {
        req.as_object().is_some_and(|r| {
            r.iter().any(|(scheme, scopes)| {
                scheme == "ocpi_token" || scopes.as_array().is_some_and(|s| !s.is_empty())
            })
        })
    });
    let body = op.request_body.is_some();
    let mut add: Vec<(&str, &str)> = vec![("429", "Too many requests (`rate-limited`)")];
    if !oauth {
        if !security.is_empty() {
            add.push(("401", "No valid token (`unauthorized`)"));
        }
        if scoped {
            add.push((
                "403",
                "The token lacks the scope, or acts for another party (`forbidden`, \
                 `party-mismatch`)",
            ));
        }
        if body {
            add.push((
                "400",
                "The body is not I-JSON or breaks a rule (`invalid-json`, `invalid-field`)",
            ));
            add.push((
                "413",
                "The body or batch is too large (`payload-too-large`)",
            ));
            if !ocpi {
                add.push((
                    "415",
                    "The body is not `application/json` (`unsupported-media-type`)",
                ));
            }
        }
        if query {
            add.push((
                "400",
                "A query parameter is malformed or out of range (`invalid-query`)",
            ));
        }
        if in_path {
            add.push(("404", "No such object (`not-found`)"));
        }
    }
    for (status, description) in add {
        if op.responses.responses.contains_key(status) {
            continue;
        }
        let (media, schema) = answer(status);
        let response = ResponseBuilder::new()
            .description(description)
            .content(media, ContentBuilder::new().schema(Some(schema)).build())
            .build();
        op.responses
            .responses
            .insert(status.to_owned(), RefOr::T(response));
    }
    for p in op.parameters.iter_mut().flatten() {
        if let RefOr::T(p) = p
            && !ocpi
            && p.parameter_in == ParameterIn::Query
            && p.name == "limit"
            && let Some(RefOr::T(Schema::Object(schema))) = &mut p.schema
        {
            schema.minimum = Some(utoipa::Number::UInt(1));
        }
    }
}

/// Makes the `data` of each OCPI success envelope (`OcpiResponse_Location`, …) a `$ref` to the
/// object's own schema where utoipa inlined a copy of it, so that the document says "a
/// Location" once instead of repeating the Location schema in every envelope.
pub fn reference_ocpi_data(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::ArrayItems;
    use utoipa::openapi::{Ref, RefOr, Schema};

    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let named: Vec<(String, RefOr<Schema>)> = components
        .schemas
        .iter()
        .map(|(name, schema)| (name.clone(), schema.clone()))
        .collect();
    let reference = |schema: &mut RefOr<Schema>| {
        if let Some((name, _)) = named.iter().find(|(_, s)| s == schema) {
            *schema = Ref::from_schema_name(name.as_str()).into();
        }
    };
    for (name, schema) in components.schemas.iter_mut() {
        let RefOr::T(Schema::Object(envelope)) = schema else {
            continue;
        };
        if !name.starts_with("OcpiResponse_") {
            continue;
        }
        match envelope.properties.get_mut("data") {
            Some(RefOr::T(Schema::Array(list))) => {
                if let ArrayItems::RefOrSchema(items) = &mut list.items {
                    reference(items);
                }
            }
            Some(data) => reference(data),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_documents_the_answers_it_can_give() {
        let mut doc = NodeApi::openapi();
        doc.merge(crate::http::route_operations());
        let before = serde_json::to_value(&doc).unwrap();
        complete(&mut doc);
        let after = serde_json::to_value(&doc).unwrap();
        let put = &after["paths"]["/v1/locations/{country_code}/{party_id}/{location_id}"]["patch"];
        for status in ["400", "401", "403", "404", "413", "415", "429"] {
            let content = &put["responses"][status]["content"];
            assert!(
                content["application/problem+json"].is_object(),
                "{status}: {put}"
            );
        }
        let sessions = &after["paths"]["/v1/sessions"]["get"];
        let limit = sessions["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap();
        assert_eq!(limit["schema"]["minimum"], 1);
        // What an operation documents itself is kept.
        let own = &before["paths"]["/readyz"]["get"]["responses"]["503"];
        assert_eq!(&after["paths"]["/readyz"]["get"]["responses"]["503"], own);
        // The OCPI surface answers in OCPI's error envelope, but for the edge's problem+json 429.
        let ocpi = &after["paths"]["/ocpi/2.2.1/credentials"]["delete"]["responses"];
        assert_eq!(
            ocpi["401"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/OcpiErrorResponse"
        );
        assert_eq!(
            ocpi["429"]["content"]["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
    }
}
