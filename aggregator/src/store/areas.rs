//! What the dashboard's trends read from the harvest's reliability records: how many EVSEs
//! were in service in each month.

use rusqlite::params;

use super::{Store, StoreError};

/// EVSEs of one location with access time in one UTC month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationMonth {
    pub party: String,
    pub location_id: String,
    pub month_ms: i64,
    pub evses: u64,
}

impl Store {
    /// For each location and UTC month from `from_ms`, the EVSEs that had access time in
    /// service (any member's record of them; an EVSE counts once).
    pub fn evses_by_month(&self, from_ms: i64) -> Result<Vec<LocationMonth>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT party, location_id, month_ms, COUNT(DISTINCT evse_uid) FROM evse_month
             WHERE month_ms >= ?1 AND access_ms > 0
             GROUP BY party, location_id, month_ms",
        )?;
        let rows = stmt.query_map(params![from_ms], |r| {
            Ok(LocationMonth {
                party: r.get(0)?,
                location_id: r.get(1)?,
                month_ms: r.get(2)?,
                evses: r.get::<_, i64>(3)?.max(0) as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
