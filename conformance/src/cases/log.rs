//! The logs (§5–§10.6): checkpoints signed by an advertised key, entries in canonical form that
//! reproduce the root, inclusion and consistency proofs, and consistency over the run.

use evfed_spec::entry::{LogEntry, MAX_ENTRY_BYTES};
use evfed_spec::merkle::{self, Hash, MemoryTree};
use evfed_spec::{jcs, time::DateTime};
use rand::Rng;
use url::Url;

use super::{fail_at, problem};
use crate::case::{Case, CheckResult, Level, Stop, note};
use crate::ctx::{Ctx, LogView};

pub const CASES: &[Case] = &[
    Case {
        id: "log.checkpoint-signature",
        section: "§9.3",
        level: Level::Core,
        required: true,
        description: "the public checkpoint is a signed note verified by an advertised key, for the \
                      discovery origin, not more than 60 s ahead of the reader's clock",
        check: checkpoint_signature,
    },
    Case {
        id: "log.restricted-checkpoint",
        section: "§7",
        level: Level::Core,
        required: true,
        description: "the restricted log's checkpoint is open (no token), signed by the same key, \
                      for origin `<origin>/restricted`",
        check: restricted_checkpoint,
    },
    Case {
        id: "log.entries-canonical",
        section: "§5",
        level: Level::Core,
        required: true,
        description: "every public entry is at most 256 KiB and exactly its own RFC 8785 \
                      canonicalisation (signed bytes are never re-encoded)",
        check: entries_canonical,
    },
    Case {
        id: "log.entries-parse",
        section: "§6.3",
        level: Level::Core,
        required: true,
        description: "every public entry parses under the reader rules (v 1, party matches data, \
                      data valid under §4, no publish_allowed_to)",
        check: entries_parse,
    },
    Case {
        id: "log.entries-root",
        section: "§8.1",
        level: Level::Core,
        required: true,
        description: "the entries 0..size, as served, reproduce the checkpoint's root hash",
        check: entries_root,
    },
    Case {
        id: "log.entries-range",
        section: "§10.6",
        level: Level::Core,
        required: true,
        description: "entries at or beyond the size give an empty body; start ≥ end and \
                      malformed bounds are 400 invalid-query",
        check: entries_range,
    },
    Case {
        id: "log.inclusion-proofs",
        section: "§8.2",
        level: Level::Core,
        required: true,
        description: "inclusion proofs of the first, last and random entries verify against the \
                      checkpoint",
        check: inclusion_proofs,
    },
    Case {
        id: "log.consistency-proofs",
        section: "§8.3",
        level: Level::Core,
        required: true,
        description: "consistency proofs from random earlier sizes (roots computed from the \
                      entries) to the checkpoint verify",
        check: consistency_proofs,
    },
];

/// Run last: they compare the start of the run with its end.
pub const FINAL_CASES: &[Case] = &[Case {
    id: "log.consistency-over-time",
    section: "§9.4",
    level: Level::Core,
    required: true,
    description: "the checkpoint fetched at the end of the run is a consistent extension of the \
                  one fetched at its start (no fork), and its time did not decrease",
    check: consistency_over_time,
}];

fn checkpoint_signature(ctx: &mut Ctx) -> CheckResult {
    let d = ctx.discovery()?;
    let fetched = ctx.fetch_checkpoint(false)?;
    let ex = &fetched.exchange;
    let cp = match &fetched.verified {
        Ok(v) => v,
        Err(e) => {
            return fail_at(
                ex,
                format!("checkpoint not verified by an advertised key: {e}"),
            );
        }
    };
    let body = cp.checkpoint();
    if body.origin != d.origin {
        return fail_at(
            ex,
            format!("origin {:?}, discovery says {:?}", body.origin, d.origin),
        );
    }
    let now = DateTime::now().unix_seconds();
    if body.time as i64 > now + 60 {
        return fail_at(
            ex,
            format!(
                "time {} is {} s ahead of the reader",
                body.time,
                body.time as i64 - now
            ),
        );
    }
    Ok(ex.evidence(format!(
        "size {} signed by {}",
        body.tree_size,
        cp.signed_by().join(", ")
    )))
}

fn restricted_checkpoint(ctx: &mut Ctx) -> CheckResult {
    let d = ctx.discovery()?;
    let cp = ctx.fetch_checkpoint(true)?;
    let ex = &cp.exchange;
    let v = match &cp.verified {
        Ok(v) => v,
        Err(e) => return fail_at(ex, format!("not verified by an advertised key: {e}")),
    };
    let want = evfed_spec::checkpoint::restricted_origin(&d.origin);
    if v.checkpoint().origin != want {
        return fail_at(
            ex,
            format!("origin {:?}, expected {want:?}", v.checkpoint().origin),
        );
    }
    Ok(ex.evidence(format!("size {}", v.checkpoint().tree_size)))
}

