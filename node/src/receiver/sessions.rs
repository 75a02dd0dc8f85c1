//! Pushed Sessions and CDRs. Each becomes a usage record through `pull::usage`'s allow-list
//! before anything is stored; the receiver keeps only that record plus a session's OCPI status
//! and currency (to merge a later `PATCH`), and which usage record each CDR gave.
//!
//! A session's usage record is logged while it is `ACTIVE` or `COMPLETED`; `PENDING`,
//! `RESERVATION` and `INVALID` sessions are kept but never logged (they are not usage). A CDR
//! is the session's final record: its figures replace the session's, and later pushes of the
//! session no longer change them. A CDR cannot be changed once received (OCPI); a credit CDR is
//! acknowledged and kept, and changes no usage record.

use evfed_spec::ids::{Party, SessionId};
use evfed_spec::ocpi::{KeptCdr, KeptCdrLocation};
use evfed_spec::time::DateTime;
use evfed_spec::usage::UsageRecord;
use serde_json::{Map, Value, json};

use super::{Accepted, distinct, json, object};
use crate::domain::Error;
use crate::domain::records::{self, Policy};
use crate::pull::Deviation;
use crate::pull::normalise::Context;
use crate::pull::usage::{self, Kind};
use crate::store::{OcpiCdrRow, OcpiSessionRow, Store};

/// A session's key: its party and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKey {
    pub party: Party,
    pub id: SessionId,
}

/// What an accepted CDR did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdrAccepted {
    pub party: Party,
    /// The CDR's id (for its URL).
    pub id: String,
    pub created: bool,
    pub appended: u64,
    pub repaired: Vec<Deviation>,
}

/// OCPI's CDR id: CiString(39).
const MAX_CDR_ID: usize = 39;

/// `PUT` of a Session of the caller's party.
pub fn put_session(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    key: &SessionKey,
    body: &[u8],
    now: DateTime,
) -> Result<Accepted, Error> {
    policy.authorize(caller, &key.party)?;
    let sent = object(json(body)?)?;
    check_ids(&sent, key)?;
    let (record, state, repaired) = session_usage(&sent, key, policy, caller, &now)?;
    store.write(|tx| {
        let party = key.party.to_string();
        let created = tx.ocpi_session(&party, key.id.as_str())?.is_none();
        let appended = store_session(tx, key, &sent, &record, &state, &now)?;
        Ok(Accepted {
            created,
            appended,
            repaired,
        })
    })
}

/// `PATCH` of a Session of the caller's party: the members sent replace the stored ones.
pub fn patch_session(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    key: &SessionKey,
    body: &[u8],
    now: DateTime,
) -> Result<Accepted, Error> {
    policy.authorize(caller, &key.party)?;
    let patch = object(json(body)?)?;
    if patch.get("last_updated").is_none_or(Value::is_null) {
        return Err(Error::InvalidField(
            "last_updated: a PATCH must carry last_updated".into(),
        ));
    }
    check_ids(&patch, key)?;
    store.write(|tx| {
        let party = key.party.to_string();
        let Some(row) = tx.ocpi_session(&party, key.id.as_str())? else {
            return Err(Error::NotFound(format!("no session {party}/{}", key.id)));
        };
        let mut merged =
            object(serde_json::from_slice(&row.usage).map_err(|e| Error::Corrupt(e.to_string()))?)?;
        merged.insert("status".into(), Value::String(row.status));
        if let Some(c) = row.currency {
            merged.insert("currency".into(), Value::String(c));
        }
        for (k, v) in patch {
            if !v.is_null() {
                merged.insert(k, v);
            }
        }
        let (record, state, repaired) = session_usage(&merged, key, policy, caller, &now)?;
        let appended = store_session(tx, key, &merged, &record, &state, &now)?;
        Ok(Accepted {
            created: false,
            appended,
            repaired,
        })
    })
}

