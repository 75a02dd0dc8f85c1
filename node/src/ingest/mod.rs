//! `evfed-node import csv`: reads a borough asset register (the `evfed` CSV template) or a
//! National Chargepoint Registry export, turns it into OCPI Locations, optionally keeps only
//! those inside the node's area set or one authority, and writes them through the domain layer
//! ([`crate::domain::import`]), in process or into a serving node
//! (`POST /v1/admin/locations`). Every row ends as created, updated, unchanged, rejected or
//! outside the area, and every rejected or filtered row is reported with its line and reason.
//!
//! `node/docs/import.md` documents both formats and every mapping.
//!
//! Architecture Invariant: the importer never writes the database itself; every change goes
//! through `domain::import::put_locations`, under the rules of a `PUT`.

mod evfed;
mod ncr;
pub mod quality;
mod report;
mod sink;
mod table;
mod text;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use evfed_spec::api::{ItemOutcome, ItemResult};
use evfed_spec::ext::GssCode;
use evfed_spec::ids::Party;
use evfed_spec::ocpi::Location;
use evfed_spec::time::DateTime;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::domain::areas::NodeAreas;
use crate::domain::records::MAX_BATCH;

pub use report::{Finding, FindingKind, Report};
pub use sink::{Local, Remote, Sink};

/// The party NCR charge devices are published under unless `--party` says otherwise.
pub const NCR_DEFAULT_PARTY: &str = "GB*NCR";

/// The file formats `import csv` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// evfed's asset-register template: one row per connector.
    Evfed,
    /// A National Chargepoint Registry export: one row per charge device.
    Ncr,
}

/// Which locations to keep (`--within-borough`), judged by the node's area set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Area {
    /// Inside any authority of the set (`london`, or `all` in any city).
    All,
    /// Inside this authority (a code of the set; a London borough's GSS code).
    Authority(GssCode),
}

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub format: Format,
    /// Owner of every imported location.
    pub party: Party,
    pub within: Option<Area>,
    /// The area set `within` is judged by (the node's).
    pub areas: NodeAreas,
    pub dry_run: bool,
    /// Where to write the per-row report (JSON lines).
    pub report: Option<PathBuf>,
}

/// Rows and locations by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub read: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    pub outside: u64,
}

/// The result of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub rows: Counts,
    pub locations: Counts,
    /// Log entries appended (would be appended, in a dry run).
    pub appended: u64,
    /// Findings that changed or dropped a value but kept the row.
    pub warnings: u64,
}

/// One location as read from the file, before it is written.
#[derive(Debug)]
struct Candidate {
    about: About,
    /// Its position (latitude, longitude), when the file gives a readable one.
    point: Option<(f64, f64)>,
    /// The location, or why the rows cannot make one.
    built: Result<Location, Finding>,
}

/// What the report says about a candidate besides its outcome.
#[derive(Debug, Default)]
struct About {
    /// The location id as written in the file.
    id: String,
    /// The lines of the rows it was built from (never empty).
    lines: Vec<u64>,
    /// Values changed or dropped on the way.
    warnings: Vec<Finding>,
}

/// A file read and grouped into locations, ready to be built and written.
pub struct Prepared {
    path: PathBuf,
    /// Rows as the format reads them (an NCR row split over two records is one row).
    rows: u64,
    plan: Plan,
    /// Findings about the file as a whole (e.g. a duplicated header column).
    notes: Vec<Finding>,
}

/// How a format turns its rows into locations.
enum Plan {
    Evfed(evfed::Plan),
    Ncr(Box<ncr::Plan>),
}

impl Plan {
    fn len(&self) -> usize {
        match self {
            Plan::Evfed(p) => p.len(),
            Plan::Ncr(p) => p.len(),
        }
    }

    fn build(&self, i: usize) -> Candidate {
        match self {
            Plan::Evfed(p) => p.build(i),
            Plan::Ncr(p) => p.build(i),
        }
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .field("locations", &self.plan.len())
            .finish()
    }
}

