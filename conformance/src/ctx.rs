//! What cases share during one run: the HTTP client, every exchange seen (for the cases that
//! judge all responses), and lazily fetched views of the target (discovery, logs, listings),
//! each fetched once. A view whose read shows a fault fails every case that needs it, with the
//! evidence; one cut short by a limit makes them skip, naming it.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use evfed_spec::checkpoint::{Checkpoint, SignedCheckpoint};
use evfed_spec::note::{self, VerifierKey};
use evfed_spec::trust::{Unverified, Verified};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use url::Url;

use crate::case::Stop;
use crate::http::{Exchange, Http};
use crate::schema::Schemas;
use crate::{Limits, RunConfig};

/// One response the run received, as the final cases judge it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub url: String,
    pub status: u16,
    pub has_tree_size: bool,
    pub tree_size: Option<u64>,
    /// `Some(Err)` when the body failed its OpenAPI schema; `None` when no schema applies.
    pub schema: Option<Result<(), String>>,
    pub excerpt: String,
}

/// The discovery document with its endpoints resolved and its keys parsed.
#[derive(Debug, Clone)]
pub struct Discovery {
    pub url: Url,
    pub doc: Value,
    pub origin: String,
    pub kind: String,
    pub borough: Option<String>,
    pub keys: Vec<VerifierKey>,
    pub endpoints: HashMap<String, Url>,
}

/// A checkpoint as fetched: the note bytes, its verification against the advertised keys, and
/// its body read without verification (so a case can still say what a bad note claimed).
#[derive(Debug, Clone)]
pub struct FetchedCheckpoint {
    pub exchange: Exchange,
    pub fetched_at: Instant,
    pub verified: Result<Verified<SignedCheckpoint>, String>,
    pub claimed: Option<Checkpoint>,
}

/// A log's checkpoint and every entry it covers, as served.
#[derive(Debug, Clone)]
pub struct LogView {
    pub base: Url,
    pub origin: String,
    pub checkpoint: FetchedCheckpoint,
    /// Entries `0..size` of the checkpoint (verified or, failing that, claimed).
    pub entries: Vec<Vec<u8>>,
}

/// A `/v1` list read whole, page by page by `offset` (not by `Link`, which a case tests).
#[derive(Debug, Clone)]
pub struct Listing {
    pub first_url: Url,
    pub items: Vec<Value>,
    pub total: Option<u64>,
    /// `Evfed-Tree-Size` of every page.
    pub tree_sizes: Vec<u64>,
}

/// Shared state of one run.
pub struct Ctx {
    pub http: Http,
    pub target: Url,
    pub token: Option<String>,
    pub limits: Limits,
    pub observe: std::time::Duration,
    pub rng: StdRng,
    pub seen: Vec<Seen>,
    schemas: Schemas,
    discovery: Option<Result<Rc<Discovery>, Stop>>,
    pub start_checkpoint: Option<FetchedCheckpoint>,
    public: Option<Result<Rc<LogView>, Stop>>,
    restricted: Option<Result<Rc<LogView>, Stop>>,
    listings: HashMap<String, Result<Rc<Listing>, Stop>>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("target", &self.target).finish()
    }
}

impl Ctx {
    pub fn new(config: &RunConfig, http: Http) -> Self {
        let mut target = config.target.clone();
        if !target.path().ends_with('/') {
            let p = format!("{}/", target.path());
            target.set_path(&p);
        }
        let seed = config.seed.unwrap_or_else(rand::random);
        Self {
            http,
            target,
            token: config.token.clone(),
            limits: config.limits.clone(),
            observe: config.observe,
            rng: StdRng::seed_from_u64(seed),
            seen: Vec::new(),
            schemas: Schemas::new(),
            discovery: None,
            start_checkpoint: None,
            public: None,
            restricted: None,
            listings: HashMap::new(),
        }
    }

    /// A URL under the target's base (`path` without a leading `/`).
    pub fn target_url(&self, path: &str) -> Result<Url, Stop> {
        self.target
            .join(path.trim_start_matches('/'))
            .map_err(|e| Stop::fail(format!("cannot build a URL for {path}: {e}")))
    }

    /// `GET` without a token.
    pub fn get(&mut self, url: &Url) -> Result<Exchange, Stop> {
        self.send("GET", url, None, &[])
    }

