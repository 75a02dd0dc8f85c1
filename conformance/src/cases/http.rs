//! Rules every response obeys, judged over all exchanges of the run: the committed OpenAPI
//! schemas (§10.9), `Evfed-Tree-Size` (§10.1), and CORS on open routes (§10.1, optional).

use crate::case::{Case, CheckResult, Level, Stop, note};
use crate::ctx::Ctx;
use crate::report::Evidence;

pub const CASES: &[Case] = &[
    Case {
        id: "openapi.responses",
        section: "§10.9",
        level: Level::Core,
        required: true,
        description: "every JSON response of the run that spec/openapi/node.json describes \
                      validates against that operation's response schema",
        check: openapi,
    },
    Case {
        id: "http.tree-size-header",
        section: "§10.1",
        level: Level::Core,
        required: true,
        description: "every response of the run, errors included, carries Evfed-Tree-Size",
        check: tree_size,
    },
    Case {
        id: "http.cors",
        section: "§10.1",
        level: Level::Core,
        required: false,
        description: "open routes allow cross-origin reads (Access-Control-Allow-Origin: *)",
        check: cors,
    },
];

fn openapi(ctx: &mut Ctx) -> CheckResult {
    let validated = ctx.seen.iter().filter(|s| s.schema.is_some()).count();
    if let Some(s) = ctx.seen.iter().find(|s| matches!(s.schema, Some(Err(_)))) {
        let bad = ctx
            .seen
            .iter()
            .filter(|s| matches!(s.schema, Some(Err(_))))
            .count();
        let msg = match &s.schema {
            Some(Err(m)) => m.clone(),
            _ => String::new(),
        };
        return Err(Stop::Fail(Evidence {
            method: Some(s.method.clone()),
            url: Some(s.url.clone()),
            status: Some(s.status),
            excerpt: Some(s.excerpt.clone()),
            message: format!("{bad} of {validated} responses break their schema; first: {msg}"),
        }));
    }
    if validated == 0 {
        return Err(Stop::Skip("no response had a documented schema".into()));
    }
    Ok(note(format!(
        "{validated} responses validate against spec/openapi/node.json"
    )))
}

fn tree_size(ctx: &mut Ctx) -> CheckResult {
    let n = ctx.seen.len();
    if let Some(s) = ctx.seen.iter().find(|s| !s.has_tree_size) {
        return Err(Stop::Fail(Evidence {
            method: Some(s.method.clone()),
            url: Some(s.url.clone()),
            status: Some(s.status),
            excerpt: None,
            message: "response without Evfed-Tree-Size".into(),
        }));
    }
    Ok(note(format!("all {n} responses carry Evfed-Tree-Size")))
}

fn cors(ctx: &mut Ctx) -> CheckResult {
    let url = ctx.endpoint("locations", "v1/locations")?;
    let ex = ctx.send("GET", &url, None, &[("origin", "https://reader.example")])?;
    if ex.header("access-control-allow-origin") != Some("*") {
        return super::fail_at(&ex, "no Access-Control-Allow-Origin: * on an open route");
    }
    Ok(note("open routes allow cross-origin reads"))
}
