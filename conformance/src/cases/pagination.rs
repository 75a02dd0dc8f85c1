//! `/v1` list pagination (§11.1): `limit`, `X-Total-Count`, `Link: rel="next"`, and every
//! object visited exactly once in key order.

use std::collections::BTreeSet;

use serde_json::Value;
use url::Url;

use super::{fail_at, key_of, problem};
use crate::case::{Case, CheckResult, Level, Stop, note};
use crate::ctx::{Ctx, Listing};
use crate::http::Exchange;

pub const CASES: &[Case] = &[
    Case {
        id: "pagination.limit",
        section: "§11.1",
        level: Level::Core,
        required: true,
        description: "pages hold at most `limit` objects; the default is 100 and a limit above \
                      1,000 is treated as 1,000",
        check: limit,
    },
    Case {
        id: "pagination.total-count",
        section: "§11.1",
        level: Level::Core,
        required: true,
        description: "X-Total-Count on every page equals the number of matching objects",
        check: total_count,
    },
    Case {
        id: "pagination.no-gaps",
        section: "§11.1",
        level: Level::Core,
        required: true,
        description: "paging by offset with a small limit visits every object exactly once, in \
                      ascending key order",
        check: no_gaps,
    },
    Case {
        id: "pagination.link",
        section: "§11.1",
        level: Level::Core,
        required: true,
        description: "Link rel=\"next\" is present exactly when objects remain, keeps the path and \
                      parameters, advances offset by the objects returned, and following it \
                      visits every object once",
        check: link,
    },
    Case {
        id: "pagination.invalid-params",
        section: "§11.1",
        level: Level::Core,
        required: true,
        description: "zero, negative or non-integer limit and negative offset are 400 invalid-query",
        check: invalid_params,
    },
];

/// The collections whose pagination is tested.
const LISTS: [&str; 3] = ["locations", "tariffs", "status"];

/// Fetches one page; the body must be a JSON array.
pub fn page(ctx: &mut Ctx, url: &Url) -> Result<(Exchange, Vec<Value>), Stop> {
    let ex = ctx.get(url)?;
    let body = super::json_200(&ex)?;
    match body {
        Value::Array(a) => Ok((ex, a)),
        _ => fail_at(&ex, "the body is not a JSON array (§10.5)"),
    }
}

fn with_query(base: &Url, q: &str) -> Url {
    let mut u = base.clone();
    u.set_query(Some(q));
    u
}

/// The page size that splits `total` objects into about six pages.
fn small_limit(total: usize) -> usize {
    total.div_ceil(6).clamp(1, 1000)
}

/// The key a list orders by: a status change's is its EVSE's.
fn order_key(name: &str, v: &Value) -> Vec<String> {
    let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
    if name == "status" {
        vec![
            s("country_code"),
            s("party_id"),
            s("location_id"),
            s("evse_uid"),
        ]
    } else {
        let (a, b, c) = key_of(v);
        vec![a, b, c]
    }
}

fn limit(ctx: &mut Ctx) -> CheckResult {
    let mut checked = 0;
    for name in LISTS {
        checked += ctx.at_one_size(name, |ctx, all| limit_one(ctx, name, all.items.len()))?;
    }
    Ok(note(format!(
        "{checked} first pages hold the right number of objects"
    )))
}

fn limit_one(ctx: &mut Ctx, name: &str, total: usize) -> Result<usize, Stop> {
    let mut checked = 0;
    {
        let base = ctx.endpoint(name, &format!("v1/{name}"))?;
        let l = small_limit(total);
        for (q, max, expect) in [
            (format!("limit={l}"), l, total.min(l)),
            (String::new(), 100, total.min(100)),
            ("limit=5000".to_owned(), 1000, total.min(1000)),
        ] {
            let (ex, items) = page(ctx, &with_query(&base, &q))?;
            if items.len() > max {
                return fail_at(&ex, format!("{} objects for a limit of {max}", items.len()));
            }
            if items.len() != expect {
                return fail_at(
                    &ex,
                    format!(
                        "{} objects on the first page, expected {expect} of {total}",
                        items.len()
                    ),
                );
            }
            checked += 1;
        }
    }
    Ok(checked)
}