    /// Any request; the exchange is recorded for the final cases.
    pub fn send(
        &mut self,
        method: &str,
        url: &Url,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Exchange, Stop> {
        let ex = self
            .http
            .send(method, url, token, headers)
            .map_err(|e| Stop::Fail(e.evidence()))?;
        self.record(&ex);
        Ok(ex)
    }

    fn record(&mut self, ex: &Exchange) {
        let path = relative_path(&self.target, &ex.url);
        let schema = path.and_then(|p| {
            self.schemas
                .check(&ex.method, &p, ex.status, &ex.media_type(), &ex.body)
        });
        self.seen.push(Seen {
            method: ex.method.clone(),
            url: ex.url.to_string(),
            status: ex.status,
            has_tree_size: ex.tree_size().is_some(),
            tree_size: ex.tree_size(),
            schema,
            excerpt: ex.excerpt(),
        });
    }

    /// The discovery document (§3.4), fetched once.
    pub fn discovery(&mut self) -> Result<Rc<Discovery>, Stop> {
        if self.discovery.is_none() {
            let d = self.fetch_discovery().map(Rc::new).map_err(Stop::fail);
            self.discovery = Some(d);
        }
        prerequisite("the discovery document", self.discovery.as_ref())
    }

    fn fetch_discovery(&mut self) -> Result<Discovery, String> {
        let url = self.target_url(".well-known/evfed").map_err(stop_text)?;
        let ex = self.get(&url).map_err(stop_text)?;
        if ex.status != 200 {
            return Err(format!("GET {url} answered {}", ex.status));
        }
        let doc = ex.json()?;
        let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
        let origin = text("origin").ok_or("no string `origin`")?;
        let kind = text("kind").unwrap_or_default();
        let borough = text("borough");
        let mut keys = Vec::new();
        for k in doc
            .get("vkeys")
            .and_then(Value::as_array)
            .ok_or("no `vkeys` array")?
        {
            let s = k.as_str().ok_or("a `vkeys` item is not a string")?;
            let key: VerifierKey = s.parse().map_err(|e| format!("verifier key {s:?}: {e}"))?;
            keys.push(key);
        }
        let mut endpoints = HashMap::new();
        if let Some(obj) = doc.get("endpoints").and_then(Value::as_object) {
            for (name, v) in obj {
                if let Some(s) = v.as_str() {
                    let u = url
                        .join(s)
                        .map_err(|e| format!("endpoint {name} = {s:?}: {e}"))?;
                    endpoints.insert(name.clone(), u);
                }
            }
        }
        Ok(Discovery {
            url,
            doc,
            origin,
            kind,
            borough,
            keys,
            endpoints,
        })
    }

    /// An endpoint from the discovery document, or the standard's path under the target when
    /// the document does not name it.
    pub fn endpoint(&mut self, name: &str, default_path: &str) -> Result<Url, Stop> {
        let d = self.discovery()?;
        match d.endpoints.get(name) {
            Some(u) => Ok(u.clone()),
            None => self.target_url(default_path),
        }
    }

    /// A URL under a log base (`checkpoint`, `entries?…`).
    pub fn log_url(base: &Url, rest: &str) -> Result<Url, Stop> {
        let mut b = base.clone();
        if !b.path().ends_with('/') {
            let p = format!("{}/", b.path());
            b.set_path(&p);
        }
        b.join(rest)
            .map_err(|e| Stop::fail(format!("cannot build a log URL: {e}")))
    }

    /// Fetches and verifies a log's checkpoint against the advertised keys.
    pub fn fetch_checkpoint(&mut self, restricted: bool) -> Result<FetchedCheckpoint, Stop> {
        let d = self.discovery()?;
        let (name, path) = if restricted {
            ("restricted_log", "v1/restricted/log")
        } else {
            ("log", "v1/log")
        };
        let base = self.endpoint(name, path)?;
        let url = Self::log_url(&base, "checkpoint")?;
        let exchange = self.get(&url)?;
        if exchange.status != 200 {
            return Err(Stop::Fail(
                exchange.evidence("the checkpoint is not served with 200"),
            ));
        }
        let verified = Unverified::new(exchange.body.clone())
            .verify_checkpoint(&d.keys)
            .map_err(|e| format!("{} ({e})", e.verdict()));
        let claimed = note::parse(&exchange.body)
            .ok()
            .and_then(|(text, _)| Checkpoint::parse_text(&text).ok());
        Ok(FetchedCheckpoint {
            exchange,
            fetched_at: Instant::now(),
            verified,
            claimed,
        })
    }

    /// The public log: its latest checkpoint and the entries it covers, fetched once.
    pub fn public_log(&mut self) -> Result<Rc<LogView>, Stop> {
        if self.public.is_none() {
            let v = self.fetch_log(false, None).map(Rc::new);
            self.public = Some(v);
        }
        prerequisite("the public log", self.public.as_ref())
    }

    /// The restricted log, read with the run's token.
    pub fn restricted_log(&mut self) -> Result<Rc<LogView>, Stop> {
        let token = self
            .token
            .clone()
            .ok_or_else(|| Stop::Skip("needs a usage:read token (--token)".into()))?;
        if self.restricted.is_none() {
            let v = self.fetch_log(true, Some(&token)).map(Rc::new);
            self.restricted = Some(v);
        }
        prerequisite("the restricted log", self.restricted.as_ref())
    }

    fn fetch_log(&mut self, restricted: bool, token: Option<&str>) -> Result<LogView, Stop> {
        let d = self.discovery()?;
        let checkpoint = self.fetch_checkpoint(restricted)?;
        let size = match (&checkpoint.verified, &checkpoint.claimed) {
            (Ok(v), _) => v.checkpoint().tree_size,
            (Err(_), Some(c)) => c.tree_size,
            (Err(e), None) => return Err(Stop::fail(format!("unreadable checkpoint: {e}"))),
        };
        let base = if restricted {
            self.endpoint("restricted_log", "v1/restricted/log")?
        } else {
            self.endpoint("log", "v1/log")?
        };
        let entries = self.fetch_entries(&base, 0, size, token)?;
        let origin = if restricted {
            evfed_spec::checkpoint::restricted_origin(&d.origin)
        } else {
            d.origin.clone()
        };
        Ok(LogView {
            base,
            origin,
            checkpoint,
            entries,
        })
    }

    /// Entries `start..end` of a log, page by page (§10.6), bounded by the run's limits.
    pub fn fetch_entries(
        &mut self,
        base: &Url,
        start: u64,
        end: u64,
        token: Option<&str>,
    ) -> Result<Vec<Vec<u8>>, Stop> {
        if end.saturating_sub(start) > self.limits.max_entries {
            return Err(Stop::Skip(format!(
                "the log has {} entries, above the limit of {} (--max-entries)",
                end - start,
                self.limits.max_entries
            )));
        }
        // Capacity from the claimed size only up to a bound: the size is the target's word.
        let mut out = Vec::with_capacity((end - start).min(100_000) as usize);
        let mut next = start;
        let mut pages = 0;
        while next < end {
            pages += 1;
            if pages > self.limits.max_pages {
                return Err(Stop::Skip(format!(
                    "more than {} pages of entries (--max-pages)",
                    self.limits.max_pages
                )));
            }
            let url = Self::log_url(base, &format!("entries?start={next}&end={end}"))?;
            let ex = self.send("GET", &url, token, &[])?;
            if ex.status != 200 {
                return Err(Stop::Fail(ex.evidence("entries not served with 200")));
            }
            let lines = split_ndjson(&ex.body).map_err(|m| Stop::Fail(ex.evidence(m)))?;
            if lines.is_empty() {
                return Err(Stop::Fail(ex.evidence(format!(
                    "no entry returned at {next}, below the size {end} (§10.6)"
                ))));
            }
            if let Some(i) = lines
                .iter()
                .position(|l| serde_json::from_slice::<serde::de::IgnoredAny>(l).is_err())
            {
                return Err(Stop::Fail(ex.evidence(format!(
                    "line {} of the page is not one JSON value: each entry is served as one line \
                     of its stored bytes (§10.6)",
                    i + 1
                ))));
            }
            next += lines.len() as u64;
            if next > end {
                return Err(Stop::Fail(
                    ex.evidence("more entries than asked for (§10.6)"),
                ));
            }
            out.extend(lines.into_iter().map(<[u8]>::to_vec));
        }
        Ok(out)
    }

    /// Entries from `start` to whatever the log holds now (the part beyond the checkpoint),
    /// page by page until an empty page, bounded like every read.
    pub fn fetch_tail(
        &mut self,
        base: &Url,
        start: u64,
        token: Option<&str>,
    ) -> Result<Vec<Vec<u8>>, Stop> {
        let mut out = Vec::new();
        let mut next = start;
        for _ in 0..self.limits.max_pages {
            let url = Self::log_url(base, &format!("entries?start={next}&end={}", next + 1000))?;
            let ex = self.send("GET", &url, token, &[])?;
            if ex.status != 200 {
                return Err(Stop::Fail(ex.evidence("entries not served with 200")));
            }
            let lines = split_ndjson(&ex.body).map_err(|m| Stop::Fail(ex.evidence(m)))?;
            if lines.is_empty() {
                return Ok(out);
            }
            next += lines.len() as u64;
            out.extend(lines.into_iter().map(<[u8]>::to_vec));
            if out.len() as u64 > self.limits.max_entries {
                return Err(Stop::Skip("the log grew beyond --max-entries".into()));
            }
        }
        Err(Stop::Skip("more than --max-pages pages of entries".into()))
    }

    /// A whole `/v1` collection (`locations`, `tariffs`, `status`, `sessions`), fetched once.
    pub fn listing(&mut self, name: &str) -> Result<Rc<Listing>, Stop> {
        if !self.listings.contains_key(name) {
            let token = if name == "sessions" {
                Some(
                    self.token
                        .clone()
                        .ok_or_else(|| Stop::Skip("needs a usage:read token (--token)".into()))?,
                )
            } else {
                None
            };
            let l = self.fetch_listing(name, "", token.as_deref()).map(Rc::new);
            self.listings.insert(name.to_owned(), l);
        }
        prerequisite(&format!("the {name} list"), self.listings.get(name))
    }

    /// Runs `check` against the whole `name` list, accepting its verdict only when every
    /// response `check` received carried the list's `Evfed-Tree-Size`: a live node may change
    /// between two reads, and the standard's list invariants hold per tree size (§11.1). Up to
    /// [`STABLE_READS`] attempts, the later ones with a fresh whole list; then the case skips.
    pub fn at_one_size<T>(
        &mut self,
        name: &str,
        mut check: impl FnMut(&mut Ctx, &Listing) -> Result<T, Stop>,
    ) -> Result<T, Stop> {
        let mut reads = StableReads::new();
        for attempt in 0.. {
            if !reads.another(attempt) {
                break;
            }
            let all = if attempt == 0 {
                self.listing(name)?
            } else {
                Rc::new(self.fetch_listing(name, "", None)?)
            };
            let size = all.tree_size();
            let mark = self.seen.len();
            let verdict = check(self, &all);
            let stable = size.is_some() && self.seen[mark..].iter().all(|s| s.tree_size == size);
            if stable || matches!(verdict, Err(Stop::Skip(_))) {
                return verdict;
            }
        }
        Err(Stop::Skip(format!(
            "the log grew during each of {} attempts to read the {name} list at one tree size",
            reads.attempts
        )))
    }

    /// Reads a collection with extra query parameters (`&`-joined, already encoded), by offset.
    pub fn fetch_listing(
        &mut self,
        name: &str,
        query: &str,
        token: Option<&str>,
    ) -> Result<Listing, Stop> {
        let base = self.endpoint(name, &format!("v1/{name}"))?;
        let mut items = Vec::new();
        let mut tree_sizes = Vec::new();
        let mut total = None;
        let mut offset = 0u64;
        let mut first_url = None;
        for _ in 0..self.limits.max_pages {
            let mut url = base.clone();
            let q = if query.is_empty() {
                format!("limit=1000&offset={offset}")
            } else {
                format!("{query}&limit=1000&offset={offset}")
            };
            url.set_query(Some(&q));
            first_url.get_or_insert_with(|| url.clone());
            let ex = self.send("GET", &url, token, &[])?;
            if ex.status != 200 {
                return Err(Stop::Fail(
                    ex.evidence(format!("{name} list answered {}", ex.status)),
                ));
            }
            let page = match ex.json() {
                Ok(Value::Array(a)) => a,
                Ok(_) => {
                    return Err(Stop::Fail(
                        ex.evidence("the body is not a JSON array (§10.5)"),
                    ));
                }
                Err(m) => return Err(Stop::Fail(ex.evidence(m))),
            };
            if let Some(n) = ex.tree_size() {
                tree_sizes.push(n);
            }
            let page_total = ex
                .header("x-total-count")
                .and_then(|v| v.trim().parse::<u64>().ok());
            total = total.or(page_total);
            let n = page.len() as u64;
            items.extend(page);
            offset += n;
            if n == 0 || page_total.is_some_and(|t| offset >= t) || page_total.is_none() && n < 1000
            {
                return Ok(Listing {
                    first_url: first_url.unwrap_or(base),
                    items,
                    total,
                    tree_sizes,
                });
            }
        }
        Err(Stop::Skip(format!(
            "the {name} list has more than {} pages (--max-pages)",
            self.limits.max_pages
        )))
    }
}

/// How hard a case tries to read a live node's list at one tree size: a node whose log grows
/// every second under a slow link (or a busy machine) still gets a fair chance, within a bound.
pub const STABLE_READS: (u32, std::time::Duration) = (20, std::time::Duration::from_secs(60));

/// Counts the attempts at a read at one tree size: at least three, then while fewer than
/// [`STABLE_READS`]' attempts and time have gone.
#[derive(Debug)]
pub struct StableReads {
    started: std::time::Instant,
    pub attempts: u32,
}

impl StableReads {
    pub fn new() -> Self {
        StableReads {
            started: std::time::Instant::now(),
            attempts: 0,
        }
    }

