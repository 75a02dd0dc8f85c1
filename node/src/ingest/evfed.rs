//! The `evfed` CSV template for borough asset registers: one row per connector. Rows with the
//! same `location_id` make one Location, rows with the same `evse_uid` within it one EVSE; the
//! location's and the EVSE's columns must then agree on every such row. A location is accepted
//! or rejected whole. `node/docs/import.md` lists every column and its OCPI field.

use std::collections::HashMap;

use anyhow::bail;
use evfed_spec::ext::{EvseExt, LocationExt, OcppVersion};
use evfed_spec::ids::{ConnectorId, EvseId, EvseUid, LocationId, Party, TariffId};
use evfed_spec::ocpi::{
    BusinessDetails, Capability, Connector, ConnectorFormat, ConnectorType, Evse, Facility,
    GeoLocation, Hours, Location, ParkingRestriction, ParkingType, PowerType, Status,
};
use evfed_spec::time::DateTime;
use serde::de::DeserializeOwned;

use super::report::Finding;
use super::table::{Row, Table};
use super::text::{boolean, clean, ocpi_enum, time, validate};
use super::{About, Candidate};

/// Which object a column belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Location,
    Evse,
    Connector,
}

/// The template's columns, in the order of [`COLUMNS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    LocationId,
    Publish,
    Name,
    Address,
    City,
    PostalCode,
    State,
    Country,
    Latitude,
    Longitude,
    ParkingType,
    Facilities,
    TimeZone,
    Twentyfourseven,
    OperatorName,
    OperatorWebsite,
    SuboperatorName,
    SuboperatorWebsite,
    OwnerName,
    OwnerWebsite,
    DpsContract,
    EvseUid,
    EvseId,
    Status,
    Capabilities,
    FloorLevel,
    PhysicalReference,
    ParkingRestrictions,
    OcppVersion,
    Bidirectional,
    ConnectorId,
    Standard,
    Format,
    PowerType,
    MaxVoltage,
    MaxAmperage,
    MaxElectricPower,
    TariffIds,
    TermsAndConditions,
    LastUpdated,
}

/// Every column of the template: name, level, required.
const COLUMNS: &[(Col, &str, Level, bool)] = &[
    (Col::LocationId, "location_id", Level::Location, true),
    (Col::Publish, "publish", Level::Location, false),
    (Col::Name, "name", Level::Location, false),
    (Col::Address, "address", Level::Location, true),
    (Col::City, "city", Level::Location, true),
    (Col::PostalCode, "postal_code", Level::Location, false),
    (Col::State, "state", Level::Location, false),
    (Col::Country, "country", Level::Location, false),
    (Col::Latitude, "latitude", Level::Location, true),
    (Col::Longitude, "longitude", Level::Location, true),
    (Col::ParkingType, "parking_type", Level::Location, false),
    (Col::Facilities, "facilities", Level::Location, false),
    (Col::TimeZone, "time_zone", Level::Location, false),
    (
        Col::Twentyfourseven,
        "twentyfourseven",
        Level::Location,
        false,
    ),
    (Col::OperatorName, "operator_name", Level::Location, false),
    (
        Col::OperatorWebsite,
        "operator_website",
        Level::Location,
        false,
    ),
    (
        Col::SuboperatorName,
        "suboperator_name",
        Level::Location,
        false,
    ),
    (
        Col::SuboperatorWebsite,
        "suboperator_website",
        Level::Location,
        false,
    ),
    (Col::OwnerName, "owner_name", Level::Location, false),
    (Col::OwnerWebsite, "owner_website", Level::Location, false),
    (Col::DpsContract, "dps_contract", Level::Location, false),
    (Col::EvseUid, "evse_uid", Level::Evse, true),
    (Col::EvseId, "evse_id", Level::Evse, false),
    (Col::Status, "status", Level::Evse, false),
    (Col::Capabilities, "capabilities", Level::Evse, false),
    (Col::FloorLevel, "floor_level", Level::Evse, false),
    (
        Col::PhysicalReference,
        "physical_reference",
        Level::Evse,
        false,
    ),
    (
        Col::ParkingRestrictions,
        "parking_restrictions",
        Level::Evse,
        false,
    ),
    (Col::OcppVersion, "ocpp_version", Level::Evse, false),
    (Col::Bidirectional, "bidirectional", Level::Evse, false),
    (Col::ConnectorId, "connector_id", Level::Connector, true),
    (Col::Standard, "standard", Level::Connector, true),
    (Col::Format, "format", Level::Connector, true),
    (Col::PowerType, "power_type", Level::Connector, true),
    (Col::MaxVoltage, "max_voltage", Level::Connector, true),
    (Col::MaxAmperage, "max_amperage", Level::Connector, true),
    (
        Col::MaxElectricPower,
        "max_electric_power",
        Level::Connector,
        false,
    ),
    (Col::TariffIds, "tariff_ids", Level::Connector, false),
    (
        Col::TermsAndConditions,
        "terms_and_conditions",
        Level::Connector,
        false,
    ),
    (Col::LastUpdated, "last_updated", Level::Connector, false),
];

