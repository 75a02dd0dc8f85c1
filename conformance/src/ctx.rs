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
    /// How long the request took, body included.
    pub elapsed: std::time::Duration,
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
    /// The standard version the node announces (`standard`, §3.4 since 1.1): `(1, 0)` when
    /// absent or unreadable.
    pub standard: (u32, u32),
    pub keys: Vec<VerifierKey>,
    pub endpoints: HashMap<String, Url>,
}

impl Discovery {
    /// Whether the node announces at least version `major.minor` of the standard, and so is
    /// held to that version's stricter cases.
    pub fn announces(&self, major: u32, minor: u32) -> bool {
        self.standard >= (major, minor)
    }
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
    /// The `usage:read` token for restricted reads (none when the one given lacks that scope).
    pub token: Option<String>,
    /// A valid token without `usage:read`, for `access.wrong-scope`.
    pub wrong_scope_token: Option<String>,
    /// Set when `--token` was given but its `scope` claim lacks `usage:read`.
    token_lacks_usage: bool,
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
        let lacks_usage = config
            .token
            .as_deref()
            .and_then(unverified_scopes)
            .is_some_and(|s| !s.iter().any(|x| x == "usage:read"));
        let (token, wrong_scope_token) = if lacks_usage {
            (
                None,
                config
                    .wrong_scope_token
                    .clone()
                    .or_else(|| config.token.clone()),
            )
        } else {
            (config.token.clone(), config.wrong_scope_token.clone())
        };
        Self {
            http,
            target,
            token,
            wrong_scope_token,
            token_lacks_usage: lacks_usage,
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

    /// The `usage:read` token, or the skip that says why there is none.
    pub fn usage_token(&self) -> Result<String, Stop> {
        match &self.token {
            Some(t) => Ok(t.clone()),
            None if self.token_lacks_usage => Err(Stop::Skip(
                "needs a usage:read token: the --token given has no usage:read scope (it is \
                 used for access.wrong-scope); pass a usage:read token with --token and this \
                 one with --wrong-scope-token to run every access case"
                    .into(),
            )),
            None => Err(Stop::Skip("needs a usage:read token (--token)".into())),
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
        let started = Instant::now();
        let ex = self
            .http
            .send(method, url, token, headers)
            .map_err(|e| Stop::Fail(e.evidence()))?;
        self.record(&ex, started.elapsed());
        Ok(ex)
    }

    fn record(&mut self, ex: &Exchange, elapsed: std::time::Duration) {
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
            elapsed,
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
        let standard = text("standard")
            .and_then(|s| parse_standard(&s))
            .unwrap_or((1, 0));
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
            standard,
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
        let token = self.usage_token()?;
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
                Some(self.usage_token()?)
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
            reads.mark(mark);
            let verdict = check(self, &all);
            let stable = size.is_some() && self.seen[mark..].iter().all(|s| s.tree_size == size);
            if stable || matches!(verdict, Err(Stop::Skip(_))) {
                return verdict;
            }
        }
        Err(reads.skip(self, &format!("the {name} list")))
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
    /// `ctx.seen.len()` when the first attempt began, to say afterwards what the reads cost.
    first_mark: Option<usize>,
}

impl StableReads {
    pub fn new() -> Self {
        StableReads {
            started: std::time::Instant::now(),
            attempts: 0,
            first_mark: None,
        }
    }

    /// Notes where in `ctx.seen` an attempt began (only the first one counts).
    pub fn mark(&mut self, seen_len: usize) {
        self.first_mark.get_or_insert(seen_len);
    }

    /// The skip after every attempt saw the log grow, saying what to look at: how long the
    /// reads took against how fast the log grew, and the slowest request.
    pub fn skip(&self, ctx: &Ctx, what: &str) -> Stop {
        let seen = &ctx.seen[self.first_mark.unwrap_or(0).min(ctx.seen.len())..];
        Stop::Skip(unstable_reads_reason(
            what,
            self.attempts,
            self.started.elapsed(),
            seen,
        ))
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

/// Why reads of `what` never saw one tree size: attempts and time, requests and their times,
/// how far the log grew, the slowest request, and what to do about it.
pub fn unstable_reads_reason(
    what: &str,
    attempts: u32,
    spent: std::time::Duration,
    seen: &[Seen],
) -> String {
    let mut msg = format!(
        "the log grew during each of {attempts} attempts to read {what} at one tree size ({:.1} s)",
        spent.as_secs_f64()
    );
    if !seen.is_empty() {
        let mut times: Vec<u128> = seen.iter().map(|s| s.elapsed.as_millis()).collect();
        times.sort_unstable();
        let median = times[times.len() / 2];
        msg.push_str(&format!(
            "; {} requests, median {median} ms each",
            seen.len()
        ));
        if let Some(slowest) = seen.iter().max_by_key(|s| s.elapsed) {
            msg.push_str(&format!(
                ", slowest {} ms ({} {})",
                slowest.elapsed.as_millis(),
                slowest.method,
                slowest.url
            ));
        }
        let sizes: Vec<u64> = seen.iter().filter_map(|s| s.tree_size).collect();
        if let (Some(lo), Some(hi)) = (sizes.iter().min(), sizes.iter().max()) {
            msg.push_str(&format!("; Evfed-Tree-Size went from {lo} to {hi}"));
        }
    }
    msg.push_str(
        ". A verdict needs every response of one read to carry the same Evfed-Tree-Size: \
         look at the node's time per request (above) against how often its log grows, and run \
         again nearer the node or when writes are quieter",
    );
    msg
}

/// The `scope` claim of a JWT, read without verification (only to choose which cases apply);
/// `None` when the token is not a JWT with a `scope` string.
pub fn unverified_scopes(token: &str) -> Option<Vec<String>> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    Some(
        v["scope"]
            .as_str()?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    )
}

/// `(major, minor)` of a version string such as `"1.1"`.
pub fn parse_standard(s: &str) -> Option<(u32, u32)> {
    let (major, minor) = s.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn seen(ms: u64, size: u64, url: &str) -> Seen {
        Seen {
            method: "GET".into(),
            url: url.into(),
            status: 200,
            has_tree_size: true,
            tree_size: Some(size),
            elapsed: Duration::from_millis(ms),
            schema: None,
            excerpt: String::new(),
        }
    }

    #[test]
    fn a_skip_for_a_growing_log_names_times_sizes_and_the_slowest_request() {
        let reads = [
            seen(40, 10, "http://n/v1/status?offset=0"),
            seen(2500, 12, "http://n/v1/status?offset=1000"),
            seen(50, 15, "http://n/v1/status?offset=0"),
        ];
        let m = unstable_reads_reason("the status list", 3, Duration::from_secs(4), &reads);
        assert!(m.contains("3 attempts"), "{m}");
        assert!(m.contains("median 50 ms"), "{m}");
        assert!(
            m.contains("slowest 2500 ms (GET http://n/v1/status?offset=1000)"),
            "{m}"
        );
        assert!(m.contains("from 10 to 15"), "{m}");
        assert!(m.contains("time per request"), "{m}");
    }

    #[test]
    fn standard_versions_parse_as_major_and_minor() {
        assert_eq!(parse_standard("1.1"), Some((1, 1)));
        assert_eq!(parse_standard("1.10"), Some((1, 10)));
        assert_eq!(parse_standard("1"), None);
        assert_eq!(parse_standard("x.1"), None);
        assert!((1, 10) > (1, 1));
    }

    #[test]
    fn scopes_are_read_from_a_jwt_payload() {
        use base64::Engine as _;
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let t = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"EdDSA"}"#),
            b64(r#"{"scope":"data:write usage:read"}"#)
        );
        assert_eq!(
            unverified_scopes(&t),
            Some(vec!["data:write".to_owned(), "usage:read".to_owned()])
        );
        assert_eq!(unverified_scopes("opaque"), None);
    }
}
