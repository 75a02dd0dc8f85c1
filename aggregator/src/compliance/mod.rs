//! DPS supplier compliance: the supplier register (`DIR/suppliers.toml`), the indicators
//! computed for each supplier and contract from verified data only, and the signed evidence
//! report. `docs/compliance.md` describes the register and every indicator.

mod cache;
mod evses;
pub mod reliability;
pub mod report;
#[cfg(test)]
mod synthetic;
#[cfg(test)]
mod tests;
pub mod words;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use evfed_spec::checkpoint::Checkpoint;
use evfed_spec::ext::GssCode;
use evfed_spec::ids::Party;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use self::cache::{Cache, Statuses, statuses_cached};
use self::evses::{EvseYears, MemberEvses};
use crate::london::London;
use crate::store::{LAG_BUCKETS_S, Member, Store, StoreError};

/// The register's file in the aggregator directory.
pub const REGISTER_FILE: &str = "suppliers.toml";

pub(crate) const DAY_MS: i64 = 24 * 3_600_000;
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

/// A traffic light. Ordered from best to worst: a status is the worst of its parts, so
/// anything not measured keeps a supplier from green without making it amber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    Green,
    /// Nothing was measured (no run, no harvest, no charge point): never green.
    NotMeasured,
    Amber,
    Red,
}

impl Colour {
    /// The colour in words: `green`, `not measured`, `amber`, `red`.
    pub fn words(self) -> &'static str {
        match self {
            Colour::Green => "green",
            Colour::NotMeasured => "not measured",
            Colour::Amber => "amber",
            Colour::Red => "red",
        }
    }
}

/// One indicator: its figures, colour and the reasons for the colour.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Indicator {
    /// Stable name (`feed_availability`).
    pub name: &'static str,
    /// Its name for people (`Feed availability`).
    pub label: &'static str,
    pub colour: Colour,
    /// Why it is not green, in plain sentences (empty when green).
    pub reasons: Vec<String>,
    /// What was measured, in plain sentences (times in RFC 3339, durations in words): what
    /// the CSV and HTML reports print.
    pub summary: Vec<String>,
    /// The figures, for programs (times also as `…_ms`, Unix milliseconds).
    #[schema(value_type = Object)]
    pub figures: Value,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContractStatus {
    pub id: String,
    pub borough: String,
    /// The worst colour of its indicators.
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
    /// The worst colour of its indicators and contracts (`docs/compliance.md`): green only
    /// when every indicator was measured and is green.
    pub status: Colour,
    /// The status in one plain sentence.
    pub summary: String,
    /// Every amber, red and not-measured reason, each after the indicator's label.
    pub reasons: Vec<String>,
    pub indicators: Vec<Indicator>,
    pub contracts: Vec<ContractStatus>,
}

impl Register {
    /// Reads `DIR/suppliers.toml`; no file is an empty register.
    pub fn load(dir: &Path) -> Result<Register, ComplianceError> {
        let path = dir.join(REGISTER_FILE);
        match Register::read(dir)? {
            None => Ok(Register::default()),
            Some(text) => Register::parse(&text, &path),
        }
    }

