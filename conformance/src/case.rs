//! Cases are data: an id, the section of STANDARD.md it tests, a level, whether it is required,
//! a description and a check function. [`all`] lists every case in the order they run.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::cases;
use crate::ctx::Ctx;
use crate::report::Evidence;

/// Conformance levels (STANDARD.md §1.5). `usage` and `realtime` each include `core`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Core,
    Usage,
    Realtime,
}

/// Why a check stopped without passing.
#[derive(Debug, Clone)]
pub enum Stop {
    /// The target does not conform; the evidence shows where.
    Fail(Evidence),
    /// The case could not run (no token, a prerequisite failed, nothing to test).
    Skip(String),
}

/// A check passes with evidence of what it looked at, or stops.
pub type CheckResult = Result<Evidence, Stop>;

/// One case of the suite.
#[derive(Clone, Copy)]
pub struct Case {
    /// Stable id (`group.name`); reports, known-failure files and tests refer to it.
    pub id: &'static str,
    /// The STANDARD.md section it tests, e.g. `§11.1`.
    pub section: &'static str,
    pub level: Level,
    /// Required cases decide the verdict; optional ones test SHOULDs and are reported only.
    pub required: bool,
    pub description: &'static str,
    pub check: fn(&mut Ctx) -> CheckResult,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case")
            .field("id", &self.id)
            .field("section", &self.section)
            .field("level", &self.level)
            .field("required", &self.required)
            .finish()
    }
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Core => "core",
            Level::Usage => "usage",
            Level::Realtime => "realtime",
        }
    }

    /// Whether a run at level `self` includes cases of level `case`.
    pub fn includes(self, case: Level) -> bool {
        case == Level::Core || case == self
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "core" => Ok(Level::Core),
            "usage" => Ok(Level::Usage),
            "realtime" => Ok(Level::Realtime),
            other => Err(format!(
                "unknown level {other:?} (expected core, usage or realtime)"
            )),
        }
    }
}

impl Stop {
    pub fn fail(message: impl Into<String>) -> Self {
        Stop::Fail(Evidence {
            message: message.into(),
            ..Evidence::default()
        })
    }
}

/// Evidence with only a message (no single request decided the case).
pub fn note(message: impl Into<String>) -> Evidence {
    Evidence {
        message: message.into(),
        ..Evidence::default()
    }
}

/// Every case, in the order a run executes them. Cases that compare a start and an end state
/// (`log.consistency-over-time`) and that judge every response seen (`openapi.responses`,
/// `http.tree-size-header`) come last.
pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(cases::discovery::CASES);
    v.extend(cases::log::CASES);
    v.extend(cases::state::CASES);
    v.extend(cases::pagination::CASES);
    v.extend(cases::dates::CASES);
    v.extend(cases::filters::CASES);
    v.extend(cases::errors::CASES);
    v.extend(cases::model::CASES);
    v.extend(cases::ocpi::CASES);
    v.extend(cases::quality::CASES);
    v.extend(cases::access::CASES);
    v.extend(cases::realtime::CASES);
    v.extend(cases::log::FINAL_CASES);
    v.extend(cases::http::CASES);
    v
}

/// The cases a run at `level` executes.
pub fn for_level(level: Level) -> Vec<Case> {
    all()
        .into_iter()
        .filter(|c| level.includes(c.level))
        .collect()
}
