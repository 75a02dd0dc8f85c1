//! DPS supplier compliance: the supplier register (`DIR/suppliers.toml`), the indicators
//! computed for each supplier and contract from verified data only, and the signed evidence
//! report. `docs/compliance.md` describes the register and every indicator.

pub mod reliability;
pub mod report;
#[cfg(test)]
mod synthetic;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::path::Path;

use evfed_spec::checkpoint::Checkpoint;
use evfed_spec::ext::GssCode;
use evfed_spec::ids::Party;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::london::London;
use crate::store::{LAG_BUCKETS_S, Member, Store, StoreError};

/// The register's file in the aggregator directory.
pub const REGISTER_FILE: &str = "suppliers.toml";

const DAY_MS: i64 = 24 * 3_600_000;
/// The window of the rolling indicators.
const WINDOW_MS: i64 = 30 * DAY_MS;

#[derive(Debug, thiserror::Error)]
pub enum ComplianceError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `DIR/suppliers.toml`: thresholds and suppliers with their contracts.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default, rename = "supplier")]
    pub suppliers: Vec<Supplier>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Supplier {
    /// Stable id, as members are registered with (`members add --supplier`).
    pub id: String,
    pub name: String,
    /// The OCPI parties (`CC*PID`) the supplier operates.
    pub parties: Vec<Party>,
    /// Member origins that publish for it; default: the members registered with its id.
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default, rename = "contract")]
    pub contracts: Vec<Contract>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    pub id: String,
    /// The contracting borough (ONS GSS code).
    pub borough: GssCode,
    /// Contracted charge points (EVSEs).
    #[serde(default)]
    pub chargepoints: Vec<Chargepoint>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Chargepoint {
    /// Default: the supplier's first party.
    #[serde(default)]
    pub party: Option<Party>,
    pub location: String,
    pub evse: String,
}

/// A band: at or better than `green` is green, at or better than `amber` amber, else red.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub green: f64,
    pub amber: f64,
}