    /// The bytes of `DIR/suppliers.toml`, `None` when there is no file.
    fn read(dir: &Path) -> Result<Option<Vec<u8>>, ComplianceError> {
        let path = dir.join(REGISTER_FILE);
        match std::fs::read(&path) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ComplianceError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Parses and checks the register's text (`path` names it in errors).
    fn parse(text: &[u8], path: &Path) -> Result<Register, ComplianceError> {
        let text = std::str::from_utf8(text).map_err(|e| ComplianceError::Read {
            path: path.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        let register: Register = toml::from_str(text).map_err(|source| ComplianceError::Parse {
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

/// What a supplier's reliability and usage indicators are computed from, read from the store
/// or kept by the [`Cache`].
#[derive(Debug)]
pub(crate) struct Facts<'a> {
    /// The EVSEs of each of its members.
    pub evses: Vec<&'a MemberEvses>,
    /// Sessions per month (`YYYY-MM`), oldest first.
    pub usage_months: Vec<(String, u64)>,
}

/// Every EVSE of a supplier's members at the time of the request, computed once for all its
/// reliability indicators, with an index by `(party, location, evse)` for the contracts.
struct Years<'a> {
    all: Vec<EvseYears<'a>>,
    index: HashMap<(&'a str, &'a str, &'a str), Vec<usize>>,
}

impl<'a> Years<'a> {
    fn new(facts: &'a Facts<'_>, now_ms: i64) -> Self {
        let all: Vec<EvseYears<'a>> = facts.evses.iter().flat_map(|m| m.at(now_ms)).collect();
        let mut index: HashMap<(&str, &str, &str), Vec<usize>> = HashMap::new();
        for (i, e) in all.iter().enumerate() {
            index
                .entry((e.party, e.location_id, e.evse_uid))
                .or_default()
                .push(i);
        }
        Years { all, index }
    }
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

    /// Computes every indicator from the store, reading everything afresh (what
    /// [`statuses_cached`] does with what has not changed kept).
    pub fn status(&self, inp: &Inputs<'_>) -> Result<SupplierStatus, ComplianceError> {
        let origins = self.origins(inp.members);
        let evses = origins
            .iter()
            .map(|o| MemberEvses::load(inp.store, o, None, inp.now_ms))
            .collect::<Result<Vec<_>, _>>()?;
        let facts = Facts {
            evses: evses.iter().collect(),
            usage_months: inp.store.usage_months(&origins)?,
        };
        self.status_with(inp, &origins, &facts)
    }

    /// Computes every indicator, the reliability and usage ones from `facts`.
    pub(crate) fn status_with(
        &self,
        inp: &Inputs<'_>,
        origins: &[String],
        facts: &Facts<'_>,
    ) -> Result<SupplierStatus, ComplianceError> {
        let t = inp.thresholds;
        let origins = origins.to_vec();
        let published = self.published(inp, &origins);
        let years = Years::new(facts, inp.now_ms);
        let all_contracted: Vec<&Contract> = self.contracts.iter().collect();
        let indicators = vec![
            conformance(inp, &origins, t)?,
            availability(inp, &origins, t)?,
            freshness(inp, &origins, t)?,
            statutory_reliability(self, inp, &years, t),
            usage(inp, &origins, &facts.usage_months, t),
            completeness(self, &published, &all_contracted, t),
        ];
        let contracts: Vec<ContractStatus> = self
            .contracts
            .iter()
            .map(|c| {
                let indicators = vec![
                    completeness(self, &published, &[c], t),
                    contract_reliability(self, c, &years, t),
                ];
                ContractStatus {
                    id: c.id.clone(),
                    borough: c.borough.to_string(),
                    status: worst(&indicators),
                    indicators,
                }
            })
            .collect();
        let mut reasons: Vec<String> = Vec::new();
        let mut by_colour: [Vec<String>; 4] = Default::default();
        let mut note = |scope: Option<&str>, i: &Indicator| {
            let label = match scope {
                Some(c) => format!("Contract {c}: {}", i.label),
                None => i.label.to_owned(),
            };
            reasons.extend(i.reasons.iter().map(|r| format!("{label}: {r}")));
            by_colour[i.colour as usize].push(label);
        };
        for i in &indicators {
            note(None, i);
        }
        for c in &contracts {
            for i in &c.indicators {
                note(Some(&c.id), i);
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
            summary: status_summary(status, &by_colour),
            reasons,
            indicators,
            contracts,
        })
    }

    /// Whether each contracted charge point is published in the London view by one of the
    /// supplier's members, looked up once however many contracts list it.
    fn published(&self, inp: &Inputs<'_>, origins: &[String]) -> HashMap<String, bool> {
        let mut out = HashMap::new();
        for c in &self.contracts {
            for cp in &c.chargepoints {
                let name = self.chargepoint_name(cp);
                if out.contains_key(&name) {
                    continue;
                }
                let party = self.party_of(cp);
                let published = inp
                    .london
                    .get(&(party, cp.location.clone()))
                    .iter()
                    .any(|copy| {
                        origins.contains(&copy.origin)
                            && copy
                                .location
                                .evses
                                .iter()
                                .any(|e| e.uid.as_str() == cp.evse)
                    });
                out.insert(name, published);
            }
        }
        out
    }

    fn party_of(&self, cp: &Chargepoint) -> String {
        cp.party
            .as_ref()
            .or(self.parties.first())
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// `party/location/evse`.
    fn chargepoint_name(&self, cp: &Chargepoint) -> String {
        format!("{}/{}/{}", self.party_of(cp), cp.location, cp.evse)
    }
}

/// The overall status in one sentence: how many indicators have each colour, and which.
fn status_summary(status: Colour, by_colour: &[Vec<String>; 4]) -> String {
    if status == Colour::Green {
        return "Green: every indicator was measured and is green.".to_owned();
    }
    let mut parts = Vec::new();
    for c in [Colour::Red, Colour::Amber, Colour::NotMeasured] {
        let names = &by_colour[c as usize];
        if !names.is_empty() {
            parts.push(format!(
                "{} {} ({})",
                names.len(),
                c.words(),
                words::list(names)
            ));
        }
    }
    let mut first = status.words().to_owned();
    if let Some(f) = first.get_mut(0..1) {
        f.make_ascii_uppercase();
    }
    let tail = if status == Colour::NotMeasured {
        "; nothing measured is amber or red, but a supplier is green only when every indicator was measured"
    } else {
        ""
    };
    format!("{first}: {}{tail}.", words::list(&parts))
}

/// The worst colour (green only when every one is green; no indicators: not measured).
pub fn worst(indicators: &[Indicator]) -> Colour {
    indicators
        .iter()
        .map(|i| i.colour)
        .max()
        .unwrap_or(Colour::NotMeasured)
}

fn indicator(
    name: &'static str,
    label: &'static str,
    colour: Colour,
    reasons: Vec<String>,
    summary: Vec<String>,
    figures: Value,
) -> Indicator {
    Indicator {
        name,
        label,
        colour,
        reasons: if colour == Colour::Green {
            Vec::new()
        } else {
            reasons
        },
        summary,
        figures,
    }
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

const NO_MEMBER: &str = "no member publishes for this supplier";

fn conformance(
    inp: &Inputs<'_>,
    origins: &[String],
    t: &Thresholds,
) -> Result<Indicator, ComplianceError> {
    const NAME: &str = "conformance";
    const LABEL: &str = "Conformance";
    let runs = inp
        .store
        .conformance_runs(origins, inp.now_ms - WINDOW_MS)?;
    if runs.is_empty() {
        let why = "no conformance run in the last 30 days".to_owned();
        return Ok(indicator(
            NAME,
            LABEL,
            Colour::NotMeasured,
            vec![why],
            vec!["No conformance run in the last 30 days.".into()],
            json!({"runs_30d": 0}),
        ));
    }
    let passed = runs.iter().filter(|r| r.2).count();
    let rate = passed as f64 / runs.len() as f64;
    let mut latest = Vec::new();
    let mut reasons = Vec::new();
    let mut summary = vec![format!(
        "{passed} of {} in the last 30 days passed ({}).",
        words::count(runs.len(), "run"),
        words::pct(rate)
    )];
    let mut colour = t.conformance_pass_rate.higher_is_better(rate);
    if rate < t.conformance_pass_rate.green {
        reasons.push(format!(
            "{} of the runs in the last 30 days passed; green needs {}",
            words::pct(rate),
            words::pct(t.conformance_pass_rate.green)
        ));
    }
    for o in origins {
        if let Some((_, at, ok)) = runs.iter().find(|r| &r.0 == o) {
            let at_text = words::time(*at);
            latest.push(json!({"origin": o, "at_ms": at, "at": at_text, "passed": ok}));
            let verdict = if *ok { "passed" } else { "failed" };
            summary.push(format!(
                "The latest run against {o}, at {at_text}, {verdict}."
            ));
            if !ok {
                colour = Colour::Red;
                reasons.push(format!("the latest run against {o}, at {at_text}, failed"));
            }
        }
    }
    Ok(indicator(
        NAME,
        LABEL,
        colour,
        reasons,
        summary,
        json!({"runs_30d": runs.len(), "passed_30d": passed, "pass_rate_30d": rate, "latest": latest}),
    ))
}

fn availability(
    inp: &Inputs<'_>,
    origins: &[String],
    t: &Thresholds,
) -> Result<Indicator, ComplianceError> {
    const NAME: &str = "feed_availability";
    const LABEL: &str = "Feed availability";
    let a = inp.store.availability(origins, inp.now_ms - WINDOW_MS)?;
    if a.attempts == 0 {
        let why = if origins.is_empty() {
            NO_MEMBER
        } else {
            "not harvested in the last 30 days"
        };
        return Ok(indicator(
            NAME,
            LABEL,
            Colour::NotMeasured,
            vec![why.to_owned()],
            vec!["No harvest in the last 30 days.".into()],
            json!({"attempts_30d": 0}),
        ));
    }
    let share = a.ok as f64 / a.attempts as f64;
    let colour = t.availability.higher_is_better(share);
    let sentence = format!(
        "{} of {} in the last 30 days succeeded ({})",
        a.ok,
        words::count(a.attempts as usize, "harvest"),
        words::pct(share)
    );
    Ok(indicator(
        NAME,
        LABEL,
        colour,
        vec![format!(
            "{sentence}; green needs {}",
            words::pct(t.availability.green)
        )],
        vec![format!("{sentence}.")],
        json!({"attempts_30d": a.attempts, "ok_30d": a.ok, "share_30d": share}),
    ))
}

/// The p95 of the freshness histogram, as its bucket's upper bound (`i64::MAX`: over a day).
fn p95(counts: &[u64]) -> Option<i64> {
    let total: u64 = counts.iter().sum();
    (total > 0).then(|| {
        let need = (total as f64 * 0.95).ceil() as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= need {
                return LAG_BUCKETS_S.get(i).copied().unwrap_or(i64::MAX);
            }
        }
        i64::MAX
    })
}

fn freshness(
    inp: &Inputs<'_>,
    origins: &[String],
    t: &Thresholds,
) -> Result<Indicator, ComplianceError> {
    const NAME: &str = "freshness";
    const LABEL: &str = "Freshness";
    let counts = inp.store.lag_counts(origins, inp.now_ms - WINDOW_MS)?;
    let total: u64 = counts.iter().sum();
    let mut reasons = Vec::new();
    let mut summary = Vec::new();
    let p95 = p95(&counts);
    let mut colour = match p95 {
        Some(p) => {
            let within = if p == i64::MAX {
                "more than a day".to_owned()
            } else {
                format!("at most {}", words::duration_s(p))
            };
            let sentence = format!(
                "95 % of the {} in the last 30 days reached a verified checkpoint in {within}",
                words::count(total as usize, "status change")
            );
            let c = t.freshness_p95_s.lower_is_better(p as f64);
            if c != Colour::Green {
                reasons.push(format!(
                    "{sentence}; green needs {}",
                    words::duration_s(t.freshness_p95_s.green as i64)
                ));
            }
            summary.push(format!("{sentence}."));
            c
        }
        None => {
            reasons.push(
                "no status change observed in the last 30 days, so how fast changes arrive \
                 was not measured"
                    .into(),
            );
            summary.push("No status change observed in the last 30 days.".into());
            Colour::NotMeasured
        }
    };
    let mut ages = Vec::new();
    let mine: Vec<&Member> = inp
        .members
        .iter()
        .filter(|m| origins.contains(&m.origin))
        .collect();
    if mine.is_empty() {
        reasons.push(NO_MEMBER.into());
        colour = colour.max(Colour::NotMeasured);
    }
    for m in mine {
        let time = m
            .checkpoint
            .as_deref()
            .and_then(|n| evfed_spec::note::parse(n).ok())
            .and_then(|(text, _)| Checkpoint::parse_text(&text).ok())
            .map(|c| c.time as i64 * 1000);
        match time {
            Some(t_ms) => {
                let age_s = ((inp.now_ms - t_ms) / 1000).max(0);
                let signed = words::time(t_ms);
                let c = t.checkpoint_age_s.lower_is_better(age_s as f64);
                let sentence = format!(
                    "{}'s newest verified checkpoint was signed at {signed}, {} before this report",
                    m.origin,
                    words::duration_s(age_s)
                );
                if c != Colour::Green {
                    reasons.push(format!(
                        "{sentence}; green needs at most {}",
                        words::duration_s(t.checkpoint_age_s.green as i64)
                    ));
                }
                summary.push(format!("{sentence}."));
                colour = colour.max(c);
                ages.push(
                    json!({"origin": m.origin, "checkpoint_age_s": age_s, "signed_at": signed}),
                );
            }
            None => {
                colour = Colour::Red;
                reasons.push(format!("no verified checkpoint of {}", m.origin));
                summary.push(format!("No verified checkpoint of {}.", m.origin));
            }
        }
    }
    Ok(indicator(
        NAME,
        LABEL,
        colour,
        reasons,
        summary,
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

fn statutory_reliability(
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

fn contract_reliability(
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

fn usage(
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
