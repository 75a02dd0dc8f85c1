//! The suite passes against a real node, directly and through a forwarding proxy, at every
//! level; the command line's formats, exit codes and known-failures file behave as documented.

use std::process::Command;
use std::time::Duration;

use evfed_conformance::{Level, Outcome, RunConfig, Verdict};

use crate::failures;
use crate::proxy::{Mutation, Proxy};
use crate::support::Node;

const BIN: &str = env!("CARGO_BIN_EXE_evfed-conformance");

fn config(url: &str, level: Level, token: Option<String>) -> RunConfig {
    let mut c = RunConfig::new(url.parse().unwrap());
    c.level = level;
    c.token = token;
    c.observe = Duration::from_secs(2);
    c.seed = Some(7);
    c
}

#[test]
fn passes_against_a_real_node_directly_and_through_a_proxy() {
    let node = Node::camden();
    node.load();
    let usage = node.token(None, "usage:read");

    let core = evfed_conformance::run(&config(&node.url, Level::Core, None));
    assert_eq!(core.verdict(), Verdict::Pass, "core:\n{}", failures(&core));
    assert!(core.counts.pass >= 40, "{:?}", core.counts);

    let with_usage = evfed_conformance::run(&config(&node.url, Level::Usage, Some(usage.clone())));
    assert_eq!(
        with_usage.verdict(),
        Verdict::Pass,
        "usage:\n{}",
        failures(&with_usage)
    );
    assert_eq!(
        with_usage.result("access.sessions").unwrap().outcome,
        Outcome::Pass
    );
    assert_eq!(
        with_usage.result("access.wrong-scope").unwrap().outcome,
        Outcome::Skip
    );

    // A data:write token lacks usage:read: the 403 case runs, the restricted reads skip
    // (never fail), saying which token they need.
    let writer = node.token(Some("GB*ABC"), "data:write");
    let scoped = evfed_conformance::run(&config(&node.url, Level::Usage, Some(writer.clone())));
    assert_eq!(
        scoped.result("access.wrong-scope").unwrap().outcome,
        Outcome::Pass,
        "{}",
        failures(&scoped)
    );
    for id in ["access.restricted-log", "access.sessions"] {
        let r = scoped.result(id).unwrap();
        assert_eq!(r.outcome, Outcome::Skip, "{id}: {}", r.evidence.message);
        assert!(
            r.evidence.message.contains("--wrong-scope-token"),
            "{}",
            r.evidence.message
        );
    }
    assert_eq!(
        scoped.verdict(),
        Verdict::Incomplete,
        "{}",
        failures(&scoped)
    );

    // Both tokens in one run: every access case runs and the level is claimed.
    let mut both = config(&node.url, Level::Usage, Some(usage.clone()));
    both.wrong_scope_token = Some(writer);
    let both = evfed_conformance::run(&both);
    assert_eq!(both.verdict(), Verdict::Pass, "{}", failures(&both));
    for id in [
        "access.wrong-scope",
        "access.restricted-log",
        "access.sessions",
        "access.unauthenticated",
        "access.open-with-token",
    ] {
        assert_eq!(both.result(id).unwrap().outcome, Outcome::Pass, "{id}");
    }

    // Without a token the usage level cannot be claimed: its token cases skip, with the reason.
    let no_token = evfed_conformance::run(&config(&node.url, Level::Usage, None));
    assert_eq!(
        no_token.verdict(),
        Verdict::Incomplete,
        "{}",
        failures(&no_token)
    );
    let skipped = no_token.result("access.sessions").unwrap();
    assert_eq!(skipped.outcome, Outcome::Skip);
    assert!(
        skipped.evidence.message.contains("token"),
        "{}",
        skipped.evidence.message
    );
    assert_eq!(
        no_token.result("access.unauthenticated").unwrap().outcome,
        Outcome::Pass
    );

    // Realtime, while a writer keeps changing a status: the log grows under the run, so
    // RT-1 sees sizes to cover, the lists are read at moving tree sizes, and the start and end
    // checkpoints differ (a real consistency proof).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (url, token, stop) = (
            node.url.clone(),
            node.token(Some("GB*ABC"), "data:write"),
            stop.clone(),
        );
        std::thread::spawn(move || {
            let http = reqwest::blocking::Client::new();
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let status = if n.is_multiple_of(2) {
                    "AVAILABLE"
                } else {
                    "CHARGING"
                };
                let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                let body = serde_json::json!([{"country_code": "GB", "party_id": "ABC", "location_id": "ABC-2",
                    "evse_uid": "ABC-2-1", "status": status, "event_time": now}]);
                let res = http
                    .post(format!("{url}/v1/status"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .unwrap();
                assert!(res.status().is_success());
                std::thread::sleep(Duration::from_millis(150));
            }
            n
        })
    };
    let realtime = evfed_conformance::run(&config(&node.url, Level::Realtime, None));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.join().unwrap();
    assert_eq!(
        realtime.verdict(),
        Verdict::Pass,
        "realtime under {writes} writes:\n{}",
        failures(&realtime)
    );
    let over_time = realtime.result("log.consistency-over-time").unwrap();
    assert!(
        over_time.evidence.message.starts_with("consistent"),
        "{}",
        over_time.evidence.message
    );

    let proxy = Proxy::start(&node.url, Mutation::none());
    let proxied = evfed_conformance::run(&config(&proxy.url, Level::Usage, Some(usage)));
    assert_eq!(
        proxied.verdict(),
        Verdict::Pass,
        "through a proxy:\n{}",
        failures(&proxied)
    );

    // Reports round-trip through JSON (the aggregator stores them).
    let json = serde_json::to_string(&core).unwrap();
    let back: evfed_conformance::Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back, core);

    command_line(&node);
}

