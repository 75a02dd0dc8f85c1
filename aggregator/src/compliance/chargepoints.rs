//! The indicators about charge points rather than feeds: completeness of the contracted
//! charge points in the London view, reliability (statutory and per contract) and usage data
//! delivered per month.

use std::collections::{BTreeSet, HashMap};

use serde_json::json;

use super::evses::EvseYears;
use super::indicators::{NO_MEMBER, indicator};
use super::{Colour, Contract, Indicator, Inputs, Supplier, Thresholds, Years, words};

/// Contracted EVSEs the supplier's members publish in the London view.
pub(super) fn completeness(
    s: &Supplier,
    published: &HashMap<String, bool>,
    contracts: &[&Contract],
    t: &Thresholds,
) -> Indicator {
    const NAME: &str = "completeness";
    const LABEL: &str = "Completeness";
    let mut total = 0;
    let mut missing = Vec::new();
    for c in contracts {
        for cp in &c.chargepoints {
            total += 1;
            let name = s.chargepoint_name(cp);
            if !published.get(&name).copied().unwrap_or(false) {
                missing.push(name);
            }
        }
    }
    if total == 0 {
        let why = if contracts.len() == 1 {
            "the contract lists no charge point in suppliers.toml"
        } else {
            "no contracted charge point is listed in suppliers.toml"
        };
        return indicator(
            NAME,
            LABEL,
            Colour::NotMeasured,
            vec![why.to_owned()],
            vec!["No contracted charge point to look for.".into()],
            json!({"contracted": 0, "published": 0, "missing": []}),
        );
    }
    let share = (total - missing.len()) as f64 / total as f64;
    let mut reasons = vec![format!(
        "{} of {total} contracted charge points are not published in the London view",
        missing.len()
    )];
    reasons.extend(
        missing
            .iter()
            .take(20)
            .map(|m| format!("not published: {m}")),
    );
    if missing.len() > 20 {
        reasons.push(format!("and {} more not published", missing.len() - 20));
    }
    let mut summary = vec![format!(
        "{} of {} published in the London view ({}).",
        total - missing.len(),
        words::count(total, "contracted charge point"),
        words::pct(share)
    )];
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(20).cloned().collect();
        let more = if missing.len() > 20 {
            format!(" and {} more", missing.len() - 20)
        } else {
            String::new()
        };
        summary.push(format!("Not published: {}{more}.", shown.join(", ")));
    }
    indicator(
        NAME,
        LABEL,
        t.completeness.higher_is_better(share),
        reasons,
        summary,
        json!({"contracted": total, "published": total - missing.len(), "share": share, "missing": missing}),
    )
}

/// Mean reliability of these EVSEs over one year (`previous`: the previous calendar year,
/// else the year to date), and how many had access time.
fn average<'a>(
    evses: impl Iterator<Item = &'a EvseYears<'a>>,
    previous: bool,
) -> (Option<f64>, usize) {
    let (mut sum, mut n) = (0.0, 0);
    for e in evses {
        let (access, failed) = if previous {
            e.previous_year
        } else {
            e.year_to_date
        };
        if access > 0 {
            sum += 1.0 - failed as f64 / access as f64;
            n += 1;
        }
    }
    ((n > 0).then(|| sum / n as f64), n)
}