/// `POST` of a CDR, which must belong to the caller's party.
pub fn post_cdr(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    body: &[u8],
    now: DateTime,
) -> Result<CdrAccepted, Error> {
    let sent = object(json(body)?)?;
    let party = party_of(&sent)?;
    policy.authorize(caller, &party)?;
    let id = match sent.get("id") {
        Some(Value::String(id))
            if !id.is_empty()
                && id.len() <= MAX_CDR_ID
                && id.bytes().all(|b| b.is_ascii_graphic() || b == b' ') =>
        {
            id.clone()
        }
        _ => {
            return Err(Error::InvalidField(format!(
                "id: required, 1 to {MAX_CDR_ID} printable ASCII characters"
            )));
        }
    };
    let credit = sent.get("credit") == Some(&Value::Bool(true));
    let mut repaired = Vec::new();
    let last_updated = match sent.get("last_updated") {
        Some(Value::String(s)) => s
            .parse::<DateTime>()
            .map_err(|e| Error::InvalidField(format!("last_updated: {e}")))?,
        Some(_) => return Err(Error::InvalidField("last_updated: not a DateTime".into())),
        None => {
            repaired.push(Deviation::LastUpdatedDefaulted);
            now
        }
    };
    let ctx = Context {
        party: Some(party.clone()),
    };
    let n =
        usage::usage_record(&Value::Object(sent), Kind::Cdr, &ctx).map_err(Error::InvalidField)?;
    repaired.extend(n.deviations.iter().copied());
    let record = strict(&n.value)?;
    records::check_usage(policy, caller, &record, &now)?;
    let usage = encode(&record)?;
    let row = OcpiCdrRow {
        session_id: record.id.as_str().to_owned(),
        credit,
        last_updated: last_updated.to_string(),
        usage,
    };
    let key = party.to_string();
    store.write(|tx| {
        if let Some(existing) = tx.ocpi_cdr(&key, &id)? {
            if existing.usage == row.usage && existing.credit == row.credit {
                return Ok(CdrAccepted {
                    party: party.clone(),
                    id: id.clone(),
                    created: false,
                    appended: 0,
                    repaired: distinct(repaired.clone()),
                });
            }
            return Err(Error::Conflict(format!(
                "CDR {id} was received before with other figures; a CDR cannot be changed \
                 (send a credit CDR and a new CDR)"
            )));
        }
        tx.put_ocpi_cdr(&key, &id, &row, now.unix_millis())?;
        let appended = if credit {
            0
        } else {
            records::append_usage(tx, &record, &now)?
        };
        Ok(CdrAccepted {
            party: party.clone(),
            id: id.clone(),
            created: true,
            appended,
            repaired: distinct(repaired.clone()),
        })
    })
}

/// A received CDR of the caller's party as the node keeps it: the CDR's id, party and
/// `last_updated` with the figures of its usage record, in CDR member names. Driver data was
/// never kept, so this is not the CDR that was sent.
pub fn read_cdr(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    party: &Party,
    id: &str,
) -> Result<Option<KeptCdr>, Error> {
    policy.authorize(caller, party)?;
    let key = party.to_string();
    let Some(row) = store.read(|r| r.ocpi_cdr(&key, id))? else {
        return Ok(None);
    };
    let r: UsageRecord =
        serde_json::from_slice(&row.usage).map_err(|e| Error::Corrupt(e.to_string()))?;
    let cdr = KeptCdr {
        country_code: r.country_code,
        party_id: r.party_id,
        id: id.to_owned(),
        session_id: (row.session_id != id).then_some(row.session_id),
        start_date_time: r.start_date_time,
        end_date_time: r.end_date_time,
        cdr_location: KeptCdrLocation {
            id: r.location_id,
            evse_uid: r.evse_uid,
            connector_id: r.connector_id,
        },
        total_energy: r.kwh,
        total_cost: r.total_cost.filter(|_| r.currency.is_some()),
        currency: r.currency.filter(|_| r.total_cost.is_some()),
        credit: row.credit,
        last_updated: row.last_updated,
    };
    Ok(Some(cdr))
}

/// The OCPI state kept with a session's usage record.
struct SessionState {
    status: String,
    currency: Option<String>,
}

