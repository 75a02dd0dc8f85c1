//! Current state, one record at a time: locations with their EVSE status index (and the
//! pending statuses a batched status change leaves, `Tx::apply_status`), tariffs and sessions,
//! read and written by key.

use rusqlite::{Connection, OptionalExtension, params};

use super::{
    EvseRow, LocationRow, LocationWrite, Reader, RecordCounts, StatusApplied, StoreError, Tx,
    get_u64,
};

impl Tx<'_> {
    pub fn location(&self, party: &str, id: &str) -> Result<Option<LocationRow>, StoreError> {
        location_row(&self.tx, party, id)
    }

    /// Creates or replaces a location and its EVSE index.
    pub fn put_location(&mut self, w: &LocationWrite<'_>) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO location (party, id, publish, borough, last_updated_ms, body, publish_allowed_to)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (party, id) DO UPDATE SET publish = ?3, borough = ?4,
                   last_updated_ms = ?5, body = ?6, publish_allowed_to = ?7",
            )?
            .execute(params![
                w.party,
                w.id,
                w.publish,
                w.borough,
                w.last_updated_ms,
                w.body,
                w.publish_allowed_to
            ])?;
        self.tx
            .prepare_cached("DELETE FROM evse WHERE party = ?1 AND location_id = ?2")?
            .execute(params![w.party, w.id])?;
        let mut insert = self.tx.prepare_cached(
            "INSERT INTO evse (party, location_id, uid, status, event_time_ms, event_time, publish)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for e in w.evses {
            insert.execute(params![
                w.party,
                w.id,
                e.uid,
                e.status,
                e.event_time_ms,
                e.event_time,
                w.publish
            ])?;
        }
        Ok(())
    }

    /// Replaces a location's body with one that includes its pending EVSE statuses, which are
    /// then no longer pending. Nothing a reader sees changes.
    pub fn fold_location(
        &mut self,
        party: &str,
        id: &str,
        last_updated_ms: i64,
        body: &[u8],
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "UPDATE location SET body = ?3, last_updated_ms = ?4 WHERE party = ?1 AND id = ?2",
            )?
            .execute(params![party, id, body, last_updated_ms])?;
        self.tx
            .prepare_cached(
                "UPDATE evse SET pending = 0 WHERE party = ?1 AND location_id = ?2 AND pending = 1",
            )?
            .execute(params![party, id])?;
        Ok(())
    }

    /// Up to `max` locations (party, id) with pending EVSE statuses.
    pub fn pending_locations(&self, max: usize) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT DISTINCT party, location_id FROM evse WHERE pending = 1 LIMIT ?1",
        )?;
        let rows = stmt.query_map([max as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records an EVSE's new status in the EVSE index alone (the location's body is left as it
    /// is and the EVSE marked pending), unless it equals the stored status or is older than the
    /// stored event time.
    pub fn apply_status(
        &mut self,
        party: &str,
        location_id: &str,
        evse: &EvseRow,
    ) -> Result<StatusApplied, StoreError> {
        // A point read and a plain update: `UPDATE … RETURNING` cost about twice as much, its
        // returned row being kept in a temporary table for every change.
        let stored = self
            .tx
            .prepare_cached(
                "SELECT status = ?4, event_time_ms, publish FROM evse
                 WHERE party = ?1 AND location_id = ?2 AND uid = ?3",
            )?
            .query_row(params![party, location_id, evse.uid, evse.status], |r| {
                Ok((
                    r.get::<_, bool>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, bool>(2)?,
                ))
            })
            .optional()?;
        let Some((same, stored_ms, publish)) = stored else {
            return Ok(StatusApplied::Missing);
        };
        if same || stored_ms > evse.event_time_ms {
            return Ok(StatusApplied::Unchanged);
        }
        self.tx
            .prepare_cached(
                "UPDATE evse SET status = ?4, event_time_ms = ?5, event_time = ?6, pending = 1
                 WHERE party = ?1 AND location_id = ?2 AND uid = ?3",
            )?
            .execute(params![
                party,
                location_id,
                evse.uid,
                evse.status,
                evse.event_time_ms,
                evse.event_time
            ])?;
        Ok(StatusApplied::Changed { publish })
    }

    pub fn evses(&self, party: &str, location_id: &str) -> Result<Vec<EvseRow>, StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT uid, status, event_time_ms, event_time FROM evse
             WHERE party = ?1 AND location_id = ?2 ORDER BY uid",
        )?;
        let rows = stmt.query_map(params![party, location_id], evse_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn tariff(&self, party: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        body_of(&self.tx, "tariff", party, id)
    }

    pub fn put_tariff(
        &mut self,
        party: &str,
        id: &str,
        last_updated_ms: i64,
        body: &[u8],
    ) -> Result<(), StoreError> {
        put_body(
            &self.tx,
            "tariff",
            "last_updated_ms",
            party,
            id,
            last_updated_ms,
            body,
        )
    }

    /// Removes a tariff; false when there was none.
    pub fn delete_tariff(&mut self, party: &str, id: &str) -> Result<bool, StoreError> {
        let n = self
            .tx
            .prepare_cached("DELETE FROM tariff WHERE party = ?1 AND id = ?2")?
            .execute(params![party, id])?;
        Ok(n > 0)
    }

    pub fn session(&self, party: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        body_of(&self.tx, "session", party, id)
    }

    pub fn put_session(
        &mut self,
        party: &str,
        id: &str,
        start_ms: i64,
        body: &[u8],
    ) -> Result<(), StoreError> {
        put_body(&self.tx, "session", "start_ms", party, id, start_ms, body)
    }
}

impl Reader<'_> {
    pub fn location(&self, party: &str, id: &str) -> Result<Option<LocationRow>, StoreError> {
        location_row(self.conn, party, id)
    }

    /// How many locations and EVSEs the node holds: published, and hidden (`publish: false`).
    pub fn record_counts(&self) -> Result<RecordCounts, StoreError> {
        let count = |sql: &str| {
            self.conn
                .prepare_cached(sql)?
                .query_row([], |r| Ok((get_u64(r, 0)?, get_u64(r, 1)?)))
        };
        let sum = "SELECT COALESCE(SUM(publish = 1), 0), COALESCE(SUM(publish = 0), 0)";
        let (locations, hidden_locations) = count(&format!("{sum} FROM location"))?;
        let (evses, hidden_evses) = count(&format!("{sum} FROM evse"))?;
        Ok(RecordCounts {
            locations,
            hidden_locations,
            evses,
            hidden_evses,
        })
    }

    /// The keys `(party, id)` of every location, published or hidden, in key order.
    pub fn location_keys(&self, published: bool) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT party, id FROM location WHERE publish = ?1 ORDER BY party, id",
        )?;
        let rows = stmt.query_map([published], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Published locations with this id, of any party (the OCPI surface names locations by id
    /// alone). At most `max`.
    pub fn published_locations_with_id(
        &self,
        id: &str,
        max: u64,
    ) -> Result<Vec<LocationRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT party FROM location WHERE id = ?1 AND publish = 1 ORDER BY party LIMIT ?2",
        )?;
        let parties = stmt
            .query_map(params![id, max as i64], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut rows = Vec::with_capacity(parties.len());
        for party in parties {
            if let Some(mut row) = location_row(self.conn, &party, id)? {
                row.publish_allowed_to = None;
                rows.push(row);
            }
        }
        Ok(rows)
    }

    pub fn tariff(&self, party: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        body_of(self.conn, "tariff", party, id)
    }
}

