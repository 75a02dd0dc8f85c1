//! Pulling from an operator's OCPI sender (OCPI 2.2.1, and 2.1.1 feeds): discover the sender's
//! modules, read Tariffs, Locations, Sessions and CDRs page by page from a stored cursor,
//! repair the deviations real feeds show (`normalise`, `usage`), and store what results through
//! the same domain writes as the node's own API (`domain::records`), so validation, the no-churn
//! rule and the log entries are exactly those of a push.
//!
//! A pull never fails on a record: an object that cannot be repaired is skipped with a
//! per-record error in the [`Report`]. A module whose pages cannot be fetched stops where it is;
//! the cursor records how far it got and the next pull resumes there.
//!
//! Architecture Invariant: `client` fetches only through `crate::outgoing`, the node's one
//! bounded HTTP client; sessions and CDRs are rebuilt from an allow-list (`usage`), so no
//! personal field reaches the store.

pub mod client;
mod link;
pub mod normalise;
pub mod report;
pub mod schedule;
pub(crate) mod usage;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use evfed_spec::ids::{LocationId, Party, TariffId};
use evfed_spec::ocpi;
use evfed_spec::problem::ProblemCode;
use evfed_spec::time::DateTime;
use serde_json::Value;
use url::Url;

use crate::domain::Error as DomainError;
use crate::domain::records::{self, LocationBody, LocationKey, Part, Policy, TariffKey};
use crate::store::{PullCursor, Store, StoreError};
use client::{Client, Link, offset_url, redact};
pub use client::{ClientOptions, FetchError, Module};
pub use report::{Deviation, ModuleReport, Outcome, RecordError, Report};

/// Where to pull from.
#[derive(Clone)]
pub struct Source {
    /// A versions URL, a version-details URL, or a module URL.
    pub url: Url,
    /// The credentials token the operator issued (sent as OCPI requires).
    pub token: Option<String>,
    /// The party of objects without `country_code`/`party_id` (OCPI 2.1.1 feeds).
    pub party: Option<Party>,
    /// Only these modules (empty: every one the sender offers).
    pub modules: Vec<Module>,
}

/// How a pull is bounded.
#[derive(Debug, Clone)]
pub struct Options {
    /// Ignore the stored cursor: read everything (no `date_from`) from offset 0.
    pub full: bool,
    /// Most pages read per module and pull.
    pub max_pages: u64,
    /// Longest a whole pull may take; checked between pages.
    pub max_duration: Duration,
    pub client: ClientOptions,
}

/// Asks a running pull (and its backoff sleeps) to stop; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<(Mutex<bool>, Condvar)>);