/// Checks that every entry is bounded and canonical; the first offender fails.
pub fn canonical(log: &LogView) -> Result<String, String> {
    for (i, e) in log.entries.iter().enumerate() {
        if e.len() > MAX_ENTRY_BYTES {
            return Err(format!("entry {i} is {} bytes, above 256 KiB", e.len()));
        }
        if !jcs::is_canonical(e) {
            return Err(format!(
                "entry {i} is not in canonical form: {}",
                crate::http::excerpt(e)
            ));
        }
    }
    Ok(format!("{} entries canonical", log.entries.len()))
}

fn entries_canonical(ctx: &mut Ctx) -> CheckResult {
    let log = ctx.public_log()?;
    canonical(&log)
        .map(note)
        .map_err(|m| Stop::Fail(log_evidence(&log, m)))
}

/// Parses every entry under §6.3.
pub fn parse_all(log: &LogView) -> Result<String, String> {
    let mut opaque = 0;
    for (i, e) in log.entries.iter().enumerate() {
        match LogEntry::parse(e) {
            Ok(evfed_spec::entry::Parsed::Known(_)) => {}
            Ok(evfed_spec::entry::Parsed::Opaque { .. }) => opaque += 1,
            Err(err) => return Err(format!("entry {i}: {err}: {}", crate::http::excerpt(e))),
        }
    }
    Ok(format!(
        "{} entries parse ({opaque} of unknown type)",
        log.entries.len()
    ))
}

fn entries_parse(ctx: &mut Ctx) -> CheckResult {
    let log = ctx.public_log()?;
    parse_all(&log)
        .map(note)
        .map_err(|m| Stop::Fail(log_evidence(&log, m)))
}

/// The root the checkpoint claims: verified if it verified, else as written.
fn claimed_root(log: &LogView) -> Option<(u64, Hash)> {
    match (&log.checkpoint.verified, &log.checkpoint.claimed) {
        (Ok(v), _) => Some((v.checkpoint().tree_size, v.checkpoint().root)),
        (Err(_), Some(c)) => Some((c.tree_size, c.root)),
        _ => None,
    }
}

/// The entries reproduce the checkpoint's root.
pub fn root_matches(log: &LogView) -> Result<String, String> {
    let (size, root) = claimed_root(log).ok_or("no readable checkpoint")?;
    let got = merkle::root_of_entries(&log.entries);
    if got != root {
        return Err(format!(
            "the {size} entries hash to {got}, the checkpoint says {root}"
        ));
    }
    Ok(format!("{size} entries reproduce root {root}"))
}

fn entries_root(ctx: &mut Ctx) -> CheckResult {
    let log = ctx.public_log()?;
    root_matches(&log)
        .map(note)
        .map_err(|m| Stop::Fail(log_evidence(&log, m)))
}

fn entries_range(ctx: &mut Ctx) -> CheckResult {
    let log = ctx.public_log()?;
    let size = log.entries.len() as u64;
    let tree_size = ctx
        .get(&ctx.target_url("healthz")?)?
        .tree_size()
        .unwrap_or(size);
    let beyond = Ctx::log_url(
        &log.base,
        &format!("entries?start={}&end={}", tree_size + 5, tree_size + 10),
    )?;
    let ex = ctx.get(&beyond)?;
    if ex.status != 200 || !ex.body.is_empty() {
        return fail_at(&ex, "entries beyond the size must be an empty 200 body");
    }
    for q in [
        "entries?start=1&end=1",
        "entries?start=x&end=3",
        "entries?start=0",
    ] {
        let url = Ctx::log_url(&log.base, q)?;
        let ex = ctx.get(&url)?;
        problem(&ex, 400, "invalid-query")?;
    }
    Ok(note("empty beyond the size; bad bounds refused"))
}

fn proof(ctx: &mut Ctx, base: &Url, rest: &str, token: Option<&str>) -> Result<Vec<Hash>, Stop> {
    let url = Ctx::log_url(base, rest)?;
    let ex = ctx.send("GET", &url, token, &[])?;
    let body = super::json_200(&ex)?;
    let Some(hashes) = body["hashes"].as_array() else {
        return fail_at(&ex, "no `hashes` array");
    };
    let mut out = Vec::new();
    for h in hashes {
        match h.as_str().and_then(Hash::from_base64) {
            Some(h) => out.push(h),
            None => return fail_at(&ex, format!("{h} is not a base64 SHA-256 hash")),
        }
    }
    Ok(out)
}

