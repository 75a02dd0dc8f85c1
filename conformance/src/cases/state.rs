//! Current state equals the replay of the log (§6.4), and the time rules the log makes
//! checkable (§12.1, §12.2).

use serde_json::Value;

use super::key_of;
use super::replay::{self, State};
use crate::case::{Case, CheckResult, Level, Stop, note};
use crate::ctx::{Ctx, Listing};

pub const CASES: &[Case] = &[
    Case {
        id: "state.locations",
        section: "§6.4",
        level: Level::Core,
        required: true,
        description: "GET /v1/locations serves exactly the Locations a replay of the public log \
                      gives, at the tree size the responses carry",
        check: locations,
    },
    Case {
        id: "state.tariffs",
        section: "§6.4",
        level: Level::Core,
        required: true,
        description: "GET /v1/tariffs serves exactly the Tariffs a replay of the public log gives",
        check: tariffs,
    },
    Case {
        id: "state.status",
        section: "§6.4",
        level: Level::Core,
        required: true,
        description: "GET /v1/status serves one status per published EVSE, equal to the replay of \
                      the public log; for a node announcing standard 1.1, each event_time too \
                      (§10.5)",
        check: status,
    },
    Case {
        id: "time.not-future",
        section: "§12.2",
        level: Level::Core,
        required: true,
        description: "no served last_updated or event_time lies more than 60 s ahead of the \
                      reader's clock",
        check: not_future,
    },
    Case {
        id: "time.no-bump-without-change",
        section: "§12.2",
        level: Level::Core,
        required: true,
        description: "no `location` entry equals the Location it replaces except for last_updated \
                      values (a write that changes nothing appends nothing)",
        check: no_bump,
    },
    Case {
        id: "time.format",
        section: "§12.1",
        level: Level::Core,
        required: true,
        description: "served DateTimes are RFC 3339 UTC with `Z` and a fraction of 0, 3, 6 or 9 \
                      digits",
        check: format,
    },
];

/// A list and the replay of the public log at the tree size its pages carried. Reads again
/// (within [`crate::ctx::STABLE_READS`]) while the log grows under the read.
pub fn aligned(ctx: &mut Ctx, name: &str) -> Result<(std::rc::Rc<Listing>, State, u64), Stop> {
    let mut reads = crate::ctx::StableReads::new();
    for attempt in 0.. {
        if !reads.another(attempt) {
            break;
        }
        reads.mark(ctx.seen.len());
        let listing = if attempt == 0 {
            ctx.listing(name)?
        } else {
            std::rc::Rc::new(ctx.fetch_listing(name, "", None)?)
        };
        let Some(&n) = listing.tree_sizes.first() else {
            return Err(Stop::fail(format!(
                "the {name} list carries no Evfed-Tree-Size header (§10.1)"
            )));
        };
        if listing.tree_sizes.iter().any(|&s| s != n) {
            continue;
        }
        let entries = entries_upto(ctx, n)?;
        return Ok((listing, State::replay(&entries), n));
    }
    Err(reads.skip(ctx, &format!("the {name} list")))
}

/// Public entries `0..n`: the cached ones, and the tail beyond the checkpoint when needed.
pub fn entries_upto(ctx: &mut Ctx, n: u64) -> Result<Vec<Vec<u8>>, Stop> {
    let log = ctx.public_log()?;
    let have = log.entries.len() as u64;
    if n <= have {
        return Ok(log.entries[..n as usize].to_vec());
    }
    let mut all = log.entries.clone();
    all.extend(ctx.fetch_entries(&log.base, have, n, None)?);
    Ok(all)
}

fn evidence_of(listing: &Listing, message: String) -> crate::report::Evidence {
    crate::report::Evidence {
        method: Some("GET".into()),
        url: Some(listing.first_url.to_string()),
        status: Some(200),
        excerpt: None,
        message,
    }
}

