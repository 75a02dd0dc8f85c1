//! What a synthetic London does over time: every EVSE's charging sessions and faults, as
//! OCPI status changes and evfed usage records (sessions without personal data).
//!
//! Each EVSE is simulated on its own: arrivals are a Poisson process whose rate follows the
//! site kind's daily and weekly profile in London local time (drawn by thinning), a session
//! occupies the EVSE for a duration typical of its kind (lamp-post sessions that start in the
//! evening last overnight; rapid ones half an hour), and faults put it out of order for hours
//! to days. Every EVSE draws from its own ChaCha8 stream of the seed, so events depend only on
//! the seed, the world and the start time, never on how the caller slices time.

use chrono::{Datelike, TimeZone, Timelike, Utc};
use evfed_spec::ids::{ConnectorId, SessionId};
use evfed_spec::ocpi::{Price, Status};
use evfed_spec::time::{DateTime, london_utc_offset_secs};
use evfed_spec::usage::{StatusChange, UsageRecord};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{SiteKind, World};

/// Seconds the simulation runs before `start`, so that `start` finds EVSEs already charging
/// (overnight lamp-post sessions began the evening before).
const WARM_UP: i64 = 24 * 3600;

/// Something an EVSE did.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unix seconds.
    pub at: i64,
    /// Index into [`World::sites`].
    pub site: usize,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Status(StatusChange),
    /// A finished session, reported when it ends.
    Session(UsageRecord),
}

/// The simulation of every EVSE of a world from a start time.
#[derive(Debug)]
pub struct Activity {
    evses: Vec<EvseSim>,
    /// Events before this have been handed out.
    now: i64,
}

#[derive(Debug)]
struct EvseSim {
    site: usize,
    kind: SiteKind,
    /// Effective charging power, kW.
    kw: f64,
    change: StatusChange,
    connector: ConnectorId,
    rng: ChaCha8Rng,
    state: State,
    next_arrival: i64,
    next_fault: i64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Idle,
    Charging { start: i64, until: i64, kwh: f64 },
    Fault { until: i64 },
}

impl Activity {
    /// When a simulation that is at `start` began: each EVSE is in the status it was generated
    /// with from then.
    pub fn begins(start: i64) -> i64 {
        start - WARM_UP
    }

    /// The world's EVSEs as they are at `start` (Unix seconds). Each begins a day earlier in the
    /// status it was generated with (out of order ones stay so for a repair time).
    pub fn new(world: &World, seed: u64, start: i64) -> Self {
        let begin = Self::begins(start);
        let mut evses = Vec::new();
        for (i, site) in world.sites.iter().enumerate() {
            let loc = &site.location;
            for evse in &loc.evses {
                let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_AC71_u64);
                rng.set_stream(evses.len() as u64);
                let rated = evse.connectors.iter().map(connector_kw).fold(0.0, f64::max);
                let dc = matches!(site.kind, SiteKind::RapidHub | SiteKind::UltraHub);
                let Some(connector) = evse.connectors.first().map(|c| c.id.clone()) else {
                    continue;
                };
                let mut sim = EvseSim {
                    site: i,
                    kind: site.kind,
                    kw: if dc { rated * 0.55 } else { rated * 0.95 },
                    change: StatusChange {
                        country_code: loc.country_code.clone(),
                        party_id: loc.party_id.clone(),
                        location_id: loc.id.clone(),
                        evse_uid: evse.uid.clone(),
                        status: evse.status,
                        event_time: time(begin),
                    },
                    connector,
                    rng,
                    state: State::Idle,
                    next_arrival: 0,
                    next_fault: 0,
                };
                if matches!(evse.status, Status::OutOfOrder | Status::Inoperative) {
                    let repair = sim.repair_secs();
                    sim.state = State::Fault {
                        until: begin + repair,
                    };
                }
                sim.next_arrival = begin + sim.arrival_gap();
                sim.next_fault = begin + sim.fault_gap();
                evses.push(sim);
            }
        }
        let mut activity = Activity { evses, now: begin };
        activity.advance(start);
        activity
    }

    /// Where the simulation stands (Unix seconds).
    pub fn now(&self) -> i64 {
        self.now
    }

    /// Every EVSE's current status, stamped with the time it took effect.
    pub fn statuses(&self) -> Vec<Event> {
        self.evses
            .iter()
            .map(|e| Event {
                at: e.change.event_time.unix_seconds(),
                site: e.site,
                change: Change::Status(e.change.clone()),
            })
            .collect()
    }

    /// Runs the simulation up to `until` (exclusive) and returns what happened, in time order.
    pub fn advance(&mut self, until: i64) -> Vec<Event> {
        let mut out = Vec::new();
        if until <= self.now {
            return out;
        }
        for e in &mut self.evses {
            e.run(until, &mut out);
        }
        // Stable: events of one second keep EVSE order, then the order they happened in.
        out.sort_by_key(|e| e.at);
        self.now = until;
        out
    }
}