/// Locations built ahead of the writer, per hand-over.
const BUILD_CHUNK: usize = 250;

impl Summary {
    /// The summary as printed at the end of an import.
    pub fn render(&self, dry_run: bool) -> String {
        let (r, l) = (&self.rows, &self.locations);
        let would = if dry_run { "would be " } else { "" };
        let mut out = format!(
            "{:<26}{:>9}{:>11}\n",
            if dry_run { "dry run" } else { "import" },
            "rows",
            "locations"
        );
        for (name, a, b) in [
            ("read".to_owned(), r.read, l.read),
            (format!("{would}created"), r.created, l.created),
            (format!("{would}updated"), r.updated, l.updated),
            ("unchanged".to_owned(), r.unchanged, l.unchanged),
            ("rejected".to_owned(), r.rejected, l.rejected),
            ("outside the area".to_owned(), r.outside, l.outside),
        ] {
            out.push_str(&format!("  {name:<24}{a:>9}{b:>11}\n"));
        }
        out.push_str(&format!(
            "log entries {would}appended: {}; warnings: {}\n",
            self.appended, self.warnings
        ));
        out
    }
}

impl Area {
    /// Parses `london` or `all` (the whole area set), or an authority's code.
    pub fn parse(s: &str) -> Result<Area, String> {
        if s.eq_ignore_ascii_case("london") || s.eq_ignore_ascii_case("all") {
            return Ok(Area::All);
        }
        let code: GssCode = s
            .parse()
            .map_err(|e| format!("{e}; or `london` / `all` for the whole area set"))?;
        Ok(Area::Authority(code))
    }

    /// The area an import into a node keeps: `within` (`--within-borough`) narrowed to the
    /// node's own area (its authority for a borough node, else the whole area set), so an
    /// import never writes a location the node would flag `outside_area`. `Err` when `within`
    /// names no authority of the set, or the two do not overlap.
    pub fn for_node(
        kind: crate::config::Kind,
        own: Option<&GssCode>,
        within: Option<&Area>,
        areas: &NodeAreas,
    ) -> Result<Area, String> {
        if let Some(Area::Authority(code)) = within {
            areas.authority(code)?;
        }
        let own = match (kind, own) {
            (crate::config::Kind::Borough, Some(b)) => Area::Authority(b.clone()),
            _ => Area::All,
        };
        match (own, within) {
            (own, None | Some(Area::All)) => Ok(own),
            (Area::All, Some(within)) => Ok(within.clone()),
            (Area::Authority(own), Some(Area::Authority(w))) if &own == w => {
                Ok(Area::Authority(own))
            }
            (Area::Authority(own), Some(Area::Authority(w))) => Err(format!(
                "this node publishes authority {own}; --within-borough {w} would keep nothing \
                 (a node publishes only its own area's locations)"
            )),
        }
    }

    /// Why a point is outside this area, or `None` when it is inside.
    fn excludes(&self, areas: &NodeAreas, lat: f64, lon: f64) -> Option<String> {
        let set = areas.set;
        let found = set.place(lat, lon).map(|p| p.authority);
        match (self, found) {
            (Area::All, Some(_)) => None,
            (Area::All, None) => Some(format!("{lat}, {lon} is outside {}", set.name)),
            (Area::Authority(code), Some(a)) if a.code == code.as_str() => None,
            (Area::Authority(code), Some(a)) => Some(format!(
                "{lat}, {lon} is in {} ({}), not {code}",
                a.name, a.code
            )),
            (Area::Authority(code), None) => Some(format!(
                "{lat}, {lon} is outside {}, so not in {code}",
                set.name
            )),
        }
    }
}

