//! National Chargepoint Registry (NCR) exports: one row per charge device, which becomes one
//! Location whose id is the device's `chargeDeviceID`, with one EVSE per NCR connector.
//!
//! Real exports are dirty, and each kind of dirt is handled here, named in the report and
//! documented in `node/docs/import.md`: a header with a duplicated column name, rows broken in two by
//! an unquoted line break, `0000-00-00 00:00:00` dates, empty towns and addresses, addresses
//! longer than OCPI allows, free-text connector names and statuses (mapped by explicit tables,
//! anything else rejected), three-phase voltages given line to line, and bare web addresses.

use anyhow::bail;
use evfed_spec::ids::Party;
use evfed_spec::ocpi::{ConnectorType, Facility, ParkingType, PowerType, Status};
use evfed_spec::time::DateTime;

use super::report::Finding;
use super::table::{Row, Table};
use super::text::validate;
use super::{About, Candidate};
use device::Device;

mod device;

/// NCR connector names and their OCPI standard, and whether the plug is DC by nature. Any other
/// name rejects its device (`unknown-connector-type`); add a row here to accept it.
pub const CONNECTOR_TYPES: &[(&str, ConnectorType, bool)] = &[
    (
        "Type 2 Mennekes (IEC62196)",
        ConnectorType::Iec62196T2,
        false,
    ),
    (
        "Type 2 Combo (IEC62196) DC",
        ConnectorType::Iec62196T2Combo,
        true,
    ),
    ("JEVS G105 (CHAdeMO) DC", ConnectorType::Chademo, true),
    ("3-pin Type G (BS1363)", ConnectorType::DomesticG, false),
    // Tesla's European Superchargers deliver DC, by Tesla's own protocol, through a plug
    // shaped like a Type 2: not IEC 62196 Type 2, which is AC only (an IEC_62196_T2 with DC
    // fails the conformance suite's `quality.power`). OCPI's value for Tesla's proprietary
    // connector is TESLA_S.
    ("Type 2 Tesla (IEC62196) DC", ConnectorType::TeslaS, true),
    (
        "Type 1 SAEJ1772 (IEC 62196)",
        ConnectorType::Iec62196T1,
        false,
    ),
    ("Type 3 Scame (IEC62196)", ConnectorType::Iec62196T3C, false),
];

/// NCR device and connector statuses and their OCPI EVSE status.
pub const STATUSES: &[(&str, Status)] = &[
    ("In service", Status::Available),
    ("Out of service", Status::OutOfOrder),
    ("Planned", Status::Planned),
];

/// NCR `connectorNChargeMethod` values and their OCPI power type.
pub const CHARGE_METHODS: &[(&str, PowerType)] = &[
    ("Single Phase AC", PowerType::Ac1Phase),
    ("Three Phase AC", PowerType::Ac3Phase),
    ("DC", PowerType::Dc),
];

/// NCR `locationType` values and what they say in OCPI: a parking type, a facility, or
/// nothing. Any other value is dropped with a warning.
pub const LOCATION_TYPES: &[(&str, Option<ParkingType>, Option<Facility>)] = &[
    ("On-street", Some(ParkingType::OnStreet), None),
    ("Public car park", Some(ParkingType::ParkingLot), None),
    ("Retail car park", Some(ParkingType::ParkingLot), None),
    ("Workplace car park", Some(ParkingType::ParkingLot), None),
    ("Park & Ride site", Some(ParkingType::ParkingLot), None),
    ("Service station", None, Some(Facility::FuelStation)),
    ("Leisure centre", None, Some(Facility::Sport)),
    ("NHS property", None, None),
    ("Educational establishment", None, None),
    ("Dealership forecourt", None, None),
    ("Public estate", None, None),
    ("Other", None, None),
];

const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Column positions of one NCR file.
struct Columns {
    width: usize,
    id: usize,
    latitude: usize,
    longitude: usize,
    name: Option<usize>,
    building_name: Option<usize>,
    building_number: Option<usize>,
    thoroughfare: Option<usize>,
    street: Option<usize>,
    double_dependant_locality: Option<usize>,
    dependant_locality: Option<usize>,
    town: Option<usize>,
    postcode: Option<usize>,
    country_code: Option<usize>,
    owner_name: Option<usize>,
    owner_website: Option<usize>,
    controller_name: Option<usize>,
    controller_website: Option<usize>,
    device_status: Option<usize>,
    publish_status: Option<usize>,
    date_created: Option<usize>,
    date_updated: Option<usize>,
    last_updated: Option<usize>,
    on_street: Option<usize>,
    location_type: Option<usize>,
    access_24_hours: Option<usize>,
    access: Vec<(Option<usize>, Option<usize>)>,
    connectors: Vec<ConnectorColumns>,
}

