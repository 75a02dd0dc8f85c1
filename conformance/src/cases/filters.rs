//! List filters (§10.5): `party` on every list, `borough` on Locations.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{enc, party_of};
use crate::case::{Case, CheckResult, Level, Stop, note};
use crate::ctx::Ctx;

pub const CASES: &[Case] = &[
    Case {
        id: "filters.party",
        section: "§10.5",
        level: Level::Core,
        required: true,
        description: "party=CC*PID on /v1/locations, /v1/tariffs and /v1/status returns exactly \
                      that party's objects",
        check: party,
    },
    Case {
        id: "filters.borough",
        section: "§10.5",
        level: Level::Core,
        required: true,
        description: "borough=GSS on /v1/locations returns exactly the Locations whose evfed.borough \
                      is that code",
        check: borough,
    },
];

/// Compares a filtered read with the whole list filtered locally.
fn same(
    ctx: &mut Ctx,
    name: &str,
    query: &str,
    want: impl Fn(&Value) -> bool,
) -> Result<usize, Stop> {
    ctx.at_one_size(name, |ctx, all| {
        let expect: BTreeSet<String> = all
            .items
            .iter()
            .filter(|v| want(v))
            .map(Value::to_string)
            .collect();
        let got = ctx.fetch_listing(name, query, None)?;
        let got_set: BTreeSet<String> = got.items.iter().map(Value::to_string).collect();
        if got_set != expect || got.items.len() != got_set.len() {
            return Err(Stop::Fail(crate::report::Evidence {
                method: Some("GET".into()),
                url: Some(got.first_url.to_string()),
                status: Some(200),
                excerpt: None,
                message: format!(
                    "{name}?{query}: {} objects, the whole list has {} matching",
                    got.items.len(),
                    expect.len()
                ),
            }));
        }
        Ok(expect.len())
    })
}

fn party(ctx: &mut Ctx) -> CheckResult {
    let mut report = Vec::new();
    for name in ["locations", "tariffs", "status"] {
        let all = ctx.listing(name)?;
        let mut parties: Vec<String> = all
            .items
            .iter()
            .map(party_of)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        parties.truncate(3);
        parties.push("ZZ*ZZZ".into());
        for p in parties {
            let n = same(ctx, name, &format!("party={}", enc(&p)), |v| {
                party_of(v) == p
            })?;
            report.push(format!("{name} {p}: {n}"));
        }
    }
    Ok(note(report.join("; ")))
}

fn borough(ctx: &mut Ctx) -> CheckResult {
    let all = ctx.listing("locations")?;
    let of = |v: &Value| v["evfed"]["borough"].as_str().map(str::to_owned);
    let mut codes: Vec<String> = all
        .items
        .iter()
        .filter_map(of)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    codes.truncate(3);
    codes.push("E09000999".into());
    let mut report = Vec::new();
    for c in codes {
        let n = same(ctx, "locations", &format!("borough={c}"), |v| {
            of(v).as_deref() == Some(c.as_str())
        })?;
        report.push(format!("{c}: {n}"));
    }
    Ok(note(report.join("; ")))
}