fn total_count(ctx: &mut Ctx) -> CheckResult {
    let mut checked = 0;
    for name in LISTS {
        checked += ctx.at_one_size(name, |ctx, all| total_count_one(ctx, name, all.items.len()))?;
    }
    Ok(note(format!("X-Total-Count right on {checked} pages")))
}

fn total_count_one(ctx: &mut Ctx, name: &str, total: usize) -> Result<usize, Stop> {
    let mut checked = 0;
    {
        let base = ctx.endpoint(name, &format!("v1/{name}"))?;
        let l = small_limit(total);
        for offset in [0, l, total] {
            let (ex, _) = page(
                ctx,
                &with_query(&base, &format!("limit={l}&offset={offset}")),
            )?;
            let got = ex
                .header("x-total-count")
                .and_then(|v| v.trim().parse::<usize>().ok());
            if got != Some(total) {
                return fail_at(
                    &ex,
                    format!("X-Total-Count {got:?}, the list holds {total}"),
                );
            }
            checked += 1;
        }
    }
    Ok(checked)
}

fn no_gaps(ctx: &mut Ctx) -> CheckResult {
    let mut report = Vec::new();
    for name in LISTS {
        report.push(ctx.at_one_size(name, |ctx, all| no_gaps_one(ctx, name, all))?);
    }
    Ok(note(report.join("; ")))
}

fn no_gaps_one(ctx: &mut Ctx, name: &str, all: &Listing) -> Result<String, Stop> {
    {
        let want: BTreeSet<Vec<String>> = all.items.iter().map(|v| order_key(name, v)).collect();
        let base = ctx.endpoint(name, &format!("v1/{name}"))?;
        let l = small_limit(all.items.len());
        let mut seen = Vec::new();
        let mut offset = 0;
        let mut last_ex = None;
        for _ in 0..ctx.limits.max_pages {
            let (ex, items) = page(
                ctx,
                &with_query(&base, &format!("limit={l}&offset={offset}")),
            )?;
            offset += items.len();
            seen.extend(items.iter().map(|v| order_key(name, v)));
            last_ex = Some(ex);
            if items.is_empty() {
                break;
            }
        }
        let Some(ex) = last_ex else {
            return Err(Stop::Skip("no page read".into()));
        };
        if let Some(w) = seen.windows(2).find(|w| w[0] >= w[1]) {
            return fail_at(
                &ex,
                format!(
                    "{name}: {:?} comes after {:?}: duplicate or out of key order",
                    w[1], w[0]
                ),
            );
        }
        let got: BTreeSet<Vec<String>> = seen.into_iter().collect();
        if let Some(k) = want.difference(&got).next() {
            return fail_at(
                &ex,
                format!("{name}: {k:?} was never visited with limit {l} (a gap)"),
            );
        }
        if let Some(k) = got.difference(&want).next() {
            return fail_at(
                &ex,
                format!("{name}: {k:?} visited but not in the whole list"),
            );
        }
        Ok(format!("{name}: {} objects with limit {l}", want.len()))
    }
}

/// The `rel="next"` target of a Link header, resolved against the request URL.
pub fn next_link(ex: &Exchange) -> Result<Option<Url>, String> {
    let Some(h) = ex.header("link") else {
        return Ok(None);
    };
    for part in h.split(',') {
        let mut pieces = part.split(';');
        let target = pieces.next().unwrap_or("").trim();
        let is_next = pieces.any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        if is_next {
            let inner = target
                .strip_prefix('<')
                .and_then(|t| t.strip_suffix('>'))
                .ok_or_else(|| format!("malformed Link {h:?}"))?;
            return ex
                .url
                .join(inner)
                .map(Some)
                .map_err(|e| format!("Link target {inner:?}: {e}"));
        }
    }
    Ok(None)
}

fn params(u: &Url) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    v.sort();
    v
}