/// Why a pull could not run at all. Failures of single modules or records are in the
/// [`Report`] instead.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("{0} is not an http(s) URL")]
    BadUrl(String),
    #[error("discovering the sender's modules failed: {0}")]
    Discover(#[source] FetchError),
    #[error(
        "the sender offers none of the modules asked for (tariffs, locations, sessions, cdrs as SENDER)"
    )]
    NoModules,
    #[error("storing pulled records failed: {0}")]
    Store(#[from] StoreError),
    #[error("storing pulled records failed: {0}")]
    Domain(#[source] DomainError),
}

impl Default for Options {
    fn default() -> Self {
        Self {
            full: false,
            max_pages: 10_000,
            max_duration: Duration::from_secs(6 * 3600),
            client: ClientOptions::default(),
        }
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("url", &redact(&self.url))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("party", &self.party)
            .field("modules", &self.modules)
            .finish()
    }
}

impl Source {
    /// The key of this source's cursors: the URL without credentials.
    pub fn key(&self) -> String {
        let mut u = self.url.clone();
        let _ = u.set_username("");
        let _ = u.set_password(None);
        u.to_string()
    }
}

impl Stop {
    pub fn stop(&self) {
        let (flag, cv) = &*self.0;
        if let Ok(mut f) = flag.lock() {
            *f = true;
        }
        cv.notify_all();
    }

    pub fn stopped(&self) -> bool {
        self.0.0.lock().map(|f| *f).unwrap_or(true)
    }

    /// Sleeps for `d` or until stopped; returns whether it was stopped.
    pub fn sleep(&self, d: Duration) -> bool {
        let (flag, cv) = &*self.0;
        let Ok(guard) = flag.lock() else { return true };
        match cv.wait_timeout_while(guard, d, |stopped| !*stopped) {
            Ok((stopped, _)) => *stopped,
            Err(_) => true,
        }
    }
}

/// Pulls every module of `source` into `store`, writing through the domain layer under
/// `policy`. Blocking: run it on a thread of its own (it makes HTTP requests and store writes).
pub fn run(
    store: &Store,
    policy: &Policy,
    source: &Source,
    opts: &Options,
    stop: &Stop,
) -> Result<Report, PullError> {
    if !matches!(source.url.scheme(), "http" | "https") {
        return Err(PullError::BadUrl(redact(&source.url)));
    }
    let mut client =
        Client::new(source.token.clone(), opts.client.clone()).map_err(PullError::Discover)?;
    let mut deviations = BTreeMap::new();
    let discovered = client
        .discover(&source.url, &mut deviations, stop)
        .map_err(PullError::Discover)?;
    let endpoints: Vec<(Module, Url)> = discovered
        .endpoints
        .into_iter()
        .filter(|(m, _)| source.modules.is_empty() || source.modules.contains(m))
        .collect();
    if endpoints.is_empty() {
        return Err(PullError::NoModules);
    }
    let pulls_cdrs = endpoints.iter().any(|(m, _)| *m == Module::Cdrs);
    let mut run = Run {
        store,
        policy,
        client,
        pulls_cdrs,
        key: source.key(),
        ctx: normalise::Context {
            party: source.party.clone(),
        },
        opts,
        stop,
        deadline: Instant::now() + opts.max_duration,
    };
    let mut report = Report {
        source: redact(&source.url),
        version: discovered.version,
        deviations,
        modules: Vec::new(),
    };
    for (module, url) in endpoints {
        if stop.stopped() {
            break;
        }
        let m = run.module(module, &url)?;
        tracing::info!(
            source = %report.source,
            module = m.module,
            pages = m.pages,
            received = m.received,
            created = m.created,
            updated = m.updated,
            unchanged = m.unchanged,
            rejected = m.rejected,
            appended = m.appended,
            deviations = ?m.deviations,
            outcome = ?m.outcome,
            "OCPI pull"
        );
        for w in m.warnings.iter().take(20) {
            tracing::warn!(source = %report.source, module = m.module, "{w}");
        }
        for e in m.errors.iter().take(20) {
            tracing::warn!(source = %report.source, module = m.module, page = e.page,
                index = e.index, id = e.id.as_deref().unwrap_or("-"), code = e.code,
                "record skipped: {}", e.reason);
        }
        report.modules.push(m);
    }
    Ok(report)
}

/// One pull in progress.
struct Run<'a> {
    store: &'a Store,
    policy: &'a Policy,
    client: Client,
    /// Completed sessions are left to their CDRs.
    pulls_cdrs: bool,
    key: String,
    ctx: normalise::Context,
    opts: &'a Options,
    stop: &'a Stop,
    deadline: Instant,
}

/// How the next page is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Paging {
    /// Follow `Link` headers.
    Link,
    /// Count: `offset` + `X-Total-Count`.
    Offset,
}

