//! Harvesting a member: checkpoint → signature with the pinned keys → consistency with the last
//! accepted checkpoint → entries in bounded chunks, each verified as a prefix of the signed tree
//! before it is applied (STANDARD.md §2.3). Every failure becomes the member's state, with
//! evidence; nothing unverified is stored.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use evfed_spec::checkpoint::{BatchError, EntryBatch, RESTRICTED_SUFFIX};
use evfed_spec::entry::{EntryData, LogEntry, MAX_ENTRY_BYTES, Parsed};
use evfed_spec::ids::{LocationId, Party};
use evfed_spec::merkle::{self, Frontier, Hash};
use evfed_spec::note::VerifierKey;
use evfed_spec::ocpi::Location;
use evfed_spec::trust::{Unverified, Verified};
use evfed_spec::usage::StatusChange;

use crate::compliance::reliability;
use crate::london::London;
use crate::store::{
    CopyChange, Evidence, LeafLog, Member, NewSession, SessionRow, State, StatusEvent, Step, Store,
    StoreError, UsageStep,
};

/// Bounds of one harvest.
#[derive(Debug, Clone)]
pub struct Limits {
    pub connect: Duration,
    pub request: Duration,
    /// Entries verified and applied per step.
    pub chunk: u64,
    /// Largest response body read.
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(30),
            chunk: 20_000,
            max_body: 64 * 1024 * 1024,
        }
    }
}

/// How a harvest ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub state: State,
    pub reason: Option<String>,
    /// Entries verified and applied in this harvest.
    pub applied: u64,
}

enum Failure {
    Unreachable(String),
    Invalid(String, Option<Box<Evidence>>),
    Forked(String, Box<Evidence>),
    Stale(String, Option<Box<Evidence>>),
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

pub struct Harvester {
    http: reqwest::blocking::Client,
    limits: Limits,
    /// `usage:read` tokens by OAuth 2.0 client credentials, when configured.
    usage_tokens: std::sync::OnceLock<crate::oauth::client::UsageTokens>,
}

impl Harvester {
    pub fn new(limits: Limits) -> Result<Self, reqwest::Error> {
        install_crypto_provider();
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(limits.connect)
            .timeout(limits.request)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("evfed-aggregator/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Harvester {
            http,
            limits,
            usage_tokens: std::sync::OnceLock::new(),
        })
    }

    /// Gets members' `usage:read` tokens from `tokens` from now on, before their stored ones.
    pub fn use_oauth(&self, tokens: crate::oauth::client::UsageTokens) {
        let _ = self.usage_tokens.set(tokens);
    }

    /// Harvests one member and records the outcome in `store` (and `london`).
    pub fn harvest(
        &self,
        store: &Store,
        london: &London,
        member: &Member,
        now_ms: i64,
    ) -> Result<Outcome, StoreError> {
        if member.state == State::Forked {
            // §9.4: no further entries until an administrator intervenes.
            return Ok(Outcome {
                state: State::Forked,
                reason: member.reason.clone(),
                applied: 0,
            });
        }
        let mut applied = 0;
        let result = self.run(store, london, member, now_ms, &mut applied);
        let (state, reason, evidence) = match result {
            Ok(()) => (State::Ok, None, None),
            Err(Failure::Store(e)) => return Err(e),
            Err(Failure::Unreachable(r)) => (State::Unreachable, Some(r), None),
            Err(Failure::Invalid(r, e)) => (State::Invalid, Some(r), e),
            Err(Failure::Stale(r, e)) => (State::Stale, Some(r), e),
            Err(Failure::Forked(r, e)) => (State::Forked, Some(r), Some(e)),
        };
        if let Some(e) = &evidence {
            store.add_evidence(&member.origin, e)?;
        }
        store.set_state(&member.origin, state, reason.as_deref(), now_ms)?;
        if state != State::Ok {
            tracing::warn!(origin = %member.origin, state = ?state, reason = ?reason, "harvest failed");
        }
        Ok(Outcome {
            state,
            reason,
            applied,
        })
    }

