//! Response bodies against the committed OpenAPI document (`spec/openapi/node.json`, §10.9).
//! The document is embedded; an operation's response schema is validated as a JSON Schema
//! 2020-12 document whose `components` are the OpenAPI document's, so every `$ref` to
//! `#/components/schemas/…` resolves locally.

use std::collections::HashMap;

use jsonschema::{Draft, Validator};
use serde_json::{Value, json};

/// `spec/openapi/node.json`, as committed.
pub const NODE_OPENAPI: &str = include_str!("../../spec/openapi/node.json");

/// Compiled validators, by operation, status and media type; built on first use.
pub struct Schemas {
    doc: Option<Value>,
    /// Path templates split into segments (`None` for a `{parameter}`).
    templates: Vec<(String, Vec<Option<String>>)>,
    compiled: HashMap<(String, String, u16, String), Option<Validator>>,
}

impl Schemas {
    pub fn new() -> Self {
        let doc: Option<Value> = serde_json::from_str(NODE_OPENAPI).ok();
        let mut templates = Vec::new();
        if let Some(paths) = doc.as_ref().and_then(|d| d["paths"].as_object()) {
            for p in paths.keys() {
                let segs = p
                    .trim_start_matches('/')
                    .split('/')
                    .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                    .collect();
                templates.push((p.clone(), segs));
            }
        }
        Self {
            doc,
            templates,
            compiled: HashMap::new(),
        }
    }

    /// The documented path template a concrete path matches; literal segments win over
    /// parameters.
    pub fn template(&self, path: &str) -> Option<&str> {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.templates
            .iter()
            .filter(|(_, t)| {
                t.len() == segs.len()
                    && t.iter()
                        .zip(&segs)
                        .all(|(t, s)| t.as_deref().is_none_or(|t| t == *s))
            })
            .max_by_key(|(_, t)| t.iter().filter(|s| s.is_some()).count())
            .map(|(p, _)| p.as_str())
    }

    /// Checks a response body against its operation's schema: `None` when the document gives
    /// no JSON schema for this (path, method, status, media type).
    pub fn check(
        &mut self,
        method: &str,
        path: &str,
        status: u16,
        media_type: &str,
        body: &[u8],
    ) -> Option<Result<(), String>> {
        if media_type != "application/json" && !media_type.ends_with("+json") {
            return None;
        }
        let template = self.template(path)?.to_owned();
        let key = (
            template.clone(),
            method.to_ascii_lowercase(),
            status,
            media_type.to_owned(),
        );
        if !self.compiled.contains_key(&key) {
            let v = self.compile(&key.0, &key.1, status, media_type);
            self.compiled.insert(key.clone(), v);
        }
        let validator = self.compiled.get(&key)?.as_ref()?;
        let instance: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return Some(Err(format!("body is not JSON: {e}"))),
        };
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .take(3)
            .map(|e| format!("{} at `{}`", e, e.instance_path()))
            .collect();
        Some(if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} {template} {status}: {}",
                method.to_ascii_uppercase(),
                errors.join("; ")
            ))
        })
    }

    fn compile(&self, template: &str, method: &str, status: u16, media: &str) -> Option<Validator> {
        let doc = self.doc.as_ref()?;
        let responses = &doc["paths"][template][method]["responses"];
        let response = responses
            .get(status.to_string())
            .or_else(|| responses.get(format!("{}XX", status / 100)))
            .or_else(|| responses.get("default"))?;
        let content = response.get("content")?.as_object()?;
        let schema = content
            .iter()
            .find(|(m, _)| m.split(';').next().is_some_and(|m| m.trim() == media))
            .map(|(_, c)| &c["schema"])?;
        let mut wrapped = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": doc["components"],
        });
        match schema {
            Value::Object(o) => {
                for (k, v) in o {
                    wrapped[k] = v.clone();
                }
            }
            _ => return None,
        }
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .build(&wrapped)
            .ok()
    }
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas")
            .field("compiled", &self.compiled.len())
            .finish()
    }
}

impl Default for Schemas {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_win_and_bodies_are_checked_against_components() {
        let mut s = Schemas::new();
        assert_eq!(s.template("/v1/log/checkpoint"), Some("/v1/log/checkpoint"));
        assert_eq!(
            s.template("/v1/locations/GB/ABC/L1"),
            Some("/v1/locations/{country_code}/{party_id}/{location_id}")
        );
        assert_eq!(s.template("/v1/nothing/here"), None);
        let proof = br#"{"hashes": ["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="]}"#;
        let ok = s.check(
            "GET",
            "/v1/log/proof/inclusion",
            200,
            "application/json",
            proof,
        );
        assert_eq!(ok, Some(Ok(())));
        let bad = s.check(
            "GET",
            "/v1/log/proof/inclusion",
            200,
            "application/json",
            br#"{"hashes": 3}"#,
        );
        assert!(matches!(bad, Some(Err(_))), "{bad:?}");
        let status =
            br#"[{"country_code": "GB", "party_id": "ABC", "location_id": "L1", "evse_uid": "E1",
                           "status": "WORKING", "event_time": "2026-11-21T10:00:00Z"}]"#;
        let bad = s.check("GET", "/v1/status", 200, "application/json", status);
        assert!(
            matches!(bad, Some(Err(ref m)) if m.contains("WORKING")),
            "{bad:?}"
        );
        assert_eq!(
            s.check(
                "GET",
                "/v1/log/entries",
                200,
                "application/x-ndjson",
                b"{}\n"
            ),
            None
        );
    }

    #[test]
    fn ocpi_answers_are_checked_against_the_envelope_and_the_object() {
        let mut s = Schemas::new();
        let mut check = |path: &str, status: u16, body: &str| {
            s.check("GET", path, status, "application/json", body.as_bytes())
        };
        let at = r#""timestamp": "2026-11-21T10:00:00Z""#;
        let empty = format!(r#"{{"data": [], "status_code": 1000, {at}}}"#);
        assert_eq!(check("/ocpi/2.2.1/locations", 200, &empty), Some(Ok(())));
        let no_code = format!(r#"{{"data": [], {at}}}"#);
        assert!(matches!(
            check("/ocpi/2.2.1/tariffs", 200, &no_code),
            Some(Err(_))
        ));
        let not_a_location = format!(r#"{{"data": [{{"id": "L1"}}], "status_code": 1000, {at}}}"#);
        let bad = check("/ocpi/2.2.1/locations", 200, &not_a_location);
        assert!(
            matches!(bad, Some(Err(ref m)) if m.contains("/data/0")),
            "{bad:?}"
        );
        let versions = format!(
            r#"{{"data": [{{"version": "2.2.1", "url": "https://n.example/ocpi/2.2.1"}}],
                 "status_code": 1000, {at}}}"#
        );
        assert_eq!(check("/ocpi/versions", 200, &versions), Some(Ok(())));
        let unknown = format!(r#"{{"status_code": 2003, "status_message": "unknown", {at}}}"#);
        assert_eq!(
            check("/ocpi/2.2.1/locations/L1", 404, &unknown),
            Some(Ok(()))
        );
        let success = format!(r#"{{"status_code": 1000, {at}}}"#);
        assert!(matches!(
            check("/ocpi/2.2.1/locations/L1", 404, &success),
            Some(Err(_))
        ));
    }
}
