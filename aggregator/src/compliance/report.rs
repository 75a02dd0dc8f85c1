//! The evidence report of one supplier: its status with every figure, the thresholds, and the
//! members' signed checkpoints it rests on, signed by the aggregator's log key
//! (`evfed_spec::report`), and the same report as CSV (for spreadsheets) and as a printable
//! HTML page that carries the signed JSON inside it, so both the JSON and the page verify
//! offline with `evfed-conformance verify-report`.

use std::fmt::Write as _;

use evfed_spec::note::SigningKey;
use evfed_spec::report::ReportError;
use evfed_spec::time::DateTime;
use serde_json::{Value, json};

use super::{SupplierStatus, Thresholds};
use crate::store::Member;

/// The id of the `<script>` element an HTML report carries its signed JSON in.
pub const HTML_SCRIPT_ID: &str = "evfed-signed-report";

/// The signed report.
pub fn signed(
    status: &SupplierStatus,
    thresholds: &Thresholds,
    members: &[Member],
    now_ms: i64,
    origin: &str,
    key: &SigningKey,
) -> Result<Value, ReportError> {
    let checkpoints: Vec<Value> = members
        .iter()
        .filter(|m| status.members.contains(&m.origin))
        .filter_map(|m| {
            let note = String::from_utf8(m.checkpoint.clone()?).ok()?;
            Some(json!({
                "origin": m.origin, "vkeys": m.vkeys, "note": note,
                "verified_size": m.verified_size, "state": m.state,
            }))
        })
        .collect();
    let body = json!({
        "kind": "evfed DPS compliance evidence",
        "generated_at": DateTime::from_unix_millis(now_ms).map(|d| d.to_string()).unwrap_or_default(),
        "supplier": status,
        "thresholds": thresholds,
        "checkpoints": checkpoints,
    });
    evfed_spec::report::sign(body, origin, key)
}

/// A colour as people read it (`not_measured` is `not measured`).
fn colour_words(v: &Value) -> &str {
    match v.as_str().unwrap_or_default() {
        "not_measured" => "not measured",
        other => other,
    }
}

/// The strings of a JSON array.
fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// An indicator's name for people (its label; its name in a report made before labels).
fn label(i: &Value) -> &str {
    i["label"]
        .as_str()
        .or_else(|| i["name"].as_str())
        .unwrap_or_default()
}