    /// Whether attempt number `attempt` (from 0) may run.
    pub fn another(&mut self, attempt: u32) -> bool {
        let (most, budget) = STABLE_READS;
        let go = attempt < 3 || attempt < most && self.started.elapsed() < budget;
        if go {
            self.attempts = attempt + 1;
        }
        go
    }
}

impl Default for StableReads {
    fn default() -> Self {
        Self::new()
    }
}

impl Listing {
    /// The one `Evfed-Tree-Size` every page carried, if they agree.
    pub fn tree_size(&self) -> Option<u64> {
        let first = *self.tree_sizes.first()?;
        self.tree_sizes.iter().all(|s| *s == first).then_some(first)
    }
}

/// Splits an `application/x-ndjson` entries body: every entry is followed by one line feed.
pub fn split_ndjson(body: &[u8]) -> Result<Vec<&[u8]>, String> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let Some(stripped) = body.strip_suffix(b"\n") else {
        return Err("the last entry is not followed by a line feed (§10.6)".into());
    };
    let lines: Vec<&[u8]> = stripped.split(|b| *b == b'\n').collect();
    if lines.iter().any(|l| l.is_empty()) {
        return Err("an empty line among the entries (§10.6)".into());
    }
    Ok(lines)
}

/// The path of `url` below the target's base path, with a leading `/`, when it is on the
/// target's host.
fn relative_path(target: &Url, url: &Url) -> Option<String> {
    if url.origin() != target.origin() {
        return None;
    }
    let base = target.path().trim_end_matches('/');
    url.path().strip_prefix(base).map(|p| {
        if p.starts_with('/') {
            p.to_owned()
        } else {
            format!("/{p}")
        }
    })
}

fn stop_text(s: Stop) -> String {
    match s {
        Stop::Fail(e) => match (&e.method, &e.url, e.status) {
            (Some(m), Some(u), Some(st)) => format!("{} ({m} {u} answered {st})", e.message),
            (Some(m), Some(u), None) => format!("{} ({m} {u})", e.message),
            _ => e.message,
        },
        Stop::Skip(r) => r,
    }
}

fn prerequisite<T: Clone>(what: &str, v: Option<&Result<T, Stop>>) -> Result<T, Stop> {
    match v {
        Some(Ok(t)) => Ok(t.clone()),
        // A shared read that showed a fault fails every case that needs it (with the evidence),
        // so a broken target can never pass as merely "incomplete".
        Some(Err(Stop::Fail(e))) => Err(Stop::Fail(crate::report::Evidence {
            message: format!("prerequisite failed: {what}: {}", e.message),
            ..e.clone()
        })),
        Some(Err(Stop::Skip(r))) => Err(Stop::Skip(format!("prerequisite skipped: {what}: {r}"))),
        None => Err(Stop::Skip(format!("prerequisite missing: {what}"))),
    }
}