    fn run(
        &self,
        store: &Store,
        london: &London,
        member: &Member,
        now_ms: i64,
        applied: &mut u64,
    ) -> Result<(), Failure> {
        let mut keys = parse_keys(&member.vkeys);
        let log = Log {
            base: format!("{}/v1/log", member.url.trim_end_matches('/')),
            origin: member.origin.clone(),
            member: &member.origin,
            leaves: LeafLog::Public,
            token: None,
            frontier: member.frontier.clone(),
            accepted: member.checkpoint.as_deref(),
            evidence_prefix: "",
        };
        let mut vkeys = member.vkeys.clone();
        self.sync_log(
            store,
            &log,
            &keys.clone(),
            now_ms,
            &mut |batch, next, checkpoint, checkpoint_ms| {
                let Changes {
                    copies: changes,
                    rejected,
                    rotated,
                    events,
                } = changes_of(london, member, batch, &mut keys)?;
                for r in &rejected {
                    store.add_evidence(
                        &member.origin,
                        &evidence(now_ms, "rejected-entry", r, None, None),
                    )?;
                }
                if rotated {
                    vkeys = keys_as_strings(&keys, &vkeys);
                }
                store.apply(
                    &member.origin,
                    &Step {
                        batch,
                        frontier: next,
                        checkpoint,
                        changes: &changes,
                        events: &events,
                        checkpoint_ms,
                        vkeys: rotated.then_some(vkeys.as_slice()),
                    },
                )?;
                london.apply(member, &changes);
                *applied += batch.entries.len() as u64;
                Ok(())
            },
        )
    }

    /// Harvests a member's restricted log with its `usage:read` token, when it has one: the
    /// same verification as the public log's, under the origin `<origin>/restricted` and the
    /// same keys; sessions are stored with their location's borough and ward. A failure is the
    /// usage cursor's state, with evidence; the public harvest is not affected.
    pub fn harvest_usage(
        &self,
        store: &Store,
        member: &Member,
        now_ms: i64,
    ) -> Result<Option<Outcome>, StoreError> {
        if member
            .usage
            .as_ref()
            .is_some_and(|u| u.state == State::Forked)
        {
            return Ok(None);
        }
        // A client-credentials token when the authorization server issues one for this member,
        // else the token stored with it (nodes that do not trust the aggregator).
        let oauth = self.usage_tokens.get();
        let fetched = match oauth.map(|t| t.token_for(&member.origin)) {
            Some(Ok(token)) => Some(token),
            Some(Err(crate::oauth::client::ClientError::NotForMember(_))) | None => None,
            Some(Err(e)) => {
                tracing::warn!(origin = %member.origin, error = %e, "no usage:read token");
                None
            }
        };
        let Some(token) = fetched.as_deref().or(member.usage_token.as_deref()) else {
            return Ok(None);
        };
        let empty = Frontier::new();
        let log = Log {
            base: format!("{}/v1/restricted/log", member.url.trim_end_matches('/')),
            origin: format!("{}{RESTRICTED_SUFFIX}", member.origin),
            member: &member.origin,
            leaves: LeafLog::Restricted,
            token: Some(token),
            frontier: member.usage.as_ref().map_or(empty, |u| u.frontier.clone()),
            accepted: member.usage.as_ref().and_then(|u| u.checkpoint.as_deref()),
            evidence_prefix: "usage-",
        };
        let keys = parse_keys(&member.vkeys);
        let mut applied = 0;
        let result = self.sync_log(
            store,
            &log,
            &keys,
            now_ms,
            &mut |batch, next, checkpoint, _| {
                let (sessions, rejected) = sessions_of(store, member, batch)?;
                for r in &rejected {
                    store.add_evidence(
                        &member.origin,
                        &evidence(now_ms, "usage-rejected-entry", r, None, None),
                    )?;
                }
                store.apply_usage(
                    &member.origin,
                    &UsageStep {
                        batch,
                        frontier: next,
                        checkpoint,
                        sessions: &sessions,
                    },
                )?;
                applied += batch.entries.len() as u64;
                Ok(())
            },
        );
        if let (Err(_), Some(oauth), Some(_)) = (&result, oauth, &fetched) {
            oauth.forget(&member.origin);
        }
        let (state, reason, evidence) = match result {
            Ok(()) => (State::Ok, None, None),
            Err(Failure::Store(e)) => return Err(e),
            Err(Failure::Unreachable(r)) => (State::Unreachable, Some(r), None),
            Err(Failure::Invalid(r, e)) => (State::Invalid, Some(r), e),
            Err(Failure::Stale(r, e)) => (State::Stale, Some(r), e),
            Err(Failure::Forked(r, e)) => (State::Forked, Some(r), Some(e)),
        };
        if let Some(e) = &evidence {
            store.add_evidence(&member.origin, e)?;
        }
        store.set_usage_state(&member.origin, state, reason.as_deref())?;
        if state != State::Ok {
            tracing::warn!(origin = %member.origin, state = ?state, reason = ?reason, "usage harvest failed");
        }
        Ok(Some(Outcome {
            state,
            reason,
            applied,
        }))
    }

