//! What a node's operator sees at a glance (its `/` page): what the node is, what it holds and
//! how far its logs are signed.

use crate::config::{Config, Kind};
use crate::domain::Error;
use crate::domain::signer::Signer;
use crate::store::{LogId, RecordCounts, Store};

/// The node at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    pub origin: String,
    /// `borough`, `cpo` or `aggregator`.
    pub kind: &'static str,
    /// The area the node publishes for, in words: "Camden (E09000007)", "Greater London".
    pub area: String,
    pub records: RecordCounts,
    /// Each log: (entries, entries covered by its latest signed checkpoint).
    pub public: (u64, u64),
    pub restricted: (u64, u64),
}

/// Reads the counts and both logs' sizes in one snapshot. Blocking.
pub fn overview(config: &Config, store: &Store, signer: &Signer) -> Result<Overview, Error> {
    let (records, public, restricted) = store.read(|r| {
        Ok::<_, Error>((
            r.record_counts()?,
            r.size(LogId::Public)?,
            r.size(LogId::Restricted)?,
        ))
    })?;
    Ok(Overview {
        origin: config.origin.to_string(),
        kind: config.kind.as_str(),
        area: area(config),
        records,
        public: (public, signer.signed_size(LogId::Public)),
        restricted: (restricted, signer.signed_size(LogId::Restricted)),
    })
}

/// The node's area in words: its authority for a borough node, else its whole area set.
pub fn area(config: &Config) -> String {
    let set = config.area_set.set;
    match (config.kind, &config.area) {
        (Kind::Borough, Some(code)) => match set.get(code.as_str()) {
            Some(a) => format!("{} ({code})", a.name),
            None => code.to_string(),
        },
        _ => set.name.clone(),
    }
}