fn locations(ctx: &mut Ctx) -> CheckResult {
    let (listing, state, n) = aligned(ctx, "locations")?;
    match replay::compare("location", &state.locations, &listing.items) {
        Ok(k) => Ok(evidence_of(
            &listing,
            format!("{k} Locations equal the replay of {n} entries"),
        )),
        Err(m) => Err(Stop::Fail(evidence_of(
            &listing,
            format!("at tree size {n}: {m}"),
        ))),
    }
}

fn tariffs(ctx: &mut Ctx) -> CheckResult {
    let (listing, state, n) = aligned(ctx, "tariffs")?;
    match replay::compare("tariff", &state.tariffs, &listing.items) {
        Ok(k) => Ok(evidence_of(
            &listing,
            format!("{k} Tariffs equal the replay of {n} entries"),
        )),
        Err(m) => Err(Stop::Fail(evidence_of(
            &listing,
            format!("at tree size {n}: {m}"),
        ))),
    }
}

/// How `compare_status` treats `event_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventTimes {
    /// Each must equal the replay's (§10.5, standard 1.1).
    Check,
    /// Counted and reported, never failed (a node that does not announce 1.1).
    Report,
    /// Not looked at.
    Ignore,
}

/// Compares `GET /v1/status` with the replayed statuses (and event times, per `times`).
pub fn compare_status(listing: &Listing, state: &State, n: u64, times: EventTimes) -> CheckResult {
    let served = replay::served_statuses(&listing.items);
    if served.len() != listing.items.len() {
        return Err(Stop::Fail(evidence_of(
            listing,
            "an EVSE is listed twice".into(),
        )));
    }
    let want = state.statuses();
    for (k, s) in &want {
        match served.get(k) {
            None => {
                return Err(Stop::Fail(evidence_of(
                    listing,
                    format!("at tree size {n}: EVSE {k:?} is in the log but has no status"),
                )));
            }
            Some(got) if got != s => {
                return Err(Stop::Fail(evidence_of(
                    listing,
                    format!("at tree size {n}: EVSE {k:?} is {got} but the log says {s}"),
                )));
            }
            _ => {}
        }
    }
    if let Some(k) = served.keys().find(|k| !want.contains_key(*k)) {
        return Err(Stop::Fail(evidence_of(
            listing,
            format!("at tree size {n}: EVSE {k:?} has a status but is not in the log"),
        )));
    }
    let mut msg = format!(
        "{} EVSE statuses equal the replay of {n} entries",
        want.len()
    );
    if times == EventTimes::Ignore {
        return Ok(evidence_of(listing, msg));
    }
    let served_times = replay::served_status_times(&listing.items);
    let mut differ = Vec::new();
    for (k, t) in &state.status_times {
        if let Some(got) = served_times.get(k)
            && !replay::same_instant(got, t)
        {
            differ.push(format!(
                "EVSE {k:?} has event_time {got} but the log gives {t}"
            ));
        }
    }
    match (times, differ.first()) {
        (_, None) => msg.push_str(", event_time included"),
        (EventTimes::Check, Some(first)) => {
            return Err(Stop::Fail(evidence_of(
                listing,
                format!(
                    "at tree size {n}: {first} (§10.5; {} of {} differ)",
                    differ.len(),
                    state.status_times.len()
                ),
            )));
        }
        (_, Some(first)) => msg.push_str(&format!(
            "; event_time not judged, as the node does not announce standard 1.1 (§3.4), but \
             {} of {} differ from the replay, e.g. {first}",
            differ.len(),
            state.status_times.len()
        )),
    }
    Ok(evidence_of(listing, msg))
}

fn status(ctx: &mut Ctx) -> CheckResult {
    let strict = ctx.discovery()?.announces(1, 1);
    let (listing, state, n) = aligned(ctx, "status")?;
    let times = if strict {
        EventTimes::Check
    } else {
        EventTimes::Report
    };
    compare_status(&listing, &state, n, times)
}

const TIME_FIELDS: [&str; 4] = [
    "last_updated",
    "event_time",
    "start_date_time",
    "end_date_time",
];