/// The binary: exit codes, formats, `--out`, and the known-failures file against a passing node.
fn command_line(node: &Node) {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(["run", "--target", &node.url, "--seed", "1"])
            .args(args)
            .output()
            .unwrap()
    };

    let text = run(&[]);
    assert_eq!(
        text.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    assert!(String::from_utf8_lossy(&text.stdout).contains("CONFORMS at level core"));

    for (format, needle) in [
        ("json", "\"results\""),
        ("junit", "<testsuites"),
        ("html", "<!DOCTYPE html>"),
    ] {
        let out = tmp.path().join(format!("report.{format}"));
        let r = run(&["--format", format, "--out", out.to_str().unwrap()]);
        assert_eq!(
            r.status.code(),
            Some(0),
            "{format}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        let body = std::fs::read_to_string(&out).unwrap();
        assert!(body.contains(needle), "{format}: {body}");
    }
    let report: evfed_conformance::Report =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report.counts.fail, 0);

    // A listed case that passes fails the run, so the list cannot go stale.
    let stale = tmp.path().join("known.toml");
    std::fs::write(
        &stale,
        "[[known]]\nid = \"errors.not-found\"\nreason = \"answered 400 until 1.4\"\n",
    )
    .unwrap();
    let r = run(&["--known", stale.to_str().unwrap()]);
    assert_eq!(
        r.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&r.stdout)
    );
    assert!(String::from_utf8_lossy(&r.stdout).contains("STALE"));

    // Usage errors: exit 2.
    let unknown = tmp.path().join("bad.json");
    std::fs::write(
        &unknown,
        r#"{"known": [{"id": "no.such-case", "reason": "x"}]}"#,
    )
    .unwrap();
    assert_eq!(
        run(&["--known", unknown.to_str().unwrap()]).status.code(),
        Some(2)
    );
    assert_eq!(run(&["--level", "gold"]).status.code(), Some(2));

    // Usage level without a token: nothing fails, but the level is not claimed (exit 3).
    assert_eq!(run(&["--level", "usage"]).status.code(), Some(3));
}
