//! Access control (§14) and the restricted data a `usage:read` token reads (§7, §10.5, §10.6).

use evfed_spec::usage::UsageRecord;

use super::replay::{self, State};
use super::{fail_at, problem};
use crate::case::{Case, CheckResult, Level, Stop, note};
use crate::ctx::Ctx;

pub const CASES: &[Case] = &[
    Case {
        id: "access.unauthenticated",
        section: "§14.2",
        level: Level::Usage,
        required: true,
        description: "restricted routes (sessions, restricted entries and proofs) answer 401 \
                      unauthorized with WWW-Authenticate: Bearer without a token, and with \
                      error=\"invalid_token\" for an invalid one",
        check: unauthenticated,
    },
    Case {
        id: "access.wrong-scope",
        section: "§14.3",
        level: Level::Usage,
        required: false,
        description: "a valid token without usage:read gets 403 forbidden with \
                      error=\"insufficient_scope\" on restricted routes (runs with \
                      --wrong-scope-token, or a --token that lacks usage:read)",
        check: wrong_scope,
    },
    Case {
        id: "access.open-with-token",
        section: "§14.1",
        level: Level::Usage,
        required: true,
        description: "a token sent to an open route, even an invalid one, causes no error",
        check: open_with_token,
    },
    Case {
        id: "access.restricted-log",
        section: "§10.6",
        level: Level::Usage,
        required: true,
        description: "with usage:read, the restricted log's entries are canonical, parse, \
                      reproduce its checkpoint's root, and its inclusion proofs verify",
        check: restricted_log,
    },
    Case {
        id: "access.sessions",
        section: "§10.5",
        level: Level::Usage,
        required: true,
        description: "with usage:read, GET /v1/sessions serves valid usage records equal to the \
                      replay of the restricted log's session entries",
        check: sessions,
    },
];

const INVALID_TOKEN: &str = "evfed-conformance.invalid.token";

fn restricted_urls(ctx: &mut Ctx) -> Result<Vec<url::Url>, Stop> {
    let base = ctx.endpoint("restricted_log", "v1/restricted/log")?;
    Ok(vec![
        ctx.endpoint("sessions", "v1/sessions")?,
        Ctx::log_url(&base, "entries?start=0&end=1")?,
        Ctx::log_url(&base, "proof/inclusion?index=0&tree_size=1")?,
        Ctx::log_url(&base, "proof/consistency?first=1&second=1")?,
    ])
}

fn unauthenticated(ctx: &mut Ctx) -> CheckResult {
    let urls = restricted_urls(ctx)?;
    for u in &urls {
        let ex = ctx.get(u)?;
        problem(&ex, 401, "unauthorized")?;
        if !ex
            .header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer"))
        {
            return fail_at(&ex, "401 without WWW-Authenticate: Bearer");
        }
        let ex = ctx.send("GET", u, Some(INVALID_TOKEN), &[])?;
        problem(&ex, 401, "unauthorized")?;
        if !ex
            .header("www-authenticate")
            .is_some_and(|h| h.contains("invalid_token"))
        {
            return fail_at(&ex, "401 for a sent token without error=\"invalid_token\"");
        }
    }
    Ok(note(format!(
        "{} restricted routes refuse missing and invalid tokens",
        urls.len()
    )))
}

fn wrong_scope(ctx: &mut Ctx) -> CheckResult {
    let Some(token) = ctx.wrong_scope_token.clone() else {
        return Err(Stop::Skip(
            "needs a valid token without usage:read, e.g. data:write (--wrong-scope-token)".into(),
        ));
    };
    if crate::ctx::unverified_scopes(&token).is_none_or(|s| s.iter().any(|x| x == "usage:read")) {
        return Err(Stop::Skip(
            "the --wrong-scope-token given has usage:read (or no readable scope claim); pass a \
             data:write token to test 403"
                .into(),
        ));
    }
    let urls = restricted_urls(ctx)?;
    for u in &urls {
        let ex = ctx.send("GET", u, Some(&token), &[])?;
        problem(&ex, 403, "forbidden")?;
        if !ex
            .header("www-authenticate")
            .is_some_and(|h| h.contains("insufficient_scope"))
        {
            return fail_at(&ex, "403 without error=\"insufficient_scope\"");
        }
    }
    Ok(note(format!(
        "{} restricted routes refuse a token without usage:read",
        urls.len()
    )))
}

fn open_with_token(ctx: &mut Ctx) -> CheckResult {
    let mut urls = vec![ctx.target_url(".well-known/evfed")?];
    urls.push(ctx.endpoint("locations", "v1/locations")?);
    let log = ctx.endpoint("log", "v1/log")?;
    urls.push(Ctx::log_url(&log, "checkpoint")?);
    let (token, other) = (ctx.token.clone(), ctx.wrong_scope_token.clone());
    for u in &urls {
        for t in [Some(INVALID_TOKEN), token.as_deref(), other.as_deref()]
            .into_iter()
            .flatten()
        {
            let ex = ctx.send("GET", u, Some(t), &[])?;
            if ex.status != 200 {
                return fail_at(
                    &ex,
                    format!(
                        "an open route answered {} to a request with a token",
                        ex.status
                    ),
                );
            }
        }
    }
    Ok(note(format!("{} open routes ignore tokens", urls.len())))
}

fn restricted_log(ctx: &mut Ctx) -> CheckResult {
    let log = ctx.restricted_log()?;
    let fail = |m: String| Stop::Fail(super::log::log_evidence(&log, m));
    if let Err(e) = &log.checkpoint.verified {
        return Err(fail(format!("restricted checkpoint not verified: {e}")));
    }
    super::log::canonical(&log).map_err(fail)?;
    super::log::parse_all(&log).map_err(fail)?;
    let msg = super::log::root_matches(&log).map_err(fail)?;
    let token = ctx.token.clone();
    match super::log::check_inclusion(ctx, &log, token.as_deref()) {
        Ok(_) | Err(Stop::Skip(_)) => Ok(note(msg)),
        Err(e) => Err(e),
    }
}

fn sessions(ctx: &mut Ctx) -> CheckResult {
    let listing = ctx.listing("sessions")?;
    for v in &listing.items {
        if let Err(e) = serde_json::from_value::<UsageRecord>(v.clone()) {
            return Err(Stop::fail(format!("usage record {v}: {e}")));
        }
    }
    // The list may hold sessions written after the restricted checkpoint: replay the log as it
    // stands now, read after the list.
    let log = ctx.restricted_log()?;
    let token = ctx.token.clone();
    let mut entries = log.entries.clone();
    entries.extend(ctx.fetch_tail(&log.base, entries.len() as u64, token.as_deref())?);
    let state = State::replay(&entries);
    match replay::compare("session", &state.sessions, &listing.items) {
        Ok(n) => Ok(crate::report::Evidence {
            method: Some("GET".into()),
            url: Some(listing.first_url.to_string()),
            status: Some(200),
            excerpt: None,
            message: format!("{n} sessions equal the restricted log's replay"),
        }),
        Err(m) => Err(Stop::Fail(crate::report::Evidence {
            method: Some("GET".into()),
            url: Some(listing.first_url.to_string()),
            status: Some(200),
            excerpt: None,
            message: m,
        })),
    }
}
