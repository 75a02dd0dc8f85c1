//! The known-failures file: cases a target is known to fail, each with a reason. A listed case
//! that fails is reported `known_failure` and does not fail the run; a listed case that passes
//! is `unexpected_pass` and does fail it, so the list cannot go stale.
//!
//! TOML:
//! ```toml
//! [[known]]
//! id = "realtime.heartbeat"
//! reason = "heartbeat every 600 s until release 2.3 (ticket OPS-88)"
//! ```
//! or JSON: `{"known": [{"id": "...", "reason": "..."}]}`.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// One listed case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownEntry {
    /// A case id, e.g. `pagination.link`.
    pub id: String,
    /// Why it fails; shown in reports. Must not be empty.
    pub reason: String,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownList {
    #[serde(default)]
    pub known: Vec<KnownEntry>,
}

/// Why a known-failures file was refused.
#[derive(Debug, thiserror::Error)]
pub enum KnownError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid known-failures file: {detail}")]
    Parse { path: String, detail: String },
    #[error("{path}: {detail}")]
    Invalid { path: String, detail: String },
}

impl KnownList {
    /// Reads a `.json` file as JSON and anything else as TOML; every id must name a case of the
    /// suite and every reason must be given.
    pub fn load(path: &Path) -> Result<Self, KnownError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KnownError::Read {
            path: p.clone(),
            source,
        })?;
        let list: KnownList = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| KnownError::Parse {
                path: p.clone(),
                detail: e.to_string(),
            })?
        } else {
            toml::from_str(&text).map_err(|e| KnownError::Parse {
                path: p.clone(),
                detail: e.to_string(),
            })?
        };
        list.check()
            .map_err(|detail| KnownError::Invalid { path: p, detail })?;
        Ok(list)
    }

    /// Every id names a case, once, with a reason.
    pub fn check(&self) -> Result<(), String> {
        let ids: Vec<&str> = crate::case::all().iter().map(|c| c.id).collect();
        let mut seen = std::collections::HashSet::new();
        for k in &self.known {
            if !ids.contains(&k.id.as_str()) {
                return Err(format!("unknown case id {:?}", k.id));
            }
            if k.reason.trim().is_empty() {
                return Err(format!("case {:?} is listed without a reason", k.id));
            }
            if !seen.insert(k.id.as_str()) {
                return Err(format!("case {:?} is listed twice", k.id));
            }
        }
        Ok(())
    }

    /// The reason a case is listed, if it is.
    pub fn reason(&self, id: &str) -> Option<&str> {
        self.known
            .iter()
            .find(|k| k.id == id)
            .map(|k| k.reason.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    #[test]
    fn toml_and_json_files_load_and_bad_entries_are_refused() {
        let (_d, p) = write(
            "known.toml",
            "[[known]]\nid = \"realtime.heartbeat\"\nreason = \"every 600 s until 2.3\"\n",
        );
        let k = KnownList::load(&p).unwrap();
        assert_eq!(
            k.reason("realtime.heartbeat"),
            Some("every 600 s until 2.3")
        );
        assert_eq!(k.reason("pagination.link"), None);

        let (_d, p) = write(
            "known.json",
            r#"{"known": [{"id": "quality.power", "reason": "survey booked"}]}"#,
        );
        assert_eq!(KnownList::load(&p).unwrap().known.len(), 1);

        for bad in [
            "[[known]]\nid = \"no.such\"\nreason = \"x\"\n",
            "[[known]]\nid = \"quality.power\"\nreason = \" \"\n",
            "[[known]]\nid = \"quality.power\"\nreason = \"x\"\n[[known]]\nid = \"quality.power\"\nreason = \"y\"\n",
            "[[known]]\nid = \"quality.power\"\nreason = \"x\"\nuntil = \"2027\"\n",
        ] {
            let (_d, p) = write("bad.toml", bad);
            assert!(KnownList::load(&p).is_err(), "{bad}");
        }
    }
}
