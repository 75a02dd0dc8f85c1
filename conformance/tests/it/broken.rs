//! Broken servers: a real node behind the test proxy, its traffic rewritten per scenario. Each
//! must fail the case named for its fault while unrelated cases still pass; one node serves
//! every scenario.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use evfed_conformance::{KnownEntry, KnownList, Level, Outcome, RunConfig, Verdict};
use serde_json::Value;

use crate::failures;
use crate::proxy::{Mutation, Proxy, Req, Resp};
use crate::support::Node;

struct Scenario {
    name: &'static str,
    level: Level,
    mutation: Mutation,
    /// The case that must fail.
    fails: &'static str,
    /// Cases the fault does not touch, which must still pass.
    still_pass: &'static [&'static str],
}

fn run(url: &str, level: Level, known: KnownList) -> evfed_conformance::Report {
    let mut c = RunConfig::new(url.parse().unwrap());
    c.level = level;
    c.known = known;
    c.seed = Some(3);
    c.observe = Duration::from_secs(1);
    evfed_conformance::run(&c)
}

fn replace(body: &[u8], from: &str, to: &str) -> Vec<u8> {
    String::from_utf8_lossy(body).replace(from, to).into_bytes()
}

/// Compact JSON with every object's members in reverse order: the same value, other bytes.
fn reordered(v: &Value) -> String {
    match v {
        Value::Object(o) => {
            let members: Vec<String> = o
                .iter()
                .rev()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), reordered(v)))
                .collect();
            format!("{{{}}}", members.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(reordered).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// `date_to=t` becomes `date_to=t+1s`: an inclusive upper bound.
fn inclusive_date_to(req: &mut Req) {
    let Some((path, query)) = req.target.split_once('?') else {
        return;
    };
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| {
            if k == "date_to"
                && let Ok(t) = chrono::DateTime::parse_from_rfc3339(&v)
            {
                let later = t + chrono::Duration::seconds(1);
                return (
                    k.into_owned(),
                    later.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                );
            }
            (k.into_owned(), v.into_owned())
        })
        .collect();
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    req.target = format!("{path}?{q}");
}

/// Every `offset=N` in a Link header becomes `offset=N+1`.
fn skip_one_in_link(_: &Req, resp: &mut Resp) {
    let Some(link) = resp.header("link").map(str::to_owned) else {
        return;
    };
    let Some(at) = link.find("offset=") else {
        return;
    };
    let digits: String = link[at + 7..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let n: u64 = digits.parse().unwrap_or(0);
    let fixed = format!(
        "{}offset={}{}",
        &link[..at],
        n + 1,
        &link[at + 7 + digits.len()..]
    );
    resp.set_header("link", &fixed);
}

/// Flips a bit of the signature on every checkpoint.
fn bad_signature(req: &Req, resp: &mut Resp) {
    if !req.path().ends_with("/log/checkpoint") {
        return;
    }
    let text = String::from_utf8(resp.body.clone()).unwrap();
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("— ") {
            let (name, sig) = rest.trim_end().rsplit_once(' ').unwrap();
            let mut bytes = B64.decode(sig).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            out.push_str(&format!("— {name} {}\n", B64.encode(bytes)));
        } else {
            out.push_str(line);
        }
    }
    resp.body = out.into_bytes();
}

