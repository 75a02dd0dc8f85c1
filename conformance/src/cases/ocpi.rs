//! The OCPI 2.2.1 surface (§10.7, §11.2): versions, version details, the response envelope,
//! OCPI pagination, status codes, and objects that match the `/v1` ones without `evfed`.

use std::collections::BTreeSet;

use evfed_spec::ocpi::{Location, Tariff};
use serde_json::Value;
use url::Url;

use super::model::{bad_status, parse_items};
use super::pagination::next_link;
use super::{fail_at, key_of, time_of};
use crate::case::{Case, CheckResult, Level, Stop};
use crate::ctx::Ctx;
use crate::http::Exchange;

pub const CASES: &[Case] = &[
    Case {
        id: "ocpi.versions",
        section: "§10.7",
        level: Level::Core,
        required: true,
        description: "GET /ocpi/versions answers an OCPI envelope listing version 2.2.1 with its URL",
        check: versions,
    },
    Case {
        id: "ocpi.version-details",
        section: "§10.7",
        level: Level::Core,
        required: true,
        description: "the 2.2.1 version details list the locations and tariffs modules with role SENDER",
        check: version_details,
    },
    Case {
        id: "ocpi.envelope",
        section: "§10.7",
        level: Level::Core,
        required: true,
        description: "locations and tariffs pages carry the OCPI envelope (data, status_code 1000, \
                      timestamp) and OCPI pagination (X-Total-Count, X-Limit, Link) over every object",
        check: envelope,
    },
    Case {
        id: "ocpi.objects",
        section: "§10.7",
        level: Level::Core,
        required: true,
        description: "OCPI Locations and Tariffs parse, carry OCPI Status values only, no evfed \
                      member and no publish_allowed_to, and are the /v1 objects without evfed",
        check: objects,
    },
    Case {
        id: "ocpi.status-codes",
        section: "§10.7",
        level: Level::Core,
        required: true,
        description: "an unknown location id answers HTTP 404 with an OCPI envelope and a 2xxx \
                      status_code (not problem+json); a sent Authorization header is ignored",
        check: status_codes,
    },
];

/// Checks an OCPI envelope and returns its `data`.
fn envelope_of(ex: &Exchange, want_code: Option<u64>) -> Result<Value, Stop> {
    let body = ex.json().or_else(|m| fail_at(ex, m))?;
    let code = body["status_code"].as_u64();
    let Some(code) = code else {
        return fail_at(ex, "no numeric status_code (OCPI §4.1.6)");
    };
    if let Some(w) = want_code
        && code != w
    {
        return fail_at(ex, format!("status_code {code}, expected {w}"));
    }
    if time_of(&body, "timestamp").is_none() {
        return fail_at(ex, "no valid timestamp (OCPI §4.1.6)");
    }
    if !body["status_message"].is_null() && !body["status_message"].is_string() {
        return fail_at(ex, "status_message is not a string");
    }
    Ok(body["data"].clone())
}

fn versions_url(ctx: &mut Ctx) -> Result<Url, Stop> {
    ctx.endpoint("ocpi_versions", "ocpi/versions")
}

fn details_url(ctx: &mut Ctx) -> Result<(Exchange, Url), Stop> {
    let url = versions_url(ctx)?;
    let ex = ctx.get(&url)?;
    if ex.status != 200 {
        return fail_at(&ex, "versions not served with 200");
    }
    let data = envelope_of(&ex, Some(1000))?;
    let entry = data
        .as_array()
        .and_then(|a| a.iter().find(|v| v["version"] == "2.2.1"));
    let Some(u) = entry.and_then(|v| v["url"].as_str()) else {
        return fail_at(&ex, "no version 2.2.1 with a url");
    };
    let u = ex
        .url
        .join(u)
        .or_else(|e| fail_at(&ex, format!("bad url: {e}")))?;
    Ok((ex, u))
}

fn versions(ctx: &mut Ctx) -> CheckResult {
    let (ex, u) = details_url(ctx)?;
    Ok(ex.evidence(format!("2.2.1 at {u}")))
}

/// The SENDER endpoint of a module.
fn module(ctx: &mut Ctx, id: &str) -> Result<(Exchange, Url), Stop> {
    let (_, u) = details_url(ctx)?;
    let ex = ctx.get(&u)?;
    if ex.status != 200 {
        return fail_at(&ex, "version details not served with 200");
    }
    let data = envelope_of(&ex, Some(1000))?;
    if data["version"] != "2.2.1" {
        return fail_at(&ex, "data.version is not 2.2.1");
    }
    let found = data["endpoints"].as_array().and_then(|a| {
        a.iter()
            .find(|e| e["identifier"] == id && e["role"] == "SENDER")
            .and_then(|e| e["url"].as_str())
    });
    let Some(m) = found else {
        return fail_at(&ex, format!("no {id} endpoint with role SENDER"));
    };
    let m = ex
        .url
        .join(m)
        .or_else(|e| fail_at(&ex, format!("bad url: {e}")))?;
    Ok((ex, m))
}

fn version_details(ctx: &mut Ctx) -> CheckResult {
    let (_, l) = module(ctx, "locations")?;
    let (ex, t) = module(ctx, "tariffs")?;
    Ok(ex.evidence(format!("locations {l}, tariffs {t}")))
}

