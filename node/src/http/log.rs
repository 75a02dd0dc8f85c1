//! The log endpoints of both logs (spec §10.6): checkpoint (signed note, verbatim), entries
//! (NDJSON of the exact stored bytes), inclusion and consistency proofs. The restricted log's
//! entries and proofs need `usage:read`; its checkpoint is open.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use evfed_spec::api::Proof;
use evfed_spec::merkle::{Hash, ProofRequestError, consistency_proof, inclusion_proof};
use evfed_spec::problem::Problem;

use super::pages::pairs;
use super::{ApiError, AppState, Caller, blocking};
use crate::store::{LogId, StoreError};

/// Most entries in one page.
pub const MAX_ENTRIES: u64 = 1000;
/// Most bytes in one page of entries (at least one entry is always sent).
pub const MAX_ENTRY_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Most seconds a reader may wait for a newer checkpoint (`?newer_than=N&wait=S`).
pub const MAX_WAIT_SECONDS: u64 = 60;
/// The wait when `newer_than` is given without `wait`.
const DEFAULT_WAIT_SECONDS: u64 = 30;

/// The latest signed checkpoint of the public log. With `newer_than=N`, answers as soon as a
/// checkpoint of more than `N` entries is signed, or after `wait` seconds (default 30, at most
/// 60) with the latest one: a follower learns of new entries at once instead of polling
/// (STANDARD.md §10.6). Every answer carries `Evfed-Checkpoint-Wait` (the longest wait
/// allowed), which tells a reader the node offers this.
#[utoipa::path(
    tag = "log",
    params(
        ("newer_than" = Option<u64>, Query, description = "Wait for a checkpoint of more entries than this"),
        ("wait" = Option<u64>, Query, minimum = 0, maximum = 60, description = "Longest wait in seconds (default 30, at most 60)"),
    ),
    responses(
        (status = 200, description = "C2SP signed note", content_type = "text/plain; charset=utf-8", body = String,
            headers(("Evfed-Checkpoint-Wait" = u64, description = "The longest wait this node allows, in seconds"))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/log/checkpoint")]
pub async fn checkpoint(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    note_when(&state, &req, LogId::Public).await
}

/// Public log entries `start ≤ i < end` as NDJSON, exactly the bytes hashed into the tree.
#[utoipa::path(
    tag = "log",
    params(("start" = u64, Query), ("end" = u64, Query)),
    responses(
        (status = 200, description = "One entry per line", content_type = "application/x-ndjson", body = String),
        (status = 400, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/log/entries")]
pub async fn entries(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    entries_of(state, &req, LogId::Public).await
}

/// Inclusion proof of entry `index` in the tree of size `tree_size`.
#[utoipa::path(
    tag = "log",
    params(("index" = u64, Query), ("tree_size" = u64, Query)),
    responses((status = 200, body = Proof), (status = 400, body = Problem, content_type = "application/problem+json"))
)]
#[get("/v1/log/proof/inclusion")]
pub async fn inclusion(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    inclusion_of(state, &req, LogId::Public).await
}

/// Consistency proof between tree sizes `first` and `second`.
#[utoipa::path(
    tag = "log",
    params(("first" = u64, Query), ("second" = u64, Query)),
    responses((status = 200, body = Proof), (status = 400, body = Problem, content_type = "application/problem+json"))
)]
#[get("/v1/log/proof/consistency")]
pub async fn consistency(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    consistency_of(state, &req, LogId::Public).await
}

/// The latest signed checkpoint of the restricted log (open: it reveals a count and a hash);
/// `newer_than` and `wait` as for the public log's.
#[utoipa::path(
    tag = "log",
    params(
        ("newer_than" = Option<u64>, Query, description = "Wait for a checkpoint of more entries than this"),
        ("wait" = Option<u64>, Query, minimum = 0, maximum = 60, description = "Longest wait in seconds (default 30, at most 60)"),
    ),
    responses(
        (status = 200, description = "C2SP signed note", content_type = "text/plain; charset=utf-8", body = String,
            headers(("Evfed-Checkpoint-Wait" = u64, description = "The longest wait this node allows, in seconds"))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/restricted/log/checkpoint")]
pub async fn restricted_checkpoint(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    note_when(&state, &req, LogId::Restricted).await
}

/// Restricted log entries; needs `usage:read`.
#[utoipa::path(
    tag = "log",
    params(("start" = u64, Query), ("end" = u64, Query)),
    responses(
        (status = 200, content_type = "application/x-ndjson", body = String),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["usage:read"]))
)]
#[get("/v1/restricted/log/entries")]
pub async fn restricted_entries(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require("usage:read")?;
    entries_of(state, &req, LogId::Restricted).await
}

/// Restricted log inclusion proof; needs `usage:read`.
#[utoipa::path(
    tag = "log",
    params(("index" = u64, Query), ("tree_size" = u64, Query)),
    responses((status = 200, body = Proof), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["usage:read"]))
)]
#[get("/v1/restricted/log/proof/inclusion")]
pub async fn restricted_inclusion(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require("usage:read")?;
    inclusion_of(state, &req, LogId::Restricted).await
}