/// Checks inclusion proofs of sampled entries of a log.
pub fn check_inclusion(ctx: &mut Ctx, log: &LogView, token: Option<&str>) -> CheckResult {
    let (size, root) =
        claimed_root(log).ok_or_else(|| Stop::Skip("no readable checkpoint".into()))?;
    if size == 0 {
        return Err(Stop::Skip("the log is empty".into()));
    }
    let mut idx = vec![0, size - 1];
    for _ in 0..ctx.limits.proof_samples {
        idx.push(ctx.rng.gen_range(0..size));
    }
    idx.sort_unstable();
    idx.dedup();
    for &i in &idx {
        let hashes = proof(
            ctx,
            &log.base,
            &format!("proof/inclusion?index={i}&tree_size={size}"),
            token,
        )?;
        let leaf = merkle::leaf_hash(&log.entries[i as usize]);
        if let Err(e) = merkle::verify_inclusion(&leaf, i, size, &hashes, &root) {
            return Err(Stop::Fail(log_evidence(
                log,
                format!("inclusion proof of entry {i} in size {size}: {e}"),
            )));
        }
    }
    Ok(note(format!(
        "{} inclusion proofs verify in size {size}",
        idx.len()
    )))
}

fn inclusion_proofs(ctx: &mut Ctx) -> CheckResult {
    let log = ctx.public_log()?;
    check_inclusion(ctx, &log, None)
}

fn consistency_proofs(ctx: &mut Ctx) -> CheckResult {
    let log = ctx.public_log()?;
    let (size, root) =
        claimed_root(&log).ok_or_else(|| Stop::Skip("no readable checkpoint".into()))?;
    if size == 0 {
        return Err(Stop::Skip("the log is empty".into()));
    }
    let tree = MemoryTree::from_entries(&log.entries);
    let mut firsts = vec![1, size];
    for _ in 0..ctx.limits.proof_samples / 2 {
        firsts.push(ctx.rng.gen_range(1..=size));
    }
    firsts.sort_unstable();
    firsts.dedup();
    for &m in &firsts {
        let hashes = proof(
            ctx,
            &log.base,
            &format!("proof/consistency?first={m}&second={size}"),
            None,
        )?;
        let first_root = tree
            .root_at(m)
            .map_err(|_| Stop::fail("cannot compute an earlier root"))?;
        if let Err(e) = merkle::verify_consistency(m, size, &first_root, &root, &hashes) {
            return Err(Stop::Fail(log_evidence(
                &log,
                format!("consistency proof {m} → {size}: {e}"),
            )));
        }
    }
    Ok(note(format!(
        "{} consistency proofs to size {size} verify",
        firsts.len()
    )))
}

fn consistency_over_time(ctx: &mut Ctx) -> CheckResult {
    let Some(start) = ctx.start_checkpoint.clone() else {
        return Err(Stop::Skip(
            "no checkpoint could be read at the start of the run".into(),
        ));
    };
    let end = ctx.fetch_checkpoint(false)?;
    let a = match &start.verified {
        Ok(v) => v.checkpoint().clone(),
        Err(e) => {
            return fail_at(
                &start.exchange,
                format!("the checkpoint read at the start does not verify: {e}"),
            );
        }
    };
    let b = match &end.verified {
        Ok(v) => v.checkpoint().clone(),
        Err(e) => {
            return fail_at(
                &end.exchange,
                format!("the checkpoint read at the end does not verify: {e}"),
            );
        }
    };
    let both = format!(
        "start: size {} root {}; end: size {} root {}",
        a.tree_size, a.root, b.tree_size, b.root
    );
    if b.tree_size < a.tree_size {
        return fail_at(&end.exchange, format!("the log shrank: {both}"));
    }
    if b.time < a.time {
        return fail_at(
            &end.exchange,
            format!("checkpoint time went back from {} to {}", a.time, b.time),
        );
    }
    if a.tree_size == b.tree_size {
        if a.root != b.root {
            return fail_at(
                &end.exchange,
                format!("fork: same size, different roots; {both}"),
            );
        }
        return Ok(end
            .exchange
            .evidence(format!("unchanged over the run; {both}")));
    }
    if a.tree_size == 0 {
        return Ok(end.exchange.evidence(format!("grew from empty; {both}")));
    }
    let base = ctx.endpoint("log", "v1/log")?;
    let hashes = proof(
        ctx,
        &base,
        &format!(
            "proof/consistency?first={}&second={}",
            a.tree_size, b.tree_size
        ),
        None,
    )?;
    match merkle::verify_consistency(a.tree_size, b.tree_size, &a.root, &b.root, &hashes) {
        Ok(()) => Ok(end.exchange.evidence(format!("consistent; {both}"))),
        Err(e) => fail_at(
            &end.exchange,
            format!("fork: no valid consistency proof ({e}); {both}"),
        ),
    }
}

/// Evidence naming a log's checkpoint request.
pub fn log_evidence(log: &LogView, message: String) -> crate::report::Evidence {
    let mut e = log.checkpoint.exchange.evidence(message);
    e.url = Some(format!("{} (and its entries)", e.url.unwrap_or_default()));
    e
}