impl EvseSim {
    fn run(&mut self, until: i64, out: &mut Vec<Event>) {
        loop {
            let end = match self.state {
                State::Idle => i64::MAX,
                State::Charging { until, .. } | State::Fault { until } => until,
            };
            let t = end.min(self.next_arrival).min(self.next_fault);
            if t >= until {
                return;
            }
            if t == end {
                if let State::Charging { start, kwh, .. } = self.state {
                    self.session(start, t, kwh, out);
                }
                self.state = State::Idle;
                self.status(Status::Available, t, out);
            } else if t == self.next_arrival {
                self.next_arrival = t + self.arrival_gap();
                let accept = self.rng.gen_bool(rate_share(self.kind, t));
                if accept && self.state == State::Idle {
                    let duration = self.duration(t);
                    let kwh = self.energy(duration);
                    self.state = State::Charging {
                        start: t,
                        until: t + duration,
                        kwh,
                    };
                    self.status(Status::Charging, t, out);
                }
            } else {
                self.next_fault = t + self.fault_gap();
                if self.state == State::Idle {
                    let repair = self.repair_secs();
                    self.state = State::Fault { until: t + repair };
                    self.status(Status::OutOfOrder, t, out);
                }
            }
        }
    }

    fn status(&mut self, status: Status, at: i64, out: &mut Vec<Event>) {
        self.change.status = status;
        self.change.event_time = time(at);
        out.push(Event {
            at,
            site: self.site,
            change: Change::Status(self.change.clone()),
        });
    }

    fn session(&mut self, start: i64, end: i64, kwh: f64, out: &mut Vec<Event>) {
        let c = &self.change;
        let Ok(id) = format!("{}-{start}", c.evse_uid).parse::<SessionId>() else {
            return;
        };
        let cost = round2(kwh * price_per_kwh(self.kind));
        out.push(Event {
            at: end,
            site: self.site,
            change: Change::Session(UsageRecord {
                id,
                country_code: c.country_code.clone(),
                party_id: c.party_id.clone(),
                location_id: c.location_id.clone(),
                evse_uid: c.evse_uid.clone(),
                connector_id: self.connector.clone(),
                start_date_time: time(start),
                end_date_time: Some(time(end)),
                kwh,
                total_cost: Some(Price {
                    excl_vat: cost,
                    incl_vat: Some(round2(cost * 1.2)),
                }),
                currency: Some("GBP".to_owned()),
            }),
        });
    }

    /// Seconds to the next candidate arrival, at the kind's highest rate (thinned later).
    fn arrival_gap(&mut self) -> i64 {
        let per_sec = sessions_per_day(self.kind) / 86_400.0 * peak(self.kind);
        exp_secs(&mut self.rng, per_sec)
    }

    fn fault_gap(&mut self) -> i64 {
        let days = match self.kind {
            SiteKind::RapidHub | SiteKind::UltraHub => 30.0,
            _ => 45.0,
        };
        exp_secs(&mut self.rng, 1.0 / (days * 86_400.0))
    }

