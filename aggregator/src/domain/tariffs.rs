//! A tariff in a line a driver reads: "£0.79 per kWh; £0.20 per minute parking".

use serde_json::Value;

/// The tariff's prices in words (OCPI 2.2.1 Tariff: `currency`, `elements[].price_components[]`
/// with `type` ENERGY / FLAT / PARKING_TIME / TIME and `price` excluding VAT), each distinct
/// price once; restrictions (times of day, power) are left out and said to exist.
pub fn summary(tariff: &Value) -> String {
    let currency = tariff["currency"].as_str().unwrap_or("");
    let money = |p: f64| match currency {
        "GBP" => format!("£{p:.2}"),
        "EUR" => format!("€{p:.2}"),
        c => format!("{p:.2} {c}"),
    };
    let mut parts: Vec<String> = Vec::new();
    let mut restricted = false;
    for e in tariff["elements"].as_array().into_iter().flatten() {
        restricted |= e.get("restrictions").is_some_and(|r| !r.is_null());
        for c in e["price_components"].as_array().into_iter().flatten() {
            let price = c["price"].as_f64().unwrap_or(0.0);
            let text = match c["type"].as_str().unwrap_or("") {
                "ENERGY" => format!("{} per kWh", money(price)),
                "FLAT" => format!("{} per session", money(price)),
                "TIME" => format!("{} per hour charging", money(price)),
                "PARKING_TIME" => format!("{} per hour parking", money(price)),
                other => format!("{} ({other})", money(price)),
            };
            if !parts.contains(&text) {
                parts.push(text);
            }
        }
    }
    if parts.is_empty() {
        return "no prices given".into();
    }
    let mut out = parts.join("; ");
    out.push_str(" (excl. VAT");
    if restricted {
        out.push_str("; some prices apply only at certain times or powers");
    }
    out.push(')');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_rapid_tariff_example_reads_as_prices() {
        let path = format!(
            "{}/../spec/testdata/ocpi/valid/tariff_rapid_adhoc.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let t: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let s = super::summary(&t);
        assert!(s.contains("per kWh"), "{s}");
        assert!(s.starts_with('£'), "{s}");
    }
}
