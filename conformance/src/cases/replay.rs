//! State from the log (§6.4): entries replayed from an empty state, on JSON values exactly as
//! the entries carry them, so the result can be compared with what the lists serve.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Key, key_of, time_of};

/// `(country_code, party_id, location_id, evse_uid)`.
pub type EvseKey = (String, String, String, String);

/// The state a log's entries build.
#[derive(Debug, Default, Clone)]
pub struct State {
    pub locations: BTreeMap<Key, Value>,
    pub tariffs: BTreeMap<Key, Value>,
    pub sessions: BTreeMap<Key, Value>,
    /// Location entries that changed nothing but `last_updated` values (§12.2): `(index, key)`.
    pub bumps: Vec<(usize, Key)>,
    /// Status changes for EVSEs not in the state (node faults, §6.4).
    pub orphan_statuses: Vec<usize>,
    /// When each EVSE entered its current status (§10.5 as of 1.1): the `event_time` of the
    /// `evse_status` entry that set it, else the EVSE's `last_updated` in the `location` entry
    /// that set it (a `location` entry that keeps the status keeps the time).
    pub status_times: BTreeMap<EvseKey, Value>,
}

impl State {
    /// Replays entries `0..n` in order. Entries that are not JSON objects are skipped (other
    /// cases judge them).
    pub fn replay<E: AsRef<[u8]>>(entries: &[E]) -> Self {
        let mut s = State::default();
        for (i, e) in entries.iter().enumerate() {
            let Ok(v) = serde_json::from_slice::<Value>(e.as_ref()) else {
                continue;
            };
            s.apply(i, &v);
        }
        s
    }

    fn apply(&mut self, i: usize, entry: &Value) {
        let data = &entry["data"];
        match entry["type"].as_str().unwrap_or("") {
            "location" => {
                let key = key_of(data);
                let prev = self.locations.get(&key);
                if let Some(prev) = prev
                    && without_last_updated(prev) == without_last_updated(data)
                {
                    self.bumps.push((i, key.clone()));
                }
                let mut times = BTreeMap::new();
                for evse in data["evses"].as_array().into_iter().flatten() {
                    let uid = evse["uid"].as_str().unwrap_or("").to_owned();
                    let ek = (key.0.clone(), key.1.clone(), key.2.clone(), uid);
                    let kept = prev
                        .and_then(|p| p["evses"].as_array())
                        .and_then(|a| a.iter().find(|e| e["uid"] == evse["uid"]))
                        .filter(|e| e["status"] == evse["status"])
                        .and_then(|_| self.status_times.get(&ek));
                    let t = kept.unwrap_or(&evse["last_updated"]).clone();
                    times.insert(ek, t);
                }
                self.forget_times(&key);
                self.status_times.extend(times);
                self.locations.insert(key, data.clone());
            }
            "location_removed" => {
                let key = key_of(data);
                self.forget_times(&key);
                self.locations.remove(&key);
            }
            "tariff" => {
                self.tariffs.insert(key_of(data), data.clone());
            }
            "tariff_removed" => {
                self.tariffs.remove(&key_of(data));
            }
            "session" => {
                self.sessions.insert(key_of(data), data.clone());
            }
            "evse_status" => self.status(i, data),
            _ => {}
        }
    }

    fn status(&mut self, i: usize, change: &Value) {
        let s = |k: &str| change[k].as_str().unwrap_or("").to_owned();
        let key = (s("country_code"), s("party_id"), s("location_id"));
        let Some(loc) = self.locations.get_mut(&key) else {
            self.orphan_statuses.push(i);
            return;
        };
        let uid = s("evse_uid");
        let when = time_of(change, "event_time");
        let Some(evse) = loc["evses"]
            .as_array_mut()
            .and_then(|a| a.iter_mut().find(|e| e["uid"] == uid.as_str()))
        else {
            self.orphan_statuses.push(i);
            return;
        };
        evse["status"] = change["status"].clone();
        self.status_times.insert(
            (key.0.clone(), key.1.clone(), key.2.clone(), uid.clone()),
            change["event_time"].clone(),
        );
        if let Some(t) = when {
            if time_of(evse, "last_updated").is_none_or(|lu| t > lu) {
                evse["last_updated"] = change["event_time"].clone();
            }
            if time_of(loc, "last_updated").is_none_or(|lu| t > lu) {
                loc["last_updated"] = change["event_time"].clone();
            }
        }
    }