/// Reads and converts `path`. Fails (before anything is written) when the file cannot be read
/// or its header is not the format's; problems of single rows become findings instead.
pub fn prepare(path: &Path, opts: &ImportOptions) -> anyhow::Result<Prepared> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let table = table::Table::read(std::io::BufReader::with_capacity(1 << 16, file))
        .with_context(|| format!("cannot read {} as CSV", path.display()))?;
    let now = DateTime::now();
    let not_format = || format!("{} is not in the {} format", path.display(), opts.format);
    let (plan, rows, notes) = match opts.format {
        Format::Evfed => {
            let plan = evfed::Plan::new(table, &opts.party, now).with_context(not_format)?;
            let rows = plan.rows();
            (Plan::Evfed(plan), rows, Vec::new())
        }
        Format::Ncr => {
            let (plan, notes) = ncr::Plan::new(table, &opts.party, now).with_context(not_format)?;
            let rows = plan.len() as u64;
            (Plan::Ncr(Box::new(plan)), rows, notes)
        }
    };
    Ok(Prepared {
        path: path.to_owned(),
        rows,
        plan,
        notes,
    })
}

/// Writes `prepared` through `sink` in batches of at most [`MAX_BATCH`] locations, showing
/// progress on a terminal, and returns the summary. Rejected and filtered rows, and warnings,
/// go to the report. Locations of a larger file are built on a second thread while the batches
/// are written.
pub fn write(
    prepared: Prepared,
    sink: &mut dyn Sink,
    opts: &ImportOptions,
) -> anyhow::Result<Summary> {
    let mut out = Outcomes {
        summary: Summary {
            rows: Counts {
                read: prepared.rows,
                ..Counts::default()
            },
            locations: Counts {
                read: prepared.plan.len() as u64,
                ..Counts::default()
            },
            ..Summary::default()
        },
        report: match &opts.report {
            Some(p) => Report::create(p)?,
            None => Report::none(),
        },
        progress: progress_bar(prepared.rows),
    };
    for note in &prepared.notes {
        out.report.write(note, "")?;
        eprintln!("evfed-node: {}: {}", prepared.path.display(), note.reason);
    }
    let plan = &prepared.plan;
    let mut batch = Batch::default();
    if plan.len() <= BUILD_CHUNK {
        // One chunk: a second thread would only add its start-up.
        for i in 0..plan.len() {
            out.take(plan.build(i), opts, sink, &mut batch)?;
        }
    } else {
        std::thread::scope(|scope| {
            let (chunks, built) = std::sync::mpsc::sync_channel::<Vec<Candidate>>(4);
            scope.spawn(move || {
                let mut chunk = Vec::with_capacity(BUILD_CHUNK);
                for i in 0..plan.len() {
                    chunk.push(plan.build(i));
                    if chunk.len() == BUILD_CHUNK
                        && chunks.send(std::mem::take(&mut chunk)).is_err()
                    {
                        return; // the writer stopped
                    }
                }
                let _ = chunks.send(chunk);
            });
            for c in built.into_iter().flatten() {
                out.take(c, opts, sink, &mut batch)?;
            }
            anyhow::Ok(())
        })?;
    }
    out.flush(sink, &mut batch)?;
    out.progress.finish_and_clear();
    out.report.finish()?;
    Ok(out.summary)
}

/// Locations waiting to be written, and what to report about each.
#[derive(Default)]
struct Batch {
    about: Vec<About>,
    items: Vec<Location>,
}

/// What an import has done so far.
struct Outcomes {
    summary: Summary,
    report: Report,
    progress: ProgressBar,
}