/// The usage record of a session as sent (or merged), checked, with the state kept beside it
/// and the deviations repaired.
fn session_usage(
    sent: &Map<String, Value>,
    key: &SessionKey,
    policy: &Policy,
    caller: &Party,
    now: &DateTime,
) -> Result<(UsageRecord, SessionState, Vec<Deviation>), Error> {
    let ctx = Context {
        party: Some(key.party.clone()),
    };
    let value = Value::Object(sent.clone());
    let n = usage::usage_record(&value, Kind::Session, &ctx).map_err(Error::InvalidField)?;
    let record = strict(&n.value)?;
    records::check_usage(policy, caller, &record, now)?;
    let status = match sent.get("status") {
        Some(Value::String(s)) => s.to_ascii_uppercase(),
        Some(_) => return Err(Error::InvalidField("status: not a string".into())),
        None if record.end_date_time.is_some() => "COMPLETED".into(),
        None => "ACTIVE".into(),
    };
    let currency = match sent.get("currency") {
        Some(Value::String(c)) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Some(c.to_ascii_uppercase())
        }
        Some(Value::Null) | None => None,
        Some(other) => {
            return Err(Error::InvalidField(format!(
                "currency: {other} is not an ISO 4217 code"
            )));
        }
    };
    Ok((
        record,
        SessionState { status, currency },
        distinct(n.deviations),
    ))
}

/// Stores a session's state, and logs its usage record when the session is usage and no CDR
/// has given its final figures. Returns the entries appended.
fn store_session(
    tx: &mut crate::store::Tx<'_>,
    key: &SessionKey,
    sent: &Map<String, Value>,
    record: &UsageRecord,
    state: &SessionState,
    now: &DateTime,
) -> Result<u64, Error> {
    let party = key.party.to_string();
    let row = OcpiSessionRow {
        status: state.status.clone(),
        currency: state.currency.clone(),
        usage: encode(record)?,
    };
    tx.put_ocpi_session(&party, key.id.as_str(), &row, now.unix_millis())?;
    let sent = json!({ "status": state.status, "end_date_time": sent.get("end_date_time") });
    if !usage::keep_session(&sent, false) || tx.ocpi_session_has_cdr(&party, key.id.as_str())? {
        return Ok(0);
    }
    records::append_usage(tx, record, now)
}

/// The path's party and id must be the body's, when the body names them (the party in any
/// case, as OCPI allows; the id exactly).
fn check_ids(sent: &Map<String, Value>, key: &SessionKey) -> Result<(), Error> {
    for (name, expected, any_case) in [
        ("country_code", key.party.country_code.as_str(), true),
        ("party_id", key.party.party_id.as_str(), true),
        ("id", key.id.as_str(), false),
    ] {
        match sent.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::String(s))
                if s == expected || (any_case && s.eq_ignore_ascii_case(expected)) => {}
            Some(other) => {
                return Err(Error::InvalidField(format!(
                    "{name}: {other} differs from the path's {expected}"
                )));
            }
        }
    }
    Ok(())
}

fn party_of(sent: &Map<String, Value>) -> Result<Party, Error> {
    let cc = sent.get("country_code").and_then(Value::as_str);
    let pid = sent.get("party_id").and_then(Value::as_str);
    let (Some(cc), Some(pid)) = (cc, pid) else {
        return Err(Error::InvalidField(
            "country_code, party_id: required fields are missing".into(),
        ));
    };
    format!("{cc}*{pid}")
        .parse()
        .map_err(|e| Error::InvalidField(format!("country_code/party_id: {e}")))
}

fn strict(value: &Value) -> Result<UsageRecord, Error> {
    let bytes = serde_json::to_vec(value).map_err(|e| Error::Corrupt(e.to_string()))?;
    Ok(evfed_spec::ocpi::parse::<UsageRecord>(&bytes)?.value)
}