    /// From one hour to a week; typically most of a day.
    fn repair_secs(&mut self) -> i64 {
        let hours = lognormal(&mut self.rng, 20.0, 0.8).clamp(1.0, 168.0);
        (hours * 3600.0) as i64
    }

    /// How long a session starting at `t` occupies the EVSE, in seconds.
    fn duration(&mut self, t: i64) -> i64 {
        let minutes = match self.kind {
            SiteKind::LampPost | SiteKind::Kerbside => {
                let (hour, minute) = local_hour_minute(t);
                if !(2..16).contains(&hour) {
                    // Plugged in for the night; unplugged between 7:00 and 9:30.
                    let now = f64::from(hour * 60 + minute);
                    let leave = 7.0 * 60.0 + self.rng.gen_range(0.0..150.0);
                    let to_midnight = if hour >= 16 { 24.0 * 60.0 - now } else { -now };
                    to_midnight + leave
                } else {
                    lognormal(&mut self.rng, 150.0, 0.6).clamp(20.0, 600.0)
                }
            }
            SiteKind::Destination => lognormal(&mut self.rng, 120.0, 0.5).clamp(15.0, 480.0),
            SiteKind::RapidHub => lognormal(&mut self.rng, 35.0, 0.35).clamp(10.0, 90.0),
            SiteKind::UltraHub => lognormal(&mut self.rng, 25.0, 0.35).clamp(8.0, 60.0),
        };
        (minutes * 60.0).round().max(60.0) as i64
    }

    /// kWh delivered: what the car wanted, or what the charger could give in the time.
    fn energy(&mut self, secs: i64) -> f64 {
        let (median, cap) = match self.kind {
            SiteKind::LampPost | SiteKind::Kerbside => (14.0, 70.0),
            SiteKind::Destination => (12.0, 60.0),
            SiteKind::RapidHub => (28.0, 70.0),
            SiteKind::UltraHub => (40.0, 90.0),
        };
        let wanted = lognormal(&mut self.rng, median, 0.5).min(cap);
        round2(wanted.min(self.kw * secs as f64 / 3600.0))
    }
}

/// Sessions a day per EVSE on an average day.
fn sessions_per_day(kind: SiteKind) -> f64 {
    match kind {
        SiteKind::LampPost => 0.9,
        SiteKind::Kerbside => 1.3,
        SiteKind::Destination => 2.5,
        SiteKind::RapidHub => 7.0,
        SiteKind::UltraHub => 9.0,
    }
}

/// Arrivals by local hour (0–23), relative.
fn daily(kind: SiteKind) -> &'static [f64; 24] {
    match kind {
        SiteKind::LampPost | SiteKind::Kerbside => &[
            0.3, 0.2, 0.15, 0.1, 0.1, 0.15, 0.3, 0.5, 0.6, 0.6, 0.6, 0.6, 0.7, 0.7, 0.8, 1.0, 1.4,
            2.2, 2.8, 2.8, 2.4, 1.8, 1.1, 0.6,
        ],
        SiteKind::Destination => &[
            0.05, 0.03, 0.02, 0.02, 0.02, 0.05, 0.2, 0.6, 1.2, 1.8, 2.2, 2.3, 2.3, 2.2, 2.1, 2.0,
            1.9, 1.7, 1.4, 1.0, 0.7, 0.4, 0.2, 0.1,
        ],
        SiteKind::RapidHub => &[
            0.3, 0.2, 0.15, 0.15, 0.2, 0.4, 0.9, 1.5, 1.7, 1.5, 1.3, 1.3, 1.5, 1.5, 1.3, 1.3, 1.5,
            1.7, 1.5, 1.2, 1.0, 0.8, 0.6, 0.4,
        ],
        SiteKind::UltraHub => &[
            0.25, 0.2, 0.15, 0.15, 0.2, 0.35, 0.7, 1.1, 1.4, 1.5, 1.6, 1.7, 1.8, 1.7, 1.6, 1.6,
            1.6, 1.6, 1.4, 1.2, 1.0, 0.8, 0.6, 0.4,
        ],
    }
}