fn scenarios(node: &Node) -> Vec<Scenario> {
    let usage = node.token(None, "usage:read");
    let key = node.signing_key();
    let forged_once = AtomicBool::new(false);
    vec![
        Scenario {
            name: "EVSE statuses outside OCPI's enumeration (WORKING, FAULTED)",
            level: Level::Core,
            mutation: Mutation::on_response(|req, resp| {
                let p = req.path();
                if p.starts_with("/v1/locations")
                    || p.starts_with("/v1/status")
                    || p.starts_with("/ocpi/2.2.1/locations")
                {
                    resp.body = replace(
                        &replace(&resp.body, "\"AVAILABLE\"", "\"WORKING\""),
                        "\"OUTOFORDER\"",
                        "\"FAULTED\"",
                    );
                }
            }),
            fails: "model.evse-status-enum",
            still_pass: &[
                "discovery.document",
                "log.entries-root",
                "log.checkpoint-signature",
            ],
        },
        Scenario {
            name: "a Link header that skips an object",
            level: Level::Core,
            mutation: Mutation::on_response(skip_one_in_link),
            fails: "pagination.link",
            still_pass: &[
                "pagination.no-gaps",
                "pagination.total-count",
                "state.locations",
            ],
        },
        Scenario {
            name: "date_to treated as inclusive",
            level: Level::Core,
            mutation: Mutation::on_request(inclusive_date_to),
            fails: "dates.window",
            still_pass: &["pagination.no-gaps", "filters.party", "state.locations"],
        },
        Scenario {
            name: "entries re-encoded (members reordered) after signing",
            level: Level::Core,
            mutation: Mutation::on_response(|req, resp| {
                if req.path().ends_with("/log/entries") && resp.status == 200 {
                    let text = String::from_utf8(resp.body.clone()).unwrap();
                    resp.body = text
                        .lines()
                        .map(|l| reordered(&serde_json::from_str(l).unwrap()) + "\n")
                        .collect::<String>()
                        .into_bytes();
                }
            }),
            fails: "log.entries-canonical",
            still_pass: &[
                "log.checkpoint-signature",
                "state.locations",
                "log.consistency-over-time",
            ],
        },
        Scenario {
            name: "entries served pretty-printed",
            level: Level::Core,
            mutation: Mutation::on_response(|req, resp| {
                if req.path().ends_with("/log/entries") && resp.status == 200 {
                    let text = String::from_utf8(resp.body.clone()).unwrap();
                    resp.body = text
                        .lines()
                        .map(|l| {
                            let v: Value = serde_json::from_str(l).unwrap();
                            serde_json::to_string_pretty(&v).unwrap() + "\n"
                        })
                        .collect::<String>()
                        .into_bytes();
                }
            }),
            fails: "log.entries-canonical",
            still_pass: &[
                "discovery.document",
                "pagination.no-gaps",
                "errors.not-found",
            ],
        },
        Scenario {
            name: "forked history: the first checkpoint signs another root at the same size",
            level: Level::Core,
            mutation: Mutation::on_response(move |req, resp| {
                if req.path() == "/v1/log/checkpoint" && !forged_once.swap(true, Ordering::SeqCst) {
                    let text = String::from_utf8(resp.body.clone()).unwrap();
                    let mut lines = text.lines();
                    let origin = lines.next().unwrap().to_owned();
                    let tree_size: u64 = lines.next().unwrap().parse().unwrap();
                    let cp = evfed_spec::checkpoint::Checkpoint {
                        origin,
                        tree_size,
                        root: evfed_spec::merkle::Hash([7; 32]),
                        time: 1_795_000_000,
                    };
                    resp.body = cp.sign(&key).unwrap().note_bytes().to_vec();
                }
            }),
            fails: "log.consistency-over-time",
            still_pass: &[
                "log.checkpoint-signature",
                "log.entries-root",
                "log.inclusion-proofs",
            ],
        },
        Scenario {
            name: "400 instead of 404 for unknown ids",
            level: Level::Core,
            mutation: Mutation::on_response(unknown_id_400),
            fails: "errors.not-found",
            still_pass: &[
                "errors.problem-json",
                "ocpi.status-codes",
                "state.locations",
            ],
        },
        Scenario {
            name: "usage data served without a token",
            level: Level::Usage,
            mutation: Mutation::on_request(move |req| {
                let p = req.path();
                let restricted = p.starts_with("/v1/sessions")
                    || (p.starts_with("/v1/restricted/log/") && !p.ends_with("/checkpoint"));
                if restricted
                    && !req
                        .headers
                        .iter()
                        .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                {
                    req.headers
                        .push(("authorization".into(), format!("Bearer {usage}")));
                }
            }),
            fails: "access.unauthenticated",
            still_pass: &[
                "access.open-with-token",
                "log.restricted-checkpoint",
                "state.locations",
            ],
        },
        Scenario {
            name: "checkpoint signatures that do not verify",
            level: Level::Core,
            mutation: Mutation::on_response(bad_signature),
            fails: "log.checkpoint-signature",
            still_pass: &["log.entries-root", "discovery.keys", "state.locations"],
        },
        Scenario {
            name: "one constant event_time for every EVSE on /v1/status (a node announcing 1.1)",
            level: Level::Core,
            mutation: Mutation::on_response(constant_event_time),
            fails: "state.status",
            still_pass: &["state.locations", "state.tariffs", "log.entries-root"],
        },
        Scenario {
            name: "served state that differs from the log",
            level: Level::Core,
            mutation: Mutation::on_response(|req, resp| {
                if req.path() == "/v1/locations" && resp.status == 200 {
                    let mut v: Value = serde_json::from_slice(&resp.body).unwrap();
                    if let Some(first) = v.as_array_mut().and_then(|a| a.first_mut()) {
                        first["name"] = Value::String("Tampered".into());
                    }
                    resp.body = serde_json::to_vec(&v).unwrap();
                }
            }),
            fails: "state.locations",
            still_pass: &[
                "state.status",
                "state.tariffs",
                "pagination.no-gaps",
                "log.entries-root",
            ],
        },
    ]
}

/// Every `/v1/status` item carries one constant `event_time`.
fn constant_event_time(req: &Req, resp: &mut Resp) {
    if req.path() == "/v1/status" && resp.status == 200 {
        let mut v: Value = serde_json::from_slice(&resp.body).unwrap();
        for item in v.as_array_mut().into_iter().flatten() {
            item["event_time"] = Value::String("2026-01-01T00:00:00Z".into());
        }
        resp.body = serde_json::to_vec(&v).unwrap();
    }
}

