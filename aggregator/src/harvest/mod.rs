//! Harvesting a member: checkpoint → signature with the pinned keys → consistency with the last
//! accepted checkpoint → entries in bounded chunks, each verified as a prefix of the signed tree
//! before it is applied (STANDARD.md §2.3). Every failure becomes the member's state, with
//! evidence; nothing unverified is stored.

mod bounded;
mod changes;
mod log;

use std::time::Duration;

use evfed_spec::checkpoint::RESTRICTED_SUFFIX;
use evfed_spec::merkle::Frontier;

pub use self::bounded::bounded;
use self::changes::{Changes, changes_of, keys_as_strings, parse_keys, sessions_of};
use self::log::Log;
use crate::compliance::history;
use crate::london::London;
use crate::outgoing::{self, Bounds, Timeout};
use crate::store::{Evidence, LeafLog, Member, State, Step, Store, StoreError, UsageStep};

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
    http: outgoing::Client,
    limits: Limits,
    /// `usage:read` tokens by OAuth 2.0 client credentials, when configured.
    usage_tokens: std::sync::OnceLock<crate::oauth::client::UsageTokens>,
}

impl Harvester {
    pub fn new(limits: Limits) -> Result<Self, outgoing::Error> {
        // Each answer is bounded by what it is (a note, a proof, a page of entries), none by
        // more than `max_body`.
        let http = outgoing::client(Bounds {
            timeout: Timeout::Total(limits.request),
            ..Bounds::total(limits.connect, limits.max_body)
        })?;
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
        // The view first: a reader that sees the new state in the store sees it in the view.
        london.note_state(&member.origin, state == State::Ok);
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
                let statuses = history::fold(store, &member.origin, &events, checkpoint_ms)?;
                store.apply(
                    &member.origin,
                    &Step {
                        batch,
                        frontier: next,
                        checkpoint,
                        changes: &changes,
                        statuses: &statuses,
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

fn corrupt(e: &dyn std::fmt::Display) -> Failure {
    Failure::Store(StoreError::Corrupt(e.to_string()))
}

impl std::fmt::Debug for Harvester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harvester")
            .field("limits", &self.limits)
            .finish()
    }
}
