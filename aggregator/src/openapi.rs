//! The aggregator's OpenAPI 3.1 document: the node API it serves as a node of kind
//! `aggregator`, plus its own members, London view and admin operations. Committed as
//! `spec/openapi/aggregator.json` (a test fails when the two differ).

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "evfed aggregator API",
        version = "1",
        description = "An evfed aggregator: the node API of its own signed log (STANDARD.md), \
                       the verified London view it merges from its members, members and their \
                       evidence, and the admin API.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(schemas(
        crate::store::Member,
        crate::store::Kind,
        crate::store::State,
        crate::store::Evidence,
        crate::store::HistoryEntry,
        crate::store::UsageCursor,
        crate::usage::Figure,
        crate::usage::Saturation,
        crate::domain::areas::AreaFigures,
        crate::domain::areas::PowerCounts,
        crate::domain::areas::Usage,
        crate::domain::trends::TrendPoint,
        crate::domain::needs::Need,
        crate::domain::map::MapPoints,
        crate::domain::live::StatusEvent,
        crate::members::MemberSpec,
        crate::members::ReadmitSpec,
    ))
)]
struct AggregatorApi;

/// The whole document as a value.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = evfed_node::embed::openapi::document();
    let own = AggregatorApi::openapi();
    doc.info = own.info.clone();
    doc.merge(own);
    doc.merge(crate::oauth::http::OauthApi::openapi());
    doc.merge(crate::http::route_operations());
    evfed_node::embed::openapi::complete(&mut doc);
    doc
}

/// The document exactly as committed: pretty JSON with a final newline.
pub fn document_json() -> String {
    json_of(&document())
}

/// The document a running aggregator serves: as committed, except that with
/// `compliance_open = false` the `/v1/compliance/...` operations require `usage:read` instead
/// of leaving the token optional.
pub fn served(compliance_open: bool) -> (utoipa::openapi::OpenApi, String) {
    let mut doc = document();
    if !compliance_open {
        let required = vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            ["usage:read"],
        )];
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/v1/compliance/") {
                continue;
            }
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                op.security = Some(required.clone());
            }
        }
    }
    evfed_node::embed::openapi::complete(&mut doc);
    let json = json_of(&doc);
    (doc, json)
}

fn json_of(doc: &utoipa::openapi::OpenApi) -> String {
    let mut s = doc.to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}