impl Col {
    fn name(self) -> &'static str {
        COLUMNS.get(self as usize).map_or("?", |c| c.1)
    }
}

/// The column positions of one file: `at[i]` is where `COLUMNS[i]` is, if present.
struct Columns {
    at: Vec<Option<usize>>,
}

/// A row's fields by column name.
struct Fields<'a> {
    row: &'a Row,
    cols: &'a Columns,
}

/// A file grouped into locations: the rows of each `location_id`, in the order ids first
/// appear.
pub struct Plan {
    table: Table,
    cols: Columns,
    groups: Vec<(String, Vec<usize>)>,
    party: Party,
    now: DateTime,
}

impl Plan {
    /// Checks the header and groups the rows.
    pub fn new(table: Table, party: &Party, now: DateTime) -> anyhow::Result<Plan> {
        let cols = Columns::of(&table)?;
        let id_at = cols.pos(Col::LocationId);
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (r, row) in table.rows.iter().enumerate() {
            let id = id_at
                .and_then(|i| row.fields.get(i))
                .map(str::trim)
                .unwrap_or_default()
                .to_owned();
            let slot = if id.is_empty() {
                // No id: a location of its own, rejected for it.
                groups.push((id, Vec::new()));
                groups.len() - 1
            } else {
                *index.entry(id.clone()).or_insert_with(|| {
                    groups.push((id, Vec::new()));
                    groups.len() - 1
                })
            };
            groups[slot].1.push(r);
        }
        Ok(Plan {
            table,
            cols,
            groups,
            party: party.clone(),
            now,
        })
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Rows in all.
    pub fn rows(&self) -> u64 {
        self.table.rows.len() as u64
    }

    /// Location `i`, built from its rows.
    pub fn build(&self, i: usize) -> Candidate {
        let (id, indexes) = &self.groups[i];
        let rows: Vec<&Row> = indexes.iter().map(|r| &self.table.rows[*r]).collect();
        let cols = &self.cols;
        let point = rows.first().and_then(|r| {
            let f = Fields { row: r, cols };
            Some((
                f.get(Col::Latitude).parse().ok()?,
                f.get(Col::Longitude).parse().ok()?,
            ))
        });
        let width = self.table.header.len();
        let built = build(&rows, cols, width, &self.party, self.now).and_then(|loc| {
            let line = rows.first().map_or(0, |r| r.line);
            validate(loc).map_err(|e| Finding::rejected(line, "invalid-field", e))
        });
        Candidate {
            about: About {
                id: id.clone(),
                lines: rows.iter().map(|r| r.line).collect(),
                warnings: Vec::new(),
            },
            point,
            built,
        }
    }
}

impl Columns {
    /// Checks the header: every column known, the required ones present, none twice.
    fn of(table: &Table) -> anyhow::Result<Columns> {
        let unknown: Vec<&str> = table
            .header
            .iter()
            .map(String::as_str)
            .filter(|h| !COLUMNS.iter().any(|(_, n, _, _)| n == h))
            .collect();
        if !unknown.is_empty() {
            bail!(
                "unknown column(s) {}; the evfed template has {}",
                unknown.join(", "),
                COLUMNS.iter().map(|c| c.1).collect::<Vec<_>>().join(", ")
            );
        }
        if let Some((name, at)) = table.duplicated_columns().into_iter().next() {
            bail!("column {name} appears more than once (columns {at:?})");
        }
        let missing: Vec<&str> = COLUMNS
            .iter()
            .filter(|(_, n, _, required)| *required && table.column(n).is_none())
            .map(|c| c.1)
            .collect();
        if !missing.is_empty() {
            bail!("required column(s) missing: {}", missing.join(", "));
        }
        Ok(Columns {
            at: COLUMNS.iter().map(|(_, n, _, _)| table.column(n)).collect(),
        })
    }