/// Arrivals by local weekday (Monday first), relative.
fn weekly(kind: SiteKind) -> &'static [f64; 7] {
    match kind {
        SiteKind::LampPost | SiteKind::Kerbside => &[1.0, 1.0, 1.0, 1.0, 0.95, 1.05, 1.1],
        SiteKind::Destination => &[0.8, 0.8, 0.85, 0.9, 1.0, 1.4, 1.2],
        SiteKind::RapidHub => &[1.1, 1.1, 1.1, 1.1, 1.05, 0.8, 0.75],
        SiteKind::UltraHub => &[0.95, 0.95, 0.95, 1.0, 1.1, 1.1, 1.0],
    }
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn max(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(0.0, f64::max)
}

/// The highest relative rate of a kind (hour × weekday), the thinning envelope.
fn peak(kind: SiteKind) -> f64 {
    max(daily(kind)) / mean(daily(kind)) * max(weekly(kind)) / mean(weekly(kind))
}

/// The arrival rate at `t` as a share of [`peak`].
fn rate_share(kind: SiteKind, t: i64) -> f64 {
    let (hour, _) = local_hour_minute(t);
    let day = local_weekday(t);
    let d = daily(kind)[hour as usize % 24] / mean(daily(kind));
    let w = weekly(kind)[day % 7] / mean(weekly(kind));
    (d * w / peak(kind)).clamp(0.0, 1.0)
}

/// The relative arrival rate of a kind at a local hour and weekday (Monday = 0), mean 1 over
/// a week: the profile the simulation follows.
pub fn profile(kind: SiteKind, weekday: usize, hour: usize) -> f64 {
    daily(kind)[hour % 24] / mean(daily(kind)) * weekly(kind)[weekday % 7] / mean(weekly(kind))
}

fn price_per_kwh(kind: SiteKind) -> f64 {
    match kind {
        SiteKind::LampPost => 0.40,
        SiteKind::Kerbside => 0.44,
        SiteKind::Destination => 0.48,
        SiteKind::RapidHub => 0.62,
        SiteKind::UltraHub => 0.66,
    }
}

fn connector_kw(c: &evfed_spec::ocpi::Connector) -> f64 {
    if let Some(w) = c.max_electric_power {
        return f64::from(w) / 1000.0;
    }
    let phases = if c.power_type == evfed_spec::ocpi::PowerType::Ac3Phase {
        3.0
    } else {
        1.0
    };
    f64::from(c.max_voltage) * f64::from(c.max_amperage) * phases / 1000.0
}

/// An exponential gap in whole seconds (at least one) for a rate per second.
fn exp_secs<R: Rng>(rng: &mut R, per_sec: f64) -> i64 {
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    ((-u.ln() / per_sec).round() as i64).max(1)
}

/// A log-normal value with this median and shape.
fn lognormal<R: Rng>(rng: &mut R, median: f64, sigma: f64) -> f64 {
    // Box–Muller.
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.r#gen();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    median * (sigma * z).exp()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn time(secs: i64) -> DateTime {
    DateTime::from_unix_seconds(secs).unwrap_or_else(DateTime::now)
}

fn local(t: i64) -> Option<chrono::DateTime<Utc>> {
    Utc.timestamp_opt(t + london_utc_offset_secs(t), 0).single()
}

/// London local hour and minute at `t`.
pub fn local_hour_minute(t: i64) -> (u32, u32) {
    local(t).map_or((0, 0), |l| (l.hour(), l.minute()))
}

/// London local weekday at `t`, Monday = 0.
pub fn local_weekday(t: i64) -> usize {
    local(t).map_or(0, |l| l.weekday().num_days_from_monday() as usize)
}