    /// One log's harvest (§2.3): its checkpoint verified with `keys` and of the log's origin,
    /// consistent with the accepted one, then its new entries in chunks, each verified as a
    /// prefix of the signed tree and handed to `apply` with the frontier it reaches and the
    /// note to record (the new checkpoint once the chunk reaches it, else the accepted one).
    fn sync_log(
        &self,
        store: &Store,
        log: &Log<'_>,
        keys: &[VerifierKey],
        now_ms: i64,
        apply: &mut ApplyChunk<'_>,
    ) -> Result<(), Failure> {
        let kind = |k: &str| format!("{}{k}", log.evidence_prefix);
        let base = log.base.as_str();
        let note = self.get(log, &format!("{base}/checkpoint"), 65_536)?;
        let cp = match Unverified::new(note.clone()).verify_checkpoint(keys) {
            Ok(cp) => cp,
            Err(e) => {
                let why = format!("checkpoint {}: {e}", e.verdict());
                return Err(Failure::Invalid(
                    why.clone(),
                    Some(evidence(
                        now_ms,
                        &kind("checkpoint"),
                        &why,
                        Some(&note),
                        None,
                    )),
                ));
            }
        };
        if cp.checkpoint().origin != log.origin {
            let why = format!(
                "checkpoint origin {:?} is not {:?}",
                cp.checkpoint().origin,
                log.origin
            );
            return Err(Failure::Invalid(
                why.clone(),
                Some(evidence(now_ms, &kind("origin"), &why, Some(&note), None)),
            ));
        }
        let new_size = cp.checkpoint().tree_size;
        let have = log.frontier.size();
        let accepted = log.accepted;
        if new_size < have {
            // The accepted entries' leaves are kept: a smaller tree whose root is not that of
            // their prefix is a split view, however short, and as much a fork as a longer one.
            let prefix = store.prefix_root(log.member, log.leaves, new_size)?;
            if prefix.is_some_and(|root| root != cp.checkpoint().root) {
                let why = format!(
                    "the checkpoint of {new_size} entries is not consistent with the accepted \
                     one of {have}: the first {new_size} accepted entries have another root"
                );
                return Err(Failure::Forked(
                    why.clone(),
                    evidence(now_ms, &kind("fork"), &why, Some(&note), accepted),
                ));
            }
            let why =
                format!("the member serves a checkpoint of {new_size} entries after one of {have}");
            return Err(Failure::Stale(
                why.clone(),
                Some(evidence(
                    now_ms,
                    &kind("older-checkpoint"),
                    &why,
                    Some(&note),
                    accepted,
                )),
            ));
        }
        if new_size == have {
            if cp.checkpoint().root != log.frontier.root() {
                let why = format!("two signed checkpoints of size {have} with different roots");
                return Err(Failure::Forked(
                    why.clone(),
                    evidence(now_ms, &kind("fork"), &why, Some(&note), accepted),
                ));
            }
            return Ok(());
        }
        // Consistency with what was accepted, before any entry is read: a rewritten history
        // is a fork, not a transfer error.
        if have > 0 {
            let proof = self.consistency(log, have, new_size)?;
            if merkle::verify_consistency(
                have,
                new_size,
                &log.frontier.root(),
                &cp.checkpoint().root,
                &proof,
            )
            .is_err()
            {
                let why = format!(
                    "the checkpoint of {new_size} entries is not consistent with the accepted one of {have}"
                );
                return Err(Failure::Forked(
                    why.clone(),
                    evidence(now_ms, &kind("fork"), &why, Some(&note), accepted),
                ));
            }
        }
        let mut frontier = log.frontier.clone();
        while frontier.size() < new_size {
            let start = frontier.size();
            let end = (start + self.limits.chunk).min(new_size);
            let entries = self.entries(log, start, end)?;
            let proof = if end < new_size {
                self.consistency(log, end, new_size)?
            } else {
                Vec::new()
            };
            let batch = Unverified::new(EntryBatch { start, entries });
            let (batch, next) = match batch.verify_prefix(&frontier, &cp, &proof) {
                Ok(v) => v,
                Err(e @ (BatchError::RootMismatch | BatchError::NotPrefix(_))) => {
                    let why = format!("entries {start}..{end} do not match the signed tree: {e}");
                    return Err(Failure::Invalid(
                        why.clone(),
                        Some(evidence(now_ms, &kind("entries"), &why, Some(&note), None)),
                    ));
                }
                Err(e) => {
                    return Err(Failure::Invalid(
                        format!("entries {start}..{end}: {e}"),
                        None,
                    ));
                }
            };
            let checkpoint = if next.size() == new_size {
                cp.note_bytes()
            } else {
                accepted.unwrap_or_default()
            };
            let checkpoint_ms = (have > 0).then_some(cp.checkpoint().time as i64 * 1000);
            apply(&batch, &next, checkpoint, checkpoint_ms)?;
            frontier = next;
        }
        Ok(())
    }

