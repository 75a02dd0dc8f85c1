//! Date windows (§12.3): `date_from` inclusive, `date_to` exclusive, so consecutive windows
//! never overlap; malformed or reversed windows are `invalid-query`.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Key, enc, key_of, problem, time_of};
use crate::case::{Case, CheckResult, Level, Stop, note};
use crate::ctx::{Ctx, Listing};

pub const CASES: &[Case] = &[
    Case {
        id: "dates.window",
        section: "§12.3",
        level: Level::Core,
        required: true,
        description: "date_from is inclusive and date_to exclusive: for a time t that objects \
                      carry, [.., t) and [t, ..) split the list exactly, on last_updated and \
                      event_time",
        check: window,
    },
    Case {
        id: "dates.invalid",
        section: "§12.3",
        level: Level::Core,
        required: true,
        description: "an unparseable date or date_from after date_to is 400 invalid-query",
        check: invalid,
    },
];

/// (collection, time field) pairs whose windows are tested.
const WINDOWS: [(&str, &str); 3] = [
    ("locations", "last_updated"),
    ("tariffs", "last_updated"),
    ("status", "event_time"),
];

fn window_key(name: &str, v: &Value) -> Key {
    if name == "status" {
        let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
        (s("party_id"), s("location_id"), s("evse_uid"))
    } else {
        key_of(v)
    }
}

fn window(ctx: &mut Ctx) -> CheckResult {
    let mut report = Vec::new();
    for (name, field) in WINDOWS {
        if let Some(r) = ctx.at_one_size(name, |ctx, all| window_one(ctx, name, field, all))? {
            report.push(r);
        }
    }
    if report.is_empty() {
        return Err(Stop::Skip("no object carries a time to window on".into()));
    }
    Ok(note(report.join("; ")))
}

/// Splits one list at the median time its objects carry.
fn window_one(
    ctx: &mut Ctx,
    name: &str,
    field: &str,
    all: &Listing,
) -> Result<Option<String>, Stop> {
    let mut times: Vec<(evfed_spec::DateTime, &str)> = all
        .items
        .iter()
        .filter_map(|v| Some((time_of(v, field)?, v[field].as_str()?)))
        .collect();
    if times.is_empty() {
        return Ok(None);
    }
    times.sort();
    // The median time: some objects before it, and at least one exactly at it.
    let (pivot, pivot_text) = times[times.len() / 2];
    let keys = |keep: &dyn Fn(evfed_spec::DateTime) -> bool| -> BTreeSet<Key> {
        all.items
            .iter()
            .filter(|v| time_of(v, field).is_some_and(keep))
            .map(|v| window_key(name, v))
            .collect()
    };
    let before = keys(&|t| t < pivot);
    let from = keys(&|t| t >= pivot);
    let p = enc(pivot_text);
    for (q, want, what) in [
        (format!("date_to={p}"), &before, "date_to (exclusive)"),
        (format!("date_from={p}"), &from, "date_from (inclusive)"),
    ] {
        let got = ctx.fetch_listing(name, &q, None)?;
        let got_keys: BTreeSet<Key> = got.items.iter().map(|v| window_key(name, v)).collect();
        if &got_keys != want {
            let extra = got_keys.difference(want).next();
            let missing = want.difference(&got_keys).next();
            let mut e = crate::report::Evidence {
                method: Some("GET".into()),
                url: Some(got.first_url.to_string()),
                status: Some(200),
                excerpt: None,
                message: format!(
                    "{name} {what} at {pivot_text}: {} objects, expected {}",
                    got_keys.len(),
                    want.len()
                ),
            };
            if let Some(x) = extra {
                e.message.push_str(&format!("; {x:?} should not match"));
            }
            if let Some(m) = missing {
                e.message.push_str(&format!("; {m:?} should match"));
            }
            return Err(Stop::Fail(e));
        }
    }
    let r = format!(
        "{name}.{field} split at {pivot_text}: {}+{}",
        before.len(),
        from.len()
    );
    Ok(Some(r))
}

fn invalid(ctx: &mut Ctx) -> CheckResult {
    let base = ctx.endpoint("locations", "v1/locations")?;
    for q in [
        "date_from=yesterday",
        "date_to=2026-13-45T00:00:00Z",
        "date_from=2026-06-02T00:00:00Z&date_to=2026-06-01T00:00:00Z",
    ] {
        let mut url = base.clone();
        url.set_query(Some(q));
        let ex = ctx.get(&url)?;
        problem(&ex, 400, "invalid-query")?;
    }
    Ok(note(
        "malformed and reversed windows refused with invalid-query",
    ))
}
