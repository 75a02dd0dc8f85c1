//! What one pull did: per module, pages and records, what was written, every deviation from
//! OCPI 2.2.1 that was repaired (counted by kind), and every record that was skipped, with why.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Per-record errors kept in a report; further ones are only counted.
pub const MAX_RECORD_ERRORS: usize = 1000;

/// Warnings kept in a report.
pub const MAX_WARNINGS: usize = 1000;

/// A way a sender departed from OCPI 2.2.1 that the pull (or the OCPI receiver) repaired or
/// worked around. Record kinds count records (a record with three explicit `null`s counts
/// once); fetch kinds count events. `docs/ocpi-pull.md` describes each one, and
/// `node/docs/ocpi-receiver.md` the receiver's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Deviation {
    /// The URL named a module directly: no versions or version-details endpoint was used.
    NoVersionsEndpoint,
    /// The sender refused the base64-encoded token OCPI 2.2.1 requires and took it as sent.
    TokenPlain,
    /// An EVSE status outside OCPI's enum, mapped by the status table (with a warning).
    StatusMapped,
    /// An EVSE status nobody could map, stored as `UNKNOWN`.
    StatusUnknown,
    /// `country_code` or `party_id` not in upper case; upper-cased.
    IdCase,
    /// An explicit `null`, empty list, empty object or empty string for an absent optional
    /// field; removed.
    NullOrEmpty,
    /// An OCPI 2.1.1 field (`voltage`, `amperage`, `tariff_id`, `type`, `start_datetime`, …)
    /// renamed to its 2.2.1 form.
    #[serde(rename = "ocpi-211-field")]
    Ocpi211Field,
    /// A Windows time-zone name (`GMT Standard Time`) replaced by its IANA name.
    WindowsTimeZone,
    /// No `time_zone` (optional in OCPI 2.1.1) on a location in the United Kingdom; set to
    /// `Europe/London`.
    TimeZoneDefaulted,
    /// No `publish` (OCPI 2.1.1 has none); the location is taken as published.
    PublishDefaulted,
    /// No `country_code`/`party_id` (OCPI 2.1.1 has none); the configured party was used.
    PartyFilled,
    /// Coordinates as numbers, or with fewer than 5 or more than 7 decimals; rewritten.
    CoordinatesFormat,
    /// A session or CDR carried personal data (tokens, auth ids, driver references); dropped
    /// before anything was stored.
    PersonalDataDropped,
    /// A Tariff or CDR pushed without `last_updated` (OCPI's own Tariff `PUT` example has
    /// none); the node's time of receipt was used. Only the OCPI receiver repairs this.
    LastUpdatedDefaulted,
    /// An object that is not valid even after repair; skipped with a per-record error.
    InvalidRecord,
    /// More pages remained (`X-Total-Count`) but no `Link` said where; offsets used instead.
    LinkMissing,
    /// A `Link` header that does not parse; offsets used instead.
    LinkMalformed,
    /// A `Link` to another scheme, host, port or path than the module's; offsets used instead.
    LinkForeign,
    /// Following a `Link` failed with a 4xx, an OCPI 2xxx code or a TLS error; offsets used.
    LinkFailed,
    /// A response whose OCPI `status_code` was not 1xxx (even with HTTP 200).
    EnvelopeError,
    /// A request retried after a timeout, a connection failure, a 5xx or a 429.
    Retried,
}

/// One record that was not stored, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordError {
    /// 1-based page of this pull.
    pub page: u64,
    /// 0-based position in the page.
    pub index: usize,
    /// The record's `id` as sent, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A stable problem code (`invalid-field`, `party-mismatch`, …).
    pub code: &'static str,
    pub reason: String,
}

/// Whether a module's pull finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum Outcome {
    /// Every page was read; the cursor moved on.
    Complete,
    /// Stopped early; the next pull resumes where this one stopped.
    Failed(String),
    /// Stopped because the node is shutting down; the next pull resumes.
    Interrupted,
}

/// The pull of one module.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleReport {
    /// `locations`, `tariffs`, `sessions` or `cdrs`.
    pub module: &'static str,
    /// The module's URL.
    pub url: String,
    /// `date_from` sent, if the pull was incremental.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_from: Option<String>,
    /// Pages read.
    pub pages: u64,
    /// Objects received.
    pub received: u64,
    /// Records stored for the first time.
    pub created: u64,
    /// Records that changed.
    pub updated: u64,
    /// Records equal to what the node holds (`last_updated` aside): nothing appended.
    pub unchanged: u64,
    /// Records skipped; see `errors`.
    pub rejected: u64,
    /// Sessions not stored by rule: not started or invalid (`PENDING`, `RESERVATION`,
    /// `INVALID`), or completed when the sender's CDRs are pulled too (the CDR is then the
    /// session's final record).
    pub skipped: u64,
    /// Log entries appended.
    pub appended: u64,
    pub deviations: BTreeMap<Deviation, u64>,
    /// The first [`MAX_RECORD_ERRORS`] per-record errors.
    pub errors: Vec<RecordError>,
    /// The first [`MAX_WARNINGS`] repairs worth a person's attention (a status mapped, a time
    /// zone translated).
    pub warnings: Vec<String>,
    pub outcome: Outcome,
}