/// Every object of an OCPI module, following `Link`, with envelope and header checks.
fn read_module(ctx: &mut Ctx, id: &str) -> Result<(Exchange, Vec<Value>), Stop> {
    let (_, mut url) = module(ctx, id)?;
    url.set_query(Some("limit=1000"));
    let mut items = Vec::new();
    let mut first = None;
    for _ in 0..ctx.limits.max_pages {
        let ex = ctx.get(&url)?;
        if ex.status != 200 {
            return fail_at(&ex, format!("{id} page answered {}", ex.status));
        }
        let data = envelope_of(&ex, Some(1000))?;
        let Value::Array(page) = data else {
            return fail_at(&ex, "data is not an array");
        };
        let total = ex
            .header("x-total-count")
            .and_then(|v| v.trim().parse::<usize>().ok());
        let Some(total) = total else {
            return fail_at(&ex, "no X-Total-Count (OCPI §4.1.4.1)");
        };
        if ex
            .header("x-limit")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .is_none()
        {
            return fail_at(&ex, "no X-Limit (OCPI §4.1.4.1)");
        }
        items.extend(page);
        let next = next_link(&ex).or_else(|m| fail_at(&ex, m))?;
        let done = next.is_none();
        if done && items.len() != total {
            return fail_at(
                &ex,
                format!("{} objects read, X-Total-Count says {total}", items.len()),
            );
        }
        let first_ex = first.get_or_insert(ex);
        match next {
            Some(n) => url = n,
            None => return Ok((first_ex.clone(), items)),
        }
    }
    Err(Stop::Skip("too many OCPI pages".into()))
}

fn envelope(ctx: &mut Ctx) -> CheckResult {
    let (ex, locations) = read_module(ctx, "locations")?;
    let (_, tariffs) = read_module(ctx, "tariffs")?;
    Ok(ex.evidence(format!(
        "{} Locations and {} Tariffs",
        locations.len(),
        tariffs.len()
    )))
}

/// The value without any `evfed` member.
fn without_evfed(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| k.as_str() != "evfed")
                .map(|(k, v)| (k.clone(), without_evfed(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_evfed).collect()),
        other => other.clone(),
    }
}

fn objects(ctx: &mut Ctx) -> CheckResult {
    let (ex, locations) = read_module(ctx, "locations")?;
    let (tex, tariffs) = read_module(ctx, "tariffs")?;
    parse_items::<Location>(&locations, "OCPI Location").or_else(|m| fail_at(&ex, m))?;
    parse_items::<Tariff>(&tariffs, "OCPI Tariff").or_else(|m| fail_at(&tex, m))?;
    if let Some(m) = bad_status(&locations) {
        return fail_at(&ex, m);
    }
    for l in &locations {
        if without_evfed(l) != *l {
            return fail_at(
                &ex,
                format!("OCPI Location {:?} carries an evfed member", key_of(l)),
            );
        }
        if l.get("publish_allowed_to").is_some() {
            return fail_at(
                &ex,
                format!("OCPI Location {:?} carries publish_allowed_to", key_of(l)),
            );
        }
    }
    // The same objects as /v1, compared at one tree size (the node may change between reads).
    for (what, module) in [("Location", "locations"), ("Tariff", "tariffs")] {
        ctx.at_one_size(module, |ctx, v1| {
            let (e, ocpi) = read_module(ctx, module)?;
            let a: BTreeSet<String> = ocpi.iter().map(|v| without_evfed(v).to_string()).collect();
            let b: BTreeSet<String> = v1
                .items
                .iter()
                .map(|v| without_evfed(v).to_string())
                .collect();
            if a == b {
                return Ok(());
            }
            let only = a.difference(&b).next().or_else(|| b.difference(&a).next());
            let msg = format!(
                "OCPI {what}s ({}) differ from /v1 ({}) without evfed; first difference: {}",
                a.len(),
                b.len(),
                only.map(|s| crate::http::excerpt(s.as_bytes()))
                    .unwrap_or_default()
            );
            Err(Stop::Fail(e.evidence(msg)))
        })?;
    }
    Ok(ex.evidence(format!(
        "{} Locations and {} Tariffs match /v1",
        locations.len(),
        tariffs.len()
    )))
}

fn status_codes(ctx: &mut Ctx) -> CheckResult {
    let (_, mut url) = module(ctx, "locations")?;
    let path = format!(
        "{}/evfed-conformance-no-such-id",
        url.path().trim_end_matches('/')
    );
    let mut unknown = url.clone();
    unknown.set_path(&path);
    let ex = ctx.get(&unknown)?;
    if ex.status != 404 {
        return fail_at(&ex, format!("HTTP {}, expected 404", ex.status));
    }
    if ex.media_type() == "application/problem+json" {
        return fail_at(
            &ex,
            "problem+json on the OCPI surface; OCPI answers in its own format",
        );
    }
    let body = ex.json().or_else(|m| fail_at(&ex, m))?;
    if !body["status_code"]
        .as_u64()
        .is_some_and(|c| (2000..3000).contains(&c))
    {
        return fail_at(
            &ex,
            format!(
                "status_code {}, expected a 2xxx client error",
                body["status_code"]
            ),
        );
    }
    envelope_of(&ex, None)?;
    url.set_query(Some("limit=1"));
    let ex2 = ctx.send(
        "GET",
        &url,
        None,
        &[("authorization", "Token evfed-conformance-ignored")],
    )?;
    if ex2.status != 200 {
        return fail_at(
            &ex2,
            "a request with an Authorization header was not answered 200 (§10.7: it is ignored)",
        );
    }
    Ok(ex.evidence(format!(
        "unknown id: 404 with status_code {}",
        body["status_code"]
    )))
}
