//! Fetching and verifying one of a member's logs (§2.3): its checkpoint with the pinned keys,
//! consistency with the accepted one (a fork or an honest older copy when smaller, judged
//! from the kept leaf hashes), then its new entries in bounded chunks, each verified as a
//! prefix of the signed tree before it is handed on to be applied.

use evfed_spec::checkpoint::{BatchError, EntryBatch};
use evfed_spec::entry::MAX_ENTRY_BYTES;
use evfed_spec::merkle::{self, Frontier, Hash};
use evfed_spec::note::VerifierKey;
use evfed_spec::trust::{Unverified, Verified};

use url::Url;

use super::{Failure, Harvester, evidence};
use crate::outgoing;
use crate::store::{LeafLog, Store};

/// What a log's harvest does with each verified chunk: the batch, the frontier it reaches, and
/// the checkpoint note to record with it.
/// The last argument is the checkpoint's time (Unix ms) when this harvest follows an earlier
/// one of the same log.
pub(super) type ApplyChunk<'a> =
    dyn FnMut(&Verified<EntryBatch>, &Frontier, &[u8], Option<i64>) -> Result<(), Failure> + 'a;

/// One of a member's two logs, as a harvest sees it.
pub(super) struct Log<'a> {
    /// `<url>/v1/log` or `<url>/v1/restricted/log`.
    pub(super) base: String,
    /// The origin its checkpoints must carry.
    pub(super) origin: String,
    /// The member's origin, which keys what the store keeps of it.
    pub(super) member: &'a str,
    /// Which of the member's logs this is, for its kept leaf hashes.
    pub(super) leaves: LeafLog,
    /// Bearer token for its entries and proofs (the restricted log's `usage:read`).
    pub(super) token: Option<&'a str>,
    /// What was verified and applied so far.
    pub(super) frontier: Frontier,
    pub(super) accepted: Option<&'a [u8]>,
    /// Prefix of its evidence kinds (`usage-` for the restricted log).
    pub(super) evidence_prefix: &'static str,
}

impl Harvester {
    /// One log's harvest (§2.3): its checkpoint verified with `keys` and of the log's origin,
    /// consistent with the accepted one, then its new entries in chunks, each verified as a
    /// prefix of the signed tree and handed to `apply` with the frontier it reaches and the
    /// note to record (the new checkpoint once the chunk reaches it, else the accepted one).
    pub(super) fn sync_log(
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
        let parsed =
            Url::parse(url).map_err(|e| Failure::Unreachable(format!("GET {url}: {e}")))?;
        let mut req = self.http.get(&parsed);
        if let Some(token) = log.token {
            req = req.bearer(token);
        }
        let res = req.send().map_err(|e| failure(url, e))?;
        let status = res.status();
        if status.is_server_error() {
            return Err(Failure::Unreachable(format!("GET {url}: HTTP {status}")));
        }
        if !status.is_success() {
            return Err(Failure::Invalid(format!("GET {url}: HTTP {status}"), None));
        }
        res.body_within(max).map_err(|e| failure(url, e))
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

/// What a failed `GET` of `url` makes of the member: an answer larger than asked for is
/// invalid; anything else (connecting, TLS, a timeout, a broken body) is unreachable, worth
/// trying again. The message names `url` once, as asked for.
fn failure(url: &str, e: outgoing::Error) -> Failure {
    use outgoing::Error as E;
    match e {
        E::TooLarge { max, .. } => Failure::Invalid(
            format!("GET {url}: the answer is larger than {max} bytes"),
            None,
        ),
        E::Tls { detail, .. } => Failure::Unreachable(format!("GET {url}: TLS failed: {detail}")),
        E::Build(detail)
        | E::Unreachable { detail, .. }
        | E::Invalid { detail, .. }
        | E::Transport { detail, .. }
        | E::Body { detail, .. } => Failure::Unreachable(format!("GET {url}: {detail}")),
    }
}