fn encode(record: &UsageRecord) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(record).map_err(|e| Error::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;
    use crate::store::Hidden;

    fn setup() -> (tempfile::TempDir, Store, Policy, Party) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("evfed.db")).unwrap();
        let policy = Policy {
            kind: Kind::Cpo,
            area: None,
            parties: Vec::new(),
            areas: crate::domain::areas::NodeAreas::london(),
        };
        (dir, store, policy, "GB*ABC".parse().unwrap())
    }

    fn usage(store: &Store) -> Vec<Value> {
        let filter = crate::store::ListFilter {
            hidden: Hidden::All,
            ..Default::default()
        };
        store
            .read(|r| r.sessions(&filter, 0, 100))
            .unwrap()
            .items
            .iter()
            .map(|b| serde_json::from_slice(b).unwrap())
            .collect()
    }

    const SESSION: &str = r#"{"country_code": "GB", "party_id": "ABC", "id": "S1",
        "start_date_time": "2026-01-01T10:00:00Z", "kwh": 0, "currency": "GBP",
        "cdr_token": {"uid": "04AABB", "type": "RFID", "contract_id": "GB-ABC-X"},
        "auth_method": "WHITELIST", "location_id": "L1", "evse_uid": "E1", "connector_id": "1",
        "status": "PENDING", "last_updated": "2026-01-01T10:00:00Z"}"#;

    #[test]
    fn a_session_is_usage_once_active_and_a_cdr_has_the_last_word() {
        let (_dir, store, policy, party) = setup();
        let now: DateTime = "2026-01-02T00:00:00Z".parse().unwrap();
        let key = SessionKey {
            party: party.clone(),
            id: "S1".parse().unwrap(),
        };
        let put = put_session(&store, &policy, &party, &key, SESSION.as_bytes(), now).unwrap();
        assert_eq!(
            (put.created, put.appended),
            (true, 0),
            "PENDING is not usage"
        );
        assert!(put.repaired.contains(&Deviation::PersonalDataDropped));
        assert!(usage(&store).is_empty());

        let patch = |body: &str| {
            patch_session(&store, &policy, &party, &key, body.as_bytes(), now).unwrap()
        };
        let active = patch(
            r#"{"status": "ACTIVE", "kwh": 2.5, "total_cost": {"excl_vat": 1.0},
                "last_updated": "2026-01-01T10:30:00Z"}"#,
        );
        assert_eq!(active.appended, 1);
        let got = usage(&store);
        assert_eq!(got[0]["kwh"], 2.5);
        assert_eq!(
            got[0]["currency"], "GBP",
            "kept from the PUT for a later cost"
        );
        assert_eq!(
            patch(r#"{"kwh": 2.5, "last_updated": "2026-01-01T10:31:00Z"}"#).appended,
            0
        );

        // The CDR replaces the running figures; the session can no longer change them.
        let cdr = r#"{"country_code": "GB", "party_id": "ABC", "id": "C1", "session_id": "S1",
            "start_date_time": "2026-01-01T10:00:00Z", "end_date_time": "2026-01-01T11:00:00Z",
            "cdr_token": {"uid": "04AABB", "type": "RFID", "contract_id": "GB-ABC-X"},
            "cdr_location": {"id": "L1", "evse_uid": "E1", "connector_id": "1"},
            "currency": "GBP", "total_cost": {"excl_vat": 3.0}, "total_energy": 7.0,
            "last_updated": "2026-01-01T11:05:00Z"}"#;
        let posted = post_cdr(&store, &policy, &party, cdr.as_bytes(), now).unwrap();
        assert_eq!((posted.created, posted.appended), (true, 1));
        let after =
            patch(r#"{"status": "COMPLETED", "kwh": 6.0, "last_updated": "2026-01-01T11:00:00Z"}"#);
        assert_eq!(after.appended, 0);
        let got = usage(&store);
        assert_eq!((got.len(), &got[0]["kwh"]), (1, &json!(7.0)));
        let read = read_cdr(&store, &policy, &party, &party, "C1")
            .unwrap()
            .unwrap();
        assert_eq!(read.session_id.as_deref(), Some("S1"));
        assert_eq!(read.total_energy, 7.0);
        assert_eq!(read.currency.as_deref(), Some("GBP"));
        let text = serde_json::to_string(&read).unwrap();
        assert!(
            !text.contains("04AABB") && !text.contains("GB-ABC-X"),
            "{text}"
        );

        // A credit CDR is kept and changes no usage record.
        let credit = cdr.replace("\"id\": \"C1\"", "\"id\": \"C2\", \"credit\": true");
        let posted = post_cdr(&store, &policy, &party, credit.as_bytes(), now).unwrap();
        assert_eq!((posted.created, posted.appended), (true, 0));

        // Another party's CDR is refused before anything is read.
        let other: Party = "GB*XYZ".parse().unwrap();
        assert!(matches!(
            post_cdr(&store, &policy, &other, cdr.as_bytes(), now),
            Err(Error::PartyMismatch(_))
        ));
        assert!(matches!(
            read_cdr(&store, &policy, &other, &party, "C1"),
            Err(Error::PartyMismatch(_))
        ));
    }
}
