//! Report renderings: text for people, JSON (the [`Report`] itself), JUnit XML for CI, and a
//! self-contained printable HTML page. Everything from the target is escaped.

use std::fmt::Write as _;
use std::str::FromStr;

use crate::report::{CaseResult, Outcome, Report};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Junit,
    Html,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            "junit" => Ok(Format::Junit),
            "html" => Ok(Format::Html),
            o => Err(format!(
                "unknown format {o:?} (expected text, json, junit or html)"
            )),
        }
    }
}

/// Renders a report.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => text(report),
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default() + "\n",
        Format::Junit => junit(report),
        Format::Html => html(report),
    }
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "PASS",
        Outcome::Fail => "FAIL",
        Outcome::Skip => "SKIP",
        Outcome::KnownFailure => "KNOWN",
        Outcome::UnexpectedPass => "STALE",
    }
}

fn evidence_line(r: &CaseResult) -> String {
    let e = &r.evidence;
    let mut s = String::new();
    if let (Some(m), Some(u)) = (&e.method, &e.url) {
        let _ = write!(s, "{m} {u}");
        if let Some(st) = e.status {
            let _ = write!(s, " → {st}");
        }
    }
    s
}

/// Text for a terminal: one line per case, evidence under failures, counts at the end.
pub fn text(report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "evfed-conformance {} — target {} ({}) — level {}",
        report.suite_version,
        report.target,
        report.origin.as_deref().unwrap_or("origin unknown"),
        report.level
    );
    for r in &report.results {
        let opt = if r.required { "" } else { " (optional)" };
        let _ = writeln!(
            s,
            "{:<6} {:<32} {:<12} {}{opt}",
            outcome_word(r.outcome),
            r.id,
            r.section,
            r.evidence.message
        );
        if matches!(
            r.outcome,
            Outcome::Fail | Outcome::KnownFailure | Outcome::UnexpectedPass
        ) {
            let line = evidence_line(r);
            if !line.is_empty() {
                let _ = writeln!(s, "       {line}");
            }
            if let Some(x) = r.evidence.excerpt.as_deref().filter(|x| !x.is_empty()) {
                let _ = writeln!(s, "       {}", x.replace('\n', "\n       "));
            }
            if let Some(k) = &r.known_reason {
                let _ = writeln!(s, "       known: {k}");
            }
        }
    }
    let c = &report.counts;
    let _ = writeln!(
        s,
        "\n{} cases: {} passed, {} failed, {} skipped, {} known failures, {} stale known entries ({} ms)",
        c.total, c.pass, c.fail, c.skip, c.known_failure, c.unexpected_pass, report.duration_ms
    );
    let verdict = match report.verdict() {
        crate::report::Verdict::Pass => format!("CONFORMS at level {}", report.level),
        crate::report::Verdict::Fail => format!("DOES NOT CONFORM at level {}", report.level),
        crate::report::Verdict::Incomplete => format!(
            "INCOMPLETE at level {}: {} required cases skipped",
            report.level, c.required_skip
        ),
    };
    let _ = writeln!(s, "{verdict}");
    s
}

