//! Reading OCPI-shaped JSON: the types enforce required fields and bounds, unknown fields are
//! ignored and reported as warnings, and errors name the JSON path where they happened.
//!
//! OCPI 2.2.1 says nothing about unknown fields. evfed's rule: an unknown field is never stored
//! and never served, and each one is reported back as a [`Warning`], so a publisher learns that a
//! field it sends (a typo, or a field of another OCPI version) is being dropped.

use std::fmt::{self, Write as _};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::de::short;

/// A value read from JSON, with what was ignored along the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    pub value: T,
    /// In document order.
    pub warnings: Vec<Warning>,
}

/// Something accepted but not kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Warning {
    pub code: WarningCode,
    /// Where, e.g. `evses[0].floor`.
    #[schema(example = "evses[0].floor")]
    pub path: String,
}

/// The kind of warning, stable for clients to match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WarningCode {
    /// A member the standard does not define; it was ignored.
    UnknownField,
}

/// Why JSON could not be read as the wanted type.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The bytes are not one well-formed JSON document.
    InvalidJson(#[source] serde_json::Error),
    /// Well-formed JSON that is not I-JSON somewhere, unknown members included (duplicate
    /// names, a number a double cannot hold, an unpaired surrogate, nesting beyond
    /// [`crate::jcs::MAX_DEPTH`]): the same `invalid-json` as malformed text (§13).
    NotIJson(#[source] crate::jcs::IJsonError),
    /// Well-formed JSON that breaks a rule of the standard at `path` (empty for the whole
    /// document): a required field is missing, a value has the wrong type, is too long, out of
    /// range, or not one of the allowed values.
    InvalidField { path: String, message: String },
}

/// Reads one JSON document as `T`, enforcing the standard's rules, ignoring unknown fields and
/// reporting each as a warning. Trailing non-whitespace after the document is an error. The
/// whole document must be I-JSON first: serde skips an unknown member unchecked. Bounds nothing
/// about size: callers bound request bodies.
pub fn parse<T: DeserializeOwned>(json: &[u8]) -> Result<Parsed<T>, ParseError> {
    crate::jcs::check_ijson(json).map_err(ParseError::NotIJson)?;
    let mut warnings = Vec::new();
    let mut json_de = serde_json::Deserializer::from_slice(json);
    let mut on_ignored = |path: serde_ignored::Path| {
        warnings.push(Warning {
            code: WarningCode::UnknownField,
            path: json_path(&path),
        });
    };
    let tracked = serde_ignored::Deserializer::new(&mut json_de, &mut on_ignored);
    let value: T = serde_path_to_error::deserialize(tracked).map_err(ParseError::from_path)?;
    json_de.end().map_err(ParseError::InvalidJson)?;
    Ok(Parsed { value, warnings })
}

/// Reads JSON already parsed by serde_json as `T` under the same rules as [`parse`], with the
/// same errors and warnings (in the value's member order), without encoding it to text and
/// parsing that again: for a value a caller has changed after reading it (a pushed or pulled
/// object repaired field by field). serde_json's own reading already refused what [`parse`]'s
/// I-JSON check refuses in a value that survives it (numbers out of range, unpaired
/// surrogates, nesting beyond [`crate::jcs::MAX_DEPTH`]), and it keeps one member of each name.
pub fn parse_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<Parsed<T>, ParseError> {
    let mut warnings = Vec::new();
    let mut on_ignored = |path: serde_ignored::Path| {
        warnings.push(Warning {
            code: WarningCode::UnknownField,
            path: json_path(&path),
        });
    };
    let tracked = serde_ignored::Deserializer::new(value, &mut on_ignored);
    let value: T = serde_path_to_error::deserialize(tracked).map_err(ParseError::from_path)?;
    Ok(Parsed { value, warnings })
}

impl WarningCode {
    /// The code as serialised, e.g. `unknown-field`.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningCode::UnknownField => "unknown-field",
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            WarningCode::UnknownField => write!(f, "{}: unknown field, ignored", self.path),
        }
    }
}

impl ParseError {
    /// A stable kebab-case code for problem+json bodies.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::InvalidJson(_) | ParseError::NotIJson(_) => "invalid-json",
            ParseError::InvalidField { .. } => "invalid-field",
        }
    }

    /// The JSON path of the offending field, e.g. `evses[0].connectors[0].power_type`; `None`
    /// for malformed JSON.
    pub fn path(&self) -> Option<&str> {
        match self {
            ParseError::InvalidJson(_) | ParseError::NotIJson(_) => None,
            ParseError::InvalidField { path, .. } => Some(path),
        }
    }

    fn from_path(err: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let mut path = match err.path().to_string() {
            root if root == "." => String::new(),
            p => p,
        };
        let inner = err.into_inner();
        if !inner.is_data() {
            return ParseError::InvalidJson(inner);
        }
        // serde_json appends the position; the path says where better.
        let full = inner.to_string();
        let position = format!(" at line {} column {}", inner.line(), inner.column());
        let message = full.strip_suffix(&position).unwrap_or(&full);
        // serde reports a missing field at its parent; point at the field itself.
        let message = match message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
        {
            Some(field) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(field);
                "required field is missing".to_owned()
            }
            None => bounded(message),
        };
        ParseError::InvalidField { path, message }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::InvalidJson(e) => write!(f, "not valid JSON: {e}"),
            ParseError::NotIJson(
                e @ (crate::jcs::IJsonError::Syntax(_) | crate::jcs::IJsonError::NotUtf8(_)),
            ) => write!(f, "not valid JSON: {e}"),
            ParseError::NotIJson(e) => write!(f, "not I-JSON: {e}"),
            ParseError::InvalidField { path, message } if path.is_empty() => f.write_str(message),
            ParseError::InvalidField { path, message } => write!(f, "{path}: {message}"),
        }
    }
}