    fn forget_times(&mut self, (cc, pid, id): &Key) {
        self.status_times
            .retain(|(c, p, l, _), _| !(c == cc && p == pid && l == id));
    }

    /// The status of every EVSE of the replayed Locations.
    pub fn statuses(&self) -> BTreeMap<EvseKey, String> {
        let mut out = BTreeMap::new();
        for ((cc, pid, id), loc) in &self.locations {
            for evse in loc["evses"].as_array().into_iter().flatten() {
                let uid = evse["uid"].as_str().unwrap_or("").to_owned();
                let status = evse["status"].as_str().unwrap_or("").to_owned();
                out.insert((cc.clone(), pid.clone(), id.clone(), uid), status);
            }
        }
        out
    }
}

/// The statuses a `GET /v1/status` list serves.
pub fn served_statuses(items: &[Value]) -> BTreeMap<EvseKey, String> {
    items
        .iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
            (
                (
                    s("country_code"),
                    s("party_id"),
                    s("location_id"),
                    s("evse_uid"),
                ),
                s("status"),
            )
        })
        .collect()
}

/// The `event_time` of each item of a `GET /v1/status` list.
pub fn served_status_times(items: &[Value]) -> BTreeMap<EvseKey, Value> {
    items
        .iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
            (
                (
                    s("country_code"),
                    s("party_id"),
                    s("location_id"),
                    s("evse_uid"),
                ),
                v["event_time"].clone(),
            )
        })
        .collect()
}

/// Whether two DateTime values name the same instant (their text may differ in form).
pub fn same_instant(a: &Value, b: &Value) -> bool {
    let t = |v: &Value| {
        v.as_str()
            .and_then(|s| s.parse::<evfed_spec::DateTime>().ok())
    };
    match (t(a), t(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The value with every `last_updated` member removed, at any depth.
pub fn without_last_updated(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| k.as_str() != "last_updated")
                .map(|(k, v)| (k.clone(), without_last_updated(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_last_updated).collect()),
        other => other.clone(),
    }
}

/// The first place two JSON values differ, as a path, with both sides.
pub fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                let p = format!("{path}.{k}");
                match y.get(k) {
                    Some(vb) => {
                        if let Some(d) = first_difference(va, vb, &p) {
                            return Some(d);
                        }
                    }
                    None => return Some(format!("{p}: log has {}, served has none", short(va))),
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| format!("{path}.{k}: served has {}, log has none", short(&y[k])))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (va, vb))| first_difference(va, vb, &format!("{path}[{i}]"))),
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
        _ if a == b => None,
        _ => Some(format!(
            "{path}: log has {}, served has {}",
            short(a),
            short(b)
        )),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

