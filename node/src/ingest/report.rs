//! The import report (`--report PATH`): one JSON object per line for every rejected row, every
//! row outside the area, and every value the importer changed or dropped, each with the line of
//! the file where its row starts and a stable code.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

/// What a finding means for its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The row was not written, and nothing of its location was.
    Rejected,
    /// The row lies outside the node's area (or the `--within-borough` area) and was left out.
    Outside,
    /// The row was kept, with a value changed or left out as the reason says.
    Warning,
}

/// One thing to say about one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The line of the file where the row starts (the header is line 1).
    pub line: u64,
    pub kind: FindingKind,
    /// A stable code (see `node/docs/import.md`): the importer's own, or the problem code the node
    /// answered with.
    pub code: &'static str,
    pub reason: String,
}

/// Where findings go: a JSON-lines file, or nowhere.
#[derive(Debug)]
pub struct Report {
    out: Option<(PathBuf, BufWriter<File>)>,
}

#[derive(Serialize)]
struct Line<'a> {
    line: u64,
    #[serde(skip_serializing_if = "str::is_empty")]
    location_id: &'a str,
    result: FindingKind,
    code: &'a str,
    reason: &'a str,
}

impl Finding {
    pub fn new(line: u64, kind: FindingKind, code: &'static str, reason: String) -> Self {
        Self {
            line,
            kind,
            code,
            reason,
        }
    }

    pub fn rejected(line: u64, code: &'static str, reason: impl Into<String>) -> Self {
        Self::new(line, FindingKind::Rejected, code, reason.into())
    }

    pub fn warning(line: u64, code: &'static str, reason: impl Into<String>) -> Self {
        Self::new(line, FindingKind::Warning, code, reason.into())
    }
}

impl Report {
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file = File::create(path)
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
        Ok(Self {
            out: Some((path.to_owned(), BufWriter::new(file))),
        })
    }

    pub fn none() -> Self {
        Self { out: None }
    }

    /// Writes `finding` about the location `id` (empty for the file as a whole).
    pub fn write(&mut self, finding: &Finding, id: &str) -> anyhow::Result<()> {
        let Some((path, out)) = &mut self.out else {
            return Ok(());
        };
        let line = Line {
            line: finding.line,
            location_id: id,
            result: finding.kind,
            code: finding.code,
            reason: &finding.reason,
        };
        serde_json::to_writer(&mut *out, &line)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .with_context(|| format!("writing {}", path.display()))
    }

    pub fn finish(self) -> anyhow::Result<()> {
        if let Some((path, mut out)) = self.out {
            out.flush()
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}
