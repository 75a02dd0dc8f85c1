//! The supplier register, `DIR/suppliers.toml`: suppliers with their parties, members and
//! contracts listing charge points, and the thresholds that colour each indicator. Read on
//! every request; no file is an empty register.

use std::collections::BTreeSet;
use std::path::Path;

use evfed_spec::ext::GssCode;
use evfed_spec::ids::Party;
use serde::{Deserialize, Serialize};

use super::{Colour, ComplianceError, REGISTER_FILE};

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
    pub(super) fn higher_is_better(self, v: f64) -> Colour {
        if v >= self.green {
            Colour::Green
        } else if v >= self.amber {
            Colour::Amber
        } else {
            Colour::Red
        }
    }
    pub(super) fn lower_is_better(self, v: f64) -> Colour {
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
    pub(super) fn read(dir: &Path) -> Result<Option<Vec<u8>>, ComplianceError> {
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
    pub(super) fn parse(text: &[u8], path: &Path) -> Result<Register, ComplianceError> {
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