/// A 404 on a read by id becomes a 400.
fn unknown_id_400(req: &Req, resp: &mut Resp) {
    let p = req.path();
    let by_id = (p.starts_with("/v1/locations/") || p.starts_with("/v1/tariffs/"))
        && p.split('/').count() >= 6;
    if by_id && resp.status == 404 {
        resp.status = 400;
        resp.body = br#"{"type":"urn:evfed:problem:invalid-query","title":"Invalid query","status":400,"code":"invalid-query"}"#.to_vec();
    }
}

#[test]
fn broken_servers_fail_the_named_case() {
    let node = Node::camden();
    node.load();
    let mut problems = Vec::new();
    for s in scenarios(&node) {
        let proxy = Proxy::start(&node.url, s.mutation);
        let report = run(&proxy.url, s.level, KnownList::default());
        let got = report.result(s.fails).map(|r| r.outcome);
        if got != Some(Outcome::Fail) {
            problems.push(format!(
                "{}: {} was {got:?}, expected Fail",
                s.name, s.fails
            ));
        }
        if report.verdict() != Verdict::Fail {
            problems.push(format!("{}: verdict {:?}", s.name, report.verdict()));
        }
        for id in s.still_pass {
            let outcome = report.result(id).map(|r| r.outcome);
            if outcome != Some(Outcome::Pass) {
                let msg = report
                    .result(id)
                    .map(|r| r.evidence.message.clone())
                    .unwrap_or_default();
                problems.push(format!("{}: unrelated {id} was {outcome:?}: {msg}", s.name));
            }
        }
        if report
            .result(s.fails)
            .is_some_and(|r| r.evidence.message.is_empty())
        {
            problems.push(format!("{}: {} failed without evidence", s.name, s.fails));
        }
        eprintln!("{}:\n{}\n", s.name, failures(&report));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Standard 1.1's stricter `event_time` rule (§10.5) holds only a node that announces 1.1: the
/// same fault from a node without `standard` in its discovery document is reported, and passes.
#[test]
fn event_time_is_judged_only_for_nodes_announcing_1_1() {
    let node = Node::camden();
    node.load();
    let as_1_0 = Mutation::on_response(|req, resp| {
        if req.path() == "/.well-known/evfed" {
            let mut v: Value = serde_json::from_slice(&resp.body).unwrap();
            assert_eq!(v["standard"], "1.1", "the reference node announces 1.1");
            v.as_object_mut().unwrap().remove("standard");
            resp.body = serde_json::to_vec(&v).unwrap();
        }
        constant_event_time(req, resp);
    });
    let proxy = Proxy::start(&node.url, as_1_0);
    let report = run(&proxy.url, Level::Core, KnownList::default());
    let r = report.result("state.status").unwrap();
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.evidence.message);
    assert!(
        r.evidence.message.contains("not judged"),
        "{}",
        r.evidence.message
    );
    assert_eq!(report.verdict(), Verdict::Pass, "{}", failures(&report));

    // Unchanged, the reference node's event times equal the replay.
    let report = run(&node.url, Level::Core, KnownList::default());
    let r = report.result("state.status").unwrap();
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.evidence.message);
    assert!(
        r.evidence.message.contains("event_time included"),
        "{}",
        r.evidence.message
    );
}

#[test]
fn known_failures_pass_the_run_and_stale_entries_fail_it() {
    let node = Node::camden();
    node.load();
    let known = KnownList {
        known: vec![KnownEntry {
            id: "errors.not-found".into(),
            reason: "answers 400 for unknown ids until release 1.4".into(),
        }],
    };
    let proxy = Proxy::start(&node.url, Mutation::on_response(unknown_id_400));
    let report = run(&proxy.url, Level::Core, known.clone());
    let r = report.result("errors.not-found").unwrap();
    assert_eq!(r.outcome, Outcome::KnownFailure);
    assert_eq!(
        r.known_reason.as_deref(),
        Some("answers 400 for unknown ids until release 1.4")
    );
    assert_eq!(report.verdict(), Verdict::Pass, "{}", failures(&report));

    let report = run(&node.url, Level::Core, known);
    assert_eq!(
        report.result("errors.not-found").unwrap().outcome,
        Outcome::UnexpectedPass
    );
    assert_eq!(report.verdict(), Verdict::Fail);

    // Listed skips stay skips, with their reason, and no longer leave the run incomplete.
    let entry = |id: &str| KnownEntry {
        id: id.into(),
        reason: "sessions are not published by this node".into(),
    };
    let known = KnownList {
        known: vec![entry("access.restricted-log"), entry("access.sessions")],
    };
    let report = run(&node.url, Level::Usage, known);
    assert_eq!(
        report.result("access.sessions").unwrap().outcome,
        Outcome::Skip
    );
    assert_eq!(report.verdict(), Verdict::Pass, "{}", failures(&report));
    assert_eq!(
        run(&node.url, Level::Usage, KnownList::default()).verdict(),
        Verdict::Incomplete
    );
}