/// Every DateTime member named in `TIME_FIELDS`, at any depth, with its path.
fn times<'a>(v: &'a Value, path: String, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if TIME_FIELDS.contains(&k.as_str()) {
                    out.push((format!("{path}.{k}"), x));
                } else {
                    times(x, format!("{path}.{k}"), out);
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                times(x, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn served(ctx: &mut Ctx) -> Result<Vec<(String, std::rc::Rc<Listing>)>, Stop> {
    let mut out = Vec::new();
    for name in ["locations", "tariffs", "status"] {
        out.push((name.to_owned(), ctx.listing(name)?));
    }
    Ok(out)
}

fn not_future(ctx: &mut Ctx) -> CheckResult {
    let limit = evfed_spec::DateTime::now().unix_seconds() + 60;
    let mut n = 0;
    for (name, listing) in served(ctx)? {
        for item in &listing.items {
            let mut ts = Vec::new();
            times(item, String::new(), &mut ts);
            for (path, v) in ts {
                let Some(t) = v
                    .as_str()
                    .and_then(|s| s.parse::<evfed_spec::DateTime>().ok())
                else {
                    continue;
                };
                n += 1;
                if t.unix_seconds() > limit {
                    return Err(Stop::Fail(evidence_of(
                        &listing,
                        format!("{name} {:?}{path} = {v} is in the future", key_of(item)),
                    )));
                }
            }
        }
    }
    Ok(note(format!("{n} served times checked")))
}

fn no_bump(ctx: &mut Ctx) -> CheckResult {
    let log = ctx.public_log()?;
    let state = State::replay(&log.entries);
    if let Some((i, key)) = state.bumps.first() {
        return Err(Stop::Fail(super::log::log_evidence(
            &log,
            format!(
                "entry {i} re-publishes Location {key:?} with only last_updated changed ({} such entries)",
                state.bumps.len()
            ),
        )));
    }
    Ok(note(format!(
        "{} entries without a bare last_updated bump",
        log.entries.len()
    )))
}

/// RFC 3339 in UTC with `Z`, fraction of 0, 3, 6 or 9 digits (§12.1).
pub fn good_time(s: &str) -> bool {
    let Some(body) = s.strip_suffix('Z') else {
        return false;
    };
    let (main, frac) = match body.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (body, None),
    };
    let b = main.as_bytes();
    let shape = b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    shape
        && frac
            .is_none_or(|f| [3, 6, 9].contains(&f.len()) && f.bytes().all(|c| c.is_ascii_digit()))
        && s.parse::<evfed_spec::DateTime>().is_ok()
}

fn format(ctx: &mut Ctx) -> CheckResult {
    let mut n = 0;
    for (name, listing) in served(ctx)? {
        for item in &listing.items {
            let mut ts = Vec::new();
            times(item, String::new(), &mut ts);
            for (path, v) in ts {
                n += 1;
                if !v.as_str().is_some_and(good_time) {
                    return Err(Stop::Fail(evidence_of(
                        &listing,
                        format!(
                            "{name} {:?}{path} = {v} is not an RFC 3339 UTC DateTime",
                            key_of(item)
                        ),
                    )));
                }
            }
        }
    }
    Ok(note(format!("{n} served times well formed")))
}

#[cfg(test)]
mod tests {
    use super::good_time;

    #[test]
    fn datetimes_are_utc_with_z_and_3_6_or_9_fraction_digits() {
        for ok in [
            "2026-11-22T10:15:00Z",
            "2026-11-22T10:15:00.123Z",
            "2026-11-22T10:15:00.123456789Z",
        ] {
            assert!(good_time(ok), "{ok}");
        }
        for bad in [
            "2026-11-22T10:15:00",
            "2026-11-22T10:15:00+00:00",
            "2026-11-22T10:15:00.1Z",
            "2026-11-22 10:15:00Z",
            "2026-13-22T10:15:00Z",
        ] {
            assert!(!good_time(bad), "{bad}");
        }
    }
}
