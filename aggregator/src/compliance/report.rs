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

/// One row per indicator (supplier-wide, then per contract): scope, indicator, colour,
/// reasons, figures as JSON. The last row names the signature, which is checked on the JSON.
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
    let mut rows = |scope: &str, indicators: &Value| -> Result<(), csv::Error> {
        for i in indicators.as_array().into_iter().flatten() {
            let reasons: Vec<&str> = i["reasons"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            w.write_record([
                id,
                scope,
                i["name"].as_str().unwrap_or_default(),
                i["colour"].as_str().unwrap_or_default(),
                &reasons.join("; "),
                &i["figures"].to_string(),
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
        &json!({"generated_at": report["generated_at"], "aggregator": report["aggregator"]})
            .to_string(),
    ])?;
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
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
         code,pre{{font-size:.8em;white-space:pre-wrap;word-break:break-all}}\
         @media print{{a{{color:inherit}}}}</style></head><body>\n\
         <h1>DPS compliance evidence: {name}</h1>\n\
         <p>Supplier <strong>{id}</strong> (parties {parties}); generated {at} by {agg}.</p>\n\
         <p id=\"status\" class=\"{colour}\">Overall status: <strong>{colour}</strong></p>\n",
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
        colour = text(&s["status"]),
    );
    let table = |h: &mut String, title: &str, indicators: &Value| {
        let _ = write!(
            h,
            "<h2>{}</h2>\n<table><thead><tr><th>Indicator</th><th>Colour</th><th>Reasons</th>\
             <th>Figures</th></tr></thead><tbody>\n",
            esc(title)
        );
        for i in indicators.as_array().into_iter().flatten() {
            let reasons: Vec<String> = i["reasons"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(esc)
                .collect();
            let _ = writeln!(
                h,
                "<tr class=\"{c}\" data-indicator=\"{n}\"><td>{n}</td><td>{c}</td><td>{r}</td>\
                 <td><code>{f}</code></td></tr>",
                n = text(&i["name"]),
                c = text(&i["colour"]),
                r = reasons.join("<br>"),
                f = esc(&i["figures"].to_string()),
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
                c["status"].as_str().unwrap_or_default()
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
