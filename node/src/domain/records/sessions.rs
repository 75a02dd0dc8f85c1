//! Usage records (`POST /v1/sessions`, and what a pull or an OCPI push rebuilds from sessions
//! and CDRs): each checked against the writer's party and the clock, and stored with its
//! `session` entry in the restricted log unless it equals the stored one.

use evfed_spec::api::BatchResult;
use evfed_spec::entry::{EntryData, LogEntry};
use evfed_spec::ids::Party;
use evfed_spec::time::DateTime;
use evfed_spec::usage::UsageRecord;

use super::{CLOCK_SKEW_MS, Error, Policy, check_batch, encode, entry_bytes, parse};
use crate::store::{LogId, Store, Tx};

/// `POST /v1/sessions`: a batch of usage records, all or nothing (spec §10.4).
pub fn post_sessions(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    body: &[u8],
    now: DateTime,
) -> Result<BatchResult, Error> {
    let records: Vec<UsageRecord> = parse(body)?;
    check_batch(records.len())?;
    for (i, r) in records.iter().enumerate() {
        check_usage(policy, caller, r, &now).map_err(|e| match e {
            Error::InvalidField(m) => Error::InvalidField(format!("[{i}]: {m}")),
            other => other,
        })?;
    }
    store.write(|tx| {
        let mut appended = 0;
        for r in &records {
            appended += append_usage(tx, r, &now)?;
        }
        Ok(BatchResult {
            received: records.len() as u64,
            appended,
        })
    })
}

/// Whether `caller` may write the usage record `r` now: its party, and no time in the future.
pub(crate) fn check_usage(
    policy: &Policy,
    caller: &Party,
    r: &UsageRecord,
    now: &DateTime,
) -> Result<(), Error> {
    policy.authorize(caller, &r.party())?;
    let limit = now.unix_millis() + CLOCK_SKEW_MS;
    let future = r.start_date_time.unix_millis() > limit
        || r.end_date_time
            .as_ref()
            .is_some_and(|e| e.unix_millis() > limit);
    if future {
        return Err(Error::InvalidField(
            "session times may not lie in the future".into(),
        ));
    }
    Ok(())
}

/// Stores a checked usage record with its `session` entry in the restricted log, unless it
/// equals the stored one (no churn). Returns the entries appended.
pub(crate) fn append_usage(tx: &mut Tx<'_>, r: &UsageRecord, now: &DateTime) -> Result<u64, Error> {
    let party = r.party().to_string();
    let body = encode(r)?;
    if tx.session(&party, r.id.as_str())?.as_deref() == Some(&body[..]) {
        return Ok(0);
    }
    tx.put_session(
        &party,
        r.id.as_str(),
        r.start_date_time.unix_millis(),
        &body,
    )?;
    let entry = LogEntry {
        recorded_at: *now,
        data: EntryData::Session(r.clone()),
    };
    tx.append(LogId::Restricted, &entry_bytes(&entry)?)?;
    Ok(1)
}