/// Compares served objects with replayed ones by key: the first missing, extra or different one.
pub fn compare(
    what: &str,
    replayed: &BTreeMap<Key, Value>,
    served: &[Value],
) -> Result<usize, String> {
    let mut by_key = BTreeMap::new();
    for v in served {
        if by_key.insert(key_of(v), v).is_some() {
            return Err(format!("{what} {:?} is served twice", key_of(v)));
        }
    }
    for (k, want) in replayed {
        match by_key.get(k) {
            None => return Err(format!("{what} {k:?} is in the log but not served")),
            Some(got) => {
                if let Some(d) = first_difference(want, got, "") {
                    return Err(format!("{what} {k:?} differs from the log at {d}"));
                }
            }
        }
    }
    if let Some(k) = by_key.keys().find(|k| !replayed.contains_key(*k)) {
        return Err(format!("{what} {k:?} is served but not in the log"));
    }
    Ok(replayed.len())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn loc(name: &str, lu: &str) -> Value {
        json!({"country_code": "GB", "party_id": "ABC", "id": "L1", "name": name, "last_updated": lu,
               "evses": [{"uid": "E1", "status": "AVAILABLE", "last_updated": lu}]})
    }

    fn entry(kind: &str, data: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"v": 1, "type": kind, "data": data})).unwrap()
    }

    #[test]
    fn replays_status_changes_removals_and_finds_bare_bumps() {
        let status = json!({"country_code": "GB", "party_id": "ABC", "location_id": "L1",
                            "evse_uid": "E1", "status": "CHARGING", "event_time": "2026-11-21T10:00:00Z"});
        let entries = [
            entry("location", loc("A", "2026-11-20T09:00:00Z")),
            entry("evse_status", status.clone()),
            entry("location", loc("A", "2026-11-22T09:00:00Z")),
        ];
        let s = State::replay(&entries[..2]);
        let l = &s.locations[&("GB".into(), "ABC".into(), "L1".into())];
        assert_eq!(l["evses"][0]["status"], "CHARGING");
        assert_eq!(l["evses"][0]["last_updated"], "2026-11-21T10:00:00Z");
        assert_eq!(l["last_updated"], "2026-11-21T10:00:00Z");
        assert!(s.bumps.is_empty());
        let e1 = ("GB".into(), "ABC".into(), "L1".into(), "E1".into());
        let e2 = ("GB".into(), "ABC".into(), "L1".into(), "E2".into());
        assert_eq!(s.status_times[&e1], "2026-11-21T10:00:00Z");
        // The third entry sets the status back: its time is the EVSE's last_updated there.
        assert_eq!(
            State::replay(&entries).status_times[&e1],
            "2026-11-22T09:00:00Z"
        );
        // A location entry that keeps the status keeps its time; a new EVSE takes its own.
        let mut renamed = loc("B", "2026-11-23T09:00:00Z");
        renamed["evses"][0]["status"] = "CHARGING".into();
        let mut added = renamed["evses"][0].clone();
        added["uid"] = "E2".into();
        renamed["evses"].as_array_mut().unwrap().push(added);
        let kept = State::replay(&[
            entries[0].clone(),
            entries[1].clone(),
            entry("location", renamed),
        ]);
        assert_eq!(kept.status_times[&e1], "2026-11-21T10:00:00Z");
        assert_eq!(kept.status_times[&e2], "2026-11-23T09:00:00Z");
        // The third entry sets the status back: a change, not a bump.
        assert!(State::replay(&entries).bumps.is_empty());
        let bump = [
            entries[0].clone(),
            entry("location", loc("A", "2026-11-23T09:00:00Z")),
        ];
        assert_eq!(State::replay(&bump).bumps.len(), 1);
        let removed = [
            entries[0].clone(),
            entry(
                "location_removed",
                json!({"country_code": "GB", "party_id": "ABC", "id": "L1"}),
            ),
            entry("evse_status", status),
        ];
        let s = State::replay(&removed);
        assert!(s.locations.is_empty());
        assert!(s.status_times.is_empty());
        assert_eq!(s.orphan_statuses, [2]);
    }

    #[test]
    fn compares_numbers_by_value_and_names_the_first_difference() {
        assert_eq!(
            first_difference(&json!({"vat": 20}), &json!({"vat": 20.0}), ""),
            None
        );
        let d = first_difference(
            &json!({"a": [1, {"b": "x"}]}),
            &json!({"a": [1, {"b": "y"}]}),
            "",
        );
        assert_eq!(d.unwrap(), ".a[1].b: log has \"x\", served has \"y\"");
        let replayed = [(("GB".into(), "ABC".into(), "L1".into()), loc("A", "t"))]
            .into_iter()
            .collect();
        assert!(compare("location", &replayed, &[loc("A", "t")]).is_ok());
        assert!(
            compare("location", &replayed, &[loc("B", "t")])
                .unwrap_err()
                .contains(".name")
        );
        assert!(
            compare("location", &replayed, &[])
                .unwrap_err()
                .contains("not served")
        );
    }
}
