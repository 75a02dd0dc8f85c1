//! One NCR charge device read as an OCPI Location: every column rule of `node/docs/import.md`.

use evfed_spec::ext::LocationExt;
use evfed_spec::ids::{ConnectorId, EvseUid, LocationId, Party};
use evfed_spec::ocpi::{
    BusinessDetails, Connector, ConnectorFormat, Evse, Facility, GeoLocation, Hours, Location,
    ParkingType, PowerType, RegularHours, Status,
};
use evfed_spec::time::DateTime;

use super::{CHARGE_METHODS, CONNECTOR_TYPES, Columns, DAYS, LOCATION_TYPES, STATUSES};
use crate::ingest::report::Finding;
use crate::ingest::text::{clean, shorten, time, website};
use evfed_spec::areas::AreaSet;

/// One device row's fields.
pub(super) struct Device<'a> {
    pub(super) cols: &'a Columns,
    pub(super) fields: &'a csv::StringRecord,
    pub(super) line: u64,
    pub(super) warnings: Vec<Finding>,
}

impl Device<'_> {
    /// The trimmed value at `col` ("" when absent).
    pub(super) fn get(&self, col: Option<usize>) -> &str {
        col.and_then(|i| self.fields.get(i)).map_or("", str::trim)
    }

    fn text(&self, col: Option<usize>) -> Option<String> {
        Some(clean(self.get(col))).filter(|s| !s.is_empty())
    }

    pub(super) fn warn(&mut self, code: &'static str, reason: String) {
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

    pub(super) fn point(&self) -> Result<(f64, f64), Finding> {
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

    pub(super) fn location(&mut self, party: &Party, now: DateTime) -> Result<Location, Finding> {
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
                AreaSet::london()
                    .place(lat, lon)
                    .map(|p| p.authority.name.clone()),
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
                            "connector{n}Type {kind:?} is not in the mapping table (node/docs/import.md)"
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
                    format!("{what} {value:?} is not in the mapping table (node/docs/import.md)"),
                )
            })
    }
}

/// NCR gives a three-phase supply's voltage between lines (400 V in the UK); OCPI wants it
/// line to neutral: 230 V for the UK's 400/230 V supply, otherwise divided by √3.
pub(super) fn line_to_neutral(volts: f64) -> u32 {
    if (volts - 400.0).abs() < 0.5 {
        230
    } else {
        (volts / 3f64.sqrt()).round() as u32
    }
}