/// One row for the overall status, then one per indicator (supplier-wide, then per
/// contract): scope, indicator, colour (`green`, `amber`, `red` or `not measured`), reasons
/// and figures, all in words (times in RFC 3339). The last row names the signature, which is
/// checked on the JSON.
pub fn csv(signed: &Value) -> Result<Vec<u8>, csv::Error> {
    let report = &signed["report"];
    let supplier = &report["supplier"];
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "supplier",
        "scope",
        "indicator",
        "colour",
        "reasons",
        "figures",
    ])?;
    let id = supplier["id"].as_str().unwrap_or_default();
    w.write_record([
        id,
        "overall",
        "Overall status",
        colour_words(&supplier["status"]),
        &strings(&supplier["reasons"]).join("; "),
        supplier["summary"].as_str().unwrap_or_default(),
    ])?;
    let mut rows = |scope: &str, indicators: &Value| -> Result<(), csv::Error> {
        for i in indicators.as_array().into_iter().flatten() {
            w.write_record([
                id,
                scope,
                label(i),
                colour_words(&i["colour"]),
                &strings(&i["reasons"]).join("; "),
                &strings(&i["summary"]).join(" "),
            ])?;
        }
        Ok(())
    };
    rows("supplier", &supplier["indicators"])?;
    for c in supplier["contracts"].as_array().into_iter().flatten() {
        rows(
            &format!("contract {}", c["id"].as_str().unwrap_or_default()),
            &c["indicators"],
        )?;
    }
    w.write_record([
        id,
        "signature",
        "signed_by",
        "",
        report["signed_by"].as_str().unwrap_or_default(),
        &format!(
            "Generated at {} by {}; verify the JSON or HTML report with evfed-conformance \
             verify-report.",
            report["generated_at"].as_str().unwrap_or_default(),
            report["aggregator"].as_str().unwrap_or_default()
        ),
    ])?;
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// The CSS class of a colour (`not_measured` is `not-measured`).
fn class(v: &Value) -> &'static str {
    match v.as_str().unwrap_or_default() {
        "green" => "green",
        "amber" => "amber",
        "red" => "red",
        _ => "not-measured",
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A printable page. The signed JSON is embedded in a `<script type="application/json">`
/// element (with `<` escaped so no text can close it).
pub fn html(signed: &Value) -> String {
    let report = &signed["report"];
    let s = &report["supplier"];
    let text = |v: &Value| esc(v.as_str().unwrap_or_default());
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>DPS compliance evidence: {name}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:60em}}\
         table{{border-collapse:collapse;width:100%;margin:1em 0}}\
         th,td{{border:1px solid #999;padding:.3em .5em;text-align:left;vertical-align:top}}\
         .green{{background:#d8f0d8}}.amber{{background:#fbe7c0}}.red{{background:#f6cccc}}\
         .not-measured{{background:#e4e4e4}}\
         code,pre{{font-size:.8em;white-space:pre-wrap;word-break:break-all}}\
         @media print{{a{{color:inherit}}}}</style></head><body>\n\
         <h1>DPS compliance evidence: {name}</h1>\n\
         <p>Supplier <strong>{id}</strong> (parties {parties}); generated {at} by {agg}.</p>\n\
         <p id=\"status\" class=\"{class}\">Overall status: <strong>{colour}</strong>. {summary}</p>\n\
         <p>Green meets the threshold, amber falls short of it, red falls well short; \
         <em>not measured</em> means there was nothing to measure, which is never green, and a \
         supplier is green only when every indicator was measured and is green.</p>\n",
        name = text(&s["name"]),
        id = text(&s["id"]),
        parties = esc(&s["parties"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", ")),
        at = text(&report["generated_at"]),
        agg = text(&report["aggregator"]),
        class = class(&s["status"]),
        colour = esc(colour_words(&s["status"])),
        summary = text(&s["summary"]),
    );
    let table = |h: &mut String, title: &str, indicators: &Value| {
        let _ = write!(
            h,
            "<h2>{}</h2>\n<table><thead><tr><th>Indicator</th><th>Status</th><th>Reasons</th>\
             <th>Figures</th></tr></thead><tbody>\n",
            esc(title)
        );
        for i in indicators.as_array().into_iter().flatten() {
            let lines = |v: &Value| -> String {
                strings(v)
                    .into_iter()
                    .map(esc)
                    .collect::<Vec<_>>()
                    .join("<br>")
            };
            let _ = writeln!(
                h,
                "<tr class=\"{c}\" data-indicator=\"{n}\"><td>{l}</td><td>{w}</td><td>{r}</td>\
                 <td>{f}</td></tr>",
                c = class(&i["colour"]),
                n = text(&i["name"]),
                l = esc(label(i)),
                w = esc(colour_words(&i["colour"])),
                r = lines(&i["reasons"]),
                f = lines(&i["summary"]),
            );
        }
        h.push_str("</tbody></table>\n");
    };
    table(&mut h, "Supplier indicators", &s["indicators"]);
    for c in s["contracts"].as_array().into_iter().flatten() {
        table(
            &mut h,
            &format!(
                "Contract {} (borough {}): {}",
                c["id"].as_str().unwrap_or_default(),
                c["borough"].as_str().unwrap_or_default(),
                colour_words(&c["status"])
            ),
            &c["indicators"],
        );
    }
    h.push_str("<h2>Checkpoints this report rests on</h2>\n");
    for c in report["checkpoints"].as_array().into_iter().flatten() {
        let _ = writeln!(
            h,
            "<h3>{}</h3><pre>{}</pre>",
            text(&c["origin"]),
            text(&c["note"])
        );
    }
    let _ = writeln!(
        h,
        "<h2>Signature</h2><p>Signed by <code>{}</code>. Check this page offline with \
         <code>evfed-conformance verify-report FILE</code>.</p><pre>{}</pre>",
        text(&report["signed_by"]),
        text(&signed["signature"])
    );
    let embedded = signed.to_string().replace('<', "\\u003c");
    let _ = write!(
        h,
        "<script type=\"application/json\" id=\"{HTML_SCRIPT_ID}\">{embedded}</script>\n</body></html>\n"
    );
    h
}