    fn pos(&self, col: Col) -> Option<usize> {
        self.at.get(col as usize).copied().flatten()
    }
}

impl<'a> Fields<'a> {
    /// The trimmed value of `col` ("" when the column is absent or the cell empty).
    fn get(&self, col: Col) -> &'a str {
        self.cols
            .pos(col)
            .and_then(|i| self.row.fields.get(i))
            .map_or("", str::trim)
    }

    fn line(&self) -> u64 {
        self.row.line
    }

    fn required(&self, col: Col) -> Result<&'a str, Finding> {
        match self.get(col) {
            "" => Err(Finding::rejected(
                self.line(),
                "missing-field",
                format!("{} is empty", col.name()),
            )),
            v => Ok(v),
        }
    }

    fn text(&self, col: Col) -> Option<String> {
        Some(clean(self.get(col))).filter(|s| !s.is_empty())
    }

    fn invalid(&self, col: Col, why: impl std::fmt::Display) -> Finding {
        Finding::rejected(
            self.line(),
            "invalid-value",
            format!("{} {:?}: {why}", col.name(), self.get(col)),
        )
    }

    /// A value read with `parse`, if the cell is not empty.
    fn parsed<T, E: std::fmt::Display>(
        &self,
        col: Col,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, Finding> {
        match self.get(col) {
            "" => Ok(None),
            v => parse(v).map(Some).map_err(|e| self.invalid(col, e)),
        }
    }

    fn required_parsed<T, E: std::fmt::Display>(
        &self,
        col: Col,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T, Finding> {
        let v = self.required(col)?;
        parse(v).map_err(|e| self.invalid(col, e))
    }

    fn boolean(&self, col: Col) -> Result<Option<bool>, Finding> {
        self.parsed(col, |v| boolean(v).ok_or("not true or false"))
    }

    fn enumerated<T: DeserializeOwned>(&self, col: Col) -> Result<Option<T>, Finding> {
        self.parsed(col, |v| {
            ocpi_enum::<T>(v).ok_or("not a value OCPI allows here (see node/docs/import.md)")
        })
    }

    /// A `;`-separated list.
    fn list<T>(&self, col: Col, item: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, Finding> {
        self.get(col)
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| item(s).ok_or_else(|| self.invalid(col, format!("{s:?} is not allowed"))))
            .collect()
    }

    fn business(&self, name: Col, website: Col) -> Result<Option<BusinessDetails>, Finding> {
        let Some(n) = self.text(name) else {
            if self.get(website).is_empty() {
                return Ok(None);
            }
            return Err(Finding::rejected(
                self.line(),
                "missing-field",
                format!("{} is set but {} is empty", website.name(), name.name()),
            ));
        };
        Ok(Some(BusinessDetails {
            name: n,
            website: self.text(website),
            logo: None,
        }))
    }
}

/// The Location made by `rows` (all with the same `location_id`).
fn build(
    rows: &[&Row],
    cols: &Columns,
    width: usize,
    party: &Party,
    now: DateTime,
) -> Result<Location, Finding> {
    let Some(first) = rows.first() else {
        return Err(Finding::rejected(0, "missing-field", "no rows"));
    };
    for row in rows {
        if let Some(why) = &row.not_utf8 {
            return Err(Finding::rejected(row.line, "not-utf8", why.clone()));
        }
        if row.fields.len() != width {
            return Err(Finding::rejected(
                row.line,
                "row-shape",
                format!(
                    "the row has {} fields; the header has {width}",
                    row.fields.len()
                ),
            ));
        }
    }
    let f = Fields { row: first, cols };
    let id: LocationId = f.required_parsed(Col::LocationId, str::parse)?;
    // Location-level columns must agree on every row.
    agree(rows, cols, Level::Location, "location", id.as_str())?;

    let lat = f.required(Col::Latitude)?;
    let lon = f.required(Col::Longitude)?;
    let coordinates = GeoLocation::new(lat, lon)
        .or_else(|_| {
            let (a, b) = (lat.parse::<f64>(), lon.parse::<f64>());
            match (a, b) {
                (Ok(a), Ok(b)) => GeoLocation::from_degrees(a, b),
                _ => GeoLocation::new(lat, lon),
            }
        })
        .map_err(|e| Finding::rejected(f.line(), "invalid-value", e.to_string()))?;
    let opening_times = match f.boolean(Col::Twentyfourseven)? {
        Some(true) => Some(Hours {
            twentyfourseven: true,
            regular_hours: Vec::new(),
            exceptional_openings: Vec::new(),
            exceptional_closings: Vec::new(),
        }),
        _ => None,
    };

    // EVSEs in the order their uid first appears; their columns agree on each of their rows.
    let uid_at = cols.pos(Col::EvseUid);
    let mut evse_rows: Vec<(String, Vec<&Row>)> = Vec::new();
    for row in rows {
        let uid = uid_at
            .and_then(|i| row.fields.get(i))
            .map_or("", str::trim)
            .to_owned();
        match evse_rows.iter_mut().find(|(u, _)| *u == uid) {
            Some((_, r)) => r.push(row),
            None => evse_rows.push((uid, vec![row])),
        }
    }
    let mut evses = Vec::with_capacity(evse_rows.len());
    for (uid, erows) in &evse_rows {
        evses.push(build_evse(uid, erows, cols, now)?);
    }
    let mut location = Location {
        country_code: party.country_code.clone(),
        party_id: party.party_id.clone(),
        id,
        publish: f.boolean(Col::Publish)?.unwrap_or(true),
        publish_allowed_to: Vec::new(),
        name: f.text(Col::Name),
        address: clean(f.required(Col::Address)?),
        city: clean(f.required(Col::City)?),
        postal_code: f.text(Col::PostalCode),
        state: f.text(Col::State),
        country: f.text(Col::Country).unwrap_or_else(|| "GBR".to_owned()),
        coordinates,
        related_locations: Vec::new(),
        parking_type: f.enumerated::<ParkingType>(Col::ParkingType)?,
        evses,
        directions: Vec::new(),
        operator: f.business(Col::OperatorName, Col::OperatorWebsite)?,
        suboperator: f.business(Col::SuboperatorName, Col::SuboperatorWebsite)?,
        owner: f.business(Col::OwnerName, Col::OwnerWebsite)?,
        facilities: f.list(Col::Facilities, ocpi_enum::<Facility>)?,
        time_zone: f
            .text(Col::TimeZone)
            .unwrap_or_else(|| "Europe/London".to_owned()),
        opening_times,
        charging_when_closed: None,
        images: Vec::new(),
        energy_mix: None,
        last_updated: now,
        evfed: LocationExt {
            borough: None,
            ward: None,
            dps_contract: f.text(Col::DpsContract),
            outside_area: false,
        },
    };
    location.last_updated = location
        .evses
        .iter()
        .map(|e| e.last_updated)
        .max()
        .unwrap_or(now);
    Ok(location)
}

fn build_evse(uid: &str, rows: &[&Row], cols: &Columns, now: DateTime) -> Result<Evse, Finding> {
    let Some(first) = rows.first() else {
        return Err(Finding::rejected(0, "missing-field", "no rows"));
    };
    let f = Fields { row: first, cols };
    let uid: EvseUid = f.required_parsed(Col::EvseUid, |_| uid.parse::<EvseUid>())?;
    agree(rows, cols, Level::Evse, "EVSE", uid.as_str())?;
    let mut connectors: Vec<Connector> = Vec::with_capacity(rows.len());
    for row in rows {
        let c = build_connector(&Fields { row, cols }, now)?;
        if connectors.iter().any(|k| k.id == c.id) {
            return Err(Finding::rejected(
                row.line,
                "duplicate-connector",
                format!("EVSE {uid} has connector {} on an earlier row too", c.id),
            ));
        }
        connectors.push(c);
    }
    let last_updated = connectors
        .iter()
        .map(|c| c.last_updated)
        .max()
        .unwrap_or(now);
    Ok(Evse {
        uid,
        evse_id: f.parsed(Col::EvseId, str::parse::<EvseId>)?,
        status: f
            .enumerated::<Status>(Col::Status)?
            .unwrap_or(Status::Unknown),
        status_schedule: Vec::new(),
        capabilities: f.list(Col::Capabilities, ocpi_enum::<Capability>)?,
        connectors,
        floor_level: f.text(Col::FloorLevel),
        coordinates: None,
        physical_reference: f.text(Col::PhysicalReference),
        directions: Vec::new(),
        parking_restrictions: f.list(Col::ParkingRestrictions, ocpi_enum::<ParkingRestriction>)?,
        images: Vec::new(),
        last_updated,
        evfed: EvseExt {
            ocpp_version: f.enumerated::<OcppVersion>(Col::OcppVersion)?,
            iso15118_2: None,
            iso15118_20: None,
            bidirectional: f.boolean(Col::Bidirectional)?,
            grid_capacity_participation: None,
        },
    })
}

fn build_connector(f: &Fields<'_>, now: DateTime) -> Result<Connector, Finding> {
    let required_enum = |col: Col| -> Result<(), Finding> {
        f.required(col)?;
        Ok(())
    };
    required_enum(Col::Standard)?;
    required_enum(Col::Format)?;
    required_enum(Col::PowerType)?;
    let number = |v: &str| v.parse::<u32>();
    Ok(Connector {
        id: f.required_parsed(Col::ConnectorId, str::parse::<ConnectorId>)?,
        standard: f
            .enumerated::<ConnectorType>(Col::Standard)?
            .ok_or_else(|| f.invalid(Col::Standard, "missing"))?,
        format: f
            .enumerated::<ConnectorFormat>(Col::Format)?
            .ok_or_else(|| f.invalid(Col::Format, "missing"))?,
        power_type: f
            .enumerated::<PowerType>(Col::PowerType)?
            .ok_or_else(|| f.invalid(Col::PowerType, "missing"))?,
        max_voltage: f.required_parsed(Col::MaxVoltage, number)?,
        max_amperage: f.required_parsed(Col::MaxAmperage, number)?,
        max_electric_power: f.parsed(Col::MaxElectricPower, number)?,
        tariff_ids: f.list(Col::TariffIds, |s| s.parse::<TariffId>().ok())?,
        terms_and_conditions: f.text(Col::TermsAndConditions),
        last_updated: f
            .parsed(Col::LastUpdated, |v| time(v).ok_or("not a date-time"))?
            .unwrap_or(now),
        evfed: Default::default(),
    })
}

/// Every row of a group holds the same values in the columns of `level`.
fn agree(rows: &[&Row], cols: &Columns, level: Level, what: &str, id: &str) -> Result<(), Finding> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let f0 = Fields { row: first, cols };
    for row in &rows[1..] {
        let f = Fields { row, cols };
        for (col, name, l, _) in COLUMNS {
            if *l == level && f.get(*col) != f0.get(*col) {
                return Err(Finding::rejected(
                    row.line,
                    "inconsistent-rows",
                    format!(
                        "{name} of {what} {id} is {:?} here but {:?} on line {}",
                        f.get(*col),
                        f0.get(*col),
                        first.line
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_column_table_is_in_enum_order() {
        for (i, (col, _, _, _)) in COLUMNS.iter().enumerate() {
            assert_eq!(*col as usize, i);
        }
    }
}
