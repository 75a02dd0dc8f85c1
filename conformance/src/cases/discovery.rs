//! The discovery document (§3.4), its keys (§3.2) and origin (§3.1).

use evfed_spec::note::VerifierKey;
use serde_json::Value;

use super::{fail_at, json_200};
use crate::case::{Case, CheckResult, Level, Stop};
use crate::ctx::Ctx;

pub const CASES: &[Case] = &[
    Case {
        id: "discovery.document",
        section: "§3.4",
        level: Level::Core,
        required: true,
        description: "GET /.well-known/evfed answers 200 application/json with spec_version \"1\", \
                      origin, vkeys, kind, borough, parties and every required endpoint",
        check: document,
    },
    Case {
        id: "discovery.keys",
        section: "§3.2",
        level: Level::Core,
        required: true,
        description: "every advertised verifier key parses (id matches name and key) and is named \
                      after the origin",
        check: keys,
    },
    Case {
        id: "discovery.origin",
        section: "§3.1",
        level: Level::Core,
        required: true,
        description: "the origin is 1-244 bytes with no white space, control characters or `+`",
        check: origin,
    },
];

const REQUIRED_ENDPOINTS: [&str; 7] = [
    "locations",
    "tariffs",
    "status",
    "log",
    "restricted_log",
    "ocpi_versions",
    "openapi",
];

fn document(ctx: &mut Ctx) -> CheckResult {
    let url = ctx.target_url(".well-known/evfed")?;
    let ex = ctx.get(&url)?;
    let doc = json_200(&ex)?;
    if ex.media_type() != "application/json" {
        return fail_at(&ex, "media type is not application/json");
    }
    let s = |k: &str| doc.get(k).and_then(Value::as_str);
    if s("spec_version") != Some("1") {
        return fail_at(&ex, "`spec_version` is not \"1\"");
    }
    if s("origin").is_none() {
        return fail_at(&ex, "no string `origin`");
    }
    match doc.get("vkeys").and_then(Value::as_array) {
        Some(a) if !a.is_empty() && a.iter().all(Value::is_string) => {}
        _ => return fail_at(&ex, "`vkeys` is not a non-empty array of strings"),
    }
    let kind = s("kind").unwrap_or("");
    if !["borough", "cpo", "aggregator"].contains(&kind) {
        return fail_at(
            &ex,
            format!("`kind` {kind:?} is not borough, cpo or aggregator"),
        );
    }
    match (kind, doc.get("borough")) {
        ("borough", Some(Value::String(b))) if area_code(b) => {}
        ("borough", other) => {
            return fail_at(
                &ex,
                format!(
                    "a borough node names its authority's area code in `borough` (§4.4; a \
                     London borough's GSS code), got {other:?}"
                ),
            );
        }
        (_, Some(Value::Null)) | (_, None) => {}
        (_, Some(other)) => {
            return fail_at(
                &ex,
                format!("`borough` must be null for kind {kind}, got {other}"),
            );
        }
    }
    match doc.get("parties").and_then(Value::as_array) {
        Some(a) => {
            for p in a {
                if !p.as_str().is_some_and(canonical_party) {
                    return fail_at(&ex, format!("party {p} is not a canonical CC*PID"));
                }
            }
        }
        None => return fail_at(&ex, "no `parties` array"),
    }
    let Some(endpoints) = doc.get("endpoints").and_then(Value::as_object) else {
        return fail_at(&ex, "no `endpoints` object");
    };
    for name in REQUIRED_ENDPOINTS {
        let Some(v) = endpoints.get(name).and_then(Value::as_str) else {
            return fail_at(&ex, format!("endpoint `{name}` missing"));
        };
        if let Err(e) = url.join(v) {
            return fail_at(
                &ex,
                format!("endpoint `{name}` {v:?} does not resolve: {e}"),
            );
        }
    }
    Ok(ex.evidence(format!("kind {kind}, {} endpoints", endpoints.len())))
}

fn keys(ctx: &mut Ctx) -> CheckResult {
    let url = ctx.target_url(".well-known/evfed")?;
    let ex = ctx.get(&url)?;
    let doc = json_200(&ex)?;
    let origin = doc["origin"].as_str().unwrap_or("");
    let vkeys = doc["vkeys"].as_array().cloned().unwrap_or_default();
    if vkeys.is_empty() {
        return fail_at(&ex, "no verifier key");
    }
    for k in &vkeys {
        let text = k.as_str().unwrap_or("");
        if text.starts_with("PRIVATE+KEY+") {
            return fail_at(&ex, "a private key is served");
        }
        let key: VerifierKey = match text.parse() {
            Ok(k) => k,
            Err(e) => return fail_at(&ex, format!("verifier key {text:?}: {e}")),
        };
        if key.name() != origin {
            return fail_at(
                &ex,
                format!("key {text:?} is named {:?}, not the origin", key.name()),
            );
        }
    }
    Ok(ex.evidence(format!(
        "{} key(s) parse and are named {origin}",
        vkeys.len()
    )))
}

fn origin(ctx: &mut Ctx) -> CheckResult {
    let d = ctx.discovery()?;
    let o = &d.origin;
    let bad = o.is_empty()
        || o.len() > 244
        || o.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+');
    if bad {
        return Err(Stop::fail(format!("origin {o:?} breaks §3.1")));
    }
    Ok(crate::case::note(format!("origin {o:?}")))
}

/// An area code (§4.4): every GSS code is one, and so are other cities' codes such as
/// `GM0344`.
pub fn area_code(s: &str) -> bool {
    s.parse::<evfed_spec::ext::GssCode>().is_ok()
}

fn canonical_party(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() == 6
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2] == b'*'
        && b[3..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}
