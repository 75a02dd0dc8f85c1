//! National Chargepoint Registry (NCR) exports: one row per charge device, which becomes one
//! Location whose id is the device's `chargeDeviceID`, with one EVSE per NCR connector.
//!
//! Real exports are dirty, and each kind of dirt is handled here, named in the report and
//! documented in `docs/import.md`: a header with a duplicated column name, rows broken in two by
//! an unquoted line break, `0000-00-00 00:00:00` dates, empty towns and addresses, addresses
//! longer than OCPI allows, free-text connector names and statuses (mapped by explicit tables,
//! anything else rejected), three-phase voltages given line to line, and bare web addresses.

use anyhow::bail;
use evfed_spec::ext::LocationExt;
use evfed_spec::ids::{ConnectorId, EvseUid, LocationId, Party};
use evfed_spec::ocpi::{
    BusinessDetails, Connector, ConnectorFormat, ConnectorType, Evse, Facility, GeoLocation, Hours,
    Location, ParkingType, PowerType, RegularHours, Status,
};
use evfed_spec::time::DateTime;

use super::report::Finding;
use super::table::{Row, Table};
use super::text::{clean, shorten, time, validate, website};
use super::{About, Candidate};
use crate::domain::boroughs::Boroughs;

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
    // Tesla's European Superchargers deliver DC through a Type 2 plug.
    (
        "Type 2 Tesla (IEC62196) DC",
        ConnectorType::Iec62196T2,
        true,
    ),
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

/// One device row's fields.
struct Device<'a> {
    cols: &'a Columns,
    fields: &'a csv::StringRecord,
    line: u64,
    warnings: Vec<Finding>,
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

/// Rows broken in two by a line break (or a lone carriage return) inside an unquoted field: a short row whose field count
/// and the next row's add up to the header's plus one (the field the break split). Answers each
/// row with the line its continuation started on, if it had one.
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