/// XML and HTML text escaping.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one test suite, one test case per case; failures and stale known entries are
/// `<failure>`, skips `<skipped>`.
pub fn junit(report: &Report) -> String {
    let c = &report.counts;
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites name=\"evfed-conformance\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        c.total,
        c.fail + c.unexpected_pass,
        c.skip,
        report.duration_ms as f64 / 1000.0
    );
    let _ = writeln!(
        s,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" timestamp=\"{}\" time=\"{:.3}\">",
        escape(&format!("{} level {}", report.target, report.level)),
        c.total,
        c.fail + c.unexpected_pass,
        c.skip,
        escape(&report.started_at),
        report.duration_ms as f64 / 1000.0
    );
    for r in &report.results {
        let _ = write!(
            s,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            escape(r.id.split('.').next().unwrap_or("")),
            escape(&format!("{} {}", r.id, r.section)),
            r.duration_ms as f64 / 1000.0
        );
        let detail = escape(&format!(
            "{}\n{}\n{}",
            evidence_line(r),
            r.evidence.excerpt.as_deref().unwrap_or(""),
            r.known_reason
                .as_deref()
                .map(|k| format!("known: {k}"))
                .unwrap_or_default()
        ));
        match r.outcome {
            Outcome::Pass | Outcome::KnownFailure => {
                let _ = writeln!(s, "/>");
            }
            Outcome::Skip => {
                let _ = writeln!(
                    s,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape(&r.evidence.message)
                );
            }
            Outcome::Fail | Outcome::UnexpectedPass => {
                let msg = if r.outcome == Outcome::UnexpectedPass {
                    format!(
                        "listed as a known failure but passed: {}",
                        r.evidence.message
                    )
                } else {
                    r.evidence.message.clone()
                };
                let _ = writeln!(
                    s,
                    ">\n      <failure message=\"{}\" type=\"{}\">{detail}</failure>\n    </testcase>",
                    escape(&msg),
                    if r.required { "required" } else { "optional" }
                );
            }
        }
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}

/// A self-contained HTML page (inline CSS, no scripts, no external resources), printable.
pub fn html(report: &Report) -> String {
    let c = &report.counts;
    let mut s = String::new();
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    let _ = writeln!(
        s,
        "<title>evfed conformance: {}</title>",
        escape(&report.target)
    );
    s.push_str(
        "<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#111}\
         table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:4px 6px;\
         vertical-align:top;text-align:left}th{background:#eee}.pass{color:#075e07}.fail,.stale{color:#a00;font-weight:bold}\
         .skip{color:#666}.known{color:#8a5a00}pre{white-space:pre-wrap;word-break:break-all;margin:0;font-size:12px}\
         @media print{body{margin:0}tr{page-break-inside:avoid}}</style></head><body>\n",
    );
    let _ = writeln!(s, "<h1>evfed conformance report</h1>");
    let _ = writeln!(
        s,
        "<p>Target <code>{}</code> (origin <code>{}</code>), level <b>{}</b>, suite {}.<br>Started {}, finished {} ({} ms).</p>",
        escape(&report.target),
        escape(report.origin.as_deref().unwrap_or("unknown")),
        report.level,
        escape(&report.suite_version),
        escape(&report.started_at),
        escape(&report.finished_at),
        report.duration_ms
    );
    let verdict = match report.verdict() {
        crate::report::Verdict::Pass => "Conforms",
        crate::report::Verdict::Fail => "Does not conform",
        crate::report::Verdict::Incomplete => "Incomplete (required cases skipped)",
    };
    let _ = writeln!(
        s,
        "<p><b>{verdict}</b>: {} cases, {} passed, {} failed, {} skipped, {} known failures, {} stale known entries.</p>",
        c.total, c.pass, c.fail, c.skip, c.known_failure, c.unexpected_pass
    );
    s.push_str("<table><tr><th>Outcome</th><th>Case</th><th>Section</th><th>Description</th><th>Evidence</th></tr>\n");
    for r in &report.results {
        let class = match r.outcome {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Skip => "skip",
            Outcome::KnownFailure => "known",
            Outcome::UnexpectedPass => "stale",
        };
        let _ = write!(
            s,
            "<tr><td class=\"{class}\">{}</td><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}",
            outcome_word(r.outcome),
            escape(&r.id),
            if r.required { "" } else { " <i>(optional)</i>" },
            escape(&r.section),
            escape(&r.description),
            escape(&r.evidence.message)
        );
        let line = evidence_line(r);
        if !line.is_empty() {
            let _ = write!(s, "<br><code>{}</code>", escape(&line));
        }
        if let Some(x) = r.evidence.excerpt.as_deref().filter(|x| !x.is_empty()) {
            let _ = write!(s, "<pre>{}</pre>", escape(x));
        }
        if let Some(k) = &r.known_reason {
            let _ = write!(s, "<br>Known: {}", escape(k));
        }
        s.push_str("</td></tr>\n");
    }
    s.push_str("</table>\n</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            escape("<a href=\"x\">&'\u{1}"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;\u{FFFD}"
        );
    }
}