fn link(ctx: &mut Ctx) -> CheckResult {
    let mut report = Vec::new();
    for name in LISTS {
        report.push(ctx.at_one_size(name, |ctx, all| link_one(ctx, name, all.items.len()))?);
    }
    Ok(note(report.join("; ")))
}

fn link_one(ctx: &mut Ctx, name: &str, total: usize) -> Result<String, Stop> {
    {
        let base = ctx.endpoint(name, &format!("v1/{name}"))?;
        let l = small_limit(total);
        let mut url = with_query(&base, &format!("limit={l}"));
        let mut offset = 0usize;
        let mut seen: Vec<Vec<String>> = Vec::new();
        let mut pages = 0;
        loop {
            pages += 1;
            if pages as u64 > ctx.limits.max_pages {
                return Err(Stop::Skip("too many pages".into()));
            }
            let (ex, items) = page(ctx, &url)?;
            offset += items.len();
            seen.extend(items.iter().map(|v| order_key(name, v)));
            let next = next_link(&ex).or_else(|m| fail_at(&ex, m))?;
            let remain = offset < total;
            match (next, remain) {
                (None, false) => break,
                (None, true) => {
                    return fail_at(
                        &ex,
                        format!(
                            "{name}: no Link rel=\"next\" but {} of {total} objects remain",
                            total - offset
                        ),
                    );
                }
                (Some(n), false) => {
                    return fail_at(
                        &ex,
                        format!("{name}: Link rel=\"next\" {n} on the last page"),
                    );
                }
                (Some(n), true) => {
                    if n.path() != ex.url.path() {
                        return fail_at(
                            &ex,
                            format!(
                                "{name}: Link path {} differs from {}",
                                n.path(),
                                ex.url.path()
                            ),
                        );
                    }
                    let mut want: Vec<(String, String)> = params(&ex.url)
                        .into_iter()
                        .filter(|(k, _)| k != "offset")
                        .collect();
                    want.push(("offset".into(), offset.to_string()));
                    want.sort();
                    if params(&n) != want {
                        return fail_at(
                            &ex,
                            format!(
                                "{name}: Link {n} should keep the parameters and set offset={offset}"
                            ),
                        );
                    }
                    url = n;
                }
            }
        }
        let distinct: BTreeSet<&Vec<String>> = seen.iter().collect();
        if distinct.len() != seen.len() || seen.len() != total {
            return Err(Stop::fail(format!(
                "{name}: following Link visited {} objects ({} distinct) of {total}",
                seen.len(),
                distinct.len()
            )));
        }
        Ok(format!("{name}: {pages} pages"))
    }
}

fn invalid_params(ctx: &mut Ctx) -> CheckResult {
    let base = ctx.endpoint("locations", "v1/locations")?;
    for q in ["limit=0", "limit=-1", "limit=ten", "limit=1.5", "offset=-1"] {
        let ex = ctx.get(&with_query(&base, q))?;
        problem(&ex, 400, "invalid-query")?;
    }
    Ok(note("5 malformed parameters refused with invalid-query"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(link: Option<&str>) -> Exchange {
        let mut headers = crate::http::HeaderMap::new();
        if let Some(l) = link {
            headers.insert("link", l.parse().unwrap());
        }
        Exchange {
            method: "GET".into(),
            url: "http://node.example/base/v1/locations?limit=2"
                .parse()
                .unwrap(),
            status: 200,
            headers,
            body: Vec::new(),
        }
    }

    #[test]
    fn next_links_resolve_against_the_request() {
        let rel = ex(Some("</base/v1/locations?limit=2&offset=2>; rel=\"next\""));
        assert_eq!(
            next_link(&rel).unwrap().unwrap().as_str(),
            "http://node.example/base/v1/locations?limit=2&offset=2"
        );
        let other = ex(Some("<https://x.example/a>; rel=\"prev\""));
        assert_eq!(next_link(&other).unwrap(), None);
        assert_eq!(next_link(&ex(None)).unwrap(), None);
        assert!(next_link(&ex(Some("no-brackets; rel=\"next\""))).is_err());
    }
}