impl Device<'_> {
    /// The trimmed value at `col` ("" when absent).
    fn get(&self, col: Option<usize>) -> &str {
        col.and_then(|i| self.fields.get(i)).map_or("", str::trim)
    }

    fn text(&self, col: Option<usize>) -> Option<String> {
        Some(clean(self.get(col))).filter(|s| !s.is_empty())
    }

    fn warn(&mut self, code: &'static str, reason: String) {
        self.warnings
            .push(Finding::warning(self.line, code, reason));
    }

    fn reject(&self, code: &'static str, reason: impl Into<String>) -> Finding {
        Finding::rejected(self.line, code, reason)
    }

    /// Text cut to an OCPI limit, with a warning when cut.
    fn bounded(&mut self, what: &str, text: String, max: usize) -> String {
        match shorten(&text, max) {
            Some(short) => {
                self.warn(
                    "shortened",
                    format!("{what} {text:?} cut to {short:?} (OCPI allows {max} characters)"),
                );
                short
            }
            None => text,
        }
    }

    fn point(&self) -> Result<(f64, f64), Finding> {
        let lat = self.get(Some(self.cols.latitude));
        let lon = self.get(Some(self.cols.longitude));
        match (lat.parse::<f64>(), lon.parse::<f64>()) {
            (Ok(a), Ok(b)) if a.is_finite() && b.is_finite() => Ok((a, b)),
            _ => Err(self.reject(
                "invalid-value",
                format!("latitude {lat:?}, longitude {lon:?} are not decimal degrees"),
            )),
        }
    }

    fn location(&mut self, party: &Party, now: DateTime) -> Result<Location, Finding> {
        let cols = self.cols;
        let id: LocationId = self
            .get(Some(cols.id))
            .parse()
            .map_err(|e| self.reject("invalid-value", format!("chargeDeviceID: {e}")))?;
        let (lat, lon) = self.point()?;
        let (lat_s, lon_s) = (
            self.get(Some(cols.latitude)),
            self.get(Some(cols.longitude)),
        );
        let coordinates = GeoLocation::new(lat_s, lon_s)
            .or_else(|_| GeoLocation::from_degrees(lat, lon))
            .map_err(|e| self.reject("invalid-value", e.to_string()))?;
        let address = self.address()?;
        let city = self.city(lat, lon)?;
        let postal_code = match self.text(cols.postcode) {
            Some(p) if p.chars().count() > 10 => {
                self.warn(
                    "dropped",
                    format!("postcode {p:?} is longer than OCPI's 10 characters"),
                );
                None
            }
            p => p,
        };
        let country = match self.get(cols.country_code).to_ascii_lowercase().as_str() {
            "gb" | "uk" | "" => "GBR".to_owned(),
            other => {
                return Err(self.reject(
                    "invalid-value",
                    format!("countryCode {other:?} is not gb (the NCR covers the UK)"),
                ));
            }
        };
        let name = self.text(cols.name).map(|n| self.bounded("name", n, 255));
        let (parking_type, facility) = self.location_type();
        let last_updated = self.last_updated(now);
        let opening_times = self.opening_times();
        let owner = self.business("deviceOwner", cols.owner_name, cols.owner_website);
        let operator = self.business(
            "deviceController",
            cols.controller_name,
            cols.controller_website,
        );
        let publish = match self.get(cols.publish_status) {
            "" => true,
            s => s.eq_ignore_ascii_case("Published"),
        };
        let evses = self.evses(last_updated)?;
        Ok(Location {
            country_code: party.country_code.clone(),
            party_id: party.party_id.clone(),
            id,
            publish,
            publish_allowed_to: Vec::new(),
            name,
            address,
            city,
            postal_code,
            state: None,
            country,
            coordinates,
            related_locations: Vec::new(),
            parking_type,
            evses,
            directions: Vec::new(),
            operator,
            suboperator: None,
            owner,
            facilities: facility.into_iter().collect(),
            time_zone: "Europe/London".to_owned(),
            opening_times,
            charging_when_closed: None,
            images: Vec::new(),
            energy_mix: None,
            last_updated,
            evfed: LocationExt::default(),
        })
    }

    /// `buildingNumber thoroughfare` (or `street`), else `buildingName`, else the device's
    /// `name`.
    fn address(&mut self) -> Result<String, Finding> {
        let cols = self.cols;
        let road = self
            .text(cols.thoroughfare)
            .or_else(|| self.text(cols.street));
        let number = self.text(cols.building_number);
        let address = match (number, road) {
            (Some(n), Some(r)) => format!("{n} {r}"),
            (None, Some(r)) => r,
            (number, None) => {
                let (from, text) = match (self.text(cols.building_name), self.text(cols.name)) {
                    (Some(b), _) => ("buildingName", b),
                    (None, Some(n)) => ("name", n),
                    (None, None) => {
                        return Err(self.reject(
                            "missing-field",
                            "no thoroughfare, street, buildingName or name to make an address of",
                        ));
                    }
                };
                let text = match number {
                    Some(n) => format!("{n} {text}"),
                    None => text,
                };
                self.warn(
                    "substituted",
                    format!("no thoroughfare or street; address {text:?} taken from {from}"),
                );
                text
            }
        };
        Ok(self.bounded("address", address, 45))
    }

    /// `town`, else a locality, else the London borough the device lies in.
    fn city(&mut self, lat: f64, lon: f64) -> Result<String, Finding> {
        let cols = self.cols;
        if let Some(town) = self.text(cols.town) {
            return Ok(self.bounded("town", town, 45));
        }
        let found = [
            ("dependantLocality", self.text(cols.dependant_locality)),
            (
                "doubleDependantLocality",
                self.text(cols.double_dependant_locality),
            ),
            (
                "the London borough it lies in",
                Boroughs::embedded()
                    .locate(lat, lon)
                    .map(|b| b.name.clone()),
            ),
        ]
        .into_iter()
        .find_map(|(from, v)| v.map(|v| (from, v)));
        match found {
            Some((from, city)) => {
                self.warn(
                    "substituted",
                    format!("no town; city {city:?} taken from {from}"),
                );
                Ok(self.bounded("city", city, 45))
            }
            None => Err(self.reject(
                "missing-field",
                "no town or locality, and outside London, so no city",
            )),
        }
    }

    fn location_type(&mut self) -> (Option<ParkingType>, Option<Facility>) {
        let value = self.get(self.cols.location_type).to_owned();
        let (mut parking, facility) = match LOCATION_TYPES
            .iter()
            .find(|(name, _, _)| name.eq_ignore_ascii_case(&value))
        {
            Some((_, p, f)) => (*p, *f),
            None if value.is_empty() => (None, None),
            None => {
                self.warn(
                    "dropped",
                    format!("locationType {value:?} is not in the mapping table; left out"),
                );
                (None, None)
            }
        };
        if parking.is_none() && self.get(self.cols.on_street) == "1" {
            parking = Some(ParkingType::OnStreet);
        }
        (parking, facility)
    }

    /// `dateUpdated`, else `lastUpdated`, else `dateCreated`, else the import's start.
    fn last_updated(&mut self, now: DateTime) -> DateTime {
        let cols = self.cols;
        let candidates = [
            ("dateUpdated", cols.date_updated),
            ("lastUpdated", cols.last_updated),
            ("dateCreated", cols.date_created),
        ];
        let mut unreadable = Vec::new();
        for (name, col) in candidates {
            let v = self.get(col);
            if v.is_empty() {
                continue;
            }
            match time(v) {
                Some(t) => {
                    if !unreadable.is_empty() {
                        self.warn(
                            "substituted",
                            format!(
                                "{} not a date; last_updated taken from {name}",
                                unreadable.join(", ")
                            ),
                        );
                    }
                    return t;
                }
                None => unreadable.push(format!("{name} {v:?}")),
            }
        }
        self.warn(
            "substituted",
            format!(
                "no date ({}); last_updated is the time of the import",
                if unreadable.is_empty() {
                    "all empty".to_owned()
                } else {
                    unreadable.join(", ")
                }
            ),
        );
        now
    }

    /// `access24Hours` = 1: open all the time. Otherwise the weekly `accessDayFrom`/`To`
    /// periods; a period past midnight is split in two. Unreadable hours are left out.
    fn opening_times(&mut self) -> Option<Hours> {
        if self.get(self.cols.access_24_hours) == "1" {
            return Some(Hours {
                twentyfourseven: true,
                regular_hours: Vec::new(),
                exceptional_openings: Vec::new(),
                exceptional_closings: Vec::new(),
            });
        }
        let mut periods: Vec<RegularHours> = Vec::new();
        for (day, (from, to)) in self.cols.access.iter().enumerate() {
            let (from, to) = (self.get(*from).to_owned(), self.get(*to).to_owned());
            if from.is_empty() && to.is_empty() {
                continue;
            }
            let weekday = day as u8 + 1;
            let next = weekday % 7 + 1;
            let ok = |t: &str| {
                t.len() == 5
                    && t.as_bytes()[2] == b':'
                    && t[..2].parse::<u8>().is_ok_and(|h| h < 24)
                    && t[3..].parse::<u8>().is_ok_and(|m| m < 60)
            };
            let period = |weekday, begin: &str, end: &str| RegularHours {
                weekday,
                period_begin: begin.to_owned(),
                period_end: end.to_owned(),
            };
            if !ok(&from) || !ok(&to) || (from == to && from != "00:00") {
                self.warn(
                    "dropped",
                    format!(
                        "opening hours {from:?}–{to:?} on {} cannot be read; opening times left out",
                        DAYS[day]
                    ),
                );
                return None;
            }
            if to > from || to == "00:00" {
                periods.push(period(weekday, &from, &to));
            } else {
                periods.push(period(weekday, &from, "00:00"));
                periods.push(period(next, "00:00", &to));
            }
        }
        if periods.is_empty() {
            return None;
        }
        periods.sort_by(|a, b| (a.weekday, &a.period_begin).cmp(&(b.weekday, &b.period_begin)));
        Some(Hours {
            twentyfourseven: false,
            regular_hours: periods,
            exceptional_openings: Vec::new(),
            exceptional_closings: Vec::new(),
        })
    }

    /// Owner or controller: name and web address. A web address that is not one is left out.
    fn business(
        &mut self,
        what: &str,
        name: Option<usize>,
        site: Option<usize>,
    ) -> Option<BusinessDetails> {
        let name = self.text(name)?;
        let name = self.bounded(&format!("{what}Name"), name, 100);
        let website = match self.text(site) {
            None => None,
            Some(s) => match website(&s) {
                Ok(url) => Some(url),
                Err(why) => {
                    self.warn("dropped", format!("{what}Website: {why}; left out"));
                    None
                }
            },
        };
        Some(BusinessDetails {
            name,
            website,
            logo: None,
        })
    }

    /// One EVSE per NCR connector that has an id or a type.
    fn evses(&mut self, last_updated: DateTime) -> Result<Vec<Evse>, Finding> {
        let cols = self.cols;
        let device_status = match self.get(cols.device_status) {
            "" => None,
            s => Some(self.status("chargeDeviceStatus", s)?),
        };
        let mut evses = Vec::new();
        for (i, c) in cols.connectors.iter().enumerate() {
            let n = i + 1;
            let (cid, kind) = (self.get(c.id).to_owned(), self.get(c.kind).to_owned());
            if cid.is_empty() && kind.is_empty() {
                continue;
            }
            let (standard, dc_plug) = CONNECTOR_TYPES
                .iter()
                .find(|(name, _, _)| name.eq_ignore_ascii_case(&kind))
                .map(|(_, t, dc)| (*t, *dc))
                .ok_or_else(|| {
                    self.reject(
                        "unknown-connector-type",
                        format!(
                            "connector{n}Type {kind:?} is not in the mapping table (docs/import.md)"
                        ),
                    )
                })?;
            let power_type = match self.get(c.method) {
                "" if dc_plug => PowerType::Dc,
                "" => {
                    return Err(self.reject(
                        "missing-field",
                        format!("connector{n}ChargeMethod is empty"),
                    ));
                }
                m => CHARGE_METHODS
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(m))
                    .map(|(_, p)| *p)
                    .ok_or_else(|| {
                        self.reject(
                            "invalid-value",
                            format!("connector{n}ChargeMethod {m:?} is not in the mapping table"),
                        )
                    })?,
            };
            let format = match self.get(c.tethered) {
                "1" => ConnectorFormat::Cable,
                "0" => ConnectorFormat::Socket,
                _ if dc_plug => ConnectorFormat::Cable,
                _ => ConnectorFormat::Socket,
            };
            let number = |s: &str| s.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0);
            let volts = number(self.get(c.voltage)).ok_or_else(|| {
                self.reject(
                    "invalid-value",
                    format!(
                        "connector{n}RatedVoltage {:?} is not a number",
                        self.get(c.voltage)
                    ),
                )
            })?;
            let amps = number(self.get(c.current)).ok_or_else(|| {
                self.reject(
                    "invalid-value",
                    format!(
                        "connector{n}OutputCurrent {:?} is not a number",
                        self.get(c.current)
                    ),
                )
            })?;
            let max_voltage = if power_type == PowerType::Ac3Phase {
                line_to_neutral(volts)
            } else {
                volts.round() as u32
            };
            let max_electric_power = number(self.get(c.kw))
                .map(|kw| (kw * 1000.0).round() as u32)
                .filter(|w| *w > 0);
            let own_status = match self.get(c.status) {
                "" => None,
                s => Some(self.status(&format!("connector{n}Status"), s)?),
            };
            // A device out of service or planned takes all its connectors with it.
            let status = match (device_status, own_status) {
                (Some(d), _) if d != Status::Available => d,
                (_, Some(s)) => s,
                (Some(d), None) => d,
                (None, None) => {
                    self.warn(
                        "substituted",
                        format!("no chargeDeviceStatus or connector{n}Status; status UNKNOWN"),
                    );
                    Status::Unknown
                }
            };
            let uid = match cid.as_str() {
                "" => format!("{}-{n}", self.get(Some(cols.id))),
                id => id.to_owned(),
            };
            let uid: EvseUid = uid
                .parse()
                .map_err(|e| self.reject("invalid-value", format!("connector{n}ID: {e}")))?;
            let connector = Connector {
                id: ConnectorId::try_from("1".to_owned())
                    .map_err(|e| self.reject("invalid-value", e.to_string()))?,
                standard,
                format,
                power_type,
                max_voltage,
                max_amperage: amps.round() as u32,
                max_electric_power,
                tariff_ids: Vec::new(),
                terms_and_conditions: None,
                last_updated,
                evfed: Default::default(),
            };
            evses.push(Evse {
                uid,
                evse_id: None,
                status,
                status_schedule: Vec::new(),
                capabilities: Vec::new(),
                connectors: vec![connector],
                floor_level: None,
                coordinates: None,
                physical_reference: None,
                directions: Vec::new(),
                parking_restrictions: Vec::new(),
                images: Vec::new(),
                last_updated,
                evfed: Default::default(),
            });
        }
        if evses.is_empty() {
            return Err(self.reject("missing-field", "the device lists no connector"));
        }
        Ok(evses)
    }

    fn status(&self, what: &str, value: &str) -> Result<Status, Finding> {
        STATUSES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(value))
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                self.reject(
                    "unknown-status",
                    format!("{what} {value:?} is not in the mapping table (docs/import.md)"),
                )
            })
    }
}

/// NCR gives a three-phase supply's voltage between lines (400 V in the UK); OCPI wants it
/// line to neutral: 230 V for the UK's 400/230 V supply, otherwise divided by √3.
fn line_to_neutral(volts: f64) -> u32 {
    if (volts - 400.0).abs() < 0.5 {
        230
    } else {
        (volts / 3f64.sqrt()).round() as u32
    }
}

#[cfg(test)]
mod tests {
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
