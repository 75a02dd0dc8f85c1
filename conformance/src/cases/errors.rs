//! Errors (§13): problem+json bodies, and `404 not-found` (never `400`) for unknown ids.

use super::{key_of, problem};
use crate::case::{Case, CheckResult, Level, note};
use crate::ctx::Ctx;

pub const CASES: &[Case] = &[
    Case {
        id: "errors.not-found",
        section: "§13",
        level: Level::Core,
        required: true,
        description: "an unknown Location, EVSE, Connector or Tariff id is 404 not-found \
                      problem+json, never 400",
        check: not_found,
    },
    Case {
        id: "errors.problem-json",
        section: "§13",
        level: Level::Core,
        required: true,
        description: "an unknown path, a malformed query and an undefined method answer RFC 9457 \
                      problem+json with type, title, status and code (405 with Allow)",
        check: problem_json,
    },
];

/// An id no node holds.
const NO_SUCH_ID: &str = "evfed-conformance-no-such-id";

fn not_found(ctx: &mut Ctx) -> CheckResult {
    let locations = ctx.listing("locations")?;
    let tariffs = ctx.listing("tariffs")?;
    let (cc, pid, loc) =
        locations
            .items
            .first()
            .map(key_of)
            .unwrap_or(("GB".into(), "ZZZ".into(), String::new()));
    let evse = locations
        .items
        .first()
        .and_then(|l| l["evses"][0]["uid"].as_str())
        .map(str::to_owned);
    let (tcc, tpid, _) =
        tariffs
            .items
            .first()
            .map(key_of)
            .unwrap_or((cc.clone(), pid.clone(), String::new()));
    let mut paths = vec![
        format!("v1/locations/{cc}/{pid}/{NO_SUCH_ID}"),
        format!("v1/tariffs/{tcc}/{tpid}/{NO_SUCH_ID}"),
    ];
    if !loc.is_empty() {
        paths.push(format!("v1/locations/{cc}/{pid}/{loc}/{NO_SUCH_ID}"));
        if let Some(e) = evse {
            paths.push(format!("v1/locations/{cc}/{pid}/{loc}/{e}/{NO_SUCH_ID}"));
        }
    }
    for p in &paths {
        let url = ctx.target_url(p)?;
        let ex = ctx.get(&url)?;
        problem(&ex, 404, "not-found")?;
    }
    Ok(note(format!(
        "{} unknown ids answered 404 not-found",
        paths.len()
    )))
}

fn problem_json(ctx: &mut Ctx) -> CheckResult {
    let url = ctx.target_url("v1/evfed-conformance-no-such-path")?;
    let ex = ctx.get(&url)?;
    problem(&ex, 404, "not-found")?;
    let mut url = ctx.endpoint("locations", "v1/locations")?;
    url.set_query(Some("limit=-5"));
    let ex = ctx.get(&url)?;
    problem(&ex, 400, "invalid-query")?;
    let url = ctx.endpoint("locations", "v1/locations")?;
    let ex = ctx.send("DELETE", &url, None, &[])?;
    problem(&ex, 405, "method-not-allowed")?;
    if !ex.header("allow").is_some_and(|a| a.contains("GET")) {
        return super::fail_at(&ex, "405 without an Allow header listing GET");
    }
    Ok(note("404, 400 and 405 answered as problem+json"))
}