/// The body of record `party`/`id` in `table` (`tariff` or `session`).
pub(super) fn body_of(
    conn: &Connection,
    table: &str,
    party: &str,
    id: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT body FROM {table} WHERE party = ?1 AND id = ?2"
        ))?
        .query_row(params![party, id], |r| r.get(0))
        .optional()?)
}

/// Creates or replaces record `party`/`id` of `table` with its time column `time`.
fn put_body(
    conn: &Connection,
    table: &str,
    time: &str,
    party: &str,
    id: &str,
    time_ms: i64,
    body: &[u8],
) -> Result<(), StoreError> {
    conn.prepare_cached(&format!(
        "INSERT INTO {table} (party, id, {time}, body) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (party, id) DO UPDATE SET {time} = ?3, body = ?4"
    ))?
    .execute(params![party, id, time_ms, body])?;
    Ok(())
}

pub(super) fn location_row(
    conn: &Connection,
    party: &str,
    id: &str,
) -> Result<Option<LocationRow>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT publish, body, publish_allowed_to FROM location WHERE party = ?1 AND id = ?2",
        )?
        .query_row(params![party, id], |r| {
            Ok(LocationRow {
                publish: r.get(0)?,
                body: r.get(1)?,
                publish_allowed_to: r.get(2)?,
                pending: Vec::new(),
            })
        })
        .optional()?;
    let Some(mut row) = row else { return Ok(None) };
    row.pending = pending_evses(conn, party, id)?;
    Ok(Some(row))
}

/// The EVSEs of a location whose status is newer than its body's.
pub(super) fn pending_evses(
    conn: &Connection,
    party: &str,
    id: &str,
) -> Result<Vec<EvseRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT uid, status, event_time_ms, event_time FROM evse
         WHERE party = ?1 AND location_id = ?2 AND pending = 1",
    )?;
    let rows = stmt.query_map(params![party, id], evse_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn evse_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EvseRow> {
    Ok(EvseRow {
        uid: r.get(0)?,
        status: r.get(1)?,
        event_time_ms: r.get(2)?,
        event_time: r.get(3)?,
    })
}
