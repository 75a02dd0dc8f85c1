//! What the store's record methods take and give: rows of locations, EVSEs, tariffs and
//! statuses, list filters and pages. Plain data; the SQL that reads and writes them is in
//! `records` and `lists`.

/// A location's stored row.
#[derive(Debug, Clone)]
pub struct LocationRow {
    pub publish: bool,
    pub body: Vec<u8>,
    /// `None` in lists, which never serve it.
    pub publish_allowed_to: Option<Vec<u8>>,
    /// EVSEs whose status changed after `body` was written: their status and event time here
    /// are newer than the body's.
    pub pending: Vec<EvseRow>,
}

/// What applying one status change to the EVSE index did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusApplied {
    /// Stored; the EVSE's location is published (`true`) or not.
    Changed { publish: bool },
    /// Same status as stored, or older than the stored event time.
    Unchanged,
    /// No such EVSE.
    Missing,
}

/// An EVSE's current status as the store indexes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvseRow {
    pub uid: String,
    pub status: String,
    pub event_time_ms: i64,
    pub event_time: String,
}

/// What to write for a location: its row and its EVSEs' status index.
#[derive(Debug)]
pub struct LocationWrite<'a> {
    pub party: &'a str,
    pub id: &'a str,
    pub publish: bool,
    pub borough: Option<&'a str>,
    pub last_updated_ms: i64,
    pub body: &'a [u8],
    pub publish_allowed_to: Option<&'a [u8]>,
    pub evses: &'a [EvseRow],
}

/// Which rows a list read returns.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only these parties' rows (`None`: every party).
    pub party: Option<String>,
    /// Only rows in this borough (locations only).
    pub borough: Option<String>,
    /// `from_ms <= t < to_ms` on the list's time column.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Include unpublished locations: all of them (`All`) or one party's (`Party`).
    pub hidden: Hidden,
}

/// Which unpublished rows a reader may see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Hidden {
    #[default]
    None,
    Party(String),
    All,
}

/// Locations and EVSEs by whether they are published (`Reader::record_counts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordCounts {
    pub locations: u64,
    pub hidden_locations: u64,
    pub evses: u64,
    pub hidden_evses: u64,
}

/// One page of a list: matching rows in key order, and how many match in all.
#[derive(Debug)]
pub struct Page<T> {
    pub total: u64,
    pub items: Vec<T>,
    /// The public log's size in the snapshot the page was read from: what its
    /// `Evfed-Tree-Size` says (spec §10.1, RT-4).
    pub tree_size: u64,
}

/// A status row as `GET /v1/status` lists it.
#[derive(Debug, Clone)]
pub struct StatusRow {
    pub party: String,
    pub location_id: String,
    pub uid: String,
    pub status: String,
    pub event_time: String,
}