impl Band {
    fn higher_is_better(self, v: f64) -> Colour {
        if v >= self.green {
            Colour::Green
        } else if v >= self.amber {
            Colour::Amber
        } else {
            Colour::Red
        }
    }
    fn lower_is_better(self, v: f64) -> Colour {
        if v <= self.green {
            Colour::Green
        } else if v <= self.amber {
            Colour::Amber
        } else {
            Colour::Red
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Share of conformance runs in 30 days that passed.
    pub conformance_pass_rate: Band,
    /// Share of harvests in 30 days that succeeded.
    pub availability: Band,
    /// p95 seconds from a status change to its first verified checkpoint (lower is better).
    pub freshness_p95_s: Band,
    /// Age in seconds of the newest verified checkpoint (lower is better).
    pub checkpoint_age_s: Band,
    /// Share of contracted charge points published.
    pub completeness: Band,
    /// Reliability of rapid charge points (regulation 7: at least 99 %).
    pub reliability: Band,
    /// Complete months without usage data since the first (lower is better).
    pub usage_months_missing: Band,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            conformance_pass_rate: Band {
                green: 0.95,
                amber: 0.8,
            },
            availability: Band {
                green: 0.99,
                amber: 0.95,
            },
            freshness_p95_s: Band {
                green: 60.0,
                amber: 300.0,
            },
            checkpoint_age_s: Band {
                green: 600.0,
                amber: 3_600.0,
            },
            completeness: Band {
                green: 1.0,
                amber: 0.95,
            },
            reliability: Band {
                green: 0.99,
                amber: 0.99,
            },
            usage_months_missing: Band {
                green: 0.0,
                amber: 1.0,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    Green,
    Amber,
    Red,
}

/// One indicator: its figures, colour and the reasons for the colour.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Indicator {
    pub name: &'static str,
    pub colour: Colour,
    pub reasons: Vec<String>,
    #[schema(value_type = Object)]
    pub figures: Value,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContractStatus {
    pub id: String,
    pub borough: String,
    pub status: Colour,
    pub indicators: Vec<Indicator>,
}

/// A supplier's compliance status.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SupplierStatus {
    pub id: String,
    pub name: String,
    pub parties: Vec<String>,
    pub members: Vec<String>,
    /// The worst colour of its indicators and contracts.
    pub status: Colour,
    /// Every amber and red reason.
    pub reasons: Vec<String>,
    pub indicators: Vec<Indicator>,
    pub contracts: Vec<ContractStatus>,
}

impl Register {
    /// Reads `DIR/suppliers.toml`; no file is an empty register.
    pub fn load(dir: &Path) -> Result<Register, ComplianceError> {
        let path = dir.join(REGISTER_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Register::default()),
            Err(source) => {
                return Err(ComplianceError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let register: Register =
            toml::from_str(&text).map_err(|source| ComplianceError::Parse {
                path: path.display().to_string(),
                source: Box::new(source),
            })?;
        register.check()?;
        Ok(register)
    }

    fn check(&self) -> Result<(), ComplianceError> {
        let mut ids = BTreeSet::new();
        for s in &self.suppliers {
            if !ids.insert(&s.id) {
                return Err(ComplianceError::Invalid(format!(
                    "supplier {} appears twice",
                    s.id
                )));
            }
            if s.parties.is_empty() {
                return Err(ComplianceError::Invalid(format!(
                    "supplier {} names no party",
                    s.id
                )));
            }
            for c in &s.contracts {
                for cp in &c.chargepoints {
                    if let Some(p) = &cp.party
                        && !s.parties.contains(p)
                    {
                        return Err(ComplianceError::Invalid(format!(
                            "contract {}: charge point {}/{} is under {p}, not one of supplier {}'s parties",
                            c.id, cp.location, cp.evse, s.id
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The inputs every supplier's status is computed from.
#[derive(Debug)]
pub struct Inputs<'a> {
    pub store: &'a Store,
    pub london: &'a London,
    pub members: &'a [Member],
    pub thresholds: &'a Thresholds,
    pub now_ms: i64,
}

impl Supplier {
    /// The member origins that publish for this supplier.
    pub fn origins(&self, members: &[Member]) -> Vec<String> {
        if !self.members.is_empty() {
            return self.members.clone();
        }
        members
            .iter()
            .filter(|m| m.supplier.as_deref() == Some(self.id.as_str()))
            .map(|m| m.origin.clone())
            .collect()
    }

    fn parties(&self) -> Vec<String> {
        self.parties.iter().map(ToString::to_string).collect()
    }

    /// Computes every indicator.
    pub fn status(&self, inp: &Inputs<'_>) -> Result<SupplierStatus, ComplianceError> {
        let origins = self.origins(inp.members);
        let t = inp.thresholds;
        let mut indicators = vec![
            conformance(inp, &origins, t)?,
            availability(inp, &origins, t)?,
            freshness(inp, &origins, t)?,
        ];
        indicators.push(statutory_reliability(self, inp, &origins, t)?);
        indicators.push(usage(inp, &origins, t)?);
        let all_contracted: Vec<&Contract> = self.contracts.iter().collect();
        indicators.push(completeness(self, inp, &origins, &all_contracted, t)?);
        let contracts = self
            .contracts
            .iter()
            .map(|c| {
                let inds = vec![
                    completeness(self, inp, &origins, &[c], t),
                    contract_reliability(self, c, inp, &origins, t),
                ];
                let inds = inds.into_iter().collect::<Result<Vec<_>, _>>();
                inds.map(|indicators| ContractStatus {
                    id: c.id.clone(),
                    borough: c.borough.to_string(),
                    status: worst(&indicators),
                    indicators,
                })
            })
            .collect::<Result<Vec<_>, ComplianceError>>()?;
        let mut reasons: Vec<String> = indicators
            .iter()
            .filter(|i| i.colour != Colour::Green)
            .flat_map(|i| i.reasons.iter().map(move |r| format!("{}: {r}", i.name)))
            .collect();
        for c in &contracts {
            for i in c.indicators.iter().filter(|i| i.colour != Colour::Green) {
                reasons.extend(
                    i.reasons
                        .iter()
                        .map(|r| format!("contract {}: {}: {r}", c.id, i.name)),
                );
            }
        }
        let status = worst(&indicators).max(
            contracts
                .iter()
                .map(|c| c.status)
                .max()
                .unwrap_or(Colour::Green),
        );
        Ok(SupplierStatus {
            id: self.id.clone(),
            name: self.name.clone(),
            parties: self.parties(),
            members: origins,
            status,
            reasons,
            indicators,
            contracts,
        })
    }
}

fn worst(indicators: &[Indicator]) -> Colour {
    indicators
        .iter()
        .map(|i| i.colour)
        .max()
        .unwrap_or(Colour::Green)
}

fn indicator(
    name: &'static str,
    colour: Colour,
    reasons: Vec<String>,
    figures: Value,
) -> Indicator {
    Indicator {
        name,
        colour,
        reasons: if colour == Colour::Green {
            Vec::new()
        } else {
            reasons
        },
        figures,
    }
}

fn pct(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}

/// 1 January 00:00 of `ms`'s year (UTC, which is London time in January).
pub fn year_start(ms: i64) -> i64 {
    use chrono::{Datelike, TimeZone, Utc};
    let year = Utc
        .timestamp_millis_opt(ms)
        .single()
        .map_or(1970, |d| d.year());
    Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0)
        .single()
        .map_or(0, |d| d.timestamp_millis())
}

fn conformance(
    inp: &Inputs<'_>,
    origins: &[String],
    t: &Thresholds,
) -> Result<Indicator, ComplianceError> {
    let runs = inp
        .store
        .conformance_runs(origins, inp.now_ms - WINDOW_MS)?;
    if runs.is_empty() {
        return Ok(indicator(
            "conformance",
            Colour::Amber,
            vec!["no conformance run in the last 30 days".into()],
            json!({"runs_30d": 0}),
        ));
    }
    let passed = runs.iter().filter(|r| r.2).count();
    let rate = passed as f64 / runs.len() as f64;
    let mut latest = Vec::new();
    let mut reasons = Vec::new();
    let mut colour = t.conformance_pass_rate.higher_is_better(rate);
    for o in origins {
        if let Some((_, at, ok)) = runs.iter().find(|r| &r.0 == o) {
            latest.push(json!({"origin": o, "at_ms": at, "passed": ok}));
            if !ok {
                colour = Colour::Red;
                reasons.push(format!("the latest run against {o} failed"));
            }
        }
    }
    if rate < t.conformance_pass_rate.green {
        reasons.push(format!("{} of runs passed in 30 days", pct(rate)));
    }
    Ok(indicator(
        "conformance",
        colour,
        reasons,
        json!({"runs_30d": runs.len(), "passed_30d": passed, "pass_rate_30d": rate, "latest": latest}),
    ))
}

fn availability(
    inp: &Inputs<'_>,
    origins: &[String],
    t: &Thresholds,
) -> Result<Indicator, ComplianceError> {
    let a = inp.store.availability(origins, inp.now_ms - WINDOW_MS)?;
    if a.attempts == 0 {
        return Ok(indicator(
            "feed_availability",
            Colour::Amber,
            vec!["not harvested in the last 30 days".into()],
            json!({"attempts_30d": 0}),
        ));
    }
    let share = a.ok as f64 / a.attempts as f64;
    Ok(indicator(
        "feed_availability",
        t.availability.higher_is_better(share),
        vec![format!(
            "{} of {} harvests succeeded ({})",
            a.ok,
            a.attempts,
            pct(share)
        )],
        json!({"attempts_30d": a.attempts, "ok_30d": a.ok, "share_30d": share}),
    ))
}

fn freshness(
    inp: &Inputs<'_>,
    origins: &[String],
    t: &Thresholds,
) -> Result<Indicator, ComplianceError> {
    let counts = inp.store.lag_counts(origins, inp.now_ms - WINDOW_MS)?;
    let total: u64 = counts.iter().sum();
    let mut reasons = Vec::new();
    let mut colour = Colour::Green;
    let p95 = (total > 0).then(|| {
        let need = (total as f64 * 0.95).ceil() as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= need {
                return LAG_BUCKETS_S[i];
            }
        }
        i64::MAX
    });
    match p95 {
        Some(p) => {
            let c = t.freshness_p95_s.lower_is_better(p as f64);
            if c != Colour::Green {
                reasons.push(if p == i64::MAX {
                    "p95 status lag over a day".to_owned()
                } else {
                    format!("p95 status lag up to {p} s")
                });
            }
            colour = colour.max(c);
        }
        None => {
            colour = Colour::Amber;
            reasons.push("no status change observed in the last 30 days".into());
        }
    }
    let mut ages = Vec::new();
    for m in inp.members.iter().filter(|m| origins.contains(&m.origin)) {
        let time = m
            .checkpoint
            .as_deref()
            .and_then(|n| evfed_spec::note::parse(n).ok())
            .and_then(|(text, _)| Checkpoint::parse_text(&text).ok())
            .map(|c| c.time as i64 * 1000);
        match time {
            Some(t_ms) => {
                let age_s = ((inp.now_ms - t_ms) / 1000).max(0);
                let c = t.checkpoint_age_s.lower_is_better(age_s as f64);
                if c != Colour::Green {
                    reasons.push(format!(
                        "{}'s newest verified checkpoint is {age_s} s old",
                        m.origin
                    ));
                }
                colour = colour.max(c);
                ages.push(json!({"origin": m.origin, "checkpoint_age_s": age_s}));
            }
            None => {
                colour = Colour::Red;
                reasons.push(format!("no verified checkpoint of {}", m.origin));
            }
        }
    }
    Ok(indicator(
        "freshness",
        colour,
        reasons,
        json!({
            "status_changes_30d": total,
            "p95_lag_s_at_most": p95.filter(|p| *p != i64::MAX),
            "lag_buckets_s": LAG_BUCKETS_S.iter().map(|b| if *b == i64::MAX { None } else { Some(*b) }).collect::<Vec<_>>(),
            "lag_counts": counts,
            "checkpoints": ages,
        }),
    ))
}

/// Contracted EVSEs the supplier's members publish in the London view.
fn completeness(
    s: &Supplier,
    inp: &Inputs<'_>,
    origins: &[String],
    contracts: &[&Contract],
    t: &Thresholds,
) -> Result<Indicator, ComplianceError> {
    let mut total = 0;
    let mut missing = Vec::new();
    for c in contracts {
        for cp in &c.chargepoints {
            total += 1;
            let party = cp
                .party
                .as_ref()
                .or(s.parties.first())
                .map(ToString::to_string)
                .unwrap_or_default();
            let published = inp
                .london
                .get(&(party.clone(), cp.location.clone()))
                .iter()
                .any(|copy| {
                    origins.contains(&copy.origin)
                        && copy
                            .location
                            .evses
                            .iter()
                            .any(|e| e.uid.as_str() == cp.evse)
                });
            if !published {
                missing.push(format!("{party}/{}/{}", cp.location, cp.evse));
            }
        }
    }
    if total == 0 {
        return Ok(indicator(
            "completeness",
            Colour::Green,
            Vec::new(),
            json!({"contracted": 0, "published": 0, "missing": []}),
        ));
    }
    let share = (total - missing.len()) as f64 / total as f64;
    let mut reasons = vec![format!(
        "{} of {total} contracted charge points not published",
        missing.len()
    )];
    reasons.extend(missing.iter().take(20).map(|m| format!("missing {m}")));
    Ok(indicator(
        "completeness",
        t.completeness.higher_is_better(share),
        reasons,
        json!({"contracted": total, "published": total - missing.len(), "share": share, "missing": missing}),
    ))
}

/// Average reliability of the EVSEs `keep` selects, and how many were measured.
fn average(
    rows: &[crate::store::EvseReliability],
    keep: impl Fn(&crate::store::EvseReliability) -> bool,
) -> (Option<f64>, usize) {
    let measured: Vec<f64> = rows
        .iter()
        .filter(|r| r.access_ms > 0 && keep(r))
        .map(|r| 1.0 - r.failed_ms as f64 / r.access_ms as f64)
        .collect();
    let n = measured.len();
    ((n > 0).then(|| measured.iter().sum::<f64>() / n as f64), n)
}

fn statutory_reliability(
    s: &Supplier,
    inp: &Inputs<'_>,
    origins: &[String],
    t: &Thresholds,
) -> Result<Indicator, ComplianceError> {
    let parties = s.parties();
    let this_year = year_start(inp.now_ms);
    let last_year = year_start(this_year - DAY_MS);
    let rapid = |r: &crate::store::EvseReliability| r.rapid && parties.contains(&r.party);
    let ytd = inp.store.reliability(origins, this_year, inp.now_ms)?;
    let (ytd_avg, ytd_n) = average(&ytd, rapid);
    let prev = inp.store.reliability(origins, last_year, this_year)?;
    let (prev_avg, prev_n) = average(&prev, rapid);
    let mut reasons = Vec::new();
    let mut colour = Colour::Green;
    for (label, avg) in [
        ("year to date", ytd_avg),
        ("previous calendar year", prev_avg),
    ] {
        if let Some(a) = avg {
            let c = t.reliability.higher_is_better(a);
            if c != Colour::Green {
                reasons.push(format!(
                    "rapid charge points {} reliable over the {label} (regulation 7 requires 99 %)",
                    pct(a)
                ));
            }
            colour = colour.max(c);
        }
    }
    if ytd_n == 0 && prev_n == 0 {
        reasons.push("no rapid charge point measured".into());
    }
    Ok(indicator(
        "reliability",
        colour,
        reasons,
        json!({
            "statutory": true,
            "basis": "Public Charge Point Regulations 2023, reg. 7: mean over the network's rapid (>= 50 kW) charge points of the share of access hours working; UNKNOWN and BLOCKED count as reliable",
            "year_to_date": ytd_avg, "rapid_chargepoints_year_to_date": ytd_n,
            "previous_calendar_year": prev_avg, "rapid_chargepoints_previous_year": prev_n,
        }),
    ))
}

fn contract_reliability(
    s: &Supplier,
    c: &Contract,
    inp: &Inputs<'_>,
    origins: &[String],
    t: &Thresholds,
) -> Result<Indicator, ComplianceError> {
    let first = s
        .parties
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    let wanted: BTreeSet<(String, &str, &str)> = c
        .chargepoints
        .iter()
        .map(|cp| {
            (
                cp.party.as_ref().map_or(first.clone(), ToString::to_string),
                cp.location.as_str(),
                cp.evse.as_str(),
            )
        })
        .collect();
    let ytd = inp
        .store
        .reliability(origins, year_start(inp.now_ms), inp.now_ms)?;
    let (avg, n) = average(&ytd, |r| {
        wanted.contains(&(r.party.clone(), r.location_id.as_str(), r.evse_uid.as_str()))
    });
    let colour = avg.map_or(Colour::Green, |a| t.reliability.higher_is_better(a));
    Ok(indicator(
        "contract_reliability",
        colour,
        avg.map(|a| {
            format!(
                "contracted charge points {} reliable this year (non-statutory)",
                pct(a)
            )
        })
        .into_iter()
        .collect(),
        json!({"statutory": false, "year_to_date": avg, "chargepoints_measured": n}),
    ))
}

fn usage(
    inp: &Inputs<'_>,
    origins: &[String],
    t: &Thresholds,
) -> Result<Indicator, ComplianceError> {
    let months = inp.store.usage_months(origins)?;
    let current = month_of(inp.now_ms);
    let Some((first, _)) = months.first() else {
        return Ok(indicator(
            "usage_data",
            Colour::Red,
            vec!["no usage data delivered".into()],
            json!({"months": []}),
        ));
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
    Ok(indicator(
        "usage_data",
        t.usage_months_missing.lower_is_better(missing.len() as f64),
        vec![format!("no usage data for {}", missing.join(", "))],
        json!({
            "months": months.iter().map(|(m, n)| json!({"month": m, "sessions": n})).collect::<Vec<_>>(),
            "missing": missing,
        }),
    ))
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