struct ConnectorColumns {
    id: Option<usize>,
    kind: Option<usize>,
    kw: Option<usize>,
    current: Option<usize>,
    voltage: Option<usize>,
    method: Option<usize>,
    tethered: Option<usize>,
    status: Option<usize>,
}

/// A file read as charge devices, one per row (split rows joined).
pub struct Plan {
    cols: Columns,
    rows: Vec<(Row, Option<u64>)>,
    party: Party,
    now: DateTime,
}

impl Plan {
    /// Checks the header and joins split rows; findings about the header come back as notes.
    pub fn new(table: Table, party: &Party, now: DateTime) -> anyhow::Result<(Plan, Vec<Finding>)> {
        let (cols, notes) = Columns::of(&table)?;
        let rows = join_broken_rows(table.rows, cols.width);
        let plan = Plan {
            cols,
            rows,
            party: party.clone(),
            now,
        };
        Ok((plan, notes))
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Device `i` as a location.
    pub fn build(&self, i: usize) -> Candidate {
        let (row, joined) = &self.rows[i];
        let cols = &self.cols;
        let mut d = Device {
            cols,
            fields: &row.fields,
            line: row.line,
            warnings: Vec::new(),
        };
        if let Some(next) = *joined {
            let reason = if next == row.line {
                "a carriage return inside an unquoted field splits the row in two; read as \
                 one row"
                    .to_owned()
            } else {
                format!(
                    "the row continues on line {next} (a line break inside an unquoted \
                     field); read as one row"
                )
            };
            d.warn("joined-lines", reason);
        }
        let id = d.get(Some(cols.id)).to_owned();
        let point = d.point().ok();
        let built = match (&row.not_utf8, row.fields.len() == cols.width) {
            (Some(why), _) => Err(Finding::rejected(row.line, "not-utf8", why.clone())),
            (None, false) => Err(Finding::rejected(
                row.line,
                "row-shape",
                format!(
                    "the row has {} fields; the header has {}",
                    row.fields.len(),
                    cols.width
                ),
            )),
            (None, true) => d.location(&self.party, self.now).and_then(|loc| {
                validate(loc).map_err(|e| Finding::rejected(row.line, "invalid-field", e))
            }),
        };
        Candidate {
            about: About {
                id,
                lines: vec![row.line],
                warnings: d.warnings,
            },
            point,
            built,
        }
    }
}

/// Rows broken in two by a line break (or a lone carriage return) inside an unquoted field:
/// a short row whose field count and the next row's add up to the header's plus one (the field
/// the break split). Answers each row with the line its continuation started on, if it had one.
fn join_broken_rows(rows: Vec<Row>, width: usize) -> Vec<(Row, Option<u64>)> {
    let mut out = Vec::with_capacity(rows.len());
    let mut iter = rows.into_iter().peekable();
    while let Some(mut row) = iter.next() {
        let n = row.fields.len();
        let fits = |next: &Row| n < width && n + next.fields.len() == width + 1;
        match iter.peek() {
            Some(next) if fits(next) && row.not_utf8.is_none() && next.not_utf8.is_none() => {
                let next_line = next.line;
                let next = iter.next().map(|r| r.fields).unwrap_or_default();
                let mut fields: Vec<String> = row.fields.iter().map(str::to_owned).collect();
                let mut rest = next.iter();
                if let (Some(last), Some(first)) = (fields.last_mut(), rest.next()) {
                    last.push('\n');
                    last.push_str(first);
                }
                fields.extend(rest.map(str::to_owned));
                row.fields = fields.into_iter().collect();
                out.push((row, Some(next_line)));
            }
            _ => out.push((row, None)),
        }
    }
    out
}

impl Columns {
    fn of(table: &Table) -> anyhow::Result<(Columns, Vec<Finding>)> {
        let need = |name: &str| match table.column(name) {
            Some(i) => Ok(i),
            None => bail!("it has no {name} column (is it an NCR export?)"),
        };
        let opt = |name: &str| table.column(name);
        let mut connectors = Vec::new();
        for n in 1.. {
            let c = |field: &str| opt(&format!("connector{n}{field}"));
            if c("ID").is_none() && c("Type").is_none() {
                break;
            }
            connectors.push(ConnectorColumns {
                id: c("ID"),
                kind: c("Type"),
                kw: c("RatedOutputKW"),
                current: c("OutputCurrent"),
                voltage: c("RatedVoltage"),
                method: c("ChargeMethod"),
                tethered: c("TetheredCable"),
                status: c("Status"),
            });
        }
        if connectors.is_empty() {
            bail!("it has no connector1ID or connector1Type column (is it an NCR export?)");
        }
        let cols = Columns {
            width: table.header.len(),
            id: need("chargeDeviceID")?,
            latitude: need("latitude")?,
            longitude: need("longitude")?,
            name: opt("name"),
            building_name: opt("buildingName"),
            building_number: opt("buildingNumber"),
            thoroughfare: opt("thoroughfare"),
            street: opt("street"),
            double_dependant_locality: opt("doubleDependantLocality"),
            dependant_locality: opt("dependantLocality"),
            town: opt("town"),
            postcode: opt("postcode"),
            country_code: opt("countryCode"),
            owner_name: opt("deviceOwnerName"),
            owner_website: opt("deviceOwnerWebsite"),
            controller_name: opt("deviceControllerName"),
            controller_website: opt("deviceControllerWebsite"),
            device_status: opt("chargeDeviceStatus"),
            publish_status: opt("publishStatus"),
            date_created: opt("dateCreated"),
            date_updated: opt("dateUpdated"),
            last_updated: opt("lastUpdated"),
            on_street: opt("onStreetFlag"),
            location_type: opt("locationType"),
            access_24_hours: opt("access24Hours"),
            access: DAYS
                .iter()
                .map(|d| (opt(&format!("access{d}From")), opt(&format!("access{d}To"))))
                .collect(),
            connectors,
        };
        // A duplicated name is harmless unless it is a column read here: then which one is
        // meant cannot be known.
        let mut notes = Vec::new();
        for (name, at) in table.duplicated_columns() {
            let read = table.column(&name).is_some_and(|i| cols.reads(i));
            if read {
                bail!(
                    "column {name} appears more than once (columns {at:?}); which one holds the data cannot be told"
                );
            }
            notes.push(Finding::warning(
                1,
                "duplicate-column",
                format!(
                    "column {name} appears more than once in the header (columns {at:?}); it is not read"
                ),
            ));
        }
        Ok((cols, notes))
    }