impl Run<'_> {
    fn module(&mut self, module: Module, module_url: &Url) -> Result<ModuleReport, PullError> {
        let name = module.as_str();
        let mut report = ModuleReport::new(name, redact(module_url));
        let cursor = self.store.read(|r| r.pull_cursor(&self.key, name))?;
        let cursor = if self.opts.full {
            PullCursor::default()
        } else {
            cursor
        };
        let date_from: Option<DateTime> = cursor.date_from.as_deref().and_then(|s| s.parse().ok());
        report.date_from = date_from.map(|d| d.to_string());
        let mut since: Option<DateTime> =
            cursor.pending_since.as_deref().and_then(|s| s.parse().ok());
        let mut consumed = if since.is_some() {
            cursor.pending_offset
        } else {
            0
        };
        let mut paging = if consumed > 0 {
            Paging::Offset
        } else {
            Paging::Link
        };
        let mut limit: Option<u64> = None;
        let mut next = offset_url(module_url, date_from.as_ref(), consumed, None);
        let mut following_link = false;
        loop {
            if self.stop.stopped() {
                report.outcome = Outcome::Interrupted;
                break;
            }
            if report.pages >= self.opts.max_pages {
                report.outcome = Outcome::Failed(format!(
                    "stopped after {} pages (the page limit); the next pull resumes here",
                    report.pages
                ));
                break;
            }
            if Instant::now() > self.deadline {
                report.outcome = Outcome::Failed(
                    "the pull took longer than its time limit; the next pull resumes here".into(),
                );
                break;
            }
            let page = match self
                .client
                .page(&next, module_url, &mut report.deviations, self.stop)
            {
                Ok(p) => p,
                Err(e) if following_link && e.falls_back() => {
                    report.count(Deviation::LinkFailed);
                    report.warn([format!("following Link failed ({e}); using offsets")]);
                    paging = Paging::Offset;
                    following_link = false;
                    next = offset_url(module_url, date_from.as_ref(), consumed, limit);
                    continue;
                }
                Err(FetchError::Stopped) => {
                    report.outcome = Outcome::Interrupted;
                    break;
                }
                Err(e) => {
                    report.outcome = Outcome::Failed(e.to_string());
                    break;
                }
            };
            report.pages += 1;
            let started = *since.get_or_insert_with(|| page.timestamp.unwrap_or_else(margin_now));
            limit = page.limit.or(limit);
            let n = page.items.len() as u64;
            self.store_page(module, page.items, &mut report)?;
            consumed += n;
            self.save(
                name,
                &PullCursor {
                    date_from: cursor.date_from.clone(),
                    pending_since: Some(started.to_string()),
                    pending_offset: consumed,
                },
            )?;
            if n == 0 {
                break;
            }
            let more_by_count = page.total.map(|t| consumed < t);
            if paging == Paging::Link {
                match page.link {
                    Link::Next(u) => {
                        next = u;
                        following_link = true;
                        continue;
                    }
                    Link::Absent if more_by_count != Some(true) => break,
                    Link::Absent => {
                        report.count(Deviation::LinkMissing);
                        report.warn([format!(
                            "page {}: no Link, yet X-Total-Count says more; using offsets",
                            report.pages
                        )]);
                    }
                    Link::Malformed(header) => {
                        report.count(Deviation::LinkMalformed);
                        report.warn([format!(
                            "page {}: Link {header:?} does not parse; using offsets",
                            report.pages
                        )]);
                    }
                    Link::Foreign(u) => {
                        report.count(Deviation::LinkForeign);
                        report.warn([format!(
                            "page {}: Link points at {}, not at the module; using offsets",
                            report.pages,
                            redact(&u)
                        )]);
                    }
                }
                paging = Paging::Offset;
            }
            following_link = false;
            let more = match (more_by_count, limit) {
                (Some(more), _) => more,
                // Without a total, a short page is the last one.
                (None, Some(l)) => n >= l,
                (None, None) => true,
            };
            if !more {
                break;
            }
            next = offset_url(module_url, date_from.as_ref(), consumed, limit);
        }
        if report.outcome == Outcome::Complete {
            let done = PullCursor {
                date_from: since.map(|s| s.to_string()).or(cursor.date_from),
                pending_since: None,
                pending_offset: 0,
            };
            self.save(name, &done)?;
        }
        Ok(report)
    }

    fn save(&self, module: &str, cursor: &PullCursor) -> Result<(), StoreError> {
        let now = DateTime::now().unix_millis();
        self.store
            .write(|tx| tx.put_pull_cursor(&self.key, module, cursor, now))
    }

    /// Repairs and stores one page; per-record failures go to the report.
    fn store_page(
        &self,
        module: Module,
        items: Vec<Value>,
        report: &mut ModuleReport,
    ) -> Result<(), PullError> {
        report.received += items.len() as u64;
        let page = report.pages;
        match module {
            Module::Locations | Module::Tariffs => {
                for (index, item) in items.into_iter().enumerate() {
                    let id = id_of(&item);
                    let at = Position { page, index, id };
                    self.store_object(module, item, at, report)?;
                }
                Ok(())
            }
            Module::Sessions | Module::Cdrs => {
                let kind = if module == Module::Sessions {
                    usage::Kind::Session
                } else {
                    usage::Kind::Cdr
                };
                self.store_usage(kind, items, page, report)
            }
        }
    }

    fn store_object(
        &self,
        module: Module,
        item: Value,
        at: Position,
        report: &mut ModuleReport,
    ) -> Result<(), PullError> {
        let normalised = match module {
            Module::Locations => normalise::location(item, &self.ctx),
            _ => normalise::tariff(item, &self.ctx),
        };
        let n = match normalised {
            Ok(n) => n,
            Err(reason) => {
                report.reject(at.error(ProblemCode::InvalidField.as_str(), reason));
                return Ok(());
            }
        };
        report.count_all(&n.deviations);
        report.warn(n.warnings.iter().map(|w| at.describe(w)));
        let id = n.value["id"].as_str().unwrap_or_default().to_owned();
        let keyed = party_of(&n.value).map(|party| (party, id));
        let (party, id) = match keyed {
            Ok(k) => k,
            Err(reason) => {
                report.reject(at.error(ProblemCode::InvalidField.as_str(), reason));
                return Ok(());
            }
        };
        let now = DateTime::now();
        let written = match module {
            Module::Locations => LocationId::try_from(id)
                .map_err(|e| DomainError::InvalidField(format!("id: {e}")))
                .and_then(|id| {
                    let key = LocationKey {
                        party: party.clone(),
                        id,
                    };
                    self.policy.authorize(&party, &party)?;
                    let loc = ocpi::parse_value(n.value)?.value;
                    records::write_parsed_location(
                        self.store,
                        self.policy,
                        &party,
                        &key,
                        &Part::Location,
                        LocationBody::Location(loc),
                        now,
                    )
                }),
            _ => TariffId::try_from(id)
                .map_err(|e| DomainError::InvalidField(format!("id: {e}")))
                .and_then(|id| {
                    let key = TariffKey {
                        party: party.clone(),
                        id,
                    };
                    self.policy.authorize(&party, &party)?;
                    let tariff = ocpi::parse_value(n.value)?.value;
                    records::put_parsed_tariff(self.store, self.policy, &party, &key, tariff, now)
                }),
        };
        match written {
            Ok(w) if w.appended == 0 => report.unchanged += 1,
            Ok(w) => {
                if w.created {
                    report.created += 1;
                } else {
                    report.updated += 1;
                }
                report.appended += w.appended;
            }
            Err(e) if is_fatal(&e) => return Err(PullError::Domain(e)),
            Err(e) => report.reject(at.error(code(&e), e.to_string())),
        }
        Ok(())
    }

    /// Usage records go in batches per party (all or nothing each); a batch that is refused is
    /// retried one record at a time, so one bad record costs only itself.
    fn store_usage(
        &self,
        kind: usage::Kind,
        items: Vec<Value>,
        page: u64,
        report: &mut ModuleReport,
    ) -> Result<(), PullError> {
        let mut by_party: BTreeMap<String, (Party, Vec<(Position, Value)>)> = BTreeMap::new();
        for (index, item) in items.into_iter().enumerate() {
            let at = Position {
                page,
                index,
                id: id_of(&item),
            };
            if kind == usage::Kind::Session && !usage::keep_session(&item, self.pulls_cdrs) {
                report.skipped += 1;
                continue;
            }
            let n = match usage::usage_record(&item, kind, &self.ctx) {
                Ok(n) => n,
                Err(reason) => {
                    report.reject(at.error(ProblemCode::InvalidField.as_str(), reason));
                    continue;
                }
            };
            report.count_all(&n.deviations);
            match party_of(&n.value) {
                Ok(p) => {
                    by_party
                        .entry(p.to_string())
                        .or_insert_with(|| (p, Vec::new()))
                        .1
                        .push((at, n.value));
                }
                Err(reason) => report.reject(at.error(ProblemCode::InvalidField.as_str(), reason)),
            }
        }
        for (_, (party, records)) in by_party {
            for chunk in records.chunks(records::MAX_BATCH) {
                let values: Vec<&Value> = chunk.iter().map(|(_, v)| v).collect();
                match self.post_usage(&party, &values)? {
                    Ok(tally) => tally.add_to(report),
                    Err(_) => {
                        for (at, v) in chunk {
                            match self.post_usage(&party, &[v])? {
                                Ok(tally) => tally.add_to(report),
                                Err(e) => {
                                    // Alone in its batch, the record's "[0]: " says nothing.
                                    let reason = e.to_string();
                                    let reason = reason.strip_prefix("[0]: ").unwrap_or(&reason);
                                    report.reject(at.error(code(&e), reason.to_owned()));
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// `Ok(Ok(tally))`, `Ok(Err(refusal))`, or `Err` when the store failed.
    fn post_usage(
        &self,
        party: &Party,
        values: &[&Value],
    ) -> Result<Result<UsageTally, DomainError>, PullError> {
        let body = serde_json::to_vec(values).map_err(|e| {
            PullError::Domain(DomainError::Corrupt(format!("re-encoding records: {e}")))
        })?;
        let ids: Vec<&str> = values.iter().filter_map(|v| v["id"].as_str()).collect();
        let key = party.to_string();
        // A record not yet stored always appends; so the new ones are the created ones.
        let present = self.store.read(|r| r.sessions_present(&key, &ids))?;
        match records::post_sessions(self.store, self.policy, party, &body, DateTime::now()) {
            Ok(r) => Ok(Ok(UsageTally {
                received: r.received,
                created: (ids.len() as u64).saturating_sub(present),
                appended: r.appended,
            })),
            Err(e) if is_fatal(&e) => Err(PullError::Domain(e)),
            Err(e) => Ok(Err(e)),
        }
    }
}

/// Where a record was in the pull.
struct Position {
    page: u64,
    index: usize,
    id: Option<String>,
}

impl Position {
    fn error(&self, code: &'static str, reason: String) -> RecordError {
        RecordError {
            page: self.page,
            index: self.index,
            id: self.id.clone(),
            code,
            reason,
        }
    }

    fn describe(&self, what: &str) -> String {
        let id = self.id.as_deref().unwrap_or("-");
        format!("page {} [{}] id {id}: {what}", self.page, self.index)
    }
}

/// What one accepted batch of usage records did; each appends one entry when new or changed.
struct UsageTally {
    received: u64,
    created: u64,
    appended: u64,
}

impl UsageTally {
    fn add_to(&self, report: &mut ModuleReport) {
        let created = self.created.min(self.appended);
        report.created += created;
        report.updated += self.appended - created;
        report.unchanged += self.received.saturating_sub(self.appended);
        report.appended += self.appended;
    }
}

/// The record's `id` as sent, bounded, for reports.
fn id_of(v: &Value) -> Option<String> {
    v.get("id")
        .and_then(Value::as_str)
        .map(|s| s.chars().take(64).collect())
}

fn party_of(v: &Value) -> Result<Party, String> {
    let cc = v["country_code"].as_str().unwrap_or_default();
    let pid = v["party_id"].as_str().unwrap_or_default();
    format!("{cc}*{pid}")
        .parse()
        .map_err(|e| format!("country_code/party_id: {e}"))
}

/// A store failure, or stored data that cannot be read: the pull stops.
fn is_fatal(e: &DomainError) -> bool {
    matches!(e, DomainError::Store(_) | DomainError::Corrupt(_))
}

/// The stable problem code of a refused record.
fn code(e: &DomainError) -> &'static str {
    let code = match e {
        DomainError::InvalidJson(_) => ProblemCode::InvalidJson,
        DomainError::InvalidField(_) => ProblemCode::InvalidField,
        DomainError::NotFound(_) => ProblemCode::NotFound,
        DomainError::PartyMismatch(_) => ProblemCode::PartyMismatch,
        DomainError::Conflict(_) => ProblemCode::Conflict,
        DomainError::TooLarge(_) => ProblemCode::PayloadTooLarge,
        DomainError::Corrupt(_) | DomainError::Store(_) => ProblemCode::Internal,
    };
    code.as_str()
}

/// Now, a minute early: the start of a pull when the sender gave no `timestamp` (a sender's
/// clock a little ahead of ours must not make the next `date_from` skip changes).
fn margin_now() -> DateTime {
    let now = DateTime::now();
    DateTime::from_unix_millis(now.unix_millis() - 60_000).unwrap_or(now)
}
