//! Pages of lists: locations, tariffs, sessions and EVSE statuses under a [`ListFilter`], in
//! key order, each page with the count of all matching rows and the public log's size in the
//! same snapshot (its `Evfed-Tree-Size`).

use rusqlite::params_from_iter;

use super::records::pending_evses;
use super::{Hidden, ListFilter, LocationRow, LogId, Page, Reader, StatusRow, StoreError, get_u64};

impl Reader<'_> {
    /// Locations in key order (without `publish_allowed_to`).
    pub fn locations(
        &self,
        filter: &ListFilter,
        offset: u64,
        limit: u64,
    ) -> Result<Page<LocationRow>, StoreError> {
        let mut w = Where::default();
        match &filter.hidden {
            Hidden::None => w.push("publish = 1", []),
            // Unary `+` keeps SQLite from a multi-index OR, which sorts every matching body;
            // it walks (party, id) in order instead and stops at the page's end.
            Hidden::Party(p) => w.push("(+publish = 1 OR +party = ?)", [p.clone().into()]),
            Hidden::All => {}
        }
        if let Some(p) = &filter.party {
            w.push("party = ?", [p.clone().into()]);
        }
        // A location's last_updated is its row's, or a pending EVSE status's if that is newer.
        let newer = "EXISTS (SELECT 1 FROM evse e WHERE e.party = location.party \
                     AND e.location_id = location.id AND e.pending = 1 AND e.event_time_ms >= ?)";
        if let Some(t) = filter.from_ms {
            w.push(
                &format!("(last_updated_ms >= ? OR {newer})"),
                [t.into(), t.into()],
            );
        }
        if let Some(t) = filter.to_ms {
            w.push(
                &format!("(last_updated_ms < ? AND NOT {newer})"),
                [t.into(), t.into()],
            );
        }
        if let Some(b) = &filter.borough {
            w.push("borough = ?", [b.clone().into()]);
        }
        let mut page = self.page(
            &w,
            "location",
            "party, id, publish, body",
            "party, id",
            offset,
            limit,
            |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?, r.get(3)?)),
        )?;
        let items = page
            .items
            .drain(..)
            .map(
                |((party, id), publish, body): ((String, String), bool, Vec<u8>)| {
                    Ok(LocationRow {
                        publish,
                        body,
                        publish_allowed_to: None,
                        pending: pending_evses(self.conn, &party, &id)?,
                    })
                },
            )
            .collect::<Result<_, StoreError>>()?;
        Ok(Page {
            total: page.total,
            items,
            tree_size: page.tree_size,
        })
    }

    pub fn tariffs(
        &self,
        filter: &ListFilter,
        offset: u64,
        limit: u64,
    ) -> Result<Page<Vec<u8>>, StoreError> {
        self.simple_list("tariff", "last_updated_ms", filter, offset, limit)
    }

    pub fn sessions(
        &self,
        filter: &ListFilter,
        offset: u64,
        limit: u64,
    ) -> Result<Page<Vec<u8>>, StoreError> {
        self.simple_list("session", "start_ms", filter, offset, limit)
    }

    fn simple_list(
        &self,
        table: &str,
        time: &str,
        filter: &ListFilter,
        offset: u64,
        limit: u64,
    ) -> Result<Page<Vec<u8>>, StoreError> {
        let mut w = Where::default();
        w.common(filter, time);
        self.page(&w, table, "body", "party, id", offset, limit, |r| r.get(0))
    }

    /// Current status of published EVSEs, in key order.
    pub fn statuses(
        &self,
        filter: &ListFilter,
        offset: u64,
        limit: u64,
    ) -> Result<Page<StatusRow>, StoreError> {
        let mut w = Where::default();
        w.push("publish = 1", []);
        w.common(filter, "event_time_ms");
        let columns = "party, location_id, uid, status, event_time";
        self.page(
            &w,
            "evse",
            columns,
            "party, location_id, uid",
            offset,
            limit,
            |r| {
                Ok(StatusRow {
                    party: r.get(0)?,
                    location_id: r.get(1)?,
                    uid: r.get(2)?,
                    status: r.get(3)?,
                    event_time: r.get(4)?,
                })
            },
        )
    }

    /// One page of `table` under `w`, with the count of all matching rows.
    #[allow(clippy::too_many_arguments)]
    fn page<T>(
        &self,
        w: &Where,
        table: &str,
        columns: &str,
        order: &str,
        offset: u64,
        limit: u64,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Page<T>, StoreError> {
        // The first read fixes the snapshot, so the size and the page agree.
        let tree_size = self.size(LogId::Public)?;
        let cond = w.sql();
        let total = self
            .conn
            .prepare_cached(&format!("SELECT COUNT(*) FROM {table}{cond}"))?
            .query_row(params_from_iter(&w.args), |r| get_u64(r, 0))?;
        let n = w.args.len();
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {columns} FROM {table}{cond} ORDER BY {order} LIMIT ?{} OFFSET ?{}",
            n + 1,
            n + 2
        ))?;
        let mut args = w.args.clone();
        args.push((limit as i64).into());
        args.push((offset as i64).into());
        let items = stmt
            .query_map(params_from_iter(&args), row)?
            .collect::<Result<_, _>>()?;
        Ok(Page {
            total,
            items,
            tree_size,
        })
    }
}

/// A WHERE clause built from the filters present, so that SQLite can use the indexes (a
/// `?N IS NULL OR …` form would force a scan).
#[derive(Debug, Default)]
struct Where {
    clauses: Vec<String>,
    args: Vec<rusqlite::types::Value>,
}

impl Where {
    /// Adds `clause`, whose `?`s bind `args` in order.
    fn push<const N: usize>(&mut self, clause: &str, args: [rusqlite::types::Value; N]) {
        debug_assert_eq!(clause.matches('?').count(), N, "{clause}");
        let mut parts = clause.split('?');
        let mut out = parts.next().unwrap_or_default().to_owned();
        for (part, arg) in parts.zip(args) {
            self.args.push(arg);
            out.push_str(&format!("?{}{part}", self.args.len()));
        }
        self.clauses.push(out);
    }

    /// The party and time-window filters every list has.
    fn common(&mut self, f: &ListFilter, time: &str) {
        if let Some(p) = &f.party {
            self.push("party = ?", [p.clone().into()]);
        }
        if let Some(t) = f.from_ms {
            self.push(&format!("{time} >= ?"), [t.into()]);
        }
        if let Some(t) = f.to_ms {
            self.push(&format!("{time} < ?"), [t.into()]);
        }
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}