pub(super) fn statutory_reliability(
    s: &Supplier,
    inp: &Inputs<'_>,
    years: &Years<'_>,
    t: &Thresholds,
) -> Indicator {
    use chrono::{Datelike, TimeZone, Utc};
    const NAME: &str = "reliability";
    const LABEL: &str = "Reliability (statutory)";
    let parties = s.parties();
    let rapid = || {
        years
            .all
            .iter()
            .filter(|r| r.rapid && parties.iter().any(|p| p == r.party))
    };
    let (ytd_avg, ytd_n) = average(rapid(), false);
    let (prev_avg, prev_n) = average(rapid(), true);
    let year = Utc
        .timestamp_millis_opt(inp.now_ms)
        .single()
        .map_or(1970, |d| d.year());
    let mut reasons = Vec::new();
    let mut summary = Vec::new();
    let mut colour = None::<Colour>;
    for (label, avg, n) in [
        (format!("year to date ({year})"), ytd_avg, ytd_n),
        (
            format!("previous calendar year ({})", year - 1),
            prev_avg,
            prev_n,
        ),
    ] {
        match avg {
            Some(a) => {
                let sentence = format!(
                    "rapid charge points were working {} of their access hours over the {label}, \
                     a mean over {}",
                    words::pct(a),
                    words::count(n, "rapid charge point")
                );
                let c = t.reliability.higher_is_better(a);
                if c != Colour::Green {
                    reasons.push(format!(
                        "{sentence} (regulation 7 requires at least {})",
                        words::pct(t.reliability.green)
                    ));
                }
                summary.push(upper_first(&format!("{sentence}.")));
                colour = Some(colour.map_or(c, |x| x.max(c)));
            }
            None => summary.push(upper_first(&format!(
                "{label}: not measured (no rapid charge point had access hours)."
            ))),
        }
    }
    let colour = colour.unwrap_or_else(|| {
        reasons.push(
            "no rapid (50 kW or more) charge point of this supplier was measured, so regulation 7 \
             could not be checked"
                .into(),
        );
        Colour::NotMeasured
    });
    indicator(
        NAME,
        LABEL,
        colour,
        reasons,
        summary,
        json!({
            "statutory": true,
            "basis": "Public Charge Point Regulations 2023, reg. 7: mean over the network's rapid (>= 50 kW) charge points of the share of access hours working; UNKNOWN and BLOCKED count as reliable",
            "year_to_date": ytd_avg, "rapid_chargepoints_year_to_date": ytd_n,
            "previous_calendar_year": prev_avg, "rapid_chargepoints_previous_year": prev_n,
        }),
    )
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

pub(super) fn contract_reliability(
    s: &Supplier,
    c: &Contract,
    years: &Years<'_>,
    t: &Thresholds,
) -> Indicator {
    const NAME: &str = "contract_reliability";
    const LABEL: &str = "Reliability (contract, non-statutory)";
    let parties: Vec<String> = c.chargepoints.iter().map(|cp| s.party_of(cp)).collect();
    let wanted: BTreeSet<usize> = c
        .chargepoints
        .iter()
        .zip(&parties)
        .filter_map(|(cp, party)| {
            years
                .index
                .get(&(party.as_str(), cp.location.as_str(), cp.evse.as_str()))
        })
        .flatten()
        .copied()
        .collect();
    let (avg, n) = average(wanted.iter().map(|&i| &years.all[i]), false);
    let (colour, reasons, summary) = match avg {
        Some(a) => {
            let sentence = format!(
                "contracted charge points were working {} of their access hours this year, a mean \
                 over {} (non-statutory)",
                words::pct(a),
                words::count(n, "charge point")
            );
            (
                t.reliability.higher_is_better(a),
                vec![format!(
                    "{sentence}; green needs {}",
                    words::pct(t.reliability.green)
                )],
                vec![upper_first(&format!("{sentence}."))],
            )
        }
        None => (
            Colour::NotMeasured,
            vec!["none of the contracted charge points was measured this year".into()],
            vec!["Not measured: no contracted charge point had access hours this year.".into()],
        ),
    };
    indicator(
        NAME,
        LABEL,
        colour,
        reasons,
        summary,
        json!({"statutory": false, "year_to_date": avg, "chargepoints_measured": n}),
    )
}

pub(super) fn usage(
    inp: &Inputs<'_>,
    origins: &[String],
    months: &[(String, u64)],
    t: &Thresholds,
) -> Indicator {
    const NAME: &str = "usage_data";
    const LABEL: &str = "Usage data";
    let current = month_of(inp.now_ms);
    let Some((first, _)) = months.first() else {
        let followed = inp
            .members
            .iter()
            .any(|m| origins.contains(&m.origin) && m.usage.is_some());
        if !followed {
            let why = if origins.is_empty() {
                NO_MEMBER
            } else {
                "the aggregator has not yet read a usage log of this supplier's members"
            };
            return indicator(
                NAME,
                LABEL,
                Colour::NotMeasured,
                vec![why.to_owned()],
                vec!["No usage log read yet.".into()],
                json!({"months": [], "missing": []}),
            );
        }
        return indicator(
            NAME,
            LABEL,
            Colour::Red,
            vec!["no usage data delivered".into()],
            vec!["No session delivered in the usage logs.".into()],
            json!({"months": [], "missing": []}),
        );
    };
    let delivered: BTreeSet<&str> = months.iter().map(|(m, _)| m.as_str()).collect();
    let mut missing = Vec::new();
    let mut m = first.clone();
    while m < current {
        if !delivered.contains(m.as_str()) {
            missing.push(m.clone());
        }
        m = next_month(&m);
    }
    let named: Vec<String> = missing.iter().map(|m| words::month(m)).collect();
    let sessions: u64 = months.iter().map(|(_, n)| n).sum();
    let mut summary = vec![format!(
        "{sessions} sessions delivered in {} since {}.",
        words::count(months.len(), "month"),
        words::month(first)
    )];
    if !missing.is_empty() {
        summary.push(format!("No usage data for {}.", words::list(&named)));
    }
    indicator(
        NAME,
        LABEL,
        t.usage_months_missing.lower_is_better(missing.len() as f64),
        vec![format!(
            "no usage data for {} ({} without any)",
            words::list(&named),
            words::count(missing.len(), "complete month")
        )],
        summary,
        json!({
            "months": months.iter().map(|(m, n)| json!({"month": m, "sessions": n})).collect::<Vec<_>>(),
            "missing": missing,
        }),
    )
}

fn month_of(ms: i64) -> String {
    use chrono::{TimeZone, Utc};
    Utc.timestamp_millis_opt(ms)
        .single()
        .map_or_else(String::new, |d| d.format("%Y-%m").to_string())
}

fn next_month(m: &str) -> String {
    let (y, mo) = m.split_once('-').unwrap_or(("1970", "01"));
    let (y, mo): (i32, u32) = (y.parse().unwrap_or(1970), mo.parse().unwrap_or(1));
    if mo >= 12 {
        format!("{:04}-01", y + 1)
    } else {
        format!("{y:04}-{:02}", mo + 1)
    }
}