    fn get(&self, log: &Log<'_>, url: &str, max: u64) -> Result<Vec<u8>, Failure> {
        let mut req = self.http.get(url);
        if let Some(token) = log.token {
            req = req.bearer_auth(token);
        }
        let res = req
            .send()
            .map_err(|e| Failure::Unreachable(format!("GET {url}: {}", chain(&e))))?;
        let status = res.status();
        if status.is_server_error() {
            return Err(Failure::Unreachable(format!("GET {url}: HTTP {status}")));
        }
        if !status.is_success() {
            return Err(Failure::Invalid(format!("GET {url}: HTTP {status}"), None));
        }
        let mut body = Vec::new();
        res.take(max + 1)
            .read_to_end(&mut body)
            .map_err(|e| Failure::Unreachable(format!("GET {url}: {e}")))?;
        if body.len() as u64 > max {
            return Err(Failure::Invalid(
                format!("GET {url}: the answer is larger than {max} bytes"),
                None,
            ));
        }
        Ok(body)
    }

    fn consistency(&self, log: &Log<'_>, first: u64, second: u64) -> Result<Vec<Hash>, Failure> {
        let url = format!(
            "{}/proof/consistency?first={first}&second={second}",
            log.base
        );
        let body = self.get(log, &url, 64 * 1024)?;
        let proof: evfed_spec::api::Proof = serde_json::from_slice(&body)
            .map_err(|e| Failure::Invalid(format!("GET {url}: not a proof: {e}"), None))?;
        proof
            .hashes
            .iter()
            .map(|h| Hash::from_base64(h))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Failure::Invalid(format!("GET {url}: a hash is not base64"), None))
    }

    /// Entries `start..end`, following the node's page bounds.
    fn entries(&self, log: &Log<'_>, start: u64, end: u64) -> Result<Vec<Vec<u8>>, Failure> {
        let mut out = Vec::with_capacity((end - start) as usize);
        while (start + out.len() as u64) < end {
            let from = start + out.len() as u64;
            let url = format!("{}/entries?start={from}&end={end}", log.base);
            let body = self.get(log, &url, self.limits.max_body)?;
            let before = out.len();
            for line in body.split(|b| *b == b'\n') {
                if line.is_empty() {
                    continue;
                }
                if line.len() > MAX_ENTRY_BYTES {
                    return Err(Failure::Invalid(
                        format!("GET {url}: an entry exceeds 256 KiB"),
                        None,
                    ));
                }
                if start + out.len() as u64 >= end {
                    return Err(Failure::Invalid(
                        format!("GET {url}: more entries than asked for"),
                        None,
                    ));
                }
                out.push(line.to_vec());
            }
            if out.len() == before {
                return Err(Failure::Invalid(
                    format!("GET {url}: no entries below the signed size"),
                    None,
                ));
            }
        }
        Ok(out)
    }
}

