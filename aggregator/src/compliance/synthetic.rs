//! A synthetic London for the compliance tests and the timing of `/v1/compliance/suppliers`
//! (`BENCHMARKS.md`): operator members with their EVSEs' status history over the previous
//! and the current year, written through the harvest's own write path (`apply_events`),
//! harvest attempts, conformance runs, sessions, the London view, and a supplier register
//! with a contract per borough. Deterministic for a given size.

use std::sync::Arc;

use evfed_spec::ocpi::{Location, Status};
use serde_json::json;

use super::history::{self, StatusEvent};
use super::{Register, year_start};
use crate::london::London;
use crate::store::{CopyChange, Kind, NewMember, Store};

const DAY_MS: i64 = 24 * 3_600_000;

/// The operators: party id, share of London's EVSEs, whether their charge points are rapid.
const OPERATORS: [(&str, f64, bool); 4] = [
    ("LPL", 0.40, false),
    ("KRB", 0.25, false),
    ("CRP", 0.20, true),
    ("VWH", 0.15, true),
];

/// What was made.
#[derive(Debug)]
pub struct World {
    pub london: London,
    pub register: Register,
    /// The register as `suppliers.toml` text.
    pub register_text: String,
    pub evses: usize,
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub fn origin(pid: &str) -> String {
    format!("evfed.{}.example", pid.to_lowercase())
}

/// `evses` EVSEs (one per location, every tenth location open weekdays 08:00–18:00 only),
/// each with a status change about every `days_between` days from the start of the previous
/// year to `now_ms`; `sessions` sessions spread over the months; 6 contracts per supplier
/// over a fifth of its EVSEs.
pub fn build(
    store: &Store,
    evses: usize,
    days_between: i64,
    sessions: usize,
    now_ms: i64,
) -> World {
    let london = London::default();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let from = year_start(year_start(now_ms) - DAY_MS);
    let mut suppliers = String::new();
    for (pid, share, rapid) in OPERATORS {
        let origin = origin(pid);
        store
            .add_member(&NewMember {
                origin: origin.clone(),
                url: format!("https://{origin}"),
                kind: Kind::Cpo,
                parties: vec![format!("GB*{pid}").parse().expect("party")],
                borough: None,
                supplier: Some(pid.to_owned()),
                usage_token: None,
                vkeys: Vec::new(),
            })
            .expect("member");
        let n = ((evses as f64) * share).round() as usize;
        let party: Arc<str> = Arc::from(format!("GB*{pid}"));
        let mut changes = Vec::with_capacity(n);
        let mut events = Vec::new();
        let mut contracts: Vec<Vec<String>> = vec![Vec::new(); 6];
        for i in 0..n {
            let id = format!("{pid}-{i:05}");
            let uid = format!("{id}-1");
            let hours = (i % 10 == 9).then(|| {
                json!({"twentyfourseven": false, "regular_hours": (1..=5).map(|d| json!(
                    {"weekday": d, "period_begin": "08:00", "period_end": "18:00"})).collect::<Vec<_>>()})
            });
            let connector = if rapid {
                json!({"id": "1", "standard": "IEC_62196_T2_COMBO", "format": "CABLE",
                       "power_type": "DC", "max_voltage": 500, "max_amperage": 300,
                       "max_electric_power": 150_000, "last_updated": "2026-01-01T00:00:00Z"})
            } else {
                json!({"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                       "power_type": "AC_1_PHASE", "max_voltage": 230, "max_amperage": 32,
                       "last_updated": "2026-01-01T00:00:00Z"})
            };
            let mut loc = json!({
                "country_code": "GB", "party_id": pid, "id": id, "publish": true,
                "address": "1 Test Street", "city": "London", "country": "GBR",
                "coordinates": {"latitude": "51.53000", "longitude": "-0.14000"},
                "time_zone": "Europe/London", "last_updated": "2026-01-01T00:00:00Z",
                "evses": [{"uid": uid, "status": "AVAILABLE", "last_updated": "2026-01-01T00:00:00Z",
                           "connectors": [connector]}]
            });
            if let Some(h) = &hours {
                loc["opening_times"] = h.clone();
            }
            let location: Location = serde_json::from_value(loc).expect("location");
            let body = serde_json::to_vec(&location).expect("body");
            changes.push(CopyChange::PutLocation {
                party: party.to_string(),
                id: id.clone(),
                location: Arc::new(location),
                body,
                entry: None,
            });
            let hours = hours.map(|h| serde_json::from_value(h).expect("hours"));
            let location_id: Arc<str> = Arc::from(id.as_str());
            let mut at = from + rng.below(days_between as u64 * DAY_MS as u64) as i64;
            let mut k = 0;
            while at < now_ms {
                let status = match (k % 4, rng.below(20)) {
                    (_, 0) => Status::OutOfOrder,
                    (1, _) => Status::Charging,
                    _ => Status::Available,
                };
                events.push(StatusEvent {
                    party: Arc::clone(&party),
                    location_id: Arc::clone(&location_id),
                    evse_uid: uid.clone(),
                    status,
                    at_ms: at,
                    rapid,
                    hours: hours.clone(),
                    live: k > 0,
                });
                k += 1;
                at += DAY_MS * days_between / 2
                    + rng.below(days_between as u64 * DAY_MS as u64) as i64;
            }
            if i % 5 == 0 {
                contracts[i % 6].push(format!("{{ location = \"{id}\", evse = \"{uid}\" }}"));
            }
        }
        events.sort_by_key(|e| e.at_ms);
        for chunk in events.chunks(20_000) {
            let cp = chunk.last().map(|e| e.at_ms + 30_000);
            history::apply_for_test(store, &origin, chunk, cp).expect("events");
        }
        for h in 0..24 * 30 {
            store
                .count_harvest_for_test(&origin, now_ms - h * 3_600_000, h % 50 != 0)
                .expect("harvest");
        }
        store
            .add_conformance_run(&origin, now_ms - DAY_MS, true, b"{}")
            .expect("conformance run");
        let per = sessions / OPERATORS.len();
        store
            .add_sessions_for_test(&origin, &party, per, from, now_ms)
            .expect("sessions");
        let members = store.members().expect("members");
        if let Some(m) = members.iter().find(|m| m.origin == origin) {
            london.apply(m, &changes);
        }
        suppliers.push_str(&format!(
            "[[supplier]]\nid = \"{pid}\"\nname = \"{pid} Ltd\"\nparties = [\"GB*{pid}\"]\nmembers = [\"{origin}\"]\n"
        ));
        for (c, cps) in contracts.iter().enumerate() {
            suppliers.push_str(&format!(
                "[[supplier.contract]]\nid = \"{pid}-{c}\"\nborough = \"E0900000{}\"\nchargepoints = [\n{}\n]\n",
                c + 1,
                cps.join(",\n")
            ));
        }
    }
    let register: Register = toml::from_str(&suppliers).expect("register");
    World {
        london,
        register,
        register_text: suppliers,
        evses,
    }
}