/// serde messages quote the offending input; keep what is echoed back short.
fn bounded(message: &str) -> String {
    const MAX: usize = 300;
    if message.chars().count() <= MAX {
        return message.to_owned();
    }
    let mut out: String = message.chars().take(MAX).collect();
    out.push('…');
    out
}

/// `evses[0].floor` from serde_ignored's path.
fn json_path(path: &serde_ignored::Path) -> String {
    fn walk(path: &serde_ignored::Path, out: &mut String) {
        use serde_ignored::Path;
        match path {
            Path::Root => {}
            Path::Seq { parent, index } => {
                walk(parent, out);
                let _ = write!(out, "[{index}]");
            }
            Path::Map { parent, key } => {
                walk(parent, out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&short(key));
            }
            Path::Some { parent }
            | Path::NewtypeStruct { parent }
            | Path::NewtypeVariant { parent } => walk(parent, out),
        }
    }
    let mut out = String::new();
    walk(path, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocpi::{DisplayText, Tariff};

    #[test]
    fn paths_of_unknown_fields_and_errors() {
        let parsed = parse::<Vec<DisplayText>>(
            br#"[{"language":"en","text":"a"},{"language":"cy","text":"b","x":{"deep":1}}]"#,
        )
        .unwrap();
        assert_eq!(parsed.warnings.len(), 1);
        assert_eq!(parsed.warnings[0].path, "[1].x");
        assert_eq!(
            parsed.warnings[0].to_string(),
            "[1].x: unknown field, ignored"
        );

        let e = parse::<Tariff>(b"\"GB*LPC\"").unwrap_err();
        assert_eq!((e.code(), e.path()), ("invalid-field", Some("")));
        assert!(e.to_string().starts_with("invalid type: string"), "{e}");

        let e = parse::<DisplayText>(br#"{"language":"en"}"#).unwrap_err();
        assert_eq!(e.to_string(), "text: required field is missing");

        let e = parse::<DisplayText>(br#"{"language":"en","text":"a""#).unwrap_err();
        assert_eq!((e.code(), e.path()), ("invalid-json", None));
    }

    /// serde skips an unknown member without looking inside; the standard refuses non-I-JSON
    /// anywhere, and a half-million-deep array must not reach the stack.
    #[test]
    fn non_i_json_inside_unknown_members_is_invalid_json() {
        let deep = format!(
            r#"{{"language":"en","text":"a","x":{}}}"#,
            "[".repeat(500_000)
        );
        for body in [
            &br#"{"language":"en","text":"a","x":{"k":1,"k":2}}"#[..],
            br#"{"language":"en","text":"a","x":[1e400]}"#,
            br#"{"language":"en","text":"a","x":"\ud800"}"#,
            br#"{"language":"en","text":"a","text":"b"}"#,
            deep.as_bytes(),
        ] {
            let e = parse::<DisplayText>(body).unwrap_err();
            assert!(matches!(e, ParseError::NotIJson(_)), "{e}");
            assert_eq!((e.code(), e.path()), ("invalid-json", None));
        }
        assert!(parse::<DisplayText>(br#"{"language":"en","text":"a","x":[1e300]}"#).is_ok());
    }

    /// A value read by serde_json gives what its text gives: the same object, warnings and
    /// errors, over every Location the test data holds, valid or not.
    #[test]
    fn a_parsed_value_reads_as_its_text_does() {
        use crate::ocpi::Location;
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/ocpi");
        let mut seen = 0;
        for sub in ["valid", "invalid"] {
            for file in std::fs::read_dir(format!("{dir}/{sub}")).unwrap() {
                let path = file.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if !name.starts_with("location_") {
                    continue;
                }
                let bytes = std::fs::read(&path).unwrap();
                let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                    continue;
                };
                let text = parse::<Location>(&bytes);
                let from_value = parse_value::<Location>(value);
                match (text, from_value) {
                    (Ok(mut a), Ok(mut b)) => {
                        // The value's members come in name order, the text's in its own.
                        a.warnings.sort_by(|x, y| x.path.cmp(&y.path));
                        b.warnings.sort_by(|x, y| x.path.cmp(&y.path));
                        assert_eq!(a, b, "{name}");
                    }
                    (Err(a), Err(b)) => {
                        assert_eq!((a.code(), a.path()), (b.code(), b.path()), "{name}");
                        assert_eq!(a.to_string(), b.to_string(), "{name}");
                    }
                    (a, b) => panic!("{name}: {a:?} from the text, {b:?} from the value"),
                }
                seen += 1;
            }
        }
        assert!(seen > 10, "{seen} locations");
    }

    #[test]
    fn echoed_input_is_bounded() {
        let hostile = format!(r#"{{"language":"en","text":{}}}"#, "1".repeat(10_000));
        let e = parse::<DisplayText>(hostile.as_bytes()).unwrap_err();
        assert!(e.to_string().chars().count() < 400, "{e}");
        let long_key = format!(
            r#"{{"language":"en","text":"a","{}":1}}"#,
            "k".repeat(10_000)
        );
        let w = parse::<DisplayText>(long_key.as_bytes()).unwrap().warnings;
        assert!(w[0].path.chars().count() < 60);
    }
}