/// Runs `f` on every item, at most `concurrency` at a time, and returns the results in item
/// order. A worker takes the next item as soon as it finishes one, so one slow member holds up
/// no other (a harvest round waits only for its slowest member, not for the slowest of each
/// group).
pub fn bounded<T: Sync, R: Send>(
    items: &[T],
    concurrency: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = concurrency.clamp(1, items.len().max(1));
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return out;
                        };
                        out.push((i, f(item)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// What a log's harvest does with each verified chunk: the batch, the frontier it reaches, and
/// the checkpoint note to record with it.
/// The last argument is the checkpoint's time (Unix ms) when this harvest follows an earlier
/// one of the same log.
type ApplyChunk<'a> =
    dyn FnMut(&Verified<EntryBatch>, &Frontier, &[u8], Option<i64>) -> Result<(), Failure> + 'a;

/// One of a member's two logs, as a harvest sees it.
struct Log<'a> {
    /// `<url>/v1/log` or `<url>/v1/restricted/log`.
    base: String,
    /// The origin its checkpoints must carry.
    origin: String,
    /// The member's origin, which keys what the store keeps of it.
    member: &'a str,
    /// Which of the member's logs this is, for its kept leaf hashes.
    leaves: LeafLog,
    /// Bearer token for its entries and proofs (the restricted log's `usage:read`).
    token: Option<&'a str>,
    /// What was verified and applied so far.
    frontier: Frontier,
    accepted: Option<&'a [u8]>,
    /// Prefix of its evidence kinds (`usage-` for the restricted log).
    evidence_prefix: &'static str,
}

fn evidence(
    now_ms: i64,
    kind: &str,
    detail: &str,
    note: Option<&[u8]>,
    other: Option<&[u8]>,
) -> Box<Evidence> {
    Box::new(Evidence::new(
        kind.into(),
        detail.into(),
        note.map(|n| String::from_utf8_lossy(n).into_owned()),
        other.map(|n| String::from_utf8_lossy(n).into_owned()),
        now_ms,
    ))
}

/// The sessions of a verified batch of the restricted log, each placed in the borough and ward
/// the coordinates of the member's copy of its location lie in (public or, for an unpublished
/// location, none: then unplaced), and the entries refused.
fn sessions_of(
    store: &Store,
    member: &Member,
    batch: &Verified<EntryBatch>,
) -> Result<(Vec<NewSession>, Vec<String>), Failure> {
    let mut sessions = Vec::new();
    let mut rejected = Vec::new();
    let mut places: std::collections::HashMap<(String, String), (String, String)> =
        std::collections::HashMap::new();
    for (i, bytes) in batch.entries.iter().enumerate() {
        let index = batch.start + i as u64;
        let entry = match LogEntry::parse(bytes) {
            Ok(Parsed::Known(e)) => e,
            Ok(Parsed::Opaque { .. }) => continue,
            Err(e) => {
                rejected.push(format!("restricted entry {index}: {e}"));
                continue;
            }
        };
        if let Some(party) = entry.data.party()
            && !member.may_publish(&party)
        {
            rejected.push(format!(
                "restricted entry {index}: the member may not publish for {party}"
            ));
            continue;
        }
        let EntryData::Session(u) = entry.data else {
            continue;
        };
        let party = u.party().to_string();
        let key = (party.clone(), u.location_id.as_str().to_owned());
        if !places.contains_key(&key) {
            let place = match store.location_copy(&member.origin, &key.0, &key.1)? {
                Some(body) => {
                    let loc: Location = serde_json::from_slice(&body).map_err(|e| corrupt(&e))?;
                    let placed = crate::domain::places::place(&loc);
                    (
                        placed.borough_key().to_owned(),
                        placed.ward_key().to_owned(),
                    )
                }
                None => (String::new(), String::new()),
            };
            places.insert(key.clone(), place);
        }
        let (borough, ward) = places.get(&key).cloned().unwrap_or_default();
        sessions.push(NewSession {
            party,
            id: u.id.as_str().to_owned(),
            location_id: key.1,
            evse_uid: u.evse_uid.as_str().to_owned(),
            row: SessionRow {
                borough,
                ward,
                start_ms: u.start_date_time.unix_millis(),
                end_ms: u.end_date_time.map(|t| t.unix_millis()),
                kwh: u.kwh,
            },
        });
    }
    Ok((sessions, rejected))
}

/// The effect of a verified batch on the member's copies, the entries refused (§6.3), and
/// whether a key rotation was adopted (`keys` is updated in place).
fn changes_of(
    london: &London,
    member: &Member,
    batch: &Verified<EntryBatch>,
    keys: &mut Vec<VerifierKey>,
) -> Result<Changes, Failure> {
    let mut changes: Vec<CopyChange> = Vec::new();
    let mut rejected = Vec::new();
    let mut rotated = false;
    let mut events = Vec::with_capacity(batch.entries.len());
    // Locations touched in this batch, so status changes apply to the newest copy.
    let mut touched: HashMap<(Party, LocationId), Touched> = HashMap::new();
    for (i, bytes) in batch.entries.iter().enumerate() {
        let index = batch.start + i as u64;
        let entry = match LogEntry::parse(bytes) {
            Ok(Parsed::Known(e)) => e,
            Ok(Parsed::Opaque { .. }) => continue,
            Err(e) => {
                rejected.push(format!("entry {index}: {e}"));
                continue;
            }
        };
        let refuse =
            |party: &Party| format!("entry {index}: the member may not publish for {party}");
        // Status changes, most of a log, are taken apart without copying their ids.
        let data = match entry.data {
            EntryData::EvseStatus(s) => {
                let StatusChange {
                    country_code,
                    party_id,
                    location_id,
                    evse_uid,
                    status,
                    event_time,
                } = s;
                let party = Party::new(country_code, party_id);
                if !member.may_publish(&party) {
                    rejected.push(refuse(&party));
                    continue;
                }
                let slot = match touched.entry((party, location_id)) {
                    Entry::Occupied(o) => o.into_mut(),
                    Entry::Vacant(v) => {
                        // The London view holds every copy the store does, as last applied.
                        let (party, id) = v.key();
                        let key = (party.to_string(), id.as_str().to_owned());
                        let copy = london.copy_of(&member.origin, &key);
                        v.insert(Touched::new(
                            key,
                            copy.map(|l| Box::new(Location::clone(&l))),
                        ))
                    }
                };
                let Some(loc) = &mut slot.location else {
                    rejected.push(format!(
                        "entry {index}: status for a location not in the log"
                    ));
                    continue;
                };
                let Some(evse) = loc.evses.iter_mut().find(|e| e.uid == evse_uid) else {
                    rejected.push(format!("entry {index}: status for an EVSE not in the log"));
                    continue;
                };
                events.push(StatusEvent {
                    party: Arc::clone(&slot.party),
                    location_id: Arc::clone(&slot.location_id),
                    evse_uid: evse_uid.into(),
                    status,
                    at_ms: event_time.unix_millis(),
                    rapid: reliability::is_rapid(evse),
                    hours: loc.opening_times.clone(),
                    live: true,
                });
                // §6.4: the status, and last_updated raised to event_time when later.
                slot.entry = Some(index);
                evse.status = status;
                evse.last_updated = evse.last_updated.max(event_time);
                loc.last_updated = loc.last_updated.max(event_time);
                continue;
            }
            other => other,
        };
        if let Some(party) = data.party()
            && !member.may_publish(&party)
        {
            rejected.push(refuse(&party));
            continue;
        }
        match data {
            EntryData::Location(loc) => {
                let key = (loc.party(), loc.id.clone());
                let mut slot =
                    Touched::new((key.0.to_string(), key.1.as_str().to_owned()), Some(loc));
                slot.entry = Some(index);
                if let Some(loc) = &slot.location {
                    for evse in &loc.evses {
                        events.push(StatusEvent {
                            party: Arc::clone(&slot.party),
                            location_id: Arc::clone(&slot.location_id),
                            evse_uid: evse.uid.as_str().to_owned(),
                            status: evse.status,
                            at_ms: evse.last_updated.unix_millis(),
                            rapid: reliability::is_rapid(evse),
                            hours: loc.opening_times.clone(),
                            live: false,
                        });
                    }
                }
                touched.insert(key, slot);
            }
            EntryData::LocationRemoved(r) => {
                let key = (r.party(), r.id);
                let names = (key.0.to_string(), key.1.as_str().to_owned());
                touched.insert(key, Touched::new(names, None));
            }
            // Taken apart above.
            EntryData::EvseStatus(_) => {}
            EntryData::Tariff(t) => changes.push(CopyChange::PutTariff {
                party: t.party().to_string(),
                id: t.id.as_str().to_owned(),
                body: serde_json::to_vec(&*t).map_err(|e| corrupt(&e))?,
            }),
            EntryData::TariffRemoved(r) => changes.push(CopyChange::RemoveTariff {
                party: r.party().to_string(),
                id: r.id.as_str().to_owned(),
            }),
            EntryData::Session(_) => {}
            EntryData::KeyRotation(k) => {
                // §3.3: adopt `vkey` only when `previous_vkey` is a key already trusted; this
                // entry is covered by a checkpoint that key verified.
                let previous: Option<VerifierKey> = k.previous_vkey.parse().ok();
                let trusted = previous.is_some_and(|p| {
                    keys.iter()
                        .any(|t| t.id() == p.id() && t.public_key() == p.public_key())
                });
                match k.vkey.parse::<VerifierKey>() {
                    Ok(new) if trusted && new.name() == member.origin => {
                        keys.insert(0, new);
                        rotated = true;
                    }
                    _ => rejected.push(format!(
                        "entry {index}: key_rotation from a key this aggregator does not trust"
                    )),
                }
            }
        }
    }
    for (_, slot) in touched {
        let (party, id) = (slot.party.to_string(), slot.location_id.to_string());
        changes.push(match slot.location {
            Some(loc) => CopyChange::PutLocation {
                party,
                id,
                body: serde_json::to_vec(&loc).map_err(|e| corrupt(&e))?,
                location: Arc::from(loc),
                entry: slot.entry,
            },
            None => CopyChange::RemoveLocation { party, id },
        });
    }
    Ok(Changes {
        copies: changes,
        rejected,
        rotated,
        events,
    })
}

/// A location a batch touched: its newest copy (`None`: removed) and its names, shared by the
/// status events it gives.
struct Touched {
    location: Option<Box<Location>>,
    party: Arc<str>,
    location_id: Arc<str>,
    /// The last entry that changed it (none yet: the copy as held before the batch).
    entry: Option<u64>,
}

impl Touched {
    fn new((party, id): (String, String), location: Option<Box<Location>>) -> Self {
        Touched {
            location,
            party: party.into(),
            location_id: id.into(),
            entry: None,
        }
    }
}

/// What a verified batch does to a member's copies.
struct Changes {
    copies: Vec<CopyChange>,
    /// Entries refused (§6.3), with why.
    rejected: Vec<String>,
    /// Whether a key rotation was adopted (the keys were updated in place).
    rotated: bool,
    /// EVSE statuses recorded, in log order.
    events: Vec<StatusEvent>,
}

fn corrupt(e: &dyn std::fmt::Display) -> Failure {
    Failure::Store(StoreError::Corrupt(e.to_string()))
}

fn parse_keys(vkeys: &[String]) -> Vec<VerifierKey> {
    vkeys.iter().filter_map(|k| k.parse().ok()).collect()
}

/// `keys` as verifier key strings: newly adopted ones first, then those pinned before.
fn keys_as_strings(keys: &[VerifierKey], pinned: &[String]) -> Vec<String> {
    let mut out: Vec<String> = keys
        .iter()
        .map(ToString::to_string)
        .filter(|k| !pinned.contains(k))
        .collect();
    out.extend(pinned.iter().cloned());
    out
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// Installs ring as rustls's process-wide crypto provider (reqwest is built without one).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl std::fmt::Debug for Harvester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harvester")
            .field("limits", &self.limits)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    use super::bounded;

    /// One member that does not finish until every other has: the others go on without it.
    #[test]
    fn a_slow_item_holds_up_no_other() {
        let items: Vec<usize> = (0..12).collect();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let done_rx = Mutex::new(done_rx);
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let finished = AtomicUsize::new(0);
        let out = bounded(&items, 3, |&i| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            let waited = if i == 0 {
                // Waits for the eleven others, which two workers must get through.
                let rx = done_rx.lock().unwrap();
                rx.recv_timeout(Duration::from_secs(10)).is_ok()
            } else {
                std::thread::sleep(Duration::from_millis(5));
                if finished.fetch_add(1, Ordering::SeqCst) + 1 == items.len() - 1 {
                    done_tx.send(()).unwrap();
                }
                true
            };
            running.fetch_sub(1, Ordering::SeqCst);
            (i * 10, waited)
        });
        assert_eq!(
            out,
            items.iter().map(|i| (i * 10, true)).collect::<Vec<_>>()
        );
        assert!(most.load(Ordering::SeqCst) <= 3);
        assert!(bounded(&[] as &[u8], 4, |_| ()).is_empty());
    }
}
