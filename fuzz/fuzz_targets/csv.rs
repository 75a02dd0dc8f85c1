//! CSV import rows (`evfed-node import csv`): a borough's asset register in the `evfed`
//! template or a National Chargepoint Registry export, read through the importer's public entry
//! points, `ingest::prepare` (a file read as a table and grouped into locations) and
//! `ingest::write` (each location built from its rows, checked against the quality rules and
//! the area filter, and handed to a sink in batches).
//!
//! The first byte picks the format (bit 0: NCR, else evfed) and whether only Greater London is
//! kept (bit 1); the rest is the file, written to a per-process file under `/dev/shm` because
//! `prepare` reads a path. The sink here is the check: it writes nothing.
//!
//! Invariants checked, for every location the importer would write:
//! - it has no `publish_allowed_to` (personal data never comes from a CSV file);
//! - its log entry encodes (`LogEntry::location_bytes`) and parses back to the same location,
//!   so nothing the importer makes is refused by a follower;
//! - the strict OCPI parse reads its JSON back unchanged.

use std::path::PathBuf;
use std::sync::LazyLock;

use evfed_node::parsers::ingest::{self, Area, Format, ImportOptions, NodeAreas, Sink};
use evfed_spec::api::{ItemOutcome, ItemResult};
use evfed_spec::entry::{EntryData, LogEntry, Parsed};
use evfed_spec::ids::Party;
use evfed_spec::ocpi::{self, Location};
use evfed_spec::time::DateTime;

/// Where each input is written; one file per fuzzer process.
static FILE: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("evfed-fuzz-csv-{}.csv", std::process::id()))
});

static PARTY: LazyLock<Option<Party>> = LazyLock::new(|| "GB*EVF".parse().ok());

/// A fixed time for every entry, so runs are reproducible.
static RECORDED_AT: LazyLock<Option<DateTime>> =
    LazyLock::new(|| "2025-01-01T00:00:00Z".parse().ok());

fn main() {
    assert!(PARTY.is_some() && RECORDED_AT.is_some());
    afl::fuzz!(|data: &[u8]| check(data));
    let _ = std::fs::remove_file(&*FILE);
}

fn check(data: &[u8]) {
    let (Some((&tag, file)), Some(party)) = (data.split_first(), PARTY.clone()) else {
        return;
    };
    let opts = ImportOptions {
        format: if tag & 1 != 0 {
            Format::Ncr
        } else {
            Format::Evfed
        },
        party,
        within: (tag & 2 != 0).then_some(Area::All),
        // London's boroughs and wards, a node's default area set.
        areas: NodeAreas::london(),
        dry_run: true,
        report: None,
    };
    if std::fs::write(&*FILE, file).is_err() {
        return;
    }
    let Ok(prepared) = ingest::prepare(&FILE, &opts) else {
        return;
    };
    let _ = ingest::write(prepared, &mut Check, &opts);
}

/// Takes every batch, checks each location, and answers that it was created.
#[derive(Debug)]
struct Check;

impl Sink for Check {
    fn put(&mut self, items: Vec<Location>) -> anyhow::Result<Vec<ItemResult>> {
        let Some(at) = *RECORDED_AT else {
            anyhow::bail!("no time");
        };
        Ok(items
            .into_iter()
            .map(|loc| {
                check_location(loc, at);
                ItemResult {
                    outcome: ItemOutcome::Created,
                    appended: 1,
                    code: None,
                    detail: None,
                }
            })
            .collect())
    }
}

fn check_location(loc: Location, at: DateTime) {
    assert!(
        loc.publish_allowed_to.is_empty(),
        "an import made personal data"
    );
    let bytes = match LogEntry::location_bytes(&loc, at) {
        Ok(b) => b,
        Err(e) => panic!("an imported location has no entry: {e}"),
    };
    match LogEntry::parse(&bytes) {
        Ok(Parsed::Known(entry)) => match entry.data {
            EntryData::Location(back) => assert_eq!(*back, loc, "location changed in its entry"),
            other => panic!("a location entry read back as {other:?}"),
        },
        other => panic!("an imported location's entry does not parse: {other:?}"),
    }
    let json = serde_json::to_vec(&loc).unwrap_or_default();
    match ocpi::parse::<Location>(&json) {
        Ok(back) => assert_eq!(back.value, loc, "location changed on the OCPI round trip"),
        Err(e) => panic!("an imported location is not valid OCPI: {e}"),
    }
}