    /// Whether column `i` is one the importer reads.
    fn reads(&self, i: usize) -> bool {
        let singles = [
            Some(self.id),
            Some(self.latitude),
            Some(self.longitude),
            self.name,
            self.building_name,
            self.building_number,
            self.thoroughfare,
            self.street,
            self.double_dependant_locality,
            self.dependant_locality,
            self.town,
            self.postcode,
            self.country_code,
            self.owner_name,
            self.owner_website,
            self.controller_name,
            self.controller_website,
            self.device_status,
            self.publish_status,
            self.date_created,
            self.date_updated,
            self.last_updated,
            self.on_street,
            self.location_type,
            self.access_24_hours,
        ];
        let access = self.access.iter().flat_map(|(a, b)| [*a, *b]);
        let connectors = self.connectors.iter().flat_map(|c| {
            [
                c.id, c.kind, c.kw, c.current, c.voltage, c.method, c.tethered, c.status,
            ]
        });
        singles
            .into_iter()
            .chain(access)
            .chain(connectors)
            .any(|c| c == Some(i))
    }
}

#[cfg(test)]
mod tests {
    use super::device::line_to_neutral;
    use super::*;

    #[test]
    fn three_phase_voltages() {
        assert_eq!(line_to_neutral(400.0), 230);
        assert_eq!(line_to_neutral(415.0), 240);
    }

    #[test]
    fn broken_rows_are_joined_and_others_left_alone() {
        let csv = "a,b,c,d\n1,2,x\ny,4\n5,6,7,8\n9,10\n11,12\n";
        let t = Table::read(csv.as_bytes()).unwrap();
        let rows = join_broken_rows(t.rows, 4);
        let shapes: Vec<(u64, usize, Option<u64>)> = rows
            .iter()
            .map(|(r, j)| (r.line, r.fields.len(), *j))
            .collect();
        assert_eq!(
            shapes,
            [(2, 4, Some(3)), (4, 4, None), (5, 2, None), (6, 2, None)]
        );
        assert_eq!(&rows[0].0.fields[2], "x\ny");
    }
}