impl Outcomes {
    /// Settles one candidate: refused when outside the area or failing the quality rules, else
    /// added to `batch`, which is sent when full.
    fn take(
        &mut self,
        c: Candidate,
        opts: &ImportOptions,
        sink: &mut dyn Sink,
        batch: &mut Batch,
    ) -> anyhow::Result<()> {
        let outside = match (&opts.within, c.point) {
            (Some(area), Some((lat, lon))) => area.excludes(&opts.areas, lat, lon),
            _ => None,
        };
        if let Some(reason) = outside {
            let line = c.about.lines.first().copied().unwrap_or(0);
            let f = Finding::new(line, FindingKind::Outside, "outside-area", reason);
            return self.refused(&c.about, &f);
        }
        let mut about = c.about;
        let checked = c.built.and_then(|mut loc| {
            let line = about.lines.first().copied().unwrap_or(0);
            quality::check(&mut loc, line, &mut about.warnings).map(|()| loc)
        });
        match checked {
            Ok(loc) => {
                batch.about.push(about);
                batch.items.push(loc);
            }
            Err(f) => self.refused(&about, &f)?,
        }
        if batch.items.len() == MAX_BATCH {
            self.flush(sink, batch)?;
        }
        Ok(())
    }

    /// Sends one batch and settles its candidates.
    fn flush(&mut self, sink: &mut dyn Sink, batch: &mut Batch) -> anyhow::Result<()> {
        if batch.items.is_empty() {
            return Ok(());
        }
        let count = batch.items.len();
        let results = sink.put(std::mem::take(&mut batch.items))?;
        if results.len() != count {
            bail!(
                "the node answered {} results for {count} locations",
                results.len()
            );
        }
        for (about, result) in batch.about.drain(..).zip(results) {
            self.written(&about, &result)?;
        }
        Ok(())
    }

    /// Counts and reports a candidate the node took (or refused).
    fn written(&mut self, about: &About, result: &ItemResult) -> anyhow::Result<()> {
        let rows = about.lines.len() as u64;
        let (r, l) = (&mut self.summary.rows, &mut self.summary.locations);
        let (row_count, location_count) = match result.outcome {
            ItemOutcome::Created => (&mut r.created, &mut l.created),
            ItemOutcome::Updated => (&mut r.updated, &mut l.updated),
            ItemOutcome::Unchanged => (&mut r.unchanged, &mut l.unchanged),
            ItemOutcome::Rejected => (&mut r.rejected, &mut l.rejected),
        };
        *row_count += rows;
        *location_count += 1;
        self.summary.appended += result.appended;
        if result.outcome == ItemOutcome::Rejected {
            let code = result.code.map_or("rejected", |c| c.as_str());
            let reason = result.detail.clone().unwrap_or_default();
            for line in &about.lines {
                let f = Finding::new(*line, FindingKind::Rejected, code, reason.clone());
                self.report.write(&f, &about.id)?;
            }
        } else {
            for w in &about.warnings {
                self.summary.warnings += 1;
                self.report.write(w, &about.id)?;
            }
        }
        self.progress.inc(rows);
        Ok(())
    }

    /// Counts and reports a candidate rejected or left out before any write. A group of rows
    /// is reported row by row: the row at fault with its reason, the others as refused with it.
    fn refused(&mut self, about: &About, finding: &Finding) -> anyhow::Result<()> {
        let rows = about.lines.len() as u64;
        let (r, l) = (&mut self.summary.rows, &mut self.summary.locations);
        let (row_count, location_count) = match finding.kind {
            FindingKind::Outside => (&mut r.outside, &mut l.outside),
            FindingKind::Rejected | FindingKind::Warning => (&mut r.rejected, &mut l.rejected),
        };
        *row_count += rows;
        *location_count += 1;
        for line in &about.lines {
            if *line == finding.line {
                self.report.write(finding, &about.id)?;
            } else {
                let f = Finding::new(
                    *line,
                    finding.kind,
                    finding.code,
                    format!("with line {}: {}", finding.line, finding.reason),
                );
                self.report.write(&f, &about.id)?;
            }
        }
        self.progress.inc(rows);
        Ok(())
    }
}

/// A progress bar on standard error when it is a terminal; hidden otherwise.
fn progress_bar(rows: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(rows), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {per_sec}  eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Evfed => "evfed",
            Format::Ncr => "ncr",
        })
    }
}