/// A whole pull of one source.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The URL the pull started from.
    pub source: String,
    /// The OCPI version used.
    pub version: String,
    /// Deviations seen before any module (discovery, token).
    pub deviations: BTreeMap<Deviation, u64>,
    pub modules: Vec<ModuleReport>,
}

impl Deviation {
    /// The kebab-case name used in reports and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Deviation::NoVersionsEndpoint => "no-versions-endpoint",
            Deviation::TokenPlain => "token-plain",
            Deviation::StatusMapped => "status-mapped",
            Deviation::StatusUnknown => "status-unknown",
            Deviation::IdCase => "id-case",
            Deviation::NullOrEmpty => "null-or-empty",
            Deviation::Ocpi211Field => "ocpi-211-field",
            Deviation::WindowsTimeZone => "windows-time-zone",
            Deviation::TimeZoneDefaulted => "time-zone-defaulted",
            Deviation::PublishDefaulted => "publish-defaulted",
            Deviation::PartyFilled => "party-filled",
            Deviation::CoordinatesFormat => "coordinates-format",
            Deviation::PersonalDataDropped => "personal-data-dropped",
            Deviation::LastUpdatedDefaulted => "last-updated-defaulted",
            Deviation::InvalidRecord => "invalid-record",
            Deviation::LinkMissing => "link-missing",
            Deviation::LinkMalformed => "link-malformed",
            Deviation::LinkForeign => "link-foreign",
            Deviation::LinkFailed => "link-failed",
            Deviation::EnvelopeError => "envelope-error",
            Deviation::Retried => "retried",
        }
    }
}

impl fmt::Display for Deviation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ModuleReport {
    pub fn new(module: &'static str, url: String) -> Self {
        Self {
            module,
            url,
            date_from: None,
            pages: 0,
            received: 0,
            created: 0,
            updated: 0,
            unchanged: 0,
            rejected: 0,
            skipped: 0,
            appended: 0,
            deviations: BTreeMap::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            outcome: Outcome::Complete,
        }
    }

    pub fn count(&mut self, d: Deviation) {
        *self.deviations.entry(d).or_default() += 1;
    }

    /// Counts each deviation of a record once.
    pub fn count_all(&mut self, ds: &[Deviation]) {
        let mut seen: Vec<Deviation> = ds.to_vec();
        seen.sort_unstable();
        seen.dedup();
        for d in seen {
            self.count(d);
        }
    }

    /// A record skipped: counted as rejected and as an invalid record, and its error kept.
    pub fn reject(&mut self, e: RecordError) {
        self.rejected += 1;
        self.count(Deviation::InvalidRecord);
        if self.errors.len() < MAX_RECORD_ERRORS {
            self.errors.push(e);
        }
    }

    /// Keeps warnings up to [`MAX_WARNINGS`].
    pub fn warn(&mut self, warnings: impl IntoIterator<Item = String>) {
        let room = MAX_WARNINGS.saturating_sub(self.warnings.len());
        self.warnings.extend(warnings.into_iter().take(room));
    }

    pub fn deviation(&self, d: Deviation) -> u64 {
        self.deviations.get(&d).copied().unwrap_or(0)
    }
}

impl Report {
    /// All modules complete?
    pub fn complete(&self) -> bool {
        self.modules.iter().all(|m| m.outcome == Outcome::Complete)
    }

    pub fn module(&self, name: &str) -> Option<&ModuleReport> {
        self.modules.iter().find(|m| m.module == name)
    }

    /// Entries appended by every module.
    pub fn appended(&self) -> u64 {
        self.modules.iter().map(|m| m.appended).sum()
    }
}

impl fmt::Display for Report {
    /// A few lines for people: one per module, then the deviations.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "pulled {} (OCPI {})", self.source, self.version)?;
        for (d, n) in &self.deviations {
            writeln!(f, "  {d}: {n}")?;
        }
        for m in &self.modules {
            let outcome = match &m.outcome {
                Outcome::Complete => "complete".to_owned(),
                Outcome::Failed(why) => format!("FAILED: {why}"),
                Outcome::Interrupted => "interrupted".to_owned(),
            };
            writeln!(
                f,
                "{}: {} pages, {} received, {} created, {} updated, {} unchanged, {} rejected, \
                 {} skipped, {} entries appended; {outcome}",
                m.module,
                m.pages,
                m.received,
                m.created,
                m.updated,
                m.unchanged,
                m.rejected,
                m.skipped,
                m.appended
            )?;
            for (d, n) in &m.deviations {
                writeln!(f, "  {d}: {n}")?;
            }
            for w in m.warnings.iter().take(20) {
                writeln!(f, "  warning: {w}")?;
            }
            for e in m.errors.iter().take(20) {
                let id = e.id.as_deref().unwrap_or("-");
                writeln!(
                    f,
                    "  page {} [{}] id {id}: {} ({})",
                    e.page, e.index, e.reason, e.code
                )?;
            }
            if m.errors.len() > 20 {
                writeln!(
                    f,
                    "  … {} more record errors in the JSON report",
                    m.rejected - 20
                )?;
            }
        }
        Ok(())
    }
}
