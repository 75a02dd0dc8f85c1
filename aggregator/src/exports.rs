//! Exports of the London view for the tools planners use: CSV for spreadsheets and Power BI
//! (one flat row per connector, a header row, UTF-8 with a byte-order mark so Excel reads
//! accents), GeoJSON for QGIS (one Point feature per location, WGS 84 longitude/latitude, flat
//! properties), and OCPI JSON (the Location objects as OCPI 2.2.1 defines them).

use evfed_spec::ocpi::Location;
use serde_json::{Value, json};

use crate::http::{connector_kw, power_class};
use crate::london::Copy;

/// One location of an export: the served copy and where it comes from.
#[derive(Debug)]
pub struct Row<'a> {
    pub copy: &'a Copy,
    pub sources: Vec<&'a str>,
    pub stale: bool,
}

/// The CSV header: one row per connector.
pub const CSV_COLUMNS: &[&str] = &[
    "country_code",
    "party_id",
    "location_id",
    "name",
    "address",
    "city",
    "postal_code",
    "borough",
    "borough_name",
    "ward",
    "ward_name",
    "latitude",
    "longitude",
    "operator",
    "evse_uid",
    "evse_id",
    "status",
    "connector_id",
    "standard",
    "format",
    "power_type",
    "max_power_kw",
    "power_class",
    "last_updated",
    "sources",
    "stale",
];

fn name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// An area's code and name (both empty for none).
fn area(code: Option<&'static str>) -> (&'static str, &'static str) {
    let set = crate::domain::places::area_set();
    match code {
        Some(c) => (c, set.get(c).map_or("", |a| a.name.as_str())),
        None => ("", ""),
    }
}

/// The rows as CSV bytes.
pub fn csv(rows: &[Row<'_>]) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    out.write_record(CSV_COLUMNS)?;
    for row in rows {
        let loc: &Location = &row.copy.location;
        // The borough and ward the coordinates lie in, as the view's filters and figures use.
        let (borough, borough_name) = area(row.copy.place.borough);
        let (ward, ward_name) = area(row.copy.place.ward);
        let operator = loc.operator.as_ref().map(|o| o.name.as_str()).unwrap_or("");
        let (lat, lon) = (
            loc.coordinates.lat().to_string(),
            loc.coordinates.lon().to_string(),
        );
        let sources = row.sources.join(" ");
        for evse in &loc.evses {
            for c in &evse.connectors {
                let kw = connector_kw(c);
                out.write_record([
                    loc.country_code.as_str(),
                    loc.party_id.as_str(),
                    loc.id.as_str(),
                    loc.name.as_deref().unwrap_or(""),
                    &loc.address,
                    &loc.city,
                    loc.postal_code.as_deref().unwrap_or(""),
                    borough,
                    borough_name,
                    ward,
                    ward_name,
                    &lat,
                    &lon,
                    operator,
                    evse.uid.as_str(),
                    evse.evse_id.as_ref().map(|e| e.as_str()).unwrap_or(""),
                    evse.status.as_str(),
                    c.id.as_str(),
                    &name(&c.standard),
                    &name(&c.format),
                    &name(&c.power_type),
                    &format!("{kw:.1}"),
                    power_class(kw),
                    &evse.last_updated.to_string(),
                    &sources,
                    if row.stale { "true" } else { "false" },
                ])?;
            }
        }
    }
    out.into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}

/// The rows as a GeoJSON FeatureCollection (RFC 7946).
pub fn geojson(rows: &[Row<'_>]) -> Value {
    let features: Vec<Value> = rows
        .iter()
        .map(|row| {
            let loc: &Location = &row.copy.location;
            let kws: Vec<f64> = loc
                .evses
                .iter()
                .flat_map(|e| &e.connectors)
                .map(connector_kw)
                .collect();
            let max_kw = kws.iter().copied().fold(0.0, f64::max);
            let available = loc
                .evses
                .iter()
                .filter(|e| e.status == evfed_spec::ocpi::Status::Available)
                .count();
            json!({
                "type": "Feature",
                "id": format!("{}*{}/{}", loc.country_code.as_str(), loc.party_id.as_str(), loc.id.as_str()),
                "geometry": {
                    "type": "Point",
                    "coordinates": [loc.coordinates.lon(), loc.coordinates.lat()],
                },
                "properties": {
                    "country_code": loc.country_code.as_str(),
                    "party_id": loc.party_id.as_str(),
                    "location_id": loc.id.as_str(),
                    "name": loc.name,
                    "address": loc.address,
                    "city": loc.city,
                    "postal_code": loc.postal_code,
                    "borough": row.copy.place.borough,
                    "borough_name": area(row.copy.place.borough).1,
                    "ward": row.copy.place.ward,
                    "ward_name": area(row.copy.place.ward).1,
                    "operator": loc.operator.as_ref().map(|o| o.name.as_str()),
                    "evses": loc.evses.len(),
                    "evses_available": available,
                    "connectors": kws.len(),
                    "max_power_kw": (max_kw * 10.0).round() / 10.0,
                    "power_class": power_class(max_kw),
                    "last_updated": loc.last_updated.to_string(),
                    "sources": row.sources.join(" "),
                    "stale": row.stale,
                },
            })
        })
        .collect();
    json!({"type": "FeatureCollection", "features": features})
}

/// The rows as OCPI 2.2.1 Location objects (with the `evfed` extension member, which OCPI
/// readers ignore).
pub fn ocpi(rows: &[Row<'_>]) -> Value {
    Value::Array(rows.iter().map(|r| r.copy.to_json()).collect())
}
