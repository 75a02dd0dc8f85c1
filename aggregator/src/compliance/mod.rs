//! DPS supplier compliance: the supplier register (`DIR/suppliers.toml`), the indicators
//! computed for each supplier and contract from verified data only, and the signed evidence
//! report. `docs/compliance.md` describes the register and every indicator.

mod cache;
mod chargepoints;
mod evses;
pub mod history;
mod indicators;
mod register;
pub mod reliability;
pub mod report;
#[cfg(test)]
mod synthetic;
#[cfg(test)]
mod tests;
pub mod words;

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

pub use self::cache::{Cache, Statuses, statuses_cached};
use self::chargepoints::{completeness, contract_reliability, statutory_reliability, usage};
use self::evses::{EvseYears, MemberEvses};
pub use self::history::LAG_BUCKETS_S;
use self::indicators::{availability, conformance, freshness};
pub use self::register::{Band, Chargepoint, Contract, Register, Supplier, Thresholds};
use crate::london::London;
use crate::store::{Member, Store, StoreError};

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