/// Restricted log consistency proof; needs `usage:read`.
#[utoipa::path(
    tag = "log",
    params(("first" = u64, Query), ("second" = u64, Query)),
    responses((status = 200, body = Proof), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["usage:read"]))
)]
#[get("/v1/restricted/log/proof/consistency")]
pub async fn restricted_consistency(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require("usage:read")?;
    consistency_of(state, &req, LogId::Restricted).await
}

/// The checkpoint, once one of more than `newer_than` entries is signed (or the wait ends).
async fn note_when(
    state: &AppState,
    req: &HttpRequest,
    log: LogId,
) -> Result<HttpResponse, ApiError> {
    let pairs = pairs(req.query_string())?;
    let number = |name: &str| -> Result<Option<u64>, ApiError> {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| {
                v.parse()
                    .map_err(|_| ApiError::query(format!("{name} must be a whole number ≥ 0")))
            })
            .transpose()
    };
    let newer_than = number("newer_than")?;
    let wait = number("wait")?.unwrap_or(DEFAULT_WAIT_SECONDS);
    if wait > MAX_WAIT_SECONDS {
        return Err(ApiError::query(format!(
            "wait is at most {MAX_WAIT_SECONDS} seconds"
        )));
    }
    if let Some(n) = newer_than {
        let mut signed = state.signer.watch();
        let mut stopping = state.stopping.subscribe();
        // A timeout, or a node beginning to stop, answers with the latest checkpoint.
        tokio::select! {
            _ = tokio::time::timeout(
                std::time::Duration::from_secs(wait),
                signed.wait_for(|sizes| sizes[log as usize] > n),
            ) => {}
            _ = stopping.wait_for(|stopping| *stopping) => {}
        }
    }
    let mut res = note(state, log)?;
    res.headers_mut().insert(
        actix_web::http::header::HeaderName::from_static("evfed-checkpoint-wait"),
        actix_web::http::header::HeaderValue::from(MAX_WAIT_SECONDS),
    );
    Ok(res)
}

fn note(state: &AppState, log: LogId) -> Result<HttpResponse, ApiError> {
    let note = state.signer.note(log);
    if note.is_empty() {
        return Err(ApiError::unavailable("no checkpoint has been signed yet"));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .body(note.as_ref().clone()))
}

/// Two required whole-number parameters.
fn two(req: &HttpRequest, a: &str, b: &str) -> Result<(u64, u64), ApiError> {
    let pairs = pairs(req.query_string())?;
    let get = |name: &str| -> Result<u64, ApiError> {
        let v = pairs
            .iter()
            .find(|(k, _)| k == name)
            .ok_or_else(|| ApiError::query(format!("{name} is required")))?;
        v.1.parse()
            .map_err(|_| ApiError::query(format!("{name} must be a whole number ≥ 0")))
    };
    Ok((get(a)?, get(b)?))
}

async fn entries_of(
    state: web::Data<AppState>,
    req: &HttpRequest,
    log: LogId,
) -> Result<HttpResponse, ApiError> {
    let (start, end) = two(req, "start", "end")?;
    if start >= end {
        return Err(ApiError::query("start must be below end"));
    }
    let size = state.store.size(log);
    let end = end.min(size).min(start.saturating_add(MAX_ENTRIES));
    let st = state.clone();
    let rows = if start >= end {
        Vec::new()
    } else {
        blocking(move || {
            Ok(st
                .store
                .read(|r| r.entries(log, start, end, MAX_ENTRY_PAGE_BYTES))?)
        })
        .await?
    };
    let mut body = Vec::with_capacity(rows.iter().map(|r| r.len() + 1).sum());
    for r in rows {
        body.extend_from_slice(&r);
        body.push(b'\n');
    }
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .body(body))
}

async fn inclusion_of(
    state: web::Data<AppState>,
    req: &HttpRequest,
    log: LogId,
) -> Result<HttpResponse, ApiError> {
    let (index, tree_size) = two(req, "index", "tree_size")?;
    let size = state.store.size(log);
    if index >= tree_size || tree_size > size {
        return Err(ApiError::query(format!(
            "need 0 ≤ index < tree_size ≤ {size}"
        )));
    }
    let st = state.clone();
    let hashes = blocking(move || {
        st.store
            .read(|r| inclusion_proof(&r.tree(log), index, tree_size).map_err(proof_error))
    })
    .await?;
    proof_response(&hashes)
}

async fn consistency_of(
    state: web::Data<AppState>,
    req: &HttpRequest,
    log: LogId,
) -> Result<HttpResponse, ApiError> {
    let (first, second) = two(req, "first", "second")?;
    let size = state.store.size(log);
    if first == 0 || first > second || second > size {
        return Err(ApiError::query(format!("need 1 ≤ first ≤ second ≤ {size}")));
    }
    let st = state.clone();
    let hashes = blocking(move || {
        st.store
            .read(|r| consistency_proof(&r.tree(log), first, second).map_err(proof_error))
    })
    .await?;
    proof_response(&hashes)
}

fn proof_error(e: ProofRequestError<StoreError>) -> ApiError {
    match e {
        ProofRequestError::Store(e) => e.into(),
        other => ApiError::query(other.to_string()),
    }
}

fn proof_response(hashes: &[Hash]) -> Result<HttpResponse, ApiError> {
    let proof = Proof {
        hashes: hashes.iter().map(Hash::to_base64).collect(),
    };
    let body = serde_json::to_vec(&proof).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::build(StatusCode::OK)
        .content_type("application/json")
        .body(body))
}
